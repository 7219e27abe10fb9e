package httpapp

import (
	"errors"
	"fmt"
)

// DefaultMaxResponseHeader bounds a response head read by the client.
const DefaultMaxResponseHeader = 16 << 10

// ErrMalformedResponse reports a response head the client cannot parse.
var ErrMalformedResponse = errors.New("httpapp: malformed response")

// Response is a parsed response head. Its byte slices are views into the
// buffer given to ParseResponse.
type Response struct {
	// Minor is the HTTP/1.x minor version.
	Minor int
	// Status is the three-digit status code.
	Status int
	// Reason is the reason phrase.
	Reason []byte
	// Headers are the header fields in order.
	Headers []Header
	// ContentLength is the Content-Length value, -1 when absent.
	ContentLength int64
	// Chunked reports the chunked transfer coding.
	Chunked bool
	// KeepAlive reports that the server keeps the connection open after
	// this response (RFC 9112 section 9.3).
	KeepAlive bool
}

// Get returns the value of the first field named name (case-insensitive),
// or nil.
func (r *Response) Get(name string) []byte {
	for _, h := range r.Headers {
		if equalFold(h.Name, name) {
			return h.Value
		}
	}
	return nil
}

// HasBody reports whether a response to a request with method has a body
// (RFC 9112 section 6.3 items 1 and 2).
func (r *Response) HasBody(method string) bool {
	return method != "HEAD" && r.Status >= 200 && r.Status != 204 && r.Status != 304
}

// ParseResponse parses the response head at the start of b into r
// (reusing r's header slice) and returns its length. It returns
// ErrIncomplete when b holds only part of a head of at most maxHead bytes
// (0: DefaultMaxResponseHeader), and an error wrapping
// ErrMalformedResponse otherwise.
func ParseResponse(b []byte, r *Response, maxHead int) (int, error) {
	if maxHead <= 0 {
		maxHead = DefaultMaxResponseHeader
	}
	*r = Response{Headers: r.Headers[:0], ContentLength: -1}
	line, next, err := nextLine(b, 0, maxHead)
	if err == ErrIncomplete {
		return 0, err
	}
	if err != nil {
		return 0, malformed("status line: %w", err)
	}
	// status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC
	// 9112 section 4); a missing final SP is tolerated.
	if len(line) < 12 || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return 0, malformed("status line %q", line)
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return 0, malformed("status line: %w", err)
	}
	code := 0
	for _, c := range line[9:12] {
		if !isDigit(c) {
			return 0, malformed("status code %q", line[9:12])
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, malformed("status code %d", code)
	}
	r.Minor, r.Status = minor, code
	if len(line) > 13 {
		r.Reason = line[13:]
	}
	lim := Limits{MaxHeaderBytes: maxHead}
	lim.defaults()
	n, err := parseFields(b, next, lim, &r.Headers)
	if err == ErrIncomplete {
		return 0, err
	}
	if err != nil {
		return 0, malformed("header: %w", err)
	}
	closeTok, keepTok := false, false
	te := false
	for _, h := range r.Headers {
		switch {
		case equalFold(h.Name, "Content-Length"):
			v, err := parseLength(h.Value)
			if err != nil || r.ContentLength >= 0 && r.ContentLength != v {
				return 0, malformed("Content-Length %q", h.Value)
			}
			r.ContentLength = v
		case equalFold(h.Name, "Transfer-Encoding"):
			te = true
			forEachToken(h.Value, func(t []byte) { r.Chunked = equalFold(t, "chunked") })
		case equalFold(h.Name, "Connection"):
			forEachToken(h.Value, func(t []byte) {
				closeTok = closeTok || equalFold(t, "close")
				keepTok = keepTok || equalFold(t, "keep-alive")
			})
		}
	}
	r.KeepAlive = !closeTok && (minor >= 1 || keepTok)
	if te {
		// RFC 9112 section 6.3 item 3: Transfer-Encoding overrides
		// Content-Length; a response whose final coding is not chunked
		// is delimited by the connection's close.
		r.ContentLength = -1
		if !r.Chunked {
			r.KeepAlive = false
		}
	}
	return n, nil
}

// malformed returns an error wrapping ErrMalformedResponse.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedResponse}, args...)...)
}

// statusText returns the reason phrase of the codes the server sends.
func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}
