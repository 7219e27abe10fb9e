package stack

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/udp"
)

// protoRecorder is a ProtocolHandler and ICMPErrorHandler that records
// what it gets.
type protoRecorder struct {
	got    [][]byte
	srcs   []netip.Addr
	errors []icmpErr
}

type icmpErr struct {
	from       netip.Addr
	typ, code  uint8
	info       uint32
	quotedDst  netip.Addr
	quotedSize int
}

func (p *protoRecorder) HandleIP(src, dst netip.Addr, payload []byte) {
	p.got = append(p.got, append([]byte(nil), payload...))
	p.srcs = append(p.srcs, src)
}

func (p *protoRecorder) HandleICMPError(from netip.Addr, typ, code uint8, info uint32, quoted []byte) {
	p.errors = append(p.errors, icmpErr{from, typ, code, info, netip.AddrFrom4([4]byte(quoted[16:20])), len(quoted)})
}

func TestPortUnreachable(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	cs := requireBind(t, a, "0.0.0.0:4000", &udpRecorder{})
	tn.hub.sent = nil
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.2:9999"), []byte("anyone there?")))
	tn.run(time.Second)
	assert.Equal(t, uint64(1), b.Stats().UDPNoPort)
	assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
	assert.Equal(t, uint64(1), a.Stats().ICMPErrorsIn)

	ips := sentIP(tn.hub)
	require.Len(t, ips, 2)
	orig, reply := ips[0], ips[1]
	assert.Equal(t, ip(2), reply.Src())
	assert.Equal(t, ip(1), reply.Dst())
	m, err := icmp.Parse(reply.Payload())
	require.NoError(t, err)
	assert.Equal(t, icmp.TypeDestUnreach, m.Type())
	assert.Equal(t, icmp.CodePortUnreachable, m.Code())
	// RFC 792: the internet header plus the first 64 bits of the data.
	assert.Equal(t, []byte(orig[:28]), m.Payload())

	// Never for a broadcast, nor for an ICMP error.
	tn.hub.sent = nil
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("255.255.255.255:9999"), []byte("x")))
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.255:9999"), []byte("x")))
	tn.run(time.Second)
	assert.Equal(t, uint64(3), b.Stats().UDPNoPort)
	assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
}

func TestRegisteredProtocolAndICMPErrors(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	ra, rb := &protoRecorder{}, &protoRecorder{}
	a.RegisterProtocol(ipv4.ProtoTCP, ra)
	b.RegisterProtocol(ipv4.ProtoTCP, rb)
	require.NoError(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, ip(2), []byte("segment")))
	tn.run(time.Second)
	require.Len(t, rb.got, 1)
	assert.Equal(t, []byte("segment"), rb.got[0])
	assert.Equal(t, ip(1), rb.srcs[0])

	// Protocol 99 has no handler on b: protocol unreachable comes back
	// and is not delivered to a's TCP handler (it quotes protocol 99).
	require.NoError(t, a.SendIP(99, netip.Addr{}, ip(2), []byte("???")))
	tn.run(time.Second)
	assert.Equal(t, uint64(1), b.Stats().IPUnknownProtocol)
	assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
	assert.Empty(t, ra.errors)

	// An ICMP error quoting a TCP datagram reaches the TCP handler.
	quoted := make([]byte, 28)
	f := ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoTCP, Src: ip(1), Dst: netip.MustParseAddr("192.0.2.1")}
	_, err := ipv4.Encode(quoted, &f, 8)
	require.NoError(t, err)
	msg := make([]byte, 64)
	m, err := icmp.Error(msg, icmp.TypeDestUnreach, icmp.CodeFragNeeded, 1400, quoted)
	require.NoError(t, err)
	require.NoError(t, b.SendIP(ipv4.ProtoICMP, netip.Addr{}, ip(1), m))
	tn.run(time.Second)
	require.Len(t, ra.errors, 1)
	assert.Equal(t, icmpErr{ip(2), 3, 4, 1400, netip.MustParseAddr("192.0.2.1"), 28}, ra.errors[0])

	// Unregistering stops delivery.
	b.RegisterProtocol(ipv4.ProtoTCP, nil)
	require.NoError(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, ip(2), []byte("segment")))
	tn.run(time.Second)
	assert.Len(t, rb.got, 1)
	assert.Equal(t, uint64(2), b.Stats().IPUnknownProtocol)
}

func TestRoutingAndGateway(t *testing.T) {
	tn := newTestNet(t, 1400)
	a := tn.addHost("a", 1)
	gw := tn.addHost("gw", 3)
	tn.run(5 * time.Second)
	rgw := &protoRecorder{}
	gw.RegisterProtocol(ipv4.ProtoTCP, rgw)
	_ = rgw

	far := netip.MustParseAddr("192.0.2.10")
	_, ok := a.SourceFor(far)
	assert.False(t, ok, "no route yet")
	assert.Equal(t, 576, a.PathMTU(far))
	err := a.SendIP(ipv4.ProtoTCP, netip.Addr{}, far, []byte("x"))
	require.ErrorIs(t, err, ErrNoRoute)
	assert.Equal(t, uint64(1), a.Stats().IPNoRoute)

	a.SetDefaultGateway(ip(3))
	assert.Equal(t, ip(3), a.DefaultGateway())
	src, ok := a.SourceFor(far)
	require.True(t, ok)
	assert.Equal(t, ip(1), src)
	assert.Equal(t, 1400, a.PathMTU(far))
	tn.hub.sent = nil
	require.NoError(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, far, []byte("x")))
	tn.run(time.Second)
	assert.Equal(t, ip(3), sentARP(tn.hub)[0].TargetIP(), "resolves the gateway, not the destination")
	ips := sentIP(tn.hub)
	require.Len(t, ips, 1)
	assert.Equal(t, far, ips[0].Dst())
	fr, _ := ether.Parse(tn.hub.sent[len(tn.hub.sent)-1])
	assert.Equal(t, gw.Interfaces()[0].MAC(), fr.Dst())
	assert.Equal(t, uint64(1), gw.Stats().IPNotForUs, "hosts do not forward")

	// A more specific static route wins over the default.
	a.AddRoute(netip.MustParsePrefix("192.0.2.0/24"), ip(4), nil)
	tn.hub.sent = nil
	require.NoError(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, far, []byte("y")))
	assert.Equal(t, ip(4), sentARP(tn.hub)[0].TargetIP())
	// The connected /24 still wins for on-link addresses.
	_, hop, ok := a.lookup(ip(3))
	require.True(t, ok)
	assert.Equal(t, ip(3), hop)
	// An on-link route through an interface, without gateway.
	a.AddRoute(netip.MustParsePrefix("198.51.100.0/24"), netip.Addr{}, a.Interfaces()[0])
	ifc, hop, ok := a.lookup(netip.MustParseAddr("198.51.100.7"))
	require.True(t, ok)
	assert.Equal(t, a.Interfaces()[0], ifc)
	assert.Equal(t, netip.MustParseAddr("198.51.100.7"), hop)
	// A route whose gateway is not on any link is unusable.
	a.AddRoute(netip.MustParsePrefix("203.0.113.0/24"), netip.MustParseAddr("172.16.0.1"), nil)
	_, hop, ok = a.lookup(netip.MustParseAddr("203.0.113.1"))
	require.True(t, ok, "falls back to the default route")
	assert.Equal(t, ip(3), hop)

	own, ok := a.SourceFor(ip(1))
	require.True(t, ok)
	assert.Equal(t, ip(1), own)
	assert.Equal(t, 1400, a.PathMTU(ip(1)))
	_, ok = a.SourceFor(netip.MustParseAddr("::1"))
	assert.False(t, ok)
	assert.Error(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, netip.MustParseAddr("::1"), nil))
	assert.ErrorIs(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, netip.IPv4Unspecified(), nil), ErrInvalidAddr)
	assert.ErrorIs(t, a.SendIP(ipv4.ProtoTCP, netip.Addr{}, netip.MustParseAddr("224.0.0.251"), nil), ErrInvalidAddr)
}

func TestDHCPStyleBroadcastWithoutAddress(t *testing.T) {
	tn := newTestNet(t, 1500)
	srv := tn.addHost("srv", 1)
	cfg := Config{Name: "client", Clock: tn.sched, Rand: srv.Rand()}
	cl := New(cfg)
	cifc := cl.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 0x44}, tn.hub.port())
	assert.Equal(t, "eth0", cifc.Name())
	assert.Equal(t, 1500, cifc.MTU())
	assert.Same(t, cl, cifc.Host())
	assert.Same(t, cifc, cl.Interface("eth0"))
	assert.Nil(t, cl.Interface("eth1"))
	tn.run(5 * time.Second)
	tn.hub.sent = nil

	server := &udpRecorder{}
	ss := requireBind(t, srv, "0.0.0.0:67", server)
	client := &udpRecorder{}
	cs := requireBind(t, cl, "0.0.0.0:68", client)

	err := cs.SendTo(netip.MustParseAddrPort("255.255.255.255:67"), []byte("discover"))
	assert.ErrorIs(t, err, ErrNoRoute, "without an address SendTo has no source")
	require.NoError(t, cs.SendVia(cifc, netip.IPv4Unspecified(), netip.MustParseAddrPort("255.255.255.255:67"), []byte("discover")))
	assert.Empty(t, sentARP(tn.hub), "broadcast needs no ARP")
	fr, _ := ether.Parse(tn.hub.sent[0])
	assert.Equal(t, ether.Broadcast, fr.Dst())
	tn.run(time.Second)
	require.Len(t, server.got, 1)
	assert.Equal(t, netip.MustParseAddrPort("0.0.0.0:68"), server.got[0].src)
	assert.Equal(t, netip.MustParseAddrPort("255.255.255.255:67"), server.got[0].dst)

	// The server answers by broadcast; the client has no address yet.
	require.NoError(t, ss.SendVia(srv.Interfaces()[0], ip(1), netip.MustParseAddrPort("255.255.255.255:68"), []byte("offer")))
	// And by unicast to the offered address at the client's MAC (RFC 2131
	// section 4.1), which the server learns from the request, not ARP:
	// crafted here.
	frame := make([]byte, ether.HeaderLen+ipv4.MinHeaderLen+udp.HeaderLen+3)
	ether.Encode(frame, cifc.MAC(), srv.Interfaces()[0].MAC(), ether.TypeIPv4)
	u, err := udp.Encode(frame[ether.HeaderLen+ipv4.MinHeaderLen:], 67, 68, 3)
	require.NoError(t, err)
	copy(u.Payload(), "ack")
	u.SetChecksum(ip(1), ip(50))
	f := ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoUDP, Src: ip(1), Dst: ip(50)}
	_, err = ipv4.Encode(frame[ether.HeaderLen:], &f, len(u))
	require.NoError(t, err)
	tn.run(time.Second)
	cifc.Receive(frame, link.Note{})
	require.Len(t, client.got, 2)
	assert.Equal(t, []byte("offer"), client.got[0].payload)
	assert.Equal(t, []byte("ack"), client.got[1].payload)

	// Bound, the client renews by unicast from its address.
	cifc.SetAddress(netip.MustParsePrefix("10.0.0.68/24"))
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.1:67"), []byte("renew")))
	tn.run(time.Second)
	require.Len(t, server.got, 2)
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.68:68"), server.got[1].src)
	// Once addressed, unicast to another address is not for us.
	cifc.Receive(frame, link.Note{})
	assert.Equal(t, uint64(1), cl.Stats().IPNotForUs)

	cs.Close()
	assert.ErrorIs(t, cs.SendVia(cifc, netip.Addr{}, netip.MustParseAddrPort("255.255.255.255:67"), nil), ErrClosed)
	assert.ErrorIs(t, ss.SendVia(cifc, netip.Addr{}, netip.MustParseAddrPort("0.0.0.0:67"), nil), ErrInvalidAddr)
}

// frameBuilder crafts frames addressed to host b (10.0.0.2, MAC ...:02)
// from a (10.0.0.1).
type frameBuilder struct{ to ether.Addr }

func (fb frameBuilder) ipFrame(proto uint8, src, dst netip.Addr, payload []byte) []byte {
	fr := make([]byte, ether.HeaderLen+ipv4.MinHeaderLen+len(payload))
	ether.Encode(fr, fb.to, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	copy(fr[ether.HeaderLen+ipv4.MinHeaderLen:], payload)
	f := ipv4.Fields{TTL: 64, Protocol: proto, Src: src, Dst: dst}
	if _, err := ipv4.Encode(fr[ether.HeaderLen:], &f, len(payload)); err != nil {
		panic(err)
	}
	return fr
}

func (fb frameBuilder) udpFrame(dst netip.Addr, port uint16, payload []byte) []byte {
	d := make([]byte, udp.HeaderLen+len(payload))
	copy(d[udp.HeaderLen:], payload)
	u, _ := udp.Encode(d, 5000, port, len(payload))
	u.SetChecksum(ip(1), dst)
	return fb.ipFrame(ipv4.ProtoUDP, ip(1), dst, d)
}

func (fb frameBuilder) echoFrame(dst netip.Addr) []byte {
	m, _ := icmp.Echo(make([]byte, 16), icmp.TypeEcho, 1, 2, []byte("abcdefgh"))
	return fb.ipFrame(ipv4.ProtoICMP, ip(1), dst, m)
}

func TestMalformedFramesCounted(t *testing.T) {
	var fb frameBuilder
	mut := func(b []byte, f func(b []byte)) []byte { f(b); return b }
	ipOff := ether.HeaderLen
	tests := []struct {
		name  string
		frame func() []byte
		check func(s Stats) uint64
	}{
		{"empty", func() []byte { return nil }, func(s Stats) uint64 { return s.DropMalformed }},
		{"short ethernet", func() []byte { return make([]byte, 13) }, func(s Stats) uint64 { return s.DropMalformed }},
		{"other MAC", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { b[5] = 0x77 })
		}, func(s Stats) uint64 { return s.DropNotOurMAC }},
		{"multicast MAC", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { copy(b, []byte{1, 0, 0x5e, 0, 0, 1}) })
		}, func(s Stats) uint64 { return s.DropMulticastFrame }},
		{"ipv6", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { b[12], b[13] = 0x86, 0xdd })
		}, func(s Stats) uint64 { return s.DropEtherType }},
		{"vlan tagged", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { b[12], b[13] = 0x81, 0x00 })
		}, func(s Stats) uint64 { return s.DropEtherType }},
		{"ip truncated", func() []byte { return fb.echoFrame(ip(2))[:ipOff+10] }, func(s Stats) uint64 { return s.DropMalformed }},
		{"ip total length past frame", func() []byte { return fb.echoFrame(ip(2))[:ipOff+30] }, func(s Stats) uint64 { return s.DropMalformed }},
		{"ip version 6", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { b[ipOff] = 0x65; ipv4.Header(b[ipOff:]).SetChecksum() })
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"ip bad checksum", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { b[ipOff+10] ^= 0xff })
		}, func(s Stats) uint64 { return s.IPBadChecksum }},
		{"ip from broadcast", func() []byte {
			return fb.ipFrame(ipv4.ProtoUDP, netip.MustParseAddr("255.255.255.255"), ip(2), nil)
		}, func(s Stats) uint64 { return s.IPBadSource }},
		{"ip from multicast", func() []byte {
			return fb.ipFrame(ipv4.ProtoUDP, netip.MustParseAddr("224.0.0.1"), ip(2), nil)
		}, func(s Stats) uint64 { return s.IPBadSource }},
		{"ip from loopback", func() []byte {
			return fb.ipFrame(ipv4.ProtoUDP, netip.MustParseAddr("127.0.0.1"), ip(2), nil)
		}, func(s Stats) uint64 { return s.IPBadSource }},
		{"ip to another host", func() []byte { return fb.echoFrame(ip(9)) }, func(s Stats) uint64 { return s.IPNotForUs }},
		{"ip to multicast", func() []byte { return fb.echoFrame(netip.MustParseAddr("224.0.0.251")) }, func(s Stats) uint64 { return s.IPMulticast }},
		{"unicast ip in link broadcast", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { copy(b, ether.Broadcast[:]) })
		}, func(s Stats) uint64 { return s.IPNotForUs }},
		{"icmp bad checksum", func() []byte {
			return mut(fb.echoFrame(ip(2)), func(b []byte) { b[len(b)-1] ^= 1 })
		}, func(s Stats) uint64 { return s.ICMPBadChecksum }},
		{"icmp truncated", func() []byte {
			return fb.ipFrame(ipv4.ProtoICMP, ip(1), ip(2), []byte{8, 0, 0})
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"icmp error with short quote", func() []byte {
			m, _ := icmp.Encode(make([]byte, 12), icmp.TypeDestUnreach, 3, 0, []byte{0x45, 0, 0, 0})
			return fb.ipFrame(ipv4.ProtoICMP, ip(1), ip(2), m)
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"echo to broadcast", func() []byte {
			return mut(fb.echoFrame(netip.MustParseAddr("10.0.0.255")), func(b []byte) { copy(b, ether.Broadcast[:]) })
		}, func(s Stats) uint64 { return s.EchoBroadcastIgnored }},
		{"udp truncated", func() []byte {
			return fb.ipFrame(ipv4.ProtoUDP, ip(1), ip(2), []byte{0, 1, 0, 2, 0})
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"udp length past packet", func() []byte {
			return fb.ipFrame(ipv4.ProtoUDP, ip(1), ip(2), []byte{0, 1, 0, 2, 0, 20, 0, 0, 1})
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"udp bad checksum", func() []byte {
			return mut(fb.udpFrame(ip(2), 7, []byte("data")), func(b []byte) { b[len(b)-1] ^= 1 })
		}, func(s Stats) uint64 { return s.UDPBadChecksum }},
		{"arp bad hardware type", func() []byte {
			fr := make([]byte, ether.HeaderLen+arp.PacketLen)
			ether.Encode(fr, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
			arp.Request(fr[ether.HeaderLen:], ether.Addr{2, 0, 0, 0, 0, 1}, ip(1), ip(2))
			fr[ether.HeaderLen+1] = 6
			return fr
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"arp truncated", func() []byte {
			fr := make([]byte, ether.HeaderLen+20)
			ether.Encode(fr, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
			return fr
		}, func(s Stats) uint64 { return s.DropMalformed }},
		{"arp from multicast sender", func() []byte {
			fr := make([]byte, ether.HeaderLen+arp.PacketLen)
			ether.Encode(fr, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
			arp.Request(fr[ether.HeaderLen:], ether.Broadcast, ip(1), ip(2))
			return fr
		}, func(s Stats) uint64 { return s.DropMalformed }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNet(t, 1500)
			b := tn.addHost("b", 2)
			requireBind(t, b, "0.0.0.0:7", &udpRecorder{echo: true})
			fb.to = b.Interfaces()[0].MAC()
			before := b.Stats()
			tn.hub.sent = nil
			b.Interfaces()[0].Receive(tc.frame(), link.Note{})
			after := b.Stats()
			assert.Equal(t, tc.check(before)+1, tc.check(after))
			assert.Equal(t, before.FramesIn+1, after.FramesIn)
			assert.Empty(t, tn.hub.sent, "nothing is sent in answer")
		})
	}
}

func TestICMPErrorNotAboutICMPError(t *testing.T) {
	tn := newTestNet(t, 1500)
	b := tn.addHost("b", 2)
	fb := frameBuilder{to: b.Interfaces()[0].MAC()}
	// Protocol 200 is unknown: an error goes back for a normal datagram...
	tn.hub.sent = nil
	b.Interfaces()[0].Receive(fb.ipFrame(200, ip(1), ip(2), []byte("12345678")), link.Note{})
	assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
	// ...but not for one from 0.0.0.0 (not a single host).
	fr := fb.ipFrame(200, netip.IPv4Unspecified(), ip(2), []byte("12345678"))
	b.Interfaces()[0].Receive(fr, link.Note{})
	assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
	// An ICMP echo reply with no handler set is simply counted.
	m, _ := icmp.Echo(make([]byte, 8), icmp.TypeEchoReply, 1, 1, nil)
	b.Interfaces()[0].Receive(fb.ipFrame(ipv4.ProtoICMP, ip(1), ip(2), m), link.Note{})
	assert.Equal(t, uint64(1), b.Stats().EchoRepliesIn)
	// A UDP datagram to a closed port quoting... an ICMP error never
	// answers another: an unreachable about an ICMP error is not sent.
	inner := make([]byte, 28)
	f := ipv4.Fields{TTL: 1, Protocol: ipv4.ProtoICMP, Src: ip(2), Dst: ip(1)}
	_, err := ipv4.Encode(inner, &f, 8)
	require.NoError(t, err)
	binary.BigEndian.PutUint16(inner[20:], 0x0303)
	e, _ := icmp.Error(make([]byte, 64), icmp.TypeDestUnreach, 3, 0, inner)
	b.Interfaces()[0].Receive(fb.ipFrame(ipv4.ProtoICMP, ip(1), ip(2), e), link.Note{})
	assert.Equal(t, uint64(1), b.Stats().ICMPErrorsIn)
	assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
}

func TestNewDefaults(t *testing.T) {
	tn := newTestNet(t, 1500)
	h := New(Config{Name: "x", Clock: tn.sched})
	c := h.Config()
	assert.Equal(t, DefaultARPCacheTimeout, c.ARPCacheTimeout)
	assert.Equal(t, DefaultARPRetry, c.ARPRetry)
	assert.Equal(t, DefaultARPMaxTries, c.ARPMaxTries)
	assert.Equal(t, DefaultARPQueueLimit, c.ARPQueueLimit)
	assert.Equal(t, DefaultReassemblyTimeout, c.ReassemblyTimeout)
	assert.Equal(t, DefaultReassemblyMemoryLimit, c.ReassemblyMemoryLimit)
	assert.Equal(t, uint8(DefaultTTL), c.DefaultTTL)
	assert.False(t, c.Forwarding)
	assert.Equal(t, "x", h.Name())
	assert.Same(t, tn.sched, h.Clock().(*clock.Scheduler))
	h2 := New(Config{Name: "x", Clock: tn.sched})
	assert.Equal(t, h.Rand().Uint64(), h2.Rand().Uint64(), "the default source depends on the name only")
	assert.Panics(t, func() { New(Config{Name: "no clock"}) })

	// An endpoint reporting a nonsense MTU gets the Ethernet default.
	ifc := h.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 9}, zeroMTU{&pipeEnd{peer: &pipeEnd{}}})
	assert.Equal(t, 1500, ifc.MTU())
	assert.Len(t, h.Interfaces(), 1)
	assert.NotNil(t, ifc.Endpoint())
}

// zeroMTU is an endpoint that reports an MTU of 0.
type zeroMTU struct{ *pipeEnd }

func (zeroMTU) MTU() int { return 0 }

// udpErrRecorder is a UDP handler that also records ICMP errors.
type udpErrRecorder struct {
	udpRecorder
	errs []string
}

func (r *udpErrRecorder) HandleUDPError(s *UDPSocket, from netip.Addr, dst netip.AddrPort, typ, code uint8) {
	r.errs = append(r.errs, from.String()+" "+dst.String()+" "+icmp.Type(typ).String()+" "+string('0'+rune(code)))
}

func TestUDPSocketSeesPortUnreachable(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.addHost("b", 2)
	tn.run(5 * time.Second)
	rec := &udpErrRecorder{}
	cs := requireBind(t, a, "0.0.0.0:0", rec)
	other := &udpErrRecorder{}
	requireBind(t, a, "0.0.0.0:0", other)
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.2:53"), []byte("query")))
	tn.run(time.Second)
	assert.Equal(t, []string{"10.0.0.2 10.0.0.2:53 destination unreachable 3"}, rec.errs)
	assert.Empty(t, other.errs)
}

func TestStaticNeighbor(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	ifc := a.Interfaces()[0]
	_, ok := ifc.Neighbor(ip(2))
	assert.False(t, ok)
	// Queued behind ARP, then released by the static entry without a
	// reply.
	tn.hub.drop = func([]byte) bool { return true }
	require.NoError(t, a.Ping(ip(2), 1, 1, nil))
	tn.hub.drop = nil
	tn.hub.sent = nil
	ifc.AddStaticNeighbor(ip(2), b.Interfaces()[0].MAC())
	assert.Len(t, sentIP(tn.hub), 1)
	mac, ok := ifc.Neighbor(ip(2))
	require.True(t, ok)
	assert.Equal(t, b.Interfaces()[0].MAC(), mac)
	// ARP does not change it and it never expires.
	d := tn.addHost("d", 0x0d)
	d.Interfaces()[0].SetAddress(netip.MustParsePrefix("10.0.0.2/24"))
	tn.run(10 * DefaultARPCacheTimeout)
	mac, ok = ifc.Neighbor(ip(2))
	require.True(t, ok)
	assert.Equal(t, b.Interfaces()[0].MAC(), mac)
	_, ok = ifc.Neighbor(netip.MustParseAddr("::1"))
	assert.False(t, ok)
	ifc.AddStaticNeighbor(netip.MustParseAddr("::1"), mac)
	assert.Len(t, ifc.neigh, 1)
}

// TestRegisterProtocolList checks the host's short list of transport
// handlers: several protocols each reach their own handler, registering
// again replaces a handler, nil removes one without disturbing the
// others, and an unregistered protocol draws protocol unreachable (RFC
// 1122 section 3.2.2.1).
func TestRegisterProtocolList(t *testing.T) {
	t.Parallel()
	type reg struct {
		proto uint8
		rec   int // index into the recorders, -1 to unregister
	}
	tests := []struct {
		name  string
		regs  []reg
		send  uint8
		want  int // recorder that gets the datagram, -1 for none
		unrch bool
	}{
		{name: "one", regs: []reg{{6, 0}}, send: 6, want: 0},
		{name: "second of three", regs: []reg{{6, 0}, {132, 1}, {253, 2}}, send: 132, want: 1},
		{name: "replaced", regs: []reg{{6, 0}, {132, 1}, {132, 2}}, send: 132, want: 2},
		{name: "others stay after a removal", regs: []reg{{6, 0}, {132, 1}, {253, 2}, {6, -1}}, send: 253, want: 2},
		{name: "removed", regs: []reg{{6, 0}, {132, 1}, {6, -1}}, send: 6, want: -1, unrch: true},
		{name: "removing the unregistered", regs: []reg{{132, -1}, {6, 0}}, send: 132, want: -1, unrch: true},
		{name: "none", send: 6, want: -1, unrch: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t, 1500)
			a := tn.addHost("a", 1)
			b := tn.addHost("b", 2)
			recs := []*protoRecorder{{}, {}, {}}
			for _, r := range tc.regs {
				if r.rec < 0 {
					b.RegisterProtocol(r.proto, nil)
					continue
				}
				b.RegisterProtocol(r.proto, recs[r.rec])
			}
			require.NoError(t, a.SendIP(tc.send, netip.Addr{}, ip(2), []byte("payload")))
			tn.run(time.Second)
			for k, rec := range recs {
				if k == tc.want {
					require.Len(t, rec.got, 1, "recorder %d", k)
					assert.Equal(t, []byte("payload"), rec.got[0])
					continue
				}
				assert.Empty(t, rec.got, "recorder %d", k)
			}
			if tc.unrch {
				assert.Equal(t, uint64(1), b.Stats().IPUnknownProtocol)
				assert.Equal(t, uint64(1), b.Stats().UnreachableOut)
			} else {
				assert.Zero(t, b.Stats().IPUnknownProtocol)
			}
		})
	}
}
