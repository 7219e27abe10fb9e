package tests

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// simnetPeer is simnet's host with TCP on tap0, run in this process on its
// own loop, reached through the netconn adapters.
type simnetPeer struct {
	l  *loop.Loop
	ts *tcp.Stack
}

// startSimnetPeer opens tap0 in ns (link/tap) and runs a simnet host with
// TCP at 192.0.2.2/24 on it.
func startSimnetPeer(tb testing.TB, ns *netns.NS) tapPeer {
	l := loop.New()
	var dev *tap.Endpoint
	require.NoError(tb, ns.Do(func() error {
		var err error
		dev, err = tap.Open(l, tap.Config{Name: "tap0"})
		return err
	}))
	h := stack.New(stack.Config{Name: "bench", Clock: l.Clock(), Rand: rng.New(1, "host/bench")})
	ifc := h.AddInterface("eth0", ether.Addr{0x02, 0x00, 0x5e, 0x00, 0x02, 0x02}, dev)
	ts := tcp.New(h, l.Clock(), rng.New(1, "tcp/bench"), tcp.Config{})
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	ifc.SetAddress(netip.MustParsePrefix(tapStackCIDR))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = l.Run(ctx)
		close(done)
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		_ = dev.Close()
	})
	return &simnetPeer{l: l, ts: ts}
}

func (s *simnetPeer) listen(port uint16) (net.Listener, error) {
	return netconn.Listen(s.l, s.ts, netip.AddrPortFrom(netip.IPv4Unspecified(), port), 16)
}

func (s *simnetPeer) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	return netconn.Dial(ctx, s.l, s.ts, addr)
}
