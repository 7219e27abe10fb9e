package httpapp

import (
	"bytes"
	"errors"
	"fmt"
	"math"
)

// Default limits of a server's request parser.
const (
	DefaultMaxRequestLine = 8 << 10
	DefaultMaxHeaderBytes = 8 << 10
	DefaultMaxHeaders     = 100
	DefaultMaxBody        = 1 << 20
)

// maxLeadingEmptyLines bounds the empty lines skipped before a request
// line (RFC 9112 section 2.2 asks servers to ignore at least one).
const maxLeadingEmptyLines = 8

// Limits bound what a server accepts in one request. Zero fields take the
// defaults.
type Limits struct {
	// MaxRequestLine bounds the request line in bytes (default 8 KiB);
	// longer lines are answered with 414.
	MaxRequestLine int
	// MaxHeaderBytes bounds the whole header block, request line included
	// (default 8 KiB); larger blocks are answered with 431.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields (default 100); more
	// are answered with 431.
	MaxHeaders int
	// MaxBody bounds a request body in bytes (default 1 MiB); larger
	// bodies are answered with 413.
	MaxBody int64
}

func (l *Limits) defaults() {
	if l.MaxRequestLine <= 0 {
		l.MaxRequestLine = DefaultMaxRequestLine
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxBody <= 0 {
		l.MaxBody = DefaultMaxBody
	}
}

// ErrIncomplete reports that a message head is not complete yet: more
// bytes are needed.
var ErrIncomplete = errors.New("httpapp: incomplete message")

// ParseError is a malformed or refused message, with the status code a
// server answers it with.
type ParseError struct {
	// Status is the response status code (400, 413, 414, 431, 501, 505).
	Status int
	// Reason says what was wrong.
	Reason string
}

// Error returns the status and the reason.
func (e *ParseError) Error() string { return fmt.Sprintf("httpapp: %d: %s", e.Status, e.Reason) }

func perr(status int, reason string) *ParseError { return &ParseError{Status: status, Reason: reason} }

// Preallocated parse errors, so hostile input does not allocate.
var (
	errBadRequestLine = perr(400, "malformed request line")
	errBadMethod      = perr(400, "malformed method")
	errBadTarget      = perr(400, "malformed request target")
	errBadVersion     = perr(400, "malformed HTTP version")
	errVersion        = perr(505, "HTTP major version not supported")
	errURITooLong     = perr(414, "request line too long")
	errHeaderTooLarge = perr(431, "header block too large")
	errTooManyHeaders = perr(431, "too many header fields")
	errBadHeader      = perr(400, "malformed header field")
	errObsFold        = perr(400, "obsolete line folding")
	errBareCR         = perr(400, "bare CR in message head")
	errNoHost         = perr(400, "missing Host header field")
	errDupHost        = perr(400, "more than one Host header field")
	errBadLength      = perr(400, "invalid Content-Length")
	errLengthAndTE    = perr(400, "both Content-Length and Transfer-Encoding")
	errTEOn10         = perr(400, "Transfer-Encoding in an HTTP/1.0 message")
	errChunkedNotLast = perr(400, "chunked is not the final transfer coding")
	errUnknownTE      = perr(501, "transfer coding not implemented")
	errBodyTooLarge   = perr(413, "request body too large")
)

// Header is one header field: views into the parsed buffer.
type Header struct {
	Name, Value []byte
}

// Request is a parsed request head. Its byte slices are views into the
// buffer given to ParseRequest and are valid only while it is.
type Request struct {
	// Method is the method token, case-sensitive (RFC 9110 section 9.1).
	Method []byte
	// Target is the request target as sent.
	Target []byte
	// Path is the target's path, without query: the whole target in
	// origin form, the part after the authority in absolute form.
	Path []byte
	// Minor is the HTTP/1.x minor version.
	Minor int
	// Headers are the header fields in order.
	Headers []Header
	// Host is the Host field value (nil when absent).
	Host []byte
	// ContentLength is the body length, -1 when there is no
	// Content-Length field.
	ContentLength int64
	// Chunked reports a chunked body.
	Chunked bool
	// KeepAlive reports that the connection persists after this exchange
	// (RFC 9112 section 9.3).
	KeepAlive bool
}

// Get returns the value of the first field named name (case-insensitive),
// or nil.
func (r *Request) Get(name string) []byte {
	for _, h := range r.Headers {
		if equalFold(h.Name, name) {
			return h.Value
		}
	}
	return nil
}

func (r *Request) reset() {
	*r = Request{Headers: r.Headers[:0], ContentLength: -1}
}

// ParseRequest parses the request head at the start of b into r (reusing
// r's header slice) and returns the bytes it takes, body excluded. It
// returns ErrIncomplete when b holds only part of a head that is still
// within lim, and a *ParseError for a malformed or refused request. lim's
// zero fields take the defaults.
func ParseRequest(b []byte, r *Request, lim Limits) (int, error) {
	lim.defaults()
	r.reset()
	// RFC 9112 section 2.2: ignore empty lines before the request line.
	off := 0
skip:
	for i := 0; i < maxLeadingEmptyLines; i++ {
		switch {
		case off < len(b) && b[off] == '\n':
			off++
		case off+1 < len(b) && b[off] == '\r' && b[off+1] == '\n':
			off += 2
		case off+1 == len(b) && b[off] == '\r':
			return 0, ErrIncomplete
		default:
			break skip
		}
	}
	line, next, err := nextLine(b, off, lim.MaxRequestLine)
	if err == ErrIncomplete {
		if len(b)-off > lim.MaxRequestLine {
			return 0, errURITooLong
		}
		return 0, ErrIncomplete
	}
	if err != nil {
		if err == errLineTooLong {
			return 0, errURITooLong
		}
		return 0, err
	}
	if err := parseRequestLine(line, r); err != nil {
		return 0, err
	}
	n, err := parseFields(b, next, lim, &r.Headers)
	if err != nil {
		return 0, err
	}
	if err := r.interpret(); err != nil {
		return 0, err
	}
	if r.ContentLength > lim.MaxBody {
		return 0, errBodyTooLarge
	}
	return n, nil
}

var errLineTooLong = errors.New("line too long")

// nextLine returns the line starting at off (without its terminator) and
// the offset after it. Lines end in CRLF or a bare LF (RFC 9112 section
// 2.2); a CR elsewhere is an error.
func nextLine(b []byte, off, max int) ([]byte, int, error) {
	end := len(b)
	if end-off > max+2 {
		end = off + max + 2
	}
	i := bytes.IndexByte(b[off:end], '\n')
	if i < 0 {
		if end < len(b) {
			return nil, 0, errLineTooLong
		}
		return nil, 0, ErrIncomplete
	}
	line := b[off : off+i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > max {
		return nil, 0, errLineTooLong
	}
	if bytes.IndexByte(line, '\r') >= 0 {
		return nil, 0, errBareCR
	}
	return line, off + i + 1, nil
}

// parseRequestLine parses method SP request-target SP HTTP-version (RFC
// 9112 section 3).
func parseRequestLine(line []byte, r *Request) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadRequestLine
	}
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp2 == sp1 {
		return errBadRequestLine
	}
	r.Method, r.Target = line[:sp1], line[sp1+1:sp2]
	if !isToken(r.Method) {
		return errBadMethod
	}
	minor, err := parseVersion(line[sp2+1:])
	if err != nil {
		return err
	}
	r.Minor = minor
	if len(r.Target) == 0 {
		return errBadTarget
	}
	for _, c := range r.Target {
		if c <= ' ' || c >= 0x7f {
			return errBadTarget
		}
	}
	switch {
	case r.Target[0] == '/':
		r.Path = r.Target
	case hasPrefixFold(r.Target, "http://"), hasPrefixFold(r.Target, "https://"):
		// Absolute form (RFC 9112 section 3.2.2): servers must accept it.
		rest := r.Target[bytes.IndexByte(r.Target, ':')+3:]
		i := bytes.IndexByte(rest, '/')
		if i < 0 {
			r.Path = []byte("/")
		} else {
			r.Path = rest[i:]
		}
	case len(r.Target) == 1 && r.Target[0] == '*':
		r.Path = r.Target
	case string(r.Method) == "CONNECT":
		// Authority form (RFC 9112 section 3.2.3), for CONNECT only: a
		// well-formed request, which the server refuses with 405.
		r.Path = r.Target
	default:
		return errBadTarget
	}
	if q := bytes.IndexByte(r.Path, '?'); q >= 0 {
		r.Path = r.Path[:q]
	}
	return nil
}

// parseVersion parses "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3) and
// returns the minor version of HTTP/1.
func parseVersion(v []byte) (int, error) {
	if len(v) != 8 || string(v[:5]) != "HTTP/" || v[6] != '.' || !isDigit(v[5]) || !isDigit(v[7]) {
		return 0, errBadVersion
	}
	if v[5] != '1' {
		return 0, errVersion
	}
	return int(v[7] - '0'), nil
}

// parseFields parses header field lines starting at off up to the empty
// line, appending them to hs, and returns the offset after the head.
func parseFields(b []byte, off int, lim Limits, hs *[]Header) (int, error) {
	for {
		if off > lim.MaxHeaderBytes {
			return 0, errHeaderTooLarge
		}
		line, next, err := nextLine(b, off, lim.MaxHeaderBytes)
		switch {
		case err == ErrIncomplete:
			if len(b) > lim.MaxHeaderBytes {
				return 0, errHeaderTooLarge
			}
			return 0, ErrIncomplete
		case err == errLineTooLong:
			return 0, errHeaderTooLarge
		case err != nil:
			return 0, err
		}
		if next > lim.MaxHeaderBytes {
			return 0, errHeaderTooLarge
		}
		off = next
		if len(line) == 0 {
			return off, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// RFC 9112 section 5.2: a server may reject obs-fold with 400.
			return 0, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		// RFC 9112 section 5.1: no whitespace between name and colon.
		if colon <= 0 || !isToken(line[:colon]) {
			return 0, errBadHeader
		}
		val := trimOWS(line[colon+1:])
		for _, c := range val {
			// RFC 9110 section 5.5: field values never hold CTLs but HTAB.
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, errBadHeader
			}
		}
		if len(*hs) >= lim.MaxHeaders {
			return 0, errTooManyHeaders
		}
		*hs = append(*hs, Header{Name: line[:colon], Value: val})
	}
}

// interpret applies the framing and connection rules to the parsed
// fields.
func (r *Request) interpret() error {
	closeTok, keepTok := false, false
	hosts := 0
	for _, h := range r.Headers {
		switch {
		case equalFold(h.Name, "Host"):
			hosts++
			r.Host = h.Value
		case equalFold(h.Name, "Content-Length"):
			n, err := parseLength(h.Value)
			if err != nil {
				return err
			}
			// RFC 9112 section 6.3 item 5: differing lengths are an
			// unrecoverable error.
			if r.ContentLength >= 0 && r.ContentLength != n {
				return errBadLength
			}
			r.ContentLength = n
		case equalFold(h.Name, "Transfer-Encoding"):
			if err := r.transferEncoding(h.Value); err != nil {
				return err
			}
		case equalFold(h.Name, "Connection"):
			forEachToken(h.Value, func(t []byte) {
				closeTok = closeTok || equalFold(t, "close")
				keepTok = keepTok || equalFold(t, "keep-alive")
			})
		}
	}
	// RFC 9112 section 3.2: HTTP/1.1 requests carry exactly one Host.
	if hosts > 1 {
		return errDupHost
	}
	if hosts == 0 && r.Minor >= 1 {
		return errNoHost
	}
	if r.Chunked {
		if r.Minor == 0 {
			// RFC 9112 section 6.1: faulty framing in HTTP/1.0.
			return errTEOn10
		}
		// RFC 9112 section 6.1: a server may reject both fields; doing so
		// closes the door to request smuggling.
		if r.ContentLength >= 0 {
			return errLengthAndTE
		}
	}
	// RFC 9112 section 9.3: persistence.
	r.KeepAlive = !closeTok && (r.Minor >= 1 || keepTok)
	return nil
}

// transferEncoding applies one Transfer-Encoding field (RFC 9112 section
// 6.1): chunked must be the final coding, and only chunked is known.
func (r *Request) transferEncoding(v []byte) error {
	var err error
	forEachToken(v, func(t []byte) {
		switch {
		case err != nil:
		case r.Chunked:
			err = errChunkedNotLast
		case equalFold(t, "chunked"):
			r.Chunked = true
		default:
			err = errUnknownTE
		}
	})
	if err == nil && !r.Chunked {
		err = errBadHeader
	}
	return err
}

// parseLength parses a Content-Length value: 1*DIGIT (RFC 9110 section
// 8.6). Values beyond int64 saturate, to be refused as too large.
func parseLength(v []byte) (int64, error) {
	if len(v) == 0 {
		return 0, errBadLength
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, errBadLength
		}
		if n > (math.MaxInt64-9)/10 {
			n = math.MaxInt64
			continue
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// forEachToken calls fn for each non-empty element of a comma-separated
// list (RFC 9110 section 5.6.1).
func forEachToken(v []byte, fn func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var t []byte
		if i < 0 {
			t, v = v, nil
		} else {
			t, v = v[:i], v[i+1:]
		}
		if t = trimOWS(t); len(t) > 0 {
			fn(t)
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// tokenChars marks the tchar set of RFC 9110 section 5.6.2.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
