package httpapp

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRequestValid(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		method    string
		path      string
		minor     int
		keepAlive bool
		length    int64
		chunked   bool
		headers   int
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", 1, true, -1, false, 1},
		{"query stripped", "GET /x/y.html?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/x/y.html", 1, true, -1, false, 1},
		{"absolute form", "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "GET", "/p", 1, true, -1, false, 1},
		{"absolute form no path", "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/", 1, true, -1, false, 1},
		{"bare LF", "GET / HTTP/1.1\nHost: a\n\n", "GET", "/", 1, true, -1, false, 1},
		{"leading empty lines", "\r\n\r\nHEAD /a HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD", "/a", 1, true, -1, false, 1},
		{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", "GET", "/", 1, false, -1, false, 2},
		{"1.0 closes", "GET / HTTP/1.0\r\n\r\n", "GET", "/", 0, false, -1, false, 0},
		{"1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", 0, true, -1, false, 1},
		{"1.2 is 1.x", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", "GET", "/", 2, true, -1, false, 1},
		{"content length", "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "POST", "/f", 1, true, 5, false, 2},
		{"same length twice", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello", "POST", "/", 1, true, 5, false, 3},
		{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/", 1, true, -1, true, 2},
		{"OWS trimmed", "GET / HTTP/1.1\r\nHost: \t a \t\r\nX-Empty:\r\n\r\n", "GET", "/", 1, true, -1, false, 2},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", 1, true, -1, false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(tc.in), &r, Limits{})
			require.NoError(t, err)
			body := tc.in[n:]
			if tc.length > 0 {
				assert.Len(t, body, int(tc.length))
			} else {
				assert.Empty(t, body)
			}
			assert.Equal(t, tc.method, string(r.Method))
			assert.Equal(t, tc.path, string(r.Path))
			assert.Equal(t, tc.minor, r.Minor)
			assert.Equal(t, tc.keepAlive, r.KeepAlive)
			assert.Equal(t, tc.length, r.ContentLength)
			assert.Equal(t, tc.chunked, r.Chunked)
			assert.Len(t, r.Headers, tc.headers)
		})
	}
	var r Request
	_, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: \t a \t\r\nX-Empty:\r\n\r\n"), &r, Limits{})
	require.NoError(t, err)
	assert.Equal(t, "a", string(r.Get("host")))
	assert.Equal(t, "a", string(r.Host))
	assert.Empty(t, r.Get("X-Empty"))
	assert.Nil(t, r.Get("Missing"))
}

func TestParseRequestErrors(t *testing.T) {
	long := strings.Repeat("a", DefaultMaxRequestLine)
	manyHeaders := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: y\r\n", DefaultMaxHeaders) + "\r\n"
	cases := []struct {
		name   string
		in     string
		status int
	}{
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n", 400},
		{"no target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"extra space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"relative target", "GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"bad version", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
		{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"HTTP/2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"control char in target", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400},
		{"bad length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400},
		{"negative length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
		{"differing lengths", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"length and chunked", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"chunked not last", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"chunked twice", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"unknown coding", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"TE in 1.0", "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"body too large", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413},
		{"huge length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413},
		{"request line too long", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"request line too long, incomplete", "GET /" + long, 414},
		{"header too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long + "\r\n\r\n", 431},
		{"header too large, incomplete", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long, 431},
		{"too many headers", manyHeaders, 431},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(tc.in), &r, Limits{})
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "got n=%d err=%v", n, err)
			assert.Equal(t, tc.status, pe.Status, pe.Reason)
			assert.Zero(t, n)
		})
	}
}

func TestParseRequestIncomplete(t *testing.T) {
	full := "GET /index.html HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"
	for i := 0; i < len(full); i++ {
		var r Request
		n, err := ParseRequest([]byte(full[:i]), &r, Limits{})
		require.ErrorIs(t, err, ErrIncomplete, "prefix %d", i)
		assert.Zero(t, n)
	}
	var r Request
	n, err := ParseRequest([]byte(full+"GET /next"), &r, Limits{})
	require.NoError(t, err)
	assert.Equal(t, len(full), n, "a pipelined request that follows is not consumed")
}

func TestParseRequestLimits(t *testing.T) {
	lim := Limits{MaxRequestLine: 32, MaxHeaderBytes: 64, MaxHeaders: 2, MaxBody: 10}
	cases := []struct {
		in     string
		status int // 0: accepted
	}{
		{"GET /012345678901234567 HTTP/1.1\r\nHost: a\r\n\r\n", 0},
		{"GET /0123456789012345678 HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\n", 431},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789012345678901234567890123456789\r\n\r\n", 431},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", 0},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 413},
	}
	for _, tc := range cases {
		var r Request
		_, err := ParseRequest([]byte(tc.in), &r, lim)
		if tc.status == 0 {
			assert.NoError(t, err, tc.in)
			continue
		}
		var pe *ParseError
		if assert.True(t, errors.As(err, &pe), tc.in) {
			assert.Equal(t, tc.status, pe.Status, tc.in)
		}
	}
}

func TestParseRequestNoAlloc(t *testing.T) {
	b := []byte("GET /index.html HTTP/1.1\r\nHost: example\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n")
	var r Request
	_, err := ParseRequest(b, &r, Limits{})
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = ParseRequest(b, &r, Limits{})
	})
	assert.Zero(t, allocs)
}

func FuzzParseRequest(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"HEAD /x?y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"GET http://h/p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"\r\n\nGET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"GET /" + strings.Repeat("%2e%2e/", 2000) + " HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"\x00\xff\r\n\r\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		n, err := ParseRequest(b, &r, Limits{})
		if err != nil {
			assert.Zero(t, n)
			var pe *ParseError
			if !errors.Is(err, ErrIncomplete) {
				require.True(t, errors.As(err, &pe))
				assert.Contains(t, []int{400, 413, 414, 431, 501, 505}, pe.Status)
			} else {
				assert.LessOrEqual(t, len(b), DefaultMaxHeaderBytes+2, "an incomplete head stays within the limit")
			}
			return
		}
		require.LessOrEqual(t, n, len(b))
		assert.LessOrEqual(t, n, DefaultMaxHeaderBytes+2*maxLeadingEmptyLines)
		assert.LessOrEqual(t, len(r.Headers), DefaultMaxHeaders)
		assert.True(t, isToken(r.Method))
		assert.NotEmpty(t, r.Path)
		assert.True(t, r.ContentLength <= DefaultMaxBody)
		// Reparsing the consumed head alone gives the same request.
		var r2 Request
		n2, err := ParseRequest(b[:n], &r2, Limits{})
		require.NoError(t, err)
		assert.Equal(t, n, n2)
		assert.Equal(t, r.Method, r2.Method)
		assert.Equal(t, r.Path, r2.Path)
		assert.Equal(t, r.KeepAlive, r2.KeepAlive)
	})
}

// decodeChunked runs the decoder over stream fed in pieces of size step.
func decodeChunked(stream []byte, step int) ([]byte, int, error) {
	var d chunkDecoder
	var out []byte
	off := 0
	for off < len(stream) && !d.done() {
		end := min(off+step, len(stream))
		p := stream[off:end]
		for len(p) > 0 && !d.done() {
			n, data, err := d.next(p)
			out = append(out, data...)
			off += n
			p = p[n:]
			if err != nil {
				return out, off, err
			}
			if n == 0 {
				break
			}
		}
	}
	if !d.done() {
		return out, off, ErrIncomplete
	}
	return out, off, nil
}

func TestChunkDecoder(t *testing.T) {
	cases := []struct {
		name, in, want string
		rest           string
		err            bool
	}{
		{"simple", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", "", false},
		{"hex and ext", "A;name=val;x\r\n0123456789\r\n0\r\n\r\n", "0123456789", "", false},
		{"upper hex", "1F\r\n" + strings.Repeat("x", 31) + "\r\n0\r\n\r\n", strings.Repeat("x", 31), "", false},
		{"trailers", "3\r\nabc\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", "abc", "", false},
		{"bare LF", "3\nabc\n0\n\n", "abc", "", false},
		{"followed by next message", "1\r\na\r\n0\r\n\r\nHTTP/1.1 200 OK", "a", "HTTP/1.1 200 OK", false},
		{"bad size", "x\r\n", "", "", true},
		{"no size", "\r\n", "", "", true},
		{"missing CRLF after data", "3\r\nabcd\r\n", "abc", "", true},
		{"overflow", strings.Repeat("f", 16) + "\r\n", "", "", true},
		{"bare CR", "3\rabc", "", "", true},
		{"long extension", "1;" + strings.Repeat("e", maxChunkLine) + "\r\n", "", "", true},
		{"long trailer", "0\r\n" + strings.Repeat("t", maxTrailer+1), "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 2, 3, 7, 1 << 20} {
				out, n, err := decodeChunked([]byte(tc.in), step)
				if tc.err {
					assert.Error(t, err, "step %d", step)
					continue
				}
				require.NoError(t, err, "step %d", step)
				assert.Equal(t, tc.want, string(out), "step %d", step)
				assert.Equal(t, tc.rest, tc.in[n:], "step %d", step)
			}
		})
	}
}

func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 3)
	f.Add([]byte("A;x=y\r\n0123456789\r\n0\r\nT: v\r\n\r\n"), 1)
	f.Add([]byte("ffffffffffffffff\r\n"), 5)
	f.Add([]byte("0\n\n"), 100)
	f.Fuzz(func(t *testing.T, b []byte, step int) {
		if step <= 0 {
			step = 1
		}
		out, n, err := decodeChunked(b, step)
		assert.LessOrEqual(t, n, len(b))
		assert.LessOrEqual(t, len(out), len(b))
		if err == nil {
			// Decoding does not depend on how the stream is split.
			out1, n1, err1 := decodeChunked(b, 1)
			require.NoError(t, err1)
			assert.Equal(t, n, n1)
			assert.True(t, bytes.Equal(out, out1))
		}
	})
}

func TestParseResponse(t *testing.T) {
	cases := []struct {
		name      string
		in        string
		status    int
		length    int64
		chunked   bool
		keepAlive bool
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, 5, false, true},
		{"no reason", "HTTP/1.1 204 \r\n\r\n", 204, -1, false, true},
		{"no reason no space", "HTTP/1.1 304\r\n\r\n", 304, -1, false, true},
		{"chunked wins", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 200, -1, true, true},
		{"unknown coding closes", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 200, -1, false, false},
		{"close", "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 404, 0, false, false},
		{"1.0", "HTTP/1.0 200 OK\r\n\r\n", 200, -1, false, false},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", 200, 1, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			n, err := ParseResponse([]byte(tc.in), &r, 0)
			require.NoError(t, err)
			assert.Equal(t, tc.status, r.Status)
			assert.Equal(t, tc.length, r.ContentLength)
			assert.Equal(t, tc.chunked, r.Chunked)
			assert.Equal(t, tc.keepAlive, r.KeepAlive)
			if tc.length > 0 {
				assert.Len(t, tc.in[n:], int(tc.length))
			}
		})
	}
	bad := []string{
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 abc OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("v", DefaultMaxResponseHeader) + "\r\n\r\n",
	}
	for _, in := range bad {
		var r Response
		_, err := ParseResponse([]byte(in), &r, 0)
		assert.ErrorIs(t, err, ErrMalformedResponse, "%.40q", in)
	}
	var r Response
	_, err := ParseResponse([]byte("HTTP/1.1 200 OK\r\nContent-Len"), &r, 0)
	assert.ErrorIs(t, err, ErrIncomplete)
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404\n\n"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n X: fold\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Response
		n, err := ParseResponse(b, &r, 0)
		if err != nil {
			assert.Zero(t, n)
			if !errors.Is(err, ErrIncomplete) {
				assert.ErrorIs(t, err, ErrMalformedResponse)
			}
			return
		}
		assert.LessOrEqual(t, n, len(b))
		assert.GreaterOrEqual(t, r.Status, 100)
		assert.LessOrEqual(t, r.Status, 999)
	})
}
