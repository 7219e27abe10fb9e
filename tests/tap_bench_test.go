package tests

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/simnet-go/simnet/internal/netns"
)

// tapPeer is a user-space TCP/IP stack on tap0 at 192.0.2.2, seen through
// net.Conn and net.Listener.
type tapPeer interface {
	listen(port uint16) (net.Listener, error)
	dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error)
}

// gvisorPeer is gVisor's netstack on the tap through its fdbased endpoint.
type gvisorPeer struct{ s *gstack.Stack }

// startGVisorPeer opens tap0 in ns and runs a gVisor stack on it.
func startGVisorPeer(tb testing.TB, ns *netns.NS) tapPeer {
	fd := openTapFD(tb, ns, "tap0")
	ep, err := fdbased.New(&fdbased.Options{
		FDs:                []int{fd},
		MTU:                1500,
		EthernetHeader:     true,
		Address:            tcpip.LinkAddress("\x02\x00\x5e\x00\x02\x02"),
		PacketDispatchMode: fdbased.Readv,
	})
	require.NoError(tb, err)
	s := gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []gstack.TransportProtocolFactory{tcp.NewProtocol},
	})
	tb.Cleanup(func() {
		s.Close()
		s.Wait()
		_ = unix.Close(fd)
	})
	sack := tcpip.TCPSACKEnabled(true)
	require.Nil(tb, s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack))
	require.Nil(tb, s.CreateNIC(1, ep))
	require.Nil(tb, s.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4([4]byte{192, 0, 2, 2}), PrefixLen: 24},
	}, gstack.AddressProperties{}))
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return &gvisorPeer{s: s}
}

func (g *gvisorPeer) listen(port uint16) (net.Listener, error) {
	return gonet.ListenTCP(g.s, tcpip.FullAddress{NIC: 1, Port: port}, ipv4.ProtocolNumber)
}

func (g *gvisorPeer) dial(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	return gonet.DialContextTCP(ctx, g.s, tcpip.FullAddress{
		NIC: 1, Addr: tcpip.AddrFrom4(addr.Addr().As4()), Port: addr.Port(),
	}, ipv4.ProtocolNumber)
}

// benchChunk is the amount moved per benchmark iteration.
const benchChunk = 1 << 20

// BenchmarkTapTCP measures bulk TCP throughput between the Linux kernel and
// a user-space stack over a tap device in a namespace, in both directions,
// for simnet and for gVisor's netstack on the same kind of tap.
func BenchmarkTapTCP(b *testing.B) {
	peers := []struct {
		name  string
		start func(testing.TB, *netns.NS) tapPeer
	}{
		{"simnet", startSimnetPeer},
		{"gvisor", startGVisorPeer},
	}
	for _, p := range peers {
		b.Run(p.name+"/kernel-to-stack", func(b *testing.B) {
			ns := tapNS(b)
			peer := p.start(b, ns)
			ln, err := peer.listen(5001)
			require.NoError(b, err)
			b.Cleanup(func() { _ = ln.Close() })
			got := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- -1
					return
				}
				n, _, _ := sink(c)
				_ = c.Close()
				got <- n
			}()
			c := dialIn(b, ns, tapStackIP+":5001", 10*time.Second)
			buf := randomData(benchChunk, 1)
			b.SetBytes(benchChunk)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				_, err := c.Write(buf)
				require.NoError(b, err)
			}
			require.NoError(b, c.(*net.TCPConn).CloseWrite())
			n := <-got
			elapsed := time.Since(start)
			b.StopTimer()
			require.Equal(b, int64(b.N)*benchChunk, n)
			b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
		})
		b.Run(p.name+"/stack-to-kernel", func(b *testing.B) {
			ns := tapNS(b)
			peer := p.start(b, ns)
			ln := listenIn(b, ns, tapKernelIP+":5002")
			got := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- -1
					return
				}
				n, _, _ := sink(c)
				_ = c.Close()
				got <- n
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := peer.dial(ctx, netip.MustParseAddrPort(tapKernelIP+":5002"))
			require.NoError(b, err)
			buf := randomData(benchChunk, 2)
			b.SetBytes(benchChunk)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				_, err := c.Write(buf)
				require.NoError(b, err, fmt.Sprintf("write %d", i))
			}
			require.NoError(b, c.Close())
			n := <-got
			elapsed := time.Since(start)
			b.StopTimer()
			require.Equal(b, int64(b.N)*benchChunk, n)
			b.ReportMetric(float64(n)*8/elapsed.Seconds()/1e9, "Gbit/s")
		})
	}
}
