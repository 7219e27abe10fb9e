package httpapp

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptServer answers each request head on a connection with the next
// canned reply of its script; a reply flagged close is followed by a
// close of the connection.
type scriptServer struct {
	replies []scriptReply
	next    int
	conns   int
}

type scriptReply struct {
	data  string
	close bool
}

type scriptConn struct {
	s   *scriptServer
	buf bytes.Buffer
}

func (sc *scriptConn) OnEstablished(*tcp.Conn)   {}
func (sc *scriptConn) OnWritable(*tcp.Conn)      {}
func (sc *scriptConn) OnClosed(*tcp.Conn, error) {}

func (sc *scriptConn) OnReadable(c *tcp.Conn) {
	b := make([]byte, 4096)
	for {
		n, err := c.Read(b)
		sc.buf.Write(b[:n])
		if errors.Is(err, io.EOF) {
			_ = c.Close()
			return
		}
		if err != nil {
			break
		}
	}
	for {
		i := bytes.Index(sc.buf.Bytes(), []byte("\r\n\r\n"))
		if i < 0 || sc.s.next >= len(sc.s.replies) {
			return
		}
		sc.buf.Next(i + 4)
		r := sc.s.replies[sc.s.next]
		sc.s.next++
		_, _ = c.Write([]byte(r.data))
		if r.close {
			_ = c.Close()
			return
		}
	}
}

func (n *testNet) script(t testing.TB, port uint16, replies ...scriptReply) *scriptServer {
	t.Helper()
	s := &scriptServer{replies: replies}
	_, err := n.server.tcp.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), port), 8, func(l *tcp.Listener) {
		for {
			sc := &scriptConn{s: s}
			c, err := l.Accept(sc)
			if err != nil {
				return
			}
			s.conns++
			sc.OnReadable(c)
		}
	})
	require.NoError(t, err)
	return s
}

func TestClientFraming(t *testing.T) {
	long := strings.Repeat("L", 70000)
	cases := []struct {
		name    string
		replies []scriptReply
		count   int
		maxBody int64
		status  []int
		framing []string
		bodies  []string
		conns   int
		err     string
	}{
		{name: "length", count: 2,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"}, {data: "HTTP/1.1 201 Created\r\nContent-Length: 70000\r\n\r\n" + long}},
			status:  []int{200, 201}, framing: []string{"length", "length"}, bodies: []string{"hello", long}, conns: 1},
		{name: "chunked with extensions and trailer", count: 2,
			replies: []scriptReply{
				{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"},
				{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11170\r\n" + long + "\r\n0\r\n\r\n"}},
			status: []int{200, 200}, framing: []string{"chunked", "chunked"}, bodies: []string{"hello world", long}, conns: 1},
		{name: "close delimited", count: 2,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\n\r\nuntil close", close: true}, {data: "HTTP/1.0 200 OK\r\n\r\nagain", close: true}},
			status:  []int{200, 200}, framing: []string{"close", "close"}, bodies: []string{"until close", "again"}, conns: 2},
		{name: "interim and no-body responses", count: 3,
			replies: []scriptReply{
				{data: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
				{data: "HTTP/1.1 204 No Content\r\n\r\n"},
				{data: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"}},
			status: []int{200, 204, 304}, framing: []string{"length", "none", "none"}, bodies: []string{"ok", "", ""}, conns: 1},
		{name: "connection close and 1.0", count: 3,
			replies: []scriptReply{
				{data: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na"},
				{data: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb"},
				{data: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nc"}},
			status: []int{200, 200, 200}, framing: []string{"length", "length", "length"}, bodies: []string{"a", "b", "c"}, conns: 3},
		{name: "idle close is retried", count: 2,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", close: true}, {data: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"}},
			status:  []int{200, 200}, framing: []string{"length", "length"}, bodies: []string{"a", "b"}, conns: 2},
		{name: "truncated body", count: 1,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", close: true}},
			conns:   1, err: "closed before the response was complete"},
		{name: "truncated chunked body", count: 1,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", close: true}},
			conns:   1, err: "closed before the response was complete"},
		{name: "malformed status", count: 1,
			replies: []scriptReply{{data: "HTTP/1.1 OK\r\n\r\n"}}, conns: 1, err: "malformed response"},
		{name: "malformed chunk", count: 1,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"}}, conns: 1, err: "malformed chunk size"},
		{name: "body too large by length", count: 1, maxBody: 4,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"}}, conns: 1, err: "too large"},
		{name: "body too large chunked", count: 1, maxBody: 4,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"}}, conns: 1, err: "too large"},
		{name: "endless head", count: 1,
			replies: []scriptReply{{data: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", 40000)}}, conns: 1, err: "malformed response"},
		{name: "no answer", count: 1, conns: 1, err: "timed out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t, impair.Config{Delay: time.Millisecond})
			s := n.script(t, 80, tc.replies...)
			r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/", Count: tc.count, MaxBody: tc.maxBody, Timeout: 10 * time.Second})
			assert.Equal(t, tc.conns, s.conns, "connections")
			assert.Equal(t, tc.conns, r.Connections)
			if tc.err != "" {
				assert.Contains(t, r.Error, tc.err)
				assert.False(t, r.Done)
				return
			}
			require.Empty(t, r.Error)
			assert.True(t, r.Done)
			require.Len(t, r.Responses, tc.count)
			for i, rr := range r.Responses {
				assert.Equal(t, tc.status[i], rr.Status, "response %d", i)
				assert.Equal(t, tc.framing[i], rr.Framing, "response %d", i)
				assert.Equal(t, int64(len(tc.bodies[i])), rr.BodyLength, "response %d", i)
				assert.Equal(t, sha([]byte(tc.bodies[i])), rr.BodySHA256, "response %d", i)
			}
			last := r.Responses[len(r.Responses)-1]
			assert.Equal(t, last.Status, r.Status)
			assert.Equal(t, last.BodySHA256, r.BodySHA256)
		})
	}
}

func TestClientInterval(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	startServer(t, n, ServerConfig{Name: "web"})
	r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/", Count: 5, Interval: time.Second})
	require.Empty(t, r.Error)
	assert.Equal(t, 5, r.Requests)
	assert.Equal(t, 1, r.Connections)
	assert.GreaterOrEqual(t, r.TotalMs, 4000.0, "four pauses of one second")
	assert.Less(t, r.TotalMs, 4200.0)
	for _, rr := range r.Responses[1:] {
		assert.InDelta(t, 2.0, rr.DurationMs, 0.5, "a reused connection costs one round trip")
	}
}
