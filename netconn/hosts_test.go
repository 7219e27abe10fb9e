package netconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cable is one end of an in-test Ethernet cable on a loop: frames sent are
// delivered to the other end on a later loop turn.
type cable struct {
	clk  clock.Clock
	peer *cable
	recv link.Receiver
}

type frame struct {
	t  clock.Timer
	to *cable
	b  []byte
}

func (f *frame) OnTimer(clock.Time) {
	if f.to.recv != nil {
		f.to.recv.Receive(f.b, link.Note{})
	}
}

func (c *cable) Send(b []byte) link.Note {
	f := &frame{to: c.peer, b: append([]byte(nil), b...)}
	f.t.Init(f)
	c.clk.Schedule(&f.t, c.clk.Now())
	return link.Note{}
}
func (c *cable) SetReceiver(r link.Receiver) { c.recv = r }
func (c *cable) MTU() int                    { return 1500 }

type testHost struct {
	h   *stack.Host
	tcp *tcp.Stack
}

// twoHosts starts a loop with two IPv4 hosts (192.0.2.1 and .2) on a cable,
// each with TCP registered.
func twoHosts(t *testing.T) (*loop.Loop, *testHost, *testHost) {
	t.Helper()
	lp := loop.New()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		_ = lp.Run(ctx)
		close(stopped)
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
	})
	var a, b *testHost
	require.NoError(t, lp.Call(context.Background(), func() {
		ca := &cable{clk: lp.Clock()}
		cb := &cable{clk: lp.Clock(), peer: ca}
		ca.peer = cb
		mk := func(name string, ip string, mac ether.Addr, ep link.Endpoint) *testHost {
			h := stack.New(stack.Config{Name: name, Clock: lp.Clock(), Rand: rng.New(1, "host/"+name)})
			h.AddInterface("eth0", mac, ep).SetAddress(netip.MustParsePrefix(ip + "/24"))
			ts := tcp.New(h, lp.Clock(), rng.New(1, "tcp/"+name), tcp.Config{})
			h.RegisterProtocol(tcp.ProtocolNumber, ts)
			return &testHost{h: h, tcp: ts}
		}
		a = mk("a", "192.0.2.1", ether.Addr{2, 0, 0, 0, 0, 1}, ca)
		b = mk("b", "192.0.2.2", ether.Addr{2, 0, 0, 0, 0, 2}, cb)
	}))
	return lp, a, b
}

func TestHTTPBetweenHosts(t *testing.T) {
	lp, a, b := twoHosts(t)
	ln, err := Listen(lp, a.tcp, netip.MustParseAddrPort("0.0.0.0:8080"), 16)
	require.NoError(t, err)
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return Dial(ctx, lp, b.tcp, netip.MustParseAddrPort(addr))
		},
	}}
	resp, err := client.Get("http://192.0.2.1:8080/")
	require.NoError(t, err)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, bytes.Equal(body, got))
}

func TestPacketConn(t *testing.T) {
	lp, a, b := twoHosts(t)
	pa, err := ListenPacket(lp, a.h, netip.MustParseAddrPort("192.0.2.1:5353"))
	require.NoError(t, err)
	pb, err := ListenPacket(lp, b.h, netip.MustParseAddrPort("0.0.0.0:0"))
	require.NoError(t, err)
	var _ net.PacketConn = pa

	n, err := pb.WriteTo([]byte("query"), pa.LocalAddr())
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	buf := make([]byte, 100)
	require.NoError(t, pa.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, from, err := pa.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "query", string(buf[:n]))
	assert.Equal(t, pb.LocalAddr().(*net.UDPAddr).Port, from.(*net.UDPAddr).Port)

	_, err = pa.WriteTo([]byte("answer"), from)
	require.NoError(t, err)
	n, _, err = pb.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "answer", string(buf[:n]))

	require.NoError(t, pb.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, _, err = pb.ReadFrom(buf)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))

	require.NoError(t, pa.Close())
	_, _, err = pa.ReadFrom(buf)
	assert.True(t, errors.Is(err, net.ErrClosed))
}
