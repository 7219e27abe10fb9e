package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/rng"
)

// routed6 is a - r - c over IPv6: a on 2001:db8:1::/64 (MTU 1500) with a
// static default route to r, c on 2001:db8:2::/64 (MTU 1280) taking r
// as its default router from r's Router Advertisements.
type routed6 struct {
	tn      *testNet
	a, r, c *Host
}

var (
	a6  = netip.MustParseAddr("2001:db8:1::10")
	r61 = netip.MustParseAddr("2001:db8:1::1")
	c6  = netip.MustParseAddr("2001:db8:2::10")
)

func newRouted6(t *testing.T) *routed6 {
	tn := newTestNet(t, 1500)
	right := newHub(tn.sched, 1280)
	n := &routed6{tn: tn}
	n.a = tn.addHost("a", 1)
	n.a.Interfaces()[0].EnableIPv6(netip.PrefixFrom(a6, 64))
	n.a.AddRoute(netip.MustParsePrefix("::/0"), r61, nil)
	n.r = New(Config{Name: "r", Clock: tn.sched, Rand: rng.New(1, "host/r"), Forwarding: true})
	r0 := n.r.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 1, 3}, tn.hub.port())
	r0.EnableIPv6(netip.PrefixFrom(r61, 64))
	r1 := n.r.AddInterface("eth1", ether.Addr{2, 0, 0, 0, 2, 3}, right.port())
	r1.EnableIPv6(netip.MustParsePrefix("2001:db8:2::1/64"))
	r1.AdvertisePrefixes(netip.MustParsePrefix("2001:db8:2::/64"))
	n.c = New(Config{Name: "c", Clock: tn.sched, Rand: rng.New(1, "host/c")})
	n.c.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 2, 2}, right.port()).EnableIPv6(netip.PrefixFrom(c6, 64))
	tn.run(2 * time.Second)
	return n
}

// udpErrs records the ICMP errors a UDP socket learns of.
type udpErrs struct {
	udpRecorder
	errs []udpErr
}

type udpErr struct {
	from      netip.Addr
	dst       netip.AddrPort
	typ, code uint8
}

func (u *udpErrs) HandleUDPError(_ *UDPSocket, from netip.Addr, dst netip.AddrPort, typ, code uint8) {
	u.errs = append(u.errs, udpErr{from, dst, typ, code})
}

// TestIPv6Forwarding: a router forwards IPv6 between two links,
// decrementing the hop limit (RFC 8200 section 3); the host behind it
// found it by its Router Advertisements (RFC 4861 section 6.3.4).
// Probes with hop limit 1 draw Time Exceeded from the router, a probe
// that arrives draws port unreachable from the target (both reach the
// sending UDP socket, as traceroute needs), an unroutable destination
// draws Destination Unreachable code 0 and a packet over the next link's
// MTU Packet Too Big (RFC 4443 sections 3.1 to 3.3), after which the
// sender fragments to the path MTU; a neighbour that never answers
// Neighbor Discovery draws address unreachable.
func TestIPv6Forwarding(t *testing.T) {
	t.Parallel()
	n := newRouted6(t)
	gw, ok := n.c.Interfaces()[0].DefaultRouter6()
	require.True(t, ok, "c learned a default router from the RAs")
	assert.True(t, gw.IsLinkLocalUnicast(), "RAs come from link-local addresses")

	var rec echoRecorder
	n.a.SetEchoReplyHandler(&rec)
	require.NoError(t, n.a.Ping(c6, 1, 1, []byte("via r")))
	n.tn.run(time.Second)
	require.Len(t, rec.got, 1)
	assert.Equal(t, c6, rec.got[0].src)
	assert.Equal(t, uint8(63), rec.got[0].ttl, "one hop decrements the hop limit")

	rcv := &udpErrs{}
	sock := requireBind(t, n.a, "[::]:5000", rcv)
	for hop, port := range map[uint8]uint16{1: 33434, 2: 33435} {
		require.NoError(t, sock.SendToWith(netip.AddrPortFrom(c6, port), []byte("probe"), SendOptions{TTL: hop}))
		n.tn.run(time.Second)
	}
	nowhere := netip.MustParseAddr("2001:db8:9::1")
	require.NoError(t, sock.SendTo(netip.AddrPortFrom(nowhere, 53), []byte("lost")))
	n.tn.run(time.Second)
	require.Len(t, rcv.errs, 3)
	assert.Contains(t, rcv.errs, udpErr{r61, netip.AddrPortFrom(c6, 33434), uint8(icmpv6.TypeTimeExceeded), icmpv6.CodeHopLimitExceeded})
	assert.Contains(t, rcv.errs, udpErr{c6, netip.AddrPortFrom(c6, 33435), uint8(icmpv6.TypeDestUnreach), icmpv6.CodePortUnreachable})
	assert.Contains(t, rcv.errs, udpErr{r61, netip.AddrPortFrom(nowhere, 53), uint8(icmpv6.TypeDestUnreach), icmpv6.CodeNoRoute})

	big := make([]byte, 1400)
	require.NoError(t, n.a.Ping(c6, 1, 2, big))
	n.tn.run(time.Second)
	assert.Len(t, rec.got, 1, "the 1448-byte packet does not fit the 1280-byte link")
	assert.Equal(t, 1280, n.a.PathMTU(c6), "Packet Too Big lowered the path MTU")
	require.NoError(t, n.a.Ping(c6, 1, 3, big))
	n.tn.run(time.Second)
	require.Len(t, rec.got, 2, "fragmented to the path MTU, the ping gets through")
	assert.Equal(t, uint16(3), rec.got[1].seq)

	// A neighbour that never answers: the queued datagram draws address
	// unreachable, here from the host itself (RFC 4861 section 7.2.2).
	ghost := netip.MustParseAddr("2001:db8:1::99")
	require.NoError(t, sock.SendTo(netip.AddrPortFrom(ghost, 7), []byte("anyone?")))
	n.tn.run(5 * time.Second)
	assert.Contains(t, rcv.errs, udpErr{a6, netip.AddrPortFrom(ghost, 7), uint8(icmpv6.TypeDestUnreach), icmpv6.CodeAddrUnreachable})

	st := n.r.Interfaces()[0].IPv6Stats()
	assert.Equal(t, uint64(1), st.HopLimitExceeded)
	assert.Equal(t, uint64(1), st.NoRoute)
	assert.Equal(t, uint64(1), st.TooBig)
	assert.NotZero(t, st.Forwarded)
}
