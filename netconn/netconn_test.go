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
	"sync/atomic"
	"testing"
	"time"

	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wire joins two TCP stacks on one loop: a segment sent by one is
// delivered to the other on a later loop turn.
type wire struct {
	clk   clock.Clock
	local netip.Addr
	peer  *tcp.Stack
	cut   atomic.Bool // drops everything when set
}

type packet struct {
	t        clock.Timer
	to       *tcp.Stack
	src, dst netip.Addr
	data     []byte
}

func (p *packet) OnTimer(clock.Time) { p.to.HandleIP(p.src, p.dst, p.data) }

func (w *wire) SendIP(_ uint8, src, dst netip.Addr, payload []byte) error {
	if w.cut.Load() {
		return nil
	}
	p := &packet{to: w.peer, src: src, dst: dst, data: append([]byte(nil), payload...)}
	p.t.Init(p)
	w.clk.Schedule(&p.t, w.clk.Now())
	return nil
}

func (w *wire) SourceFor(netip.Addr) (netip.Addr, bool) { return w.local, true }
func (w *wire) PathMTU(netip.Addr) int                  { return 1500 }

var (
	srvAddr = netip.MustParseAddr("192.0.2.1")
	cliAddr = netip.MustParseAddr("192.0.2.2")
)

// twoStacks starts a loop with a server and a client stack joined by a wire.
func twoStacks(t *testing.T) (*loop.Loop, *tcp.Stack, *tcp.Stack) {
	t.Helper()
	lp, srv, cli, _ := cutStacks(t, tcp.Config{})
	return lp, srv, cli
}

// cutStacks is twoStacks with cfg for both stacks; cut severs the wire in
// both directions.
func cutStacks(t *testing.T, cfg tcp.Config) (lp *loop.Loop, srv, cli *tcp.Stack, cut func()) {
	t.Helper()
	lp = loop.New()
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
	ws := &wire{clk: lp.Clock(), local: srvAddr}
	wc := &wire{clk: lp.Clock(), local: cliAddr}
	require.NoError(t, lp.Call(context.Background(), func() {
		srv = tcp.New(ws, lp.Clock(), rng.New(1, "srv"), cfg)
		cli = tcp.New(wc, lp.Clock(), rng.New(1, "cli"), cfg)
		ws.peer, wc.peer = cli, srv
	}))
	return lp, srv, cli, func() { ws.cut.Store(true); wc.cut.Store(true) }
}

func TestHTTPOverListener(t *testing.T) {
	lp, srv, cli := twoStacks(t)
	ln, err := Listen(lp, srv, netip.AddrPortFrom(srvAddr, 80), 16)
	require.NoError(t, err)
	body := bytes.Repeat([]byte("simnet over net/http\n"), 50000)
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, err
			}
			return Dial(ctx, lp, cli, ap)
		},
	}, Timeout: 30 * time.Second}
	for i := 0; i < 3; i++ {
		resp, err := client.Get("http://192.0.2.1:80/big")
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, bytes.Equal(body, got), "body byte-exact")
	}
	resp, err := client.Get("http://192.0.2.1:80/missing")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestReadDeadline(t *testing.T) {
	lp, srv, cli := twoStacks(t)
	ln, err := Listen(lp, srv, netip.AddrPortFrom(srvAddr, 7), 4)
	require.NoError(t, err)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := Dial(context.Background(), lp, cli, netip.AddrPortFrom(srvAddr, 7))
	require.NoError(t, err)
	s := <-accepted
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = c.Read(make([]byte, 10))
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
	var ne net.Error
	require.True(t, errors.As(err, &ne))
	assert.True(t, ne.Timeout())

	// Data then EOF after the peer closes.
	_, err = s.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, c.SetReadDeadline(time.Time{}))
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got))
	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 1))
	assert.True(t, errors.Is(err, net.ErrClosed))
}

func TestDialRefused(t *testing.T) {
	lp, _, cli := twoStacks(t)
	_, err := Dial(context.Background(), lp, cli, netip.AddrPortFrom(srvAddr, 9))
	require.Error(t, err)
	assert.True(t, errors.Is(err, tcp.ErrConnRefused), "got %v", err)
}

func TestListenerCloseUnblocksAccept(t *testing.T) {
	lp, srv, _ := twoStacks(t)
	ln, err := Listen(lp, srv, netip.AddrPortFrom(srvAddr, 81), 4)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, ln.Close())
	select {
	case err := <-errc:
		assert.True(t, errors.Is(err, net.ErrClosed), "got %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked")
	}
}

func TestWriteDeadlineWhenPeerDoesNotRead(t *testing.T) {
	lp, srv, cli := twoStacks(t)
	ln, err := Listen(lp, srv, netip.AddrPortFrom(srvAddr, 82), 4)
	require.NoError(t, err)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			time.Sleep(2 * time.Second) // never reads
		}
	}()
	c, err := Dial(context.Background(), lp, cli, netip.AddrPortFrom(srvAddr, 82))
	require.NoError(t, err)
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
	n, err := c.Write(make([]byte, 4<<20)) // more than both buffers hold
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded), "got %v", err)
	assert.Greater(t, n, 0)
	assert.Less(t, n, 4<<20)
}

// RFC 9293 section 3.8.3 (R2) and RFC 1122 sections 4.2.3.5 and 4.2.3.6:
// when retransmission or keep-alive gives up on a peer that went silent,
// blocked Reads (two of them) return the timeout instead of hanging.
func TestBlockedReadFailsWhenConnectionGivesUp(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   tcp.Config
		start func(c *Conn) error
	}{
		{"retransmission", tcp.Config{MinRTO: 10 * time.Millisecond, MaxRetries: 3}, func(c *Conn) error {
			_, err := c.Write([]byte("into the void"))
			return err
		}},
		{"keep-alive", tcp.Config{KeepAliveIdle: 50 * time.Millisecond, KeepAliveInterval: 10 * time.Millisecond, KeepAliveCount: 2}, func(c *Conn) error {
			return c.SetKeepAlive(true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lp, srv, cli, cut := cutStacks(t, tc.cfg)
			ln, err := Listen(lp, srv, netip.AddrPortFrom(srvAddr, 7), 4)
			require.NoError(t, err)
			go func() {
				if s, err := ln.Accept(); err == nil {
					t.Cleanup(func() { _ = s.Close() })
				}
			}()
			c, err := Dial(context.Background(), lp, cli, netip.AddrPortFrom(srvAddr, 7))
			require.NoError(t, err)
			defer c.Close()
			cut()
			errc := make(chan error, 2)
			for i := 0; i < 2; i++ {
				go func() {
					_, err := c.Read(make([]byte, 10))
					errc <- err
				}()
			}
			time.Sleep(5 * time.Millisecond)
			require.NoError(t, tc.start(c))
			for i := 0; i < 2; i++ {
				select {
				case err := <-errc:
					assert.ErrorIs(t, err, tcp.ErrTimeout, "reader %d", i)
				case <-time.After(5 * time.Second):
					t.Fatalf("reader %d still blocked after the connection gave up", i)
				}
			}
		})
	}
}
