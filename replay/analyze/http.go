package analyze

import (
	"bytes"
	"strconv"
)

// httpPorts are the TCP ports tshark 4.0 dissects as HTTP by default
// (preference http.tcp.port).
var httpPorts = [...]uint16{80, 3128, 3132, 5985, 8080, 8088, 11371, 1900, 2869, 2710}

func httpPort(p uint16) bool {
	for _, q := range httpPorts {
		if p == q {
			return true
		}
	}
	return false
}

// httpStarts are the prefixes of an HTTP/1.x request line (RFC 9110 section
// 9 methods) or status line (RFC 9112 section 4).
var httpStarts = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("HEAD "), []byte("PUT "), []byte("DELETE "),
	[]byte("OPTIONS "), []byte("TRACE "), []byte("CONNECT "), []byte("PATCH "), []byte("HTTP/1."),
}

func looksHTTP(b []byte) bool {
	for _, p := range httpStarts {
		if bytes.HasPrefix(b, p) {
			return true
		}
		if len(b) < len(p) && bytes.HasPrefix(p, b) && len(b) >= 3 {
			return true
		}
	}
	return false
}

// appStream is the per-direction application state of a TCP connection.
type appStream struct {
	buf   []byte // DNS message or HTTP header being assembled
	http  bool   // an HTTP message was seen in this direction
	state httpState
	body  int64 // bytes of body (or of the current chunk) still expected
	line  []byte
	// heads holds, for each request sent in this direction and not yet
	// answered, whether it was a HEAD request: its response has no body
	// whatever its headers say (RFC 9112 section 6.3 rule 1).
	heads []bool
}

// maxPendingRequests bounds the pipelined requests remembered per
// direction; beyond it the oldest is forgotten.
const maxPendingRequests = 64

type httpState uint8

const (
	httpIdle      httpState = iota
	httpHeader              // collecting the header block
	httpBody                // Content-Length body
	httpChunkSize           // reading a chunk-size line
	httpChunkData           // inside a chunk
	httpTrailer             // trailer lines after the last chunk
)

func (s *appStream) reset() {
	s.buf = s.buf[:0]
	s.line = s.line[:0]
	s.state = httpIdle
	s.body = 0
	s.heads = s.heads[:0]
}

var (
	crlf             = []byte("\r\n")
	crlfcrlf         = []byte("\r\n\r\n")
	hdrContentLength = []byte("content-length:")
	hdrTransferEnc   = []byte("transfer-encoding:")
	chunked          = []byte("chunked")
)

// maxChunkLine bounds a chunk-size or trailer line (RFC 9112 section 7.1).
const maxChunkLine = 1024

// httpStream feeds in-order bytes of one direction to the HTTP message
// parser and reports whether an HTTP message was completed. peer is the
// other direction of the connection, whose requests the responses answer.
func (a *Analyzer) httpStream(s, peer *appStream, b []byte) bool {
	found := false
	for len(b) > 0 {
		switch s.state {
		case httpIdle:
			if !looksHTTP(b) {
				return found
			}
			s.http = true
			s.state = httpHeader
			s.buf = s.buf[:0]
		case httpHeader:
			if len(s.buf) == 0 {
				// Fast path: the whole header block is in this segment.
				if i := bytes.Index(b, crlfcrlf); i >= 0 {
					s.startBody(b[:i+4], peer)
					b = b[i+4:]
					if s.state == httpIdle {
						found = true
					}
					continue
				}
			}
			old := len(s.buf)
			// Search from 3 bytes back so a CRLFCRLF split over segments
			// is found.
			from := max(0, old-3)
			if len(s.buf)+len(b) > maxStreamBuffer || !a.appendBuf(s, b) {
				a.dropBuf(s)
				return found
			}
			i := bytes.Index(s.buf[from:], crlfcrlf)
			if i < 0 {
				return found
			}
			end := from + i + 4
			b = b[end-old:]
			s.startBody(s.buf[:end], peer)
			s.buf = s.buf[:0]
			if s.state == httpIdle {
				found = true
			}
		case httpBody:
			n := min(int64(len(b)), s.body)
			s.body -= n
			b = b[n:]
			if s.body == 0 {
				s.state = httpIdle
				found = true
			}
		case httpChunkSize, httpTrailer:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				i = len(b)
			}
			if len(s.line)+i > maxChunkLine {
				// No chunk-size or trailer line is this long.
				s.reset()
				return found
			}
			s.line = append(s.line, b[:i]...)
			if i == len(b) {
				return found
			}
			b = b[i+1:]
			line := bytes.TrimSpace(s.line)
			s.line = s.line[:0]
			if s.state == httpTrailer {
				if len(line) == 0 {
					s.state = httpIdle
					found = true
				}
				continue
			}
			if len(line) == 0 {
				continue // the CRLF that ends the previous chunk's data
			}
			if j := bytes.IndexByte(line, ';'); j >= 0 {
				line = bytes.TrimSpace(line[:j])
			}
			n, err := strconv.ParseInt(string(line), 16, 64)
			if err != nil || n < 0 {
				s.reset()
				return found
			}
			if n == 0 {
				s.state = httpTrailer
			} else {
				s.state, s.body = httpChunkData, n
			}
		case httpChunkData:
			n := min(int64(len(b)), s.body)
			s.body -= n
			b = b[n:]
			if s.body == 0 {
				s.state = httpChunkSize
			}
		}
	}
	return found
}

// startBody reads the framing headers of a complete header block (RFC 9112
// section 6.3) and sets the state for the body. A request is remembered in
// s.heads; a final response takes the oldest request of peer.heads.
func (s *appStream) startBody(hdr []byte, peer *appStream) {
	isResponse := bytes.HasPrefix(hdr, []byte("HTTP/"))
	headResponse := false
	if !isResponse {
		if len(s.heads) == maxPendingRequests {
			s.heads = append(s.heads[:0], s.heads[1:]...)
		}
		s.heads = append(s.heads, bytes.HasPrefix(hdr, []byte("HEAD ")))
	} else if len(hdr) >= 10 && hdr[9] != '1' && len(peer.heads) > 0 {
		// A final (not 1xx) response answers the oldest request.
		headResponse = peer.heads[0]
		peer.heads = append(peer.heads[:0], peer.heads[1:]...)
	}
	var clen int64 = -1
	isChunked := false
	for rest := hdr; len(rest) > 0; {
		line := rest
		if i := bytes.Index(rest, crlf); i >= 0 {
			line, rest = rest[:i], rest[i+2:]
		} else {
			rest = nil
		}
		if len(line) > len(hdrContentLength) && asciiHasPrefixFold(line, hdrContentLength) {
			v, err := strconv.ParseInt(string(bytes.TrimSpace(line[len(hdrContentLength):])), 10, 64)
			if err == nil && v >= 0 {
				clen = v
			}
		} else if len(line) > len(hdrTransferEnc) && asciiHasPrefixFold(line, hdrTransferEnc) {
			if bytes.Contains(bytes.ToLower(line[len(hdrTransferEnc):]), chunked) {
				isChunked = true
			}
		}
	}
	noBody := false
	if isResponse && len(hdr) >= 12 {
		code := hdr[9:12]
		noBody = code[0] == '1' || bytes.Equal(code, []byte("204")) || bytes.Equal(code, []byte("304"))
	}
	noBody = noBody || headResponse
	switch {
	case noBody:
		s.state = httpIdle
	case isChunked:
		s.state = httpChunkSize
	case clen > 0:
		s.state, s.body = httpBody, clen
	case clen == 0 || !isResponse:
		s.state = httpIdle
	default:
		// RFC 9112 section 6.3 rule 8: the body runs to the close. tshark
		// counts the header frame; so does this.
		s.state = httpIdle
	}
}

func asciiHasPrefixFold(b, prefix []byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i, c := range prefix {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != c {
			return false
		}
	}
	return true
}
