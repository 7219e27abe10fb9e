package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/ndp"
)

// v6Peer is a raw port on the test hub: it records the IPv6 packets it
// receives and sends crafted ones.
type v6Peer struct {
	t    *testing.T
	port *hubPort
	mac  ether.Addr
	addr netip.Addr
	got  []v6Got
	// answer makes the peer answer Neighbor Solicitations for its address.
	answer bool
}

// v6Got is a received frame's destination MAC and IPv6 packet.
type v6Got struct {
	dst ether.Addr
	pkt ipv6.Header
}

func (p *v6Peer) Receive(frame []byte, _ link.Note) {
	f, err := ether.Parse(frame)
	if err != nil || f.EtherType() != ether.TypeIPv6 {
		return
	}
	h, err := ipv6.Parse(append([]byte(nil), f.Payload()...))
	require.NoError(p.t, err)
	p.got = append(p.got, v6Got{f.Dst(), h})
	if c, err := ipv6.Walk(h); p.answer && err == nil && c.Proto == ipv6.ProtoICMPv6 {
		m, err := icmpv6.Parse(h[c.Offset:], h.Src(), h.Dst())
		if err == nil && m.Type() == icmpv6.TypeNeighborSolict && m.Target() == p.addr {
			na, err := icmpv6.NeighborAdvertisement(make([]byte, 64), p.addr, h.Src(), p.addr,
				icmpv6.FlagSolicited|icmpv6.FlagOverride, icmpv6.AppendLinkAddr(nil, icmpv6.OptTargetLinkAddr, p.mac))
			require.NoError(p.t, err)
			p.send(f.Src(), p.packet(h.Src(), 255, ipv6.ProtoICMPv6, na))
		}
	}
}

// send sends an IPv6 packet to the Ethernet address to.
func (p *v6Peer) send(to ether.Addr, pkt []byte) {
	f := make([]byte, ether.HeaderLen+len(pkt))
	ether.Encode(f, to, p.mac, ether.TypeIPv6)
	copy(f[ether.HeaderLen:], pkt)
	p.port.Send(f)
}

// packet builds an IPv6 packet from the peer.
func (p *v6Peer) packet(dst netip.Addr, hop, next uint8, payload []byte) ipv6.Header {
	b := make([]byte, ipv6.HeaderLen+len(payload))
	copy(b[ipv6.HeaderLen:], payload)
	h, err := ipv6.Encode(b, &ipv6.Fields{NextHeader: next, HopLimit: hop, Src: p.addr, Dst: dst}, len(payload))
	require.NoError(p.t, err)
	return h
}

// icmp returns the ICMPv6 messages the peer received, checksums verified.
func (p *v6Peer) icmp() []icmpv6.Message {
	var out []icmpv6.Message
	for _, g := range p.got {
		c, err := ipv6.Walk(g.pkt)
		require.NoError(p.t, err)
		if c.Proto != ipv6.ProtoICMPv6 {
			continue
		}
		m, err := icmpv6.Parse(g.pkt[c.Offset:], g.pkt.Src(), g.pkt.Dst())
		require.NoError(p.t, err)
		out = append(out, m)
	}
	return out
}

var (
	v6Host  = netip.MustParseAddr("2001:db8::1")
	v6Peer1 = netip.MustParseAddr("2001:db8::2")
	peerMAC = ether.Addr{2, 0, 0, 0, 0, 0x22}
)

// newV6Net returns a host with IPv6 on 2001:db8::1/64 and a peer at
// 2001:db8::2 on a hub of the given MTU.
func newV6Net(t *testing.T, mtu int) (*testNet, *Interface, *v6Peer) {
	tn := newTestNet(t, mtu)
	h := tn.addHost("a", 1)
	ifc := h.Interfaces()[0]
	ifc.EnableIPv6(netip.MustParsePrefix("2001:db8::1/64"))
	p := &v6Peer{t: t, port: tn.hub.port(), mac: peerMAC, addr: v6Peer1}
	p.port.SetReceiver(p)
	tn.run(5 * time.Second) // the IPv4 announcements
	return tn, ifc, p
}

func (p *v6Peer) solicit(target netip.Addr) {
	sn := ipv6.SolicitedNode(target)
	ns, err := icmpv6.NeighborSolicitation(make([]byte, 64), p.addr, sn, target, icmpv6.AppendLinkAddr(nil, icmpv6.OptSourceLinkAddr, p.mac))
	require.NoError(p.t, err)
	p.send(ipv6.MulticastMAC(sn), p.packet(sn, 255, ipv6.ProtoICMPv6, ns))
}

// TestIPv6NeighborSolicitationAnswered checks RFC 4861 section 7.2.4: a
// solicitation for our address is answered with a solicited, override
// advertisement carrying our MAC, and its sender is cached.
func TestIPv6NeighborSolicitationAnswered(t *testing.T) {
	tn, ifc, p := newV6Net(t, 1500)
	p.solicit(v6Host)
	p.solicit(netip.MustParseAddr("2001:db8::99")) // not ours
	tn.run(time.Second)
	require.Len(t, p.got, 1)
	assert.Equal(t, peerMAC, p.got[0].dst)
	assert.Equal(t, uint8(255), p.got[0].pkt.HopLimit())
	m := p.icmp()[0]
	require.NoError(t, icmpv6.ValidateND(m, 255, v6Host, v6Peer1))
	assert.Equal(t, icmpv6.TypeNeighborAdvert, m.Type())
	assert.Equal(t, v6Host, m.Target())
	assert.Equal(t, icmpv6.FlagSolicited|icmpv6.FlagOverride, m.NAFlags())
	o, ok := icmpv6.FindOption(m.NDOptions(), icmpv6.OptTargetLinkAddr)
	require.True(t, ok)
	mac, _ := o.LinkAddr()
	assert.Equal(t, ifc.MAC(), mac)
	st, lla := ifc.NeighborState(v6Peer1)
	// Learned STALE from the solicitation (section 7.2.3), then DELAY as
	// the advertisement was sent to it (section 7.3.3).
	assert.Equal(t, ndp.StateDelay, st)
	assert.Equal(t, peerMAC, lla)
	// gopacket agrees.
	pk := gopacket.NewPacket(p.got[0].pkt, layers.LayerTypeIPv6, gopacket.Default)
	na, ok := pk.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
	require.True(t, ok)
	assert.Equal(t, v6Host.AsSlice(), []byte(na.TargetAddress.To16()))
}

// TestIPv6EchoResolvesNeighbor sends an echo request from a peer the host
// does not know: the host solicits the peer's address at its
// solicited-node group, queues the reply, and sends it once the peer
// advertises; the entry is REACHABLE.
func TestIPv6EchoResolvesNeighbor(t *testing.T) {
	tn, ifc, p := newV6Net(t, 1500)
	echo, err := icmpv6.Echo(make([]byte, 64), icmpv6.TypeEchoRequest, 7, 1, pattern(56), v6Peer1, v6Host)
	require.NoError(t, err)
	p.send(ifc.MAC(), p.packet(v6Host, 64, ipv6.ProtoICMPv6, echo))
	tn.run(100 * time.Millisecond)
	require.Len(t, p.got, 1)
	sn := ipv6.SolicitedNode(v6Peer1)
	assert.Equal(t, ipv6.MulticastMAC(sn), p.got[0].dst)
	assert.Equal(t, sn, p.got[0].pkt.Dst())
	ns := p.icmp()[0]
	require.Equal(t, icmpv6.TypeNeighborSolict, ns.Type())
	require.NoError(t, icmpv6.ValidateND(ns, p.got[0].pkt.HopLimit(), p.got[0].pkt.Src(), sn))
	assert.Equal(t, v6Peer1, ns.Target())
	assert.Equal(t, ndp.StateIncomplete, must2(ifc.NeighborState(v6Peer1)))

	na, err := icmpv6.NeighborAdvertisement(make([]byte, 64), v6Peer1, p.got[0].pkt.Src(), v6Peer1,
		icmpv6.FlagSolicited|icmpv6.FlagOverride, icmpv6.AppendLinkAddr(nil, icmpv6.OptTargetLinkAddr, peerMAC))
	require.NoError(t, err)
	p.send(ifc.MAC(), p.packet(p.got[0].pkt.Src(), 255, ipv6.ProtoICMPv6, na))
	tn.run(100 * time.Millisecond)
	require.Len(t, p.got, 2)
	assert.Equal(t, peerMAC, p.got[1].dst)
	reply := p.icmp()[1]
	assert.Equal(t, icmpv6.TypeEchoReply, reply.Type())
	assert.Equal(t, uint16(7), reply.ID())
	assert.Equal(t, pattern(56), reply.Body())
	assert.Equal(t, v6Host, p.got[1].pkt.Src())
	assert.Equal(t, ndp.StateReachable, must2(ifc.NeighborState(v6Peer1)))
	assert.Equal(t, uint64(1), ifc.IPv6Stats().EchoReplies)
}

func must2(s ndp.State, _ ether.Addr) ndp.State { return s }

// TestIPv6FragmentedEcho sends a 4000-byte echo request in fragments at
// the IPv6 minimum MTU; the host reassembles it and replies in fragments
// of at most its 1500-byte MTU, which reassemble to the same data.
func TestIPv6FragmentedEcho(t *testing.T) {
	tn, ifc, p := newV6Net(t, 1500)
	p.solicit(v6Host)
	tn.run(100 * time.Millisecond)
	p.got = nil
	data := pattern(4000)
	echo, err := icmpv6.Echo(make([]byte, 4008), icmpv6.TypeEchoRequest, 9, 3, data, v6Peer1, v6Host)
	require.NoError(t, err)
	var frags [][]byte
	require.NoError(t, ipv6.Fragment(make([]byte, ipv6.MinMTU), p.packet(v6Host, 64, ipv6.ProtoICMPv6, echo), ipv6.MinMTU, 77,
		func(f ipv6.Header) error { frags = append(frags, append([]byte(nil), f...)); return nil }))
	require.Len(t, frags, 4)
	for k := len(frags) - 1; k >= 0; k-- { // in reverse order
		p.send(ifc.MAC(), frags[k])
	}
	tn.run(100 * time.Millisecond)
	require.Len(t, p.got, 3, "4048 bytes in 1500-byte fragments")
	r := ipv6.NewReassembler(clock.NewScheduler(0), ipv6.ReassemblyConfig{})
	var full ipv6.Header
	for _, g := range p.got {
		assert.LessOrEqual(t, len(g.pkt), 1500)
		c, err := ipv6.Walk(g.pkt)
		require.NoError(t, err)
		require.Equal(t, ipv6.ProtoFragment, c.Proto)
		out, err := r.Add(g.pkt, c)
		require.NoError(t, err)
		if out != nil {
			full = append(ipv6.Header(nil), out...)
		}
	}
	require.NotNil(t, full)
	m, err := icmpv6.Parse(full.Payload(), v6Host, v6Peer1)
	require.NoError(t, err)
	assert.Equal(t, icmpv6.TypeEchoReply, m.Type())
	assert.Equal(t, data, m.Body())
	assert.Equal(t, uint64(1), ifc.IPv6Stats().Reassembled)
}

// TestIPv6Errors checks the ICMPv6 errors the host sends: Parameter
// Problem code 1 for an unknown Next Header (RFC 8200 section 4), Time
// Exceeded code 1 when reassembly times out after 60 s (section 4.5), and
// nothing for a packet to a multicast group (RFC 4443 section 2.4 (e)).
func TestIPv6Errors(t *testing.T) {
	tn, ifc, p := newV6Net(t, 1500)
	p.answer = true
	p.solicit(v6Host)
	tn.run(100 * time.Millisecond)
	p.got = nil
	p.send(ifc.MAC(), p.packet(v6Host, 64, 253, []byte("experimental")))
	p.send(ipv6.MulticastMAC(ipv6.AllNodes), p.packet(ipv6.AllNodes, 64, 253, []byte("experimental")))
	first := p.packet(v6Host, 64, ipv6.ProtoFragment, append([]byte{ipv6.ProtoICMPv6, 0, 0, 1, 0, 0, 0, 5}, pattern(16)...))
	p.send(ifc.MAC(), first)
	errs := func() []icmpv6.Message {
		var out []icmpv6.Message
		for _, m := range p.icmp() {
			if m.Type().IsError() {
				out = append(out, m)
			}
		}
		return out
	}
	tn.run(59 * time.Second)
	require.Len(t, errs(), 1)
	pp := errs()[0]
	assert.Equal(t, icmpv6.TypeParamProblem, pp.Type())
	assert.Equal(t, ipv6.ProblemNextHeader, pp.Code())
	assert.Equal(t, uint32(6), pp.Rest(), "points at the Next Header field")
	tn.run(2 * time.Second)
	require.Len(t, errs(), 2)
	te := errs()[1]
	assert.Equal(t, icmpv6.TypeTimeExceeded, te.Type())
	assert.Equal(t, icmpv6.CodeReassemblyTime, te.Code())
	assert.Equal(t, []byte(first), te.Body(), "the first fragment is quoted")
	assert.Equal(t, uint64(2), ifc.IPv6Stats().ErrorsSent)
	assert.Len(t, ifc.IPv6Addresses(), 2)
	assert.True(t, ifc.IPv6Addresses()[0].Addr().IsLinkLocalUnicast())
}

// TestIPv6PingBetweenHosts has one host ping another over IPv6 on the hub,
// 56 and 4000 bytes: each resolves the other by NDP, the large request
// and reply travel in fragments, and the replies reach the
// EchoReplyHandler with the data intact.
func TestIPv6PingBetweenHosts(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	a.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::a/64"))
	b.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::b/64"))
	rec := &echoRecorder{}
	a.SetEchoReplyHandler(rec)
	tn.run(5 * time.Second)
	dst := netip.MustParseAddr("2001:db8::b")
	require.NoError(t, a.Interfaces()[0].Ping6(dst, 5, 1, pattern(56)))
	tn.run(time.Second)
	require.NoError(t, a.Interfaces()[0].Ping6(dst, 5, 2, pattern(4000)))
	tn.run(time.Second)
	require.Len(t, rec.got, 2)
	for k, n := range []int{56, 4000} {
		assert.Equal(t, dst, rec.got[k].src)
		assert.Equal(t, uint16(k+1), rec.got[k].seq)
		assert.Equal(t, pattern(n), rec.got[k].payload)
		assert.Equal(t, uint8(64), rec.got[k].ttl, "the hop limit")
	}
	st, mac := a.Interfaces()[0].NeighborState(dst)
	assert.Equal(t, ndp.StateReachable, st)
	assert.Equal(t, b.Interfaces()[0].MAC(), mac)
	assert.Equal(t, uint64(1), b.Interfaces()[0].IPv6Stats().Reassembled)
	assert.Equal(t, uint64(1), a.Interfaces()[0].IPv6Stats().Reassembled)
	require.ErrorIs(t, tn.addHost("c", 3).Interfaces()[0].Ping6(dst, 1, 1, nil), ErrNoIPv6)
}

// TestIPv6UDP sends UDP over IPv6 between two hosts, small and fragmented:
// a socket bound to [::] answers, a 0.0.0.0 socket is dual-stack, a port
// without a socket draws an ICMPv6 port unreachable, and a datagram with
// a zero checksum is dropped (RFC 8200 section 8.1).
func TestIPv6UDP(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	a.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::a/64"))
	b.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::b/64"))
	tn.run(5 * time.Second)
	server := &udpRecorder{}
	requireBind(t, b, "[::]:9000", server)
	dual := &udpRecorder{}
	requireBind(t, b, "0.0.0.0:9001", dual)
	client := &udpRecorder{}
	cs := requireBind(t, a, "[::]:1234", client)
	dst := netip.MustParseAddr("2001:db8::b")
	for _, n := range []int{10, 5000} {
		require.NoError(t, cs.SendTo(netip.AddrPortFrom(dst, 9000), pattern(n)))
	}
	require.NoError(t, cs.SendTo(netip.AddrPortFrom(dst, 9001), []byte("dual")))
	require.NoError(t, cs.SendTo(netip.AddrPortFrom(dst, 9002), []byte("nobody")))
	tn.run(time.Second)
	require.Len(t, server.got, 2)
	assert.Equal(t, pattern(10), server.got[0].payload)
	assert.Equal(t, pattern(5000), server.got[1].payload)
	assert.Equal(t, netip.MustParseAddrPort("[2001:db8::a]:1234"), server.got[0].src)
	require.Len(t, dual.got, 1)
	assert.Equal(t, []byte("dual"), dual.got[0].payload)
	assert.Equal(t, uint64(1), b.Interfaces()[0].IPv6Stats().ErrorsSent, "port unreachable")

	// A zero checksum is not allowed over IPv6.
	p := &v6Peer{t: t, port: tn.hub.port(), mac: peerMAC, addr: v6Peer1, answer: true}
	p.port.SetReceiver(p)
	u := []byte{0x30, 0x39, 0x23, 0x28, 0, 12, 0, 0, 'z', 'e', 'r', 'o'}
	p.send(b.Interfaces()[0].MAC(), p.packet(dst, 64, ipv6.ProtoUDP, u))
	tn.run(time.Second)
	assert.Len(t, server.got, 2)
	assert.Equal(t, uint64(1), b.Stats().UDPBadChecksum)
}

// TestIPv6PacketTooBig checks RFC 8201: a Packet Too Big quoting one of
// our packets lowers the path MTU to its destination, never below 1280
// (RFC 8200 section 5), and larger packets to it are then sent in
// fragments that fit; one quoting another host's packet is ignored.
func TestIPv6PacketTooBig(t *testing.T) {
	tn, ifc, p := newV6Net(t, 1500)
	p.answer = true
	far := netip.MustParseAddr("2001:db8::77")
	ptb := func(mtu uint32, quotedSrc netip.Addr) {
		q := make([]byte, ipv6.HeaderLen+8)
		_, err := ipv6.Encode(q, &ipv6.Fields{NextHeader: ipv6.ProtoUDP, HopLimit: 64, Src: quotedSrc, Dst: far}, 8)
		require.NoError(t, err)
		m, err := icmpv6.Error(make([]byte, 128), icmpv6.TypePacketTooBig, 0, mtu, q, v6Peer1, v6Host)
		require.NoError(t, err)
		p.send(ifc.MAC(), p.packet(v6Host, 64, ipv6.ProtoICMPv6, m))
		tn.run(10 * time.Millisecond)
	}
	ptb(1400, netip.MustParseAddr("2001:db8::5"))
	assert.Equal(t, 1500, ifc.PathMTU(far), "not our packet")
	ptb(1400, v6Host)
	assert.Equal(t, 1400, ifc.PathMTU(far))
	ptb(1450, v6Host)
	assert.Equal(t, 1400, ifc.PathMTU(far), "no increase")
	ptb(600, v6Host)
	assert.Equal(t, ipv6.MinMTU, ifc.PathMTU(far), "1280 at least")
	assert.Equal(t, 1500, ifc.PathMTU(v6Peer1), "other destinations keep the link MTU")

	// far is on-link here; the peer answers for it too.
	p.addr = far
	p.got = nil
	require.NoError(t, ifc.Ping6(far, 1, 1, pattern(1400)))
	tn.run(100 * time.Millisecond)
	var sizes []int
	for _, g := range p.got {
		if g.pkt.Dst() == far {
			sizes = append(sizes, len(g.pkt))
		}
	}
	require.Len(t, sizes, 2, "1448 bytes in fragments of at most 1280")
	for _, n := range sizes {
		assert.LessOrEqual(t, n, ipv6.MinMTU)
	}
}
