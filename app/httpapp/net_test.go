package httpapp

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
	"github.com/stretchr/testify/require"
)

var (
	serverAddr = netip.MustParseAddr("10.0.0.1")
	clientAddr = netip.MustParseAddr("10.0.0.2")
)

// testHost is a stack host with TCP, as apps see it.
type testHost struct {
	host *stack.Host
	tcp  *tcp.Stack
	env  *app.Env
}

// testNet is two hosts on one simulated link.
type testNet struct {
	w              *sim.World
	server, client *testHost
}

func newTestNet(t testing.TB, imp impair.Config) *testNet {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 7})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	l, err := w.Connect("wire", sim.Iface{Host: "server", Name: "eth0"}, sim.Iface{Host: "client", Name: "eth0"},
		sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	mk := func(name string, ep link.Endpoint, mac byte, addr netip.Addr) *testHost {
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		h.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, mac}, ep).SetAddress(netip.PrefixFrom(addr, 24))
		ts := tcp.New(h, w.Clock(), w.Rand("tcp/"+name), tcp.Config{})
		h.RegisterProtocol(tcp.ProtocolNumber, ts)
		return &testHost{host: h, tcp: ts, env: &app.Env{
			Clock: w.Clock(), Rand: w.Rand("app/" + name),
			Net: app.NewStackNet(h), TCP: ts,
		}}
	}
	return &testNet{
		w:      w,
		server: mk("server", l.A(), 1, serverAddr),
		client: mk("client", l.B(), 2, clientAddr),
	}
}

// run steps the world until done returns true or limit of simulated time
// has passed, and reports whether done.
func (n *testNet) run(limit time.Duration, done func() bool) bool {
	end := n.w.Now().Add(limit)
	for !done() {
		next, ok := n.w.Scheduler().Next()
		if !ok || next > end {
			return false
		}
		n.w.Step()
	}
	return true
}

// rawClient sends fixed bytes on one connection and collects everything
// the server sends back.
type rawClient struct {
	conn     *tcp.Conn
	out      []byte
	shutdown bool // half-close after sending
	got      bytes.Buffer
	eof      bool
	closed   bool
	err      error
}

func (r *rawClient) OnEstablished(c *tcp.Conn) { r.OnWritable(c) }

func (r *rawClient) OnWritable(c *tcp.Conn) {
	for len(r.out) > 0 {
		n, err := c.Write(r.out)
		r.out = r.out[n:]
		if err != nil {
			return
		}
	}
	if r.shutdown {
		_ = c.Shutdown()
	}
}

func (r *rawClient) OnReadable(c *tcp.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		r.got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			r.eof = true
			_ = c.Close()
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *rawClient) OnClosed(_ *tcp.Conn, err error) { r.closed, r.err = true, err }

// send opens a raw connection to the server and sends data.
func (n *testNet) send(t testing.TB, port uint16, data []byte, shutdown bool) *rawClient {
	t.Helper()
	r := &rawClient{out: data, shutdown: shutdown}
	c, err := n.client.tcp.Connect(netip.AddrPort{}, netip.AddrPortFrom(serverAddr, port), r)
	require.NoError(t, err)
	r.conn = c
	return r
}

// parsedResponse is a response read back from a raw byte stream.
type parsedResponse struct {
	status int
	header map[string]string
	body   []byte
}

// parseResponses splits a stream into Content-Length delimited responses;
// head[i] tells whether the i-th answers a HEAD request.
func parseResponses(t testing.TB, b []byte, head ...bool) []parsedResponse {
	t.Helper()
	var out []parsedResponse
	for i := 0; len(b) > 0; i++ {
		var r Response
		n, err := ParseResponse(b, &r, 0)
		require.NoError(t, err, "response %d: %q", i, b)
		p := parsedResponse{status: r.Status, header: map[string]string{}}
		for _, h := range r.Headers {
			p.header[string(h.Name)] = string(h.Value)
		}
		require.GreaterOrEqual(t, r.ContentLength, int64(0), "response %d has a Content-Length", i)
		b = b[n:]
		if i >= len(head) || !head[i] {
			require.GreaterOrEqual(t, int64(len(b)), r.ContentLength, "response %d body complete", i)
			p.body = b[:r.ContentLength]
			b = b[r.ContentLength:]
		}
		out = append(out, p)
	}
	return out
}
