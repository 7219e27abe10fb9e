package tests

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	gipv6 "gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gicmp "gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ndp"
	"github.com/simnet-go/simnet/proto/stack"
)

// TestIPv6GVisorPingAndNDP pings our stack from gVisor's, and gVisor's
// from ours, over IPv6, with 56 and 4000 bytes of data (the latter
// fragmented both ways), and echoes UDP datagrams of 100 and 3000 bytes
// from gVisor, on a
// simulated link. Each side finds the other by Neighbor Discovery (no
// static entries): gVisor's neighbour table holds our MAC as REACHABLE and
// ours holds gVisor's. The captures decode cleanly in tshark.
func TestIPv6GVisorPingAndNDP(t *testing.T) {
	t.Parallel()
	ours := netip.MustParsePrefix("2001:db8:6::1/64")
	theirs := netip.MustParsePrefix("2001:db8:6::2/64")
	dir := t.TempDir()
	gw, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 6, CaptureDir: dir, Tick: 10 * time.Millisecond, Peer: gvisorpeer.Config{Addr6: theirs}})
	require.NoError(t, err)
	ifc := gw.Host.Interfaces()[0]
	ifc.EnableIPv6(ours)
	gw.Run(1100*time.Millisecond, func() bool { return false }) // gVisor's DAD (RetransTimer 1 s)

	var wq waiter.Queue
	ep, terr := gw.Peer.Stack().NewEndpoint(gicmp.ProtocolNumber6, gipv6.ProtocolNumber, &wq)
	require.Nil(t, terr)
	defer ep.Close()
	to := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom16(ours.Addr().As16())}
	for seq, size := range []int{56, 4000} {
		req := make([]byte, 8+size)
		req[0] = 128 // echo request; gVisor fills the identifier and checksum
		req[7] = byte(seq + 1)
		copy(req[8:], gvisorpeer.Pattern(size))
		_, terr := ep.Write(bytes.NewReader(req), tcpip.WriteOptions{To: &to})
		require.Nil(t, terr, "size %d", size)
		var reply bytes.Buffer
		gw.Run(5*time.Second, func() bool {
			_, err := ep.Read(&reply, tcpip.ReadOptions{})
			return err == nil
		})
		require.Greater(t, reply.Len(), 8, "size %d: no echo reply", size)
		b := reply.Bytes()
		assert.Equal(t, byte(129), b[0], "size %d: echo reply", size)
		assert.Equal(t, byte(seq+1), b[7])
		assert.Equal(t, gvisorpeer.Pattern(size), b[8:], "size %d: data echoed", size)
	}
	st := ifc.IPv6Stats()
	assert.Equal(t, uint64(2), st.EchoReplies)
	assert.Equal(t, uint64(1), st.Reassembled, "the 4000-byte request came in fragments")

	// And the other way: we ping gVisor.
	rec := &v6EchoRec{}
	gw.Host.SetEchoReplyHandler(rec)
	for seq, size := range []int{56, 4000} {
		require.NoError(t, ifc.Ping6(theirs.Addr(), 0x66, uint16(seq+1), gvisorpeer.Pattern(size)))
		gw.Run(5*time.Second, func() bool { return len(rec.got) > seq })
		require.Len(t, rec.got, seq+1, "size %d: no echo reply from gVisor", size)
		assert.Equal(t, uint16(seq+1), rec.got[seq].seq)
		assert.Equal(t, gvisorpeer.Pattern(size), rec.got[seq].data, "size %d: data echoed by gVisor", size)
	}
	assert.Equal(t, uint64(2), ifc.IPv6Stats().Reassembled, "gVisor's 4000-byte reply came in fragments")

	// UDP over IPv6: gVisor sends to our echo socket on [::]:7.
	_, err = gw.Host.BindUDP(netip.MustParseAddrPort("[::]:7"), stack.UDPHandlerFunc(
		func(s *stack.UDPSocket, from, _ netip.AddrPort, data []byte) { _ = s.SendTo(from, data) }))
	require.NoError(t, err)
	remote := tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom16(ours.Addr().As16()), Port: 7}
	conn, err := gonet.DialUDP(gw.Peer.Stack(), nil, &remote, gipv6.ProtocolNumber)
	require.NoError(t, err)
	defer conn.Close()
	for _, size := range []int{100, 3000} {
		msg := gvisorpeer.Pattern(size)
		got := make(chan []byte, 1)
		go func() {
			buf := make([]byte, 8192)
			n, err := conn.Read(buf)
			if err != nil {
				got <- nil
				return
			}
			got <- buf[:n]
		}()
		_, err := conn.Write(msg)
		require.NoError(t, err)
		var echoed []byte
		gw.Run(5*time.Second, func() bool {
			select {
			case echoed = <-got:
				return true
			default:
				return false
			}
		})
		assert.Equal(t, msg, echoed, "UDP %d bytes echoed over IPv6", size)
	}

	nb, terr := gw.Peer.Stack().Neighbors(1, gipv6.ProtocolNumber)
	require.Nil(t, terr)
	found := false
	for _, n := range nb {
		if n.Addr == tcpip.AddrFrom16(ours.Addr().As16()) {
			found = true
			assert.Equal(t, tcpip.LinkAddress(gvisorpeer.OurMAC[:]), n.LinkAddr)
			assert.Equal(t, gstack.Reachable, n.State, "gVisor resolved us by NDP")
		}
	}
	assert.True(t, found, "gVisor has a neighbour entry for us: %v", nb)
	state, mac := ifc.NeighborState(theirs.Addr())
	assert.NotEqual(t, ndp.StateNone, state)
	assert.NotEqual(t, ndp.StateIncomplete, state)
	assert.Equal(t, ether.Addr(gvisorpeer.PeerMAC), mac, "we resolved gVisor by NDP")

	require.NoError(t, gw.Close())
	tshark := requireTool(t, "tshark")
	for _, c := range []string{"simnet.pcapng", "gvisor.pcapng"} {
		path := filepath.Join(dir, c)
		assert.NotEmpty(t, tsharkV6(t, tshark, path, "icmpv6.type == 136", "frame.number"), "%s: advertisements", c)
		assert.NotEmpty(t, tsharkV6(t, tshark, path, "ipv6.fraghdr", "frame.number"), "%s: fragments", c)
		assert.Empty(t, tsharkV6(t, tshark, path, v6TsharkFilter, "frame.number", "_ws.expert.message"), "%s is clean", c)
	}
}

// v6EchoRec records the echo replies our host receives.
type v6EchoRec struct {
	got []struct {
		seq  uint16
		data []byte
	}
}

func (r *v6EchoRec) HandleEchoReply(_ netip.Addr, _, seq uint16, data []byte, _ uint8) {
	r.got = append(r.got, struct {
		seq  uint16
		data []byte
	}{seq, append([]byte(nil), data...)})
}
