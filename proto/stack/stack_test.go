package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/udp"
)

// sentARP returns the ARP packets in the hub's log.
func sentARP(hb *hub) []arp.Packet {
	var out []arp.Packet
	for _, b := range hb.sent {
		f, err := ether.Parse(b)
		if err != nil || f.EtherType() != ether.TypeARP {
			continue
		}
		if p, err := arp.Parse(f.Payload()); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// sentIP returns the IPv4 packets in the hub's log.
func sentIP(hb *hub) []ipv4.Header {
	var out []ipv4.Header
	for _, b := range hb.sent {
		f, err := ether.Parse(b)
		if err != nil || f.EtherType() != ether.TypeIPv4 {
			continue
		}
		if h, err := ipv4.Parse(f.Payload()); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// notify turns Config.ARPNotify on.
func notify(c *Config) { c.ARPNotify = true }

// TestNoGratuitousARPByDefault checks that setting an address sends
// nothing without ARPNotify, as Linux with arp_notify = 0: hosts first
// speak ARP when they resolve a neighbour or answer a request.
func TestNoGratuitousARPByDefault(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.addHost("b", 2)
	tn.run(10 * time.Second)
	assert.Empty(t, tn.hub.sent)
	assert.Zero(t, a.Stats().ARPAnnouncementsOut)

	// AnnounceAddress (a DHCP client's bound address) announces anyway.
	a.Interfaces()[0].AnnounceAddress()
	tn.run(10 * time.Second)
	pk := sentARP(tn.hub)
	require.Len(t, pk, 2)
	assert.True(t, pk[0].IsGratuitous())
	assert.Equal(t, uint64(2), a.Stats().ARPAnnouncementsOut)
}

func TestGratuitousARPOnSetAddress(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1, notify)
	pk := sentARP(tn.hub)
	require.Len(t, pk, 1, "first announcement at once")
	assert.True(t, pk[0].IsGratuitous())
	assert.Equal(t, arp.OpRequest, pk[0].Op())
	assert.Equal(t, ip(1), pk[0].SenderIP())
	assert.True(t, pk[0].TargetHW().IsZero())
	f, _ := ether.Parse(tn.hub.sent[0])
	assert.Equal(t, ether.Broadcast, f.Dst())
	tn.run(1900 * time.Millisecond)
	assert.Len(t, sentARP(tn.hub), 1)
	tn.run(200 * time.Millisecond)
	require.Len(t, sentARP(tn.hub), 2, "second announcement 2 s later (RFC 5227 ANNOUNCE_INTERVAL)")
	tn.run(10 * time.Second)
	assert.Len(t, sentARP(tn.hub), 2)
	assert.Equal(t, uint64(2), a.Stats().ARPAnnouncementsOut)

	// Removing the address stops announcing; setting a new one restarts.
	a.Interfaces()[0].SetAddress(netip.Prefix{})
	assert.False(t, a.Interfaces()[0].Address().IsValid())
	a.Interfaces()[0].SetAddress(netip.MustParsePrefix("10.0.0.77/24"))
	pk = sentARP(tn.hub)
	require.Len(t, pk, 3)
	assert.Equal(t, netip.MustParseAddr("10.0.0.77"), pk[2].SenderIP())
}

func TestGratuitousARPUpdatesExistingEntries(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	require.NoError(t, b.Ping(ip(1), 1, 1, nil))
	tn.run(time.Second)
	n := b.Interfaces()[0].neigh[ip(1).As4()]
	require.NotNil(t, n)
	assert.Equal(t, a.Interfaces()[0].MAC(), n.mac)

	// Host d takes over 10.0.0.1 (a failover): its announcement updates
	// b's existing entry by RFC 826's merge rule, and a sees a conflict.
	d := tn.addHost("d", 0x0d, notify)
	d.Interfaces()[0].SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	tn.run(time.Second)
	assert.Equal(t, ether.Addr{2, 0, 0, 0, 0, 0x0d}, b.Interfaces()[0].neigh[ip(1).As4()].mac)
	assert.Equal(t, uint64(1), a.Stats().ARPConflicts)
	// Hosts that had no entry for the announced address do not add one.
	_, ok := tn.hosts[0].Interfaces()[0].neigh[netip.MustParseAddr("10.0.0.13").As4()]
	assert.False(t, ok)
}

func TestARPResolutionThenPing(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	tn.hub.sent = nil
	var rec echoRecorder
	a.SetEchoReplyHandler(&rec)

	require.NoError(t, a.Ping(ip(2), 0x4242, 1, []byte("hello")))
	require.NoError(t, a.Ping(ip(2), 0x4242, 2, []byte("world")))
	pk := sentARP(tn.hub)
	require.Len(t, pk, 1, "one request for two queued packets")
	assert.Equal(t, arp.OpRequest, pk[0].Op())
	assert.Equal(t, ip(2), pk[0].TargetIP())
	assert.Empty(t, sentIP(tn.hub), "pings wait for resolution")

	tn.run(10 * time.Millisecond)
	require.Len(t, rec.got, 2)
	assert.Equal(t, echoReply{ip(2), 0x4242, 1, []byte("hello"), 64}, rec.got[0])
	assert.Equal(t, echoReply{ip(2), 0x4242, 2, []byte("world"), 64}, rec.got[1])

	pk = sentARP(tn.hub)
	require.Len(t, pk, 2, "b answers and, having learned a from the request, does not ask")
	assert.Equal(t, arp.OpReply, pk[1].Op())
	assert.Equal(t, ip(2), pk[1].SenderIP())
	assert.Equal(t, ip(1), pk[1].TargetIP())
	assert.Equal(t, a.Interfaces()[0].MAC(), pk[1].TargetHW())

	sa, sb := a.Stats(), b.Stats()
	assert.Equal(t, uint64(1), sa.ARPRequestsOut)
	assert.Equal(t, uint64(1), sb.ARPRepliesOut)
	assert.Equal(t, uint64(0), sb.ARPRequestsOut)
	assert.Equal(t, uint64(2), sb.EchoRequestsIn)
	assert.Equal(t, uint64(2), sb.EchoRepliesOut)
	assert.Equal(t, uint64(2), sa.EchoRepliesIn)

	// Cached now: the next ping goes out at once.
	tn.hub.sent = nil
	require.NoError(t, a.Ping(ip(2), 0x4242, 3, nil))
	assert.Len(t, sentIP(tn.hub), 1)
	assert.Empty(t, sentARP(tn.hub))

	// After the cache timeout the entry is stale, still used, and
	// forgotten when unused for another timeout: then a resolves again.
	tn.run(DefaultARPCacheTimeout + time.Second)
	tn.hub.sent = nil
	require.NoError(t, a.Ping(ip(2), 0x4242, 4, nil))
	assert.Len(t, sentIP(tn.hub), 1)
	assert.Empty(t, sentARP(tn.hub))
	tn.run(3 * DefaultARPCacheTimeout)
	tn.hub.sent = nil
	require.NoError(t, a.Ping(ip(2), 0x4242, 5, nil))
	assert.Empty(t, sentIP(tn.hub))
	assert.Len(t, sentARP(tn.hub), 1)
}

// TestARPStaleEntryUnicastProbe follows a stale entry through Linux's
// neighbour states: used at once, re-confirmed delay_first_probe_time
// later by a unicast request (RFC 1122 section 2.3.2.1's unicast poll)
// that the neighbour answers; unanswered, ARPMaxTries unicast requests
// ARPRetry apart, then the entry is forgotten and the next send
// broadcasts.
func TestARPStaleEntryUnicastProbe(t *testing.T) {
	t.Parallel()
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	require.NoError(t, a.Ping(ip(2), 1, 1, nil))
	tn.run(time.Second)
	tn.run(DefaultARPCacheTimeout)
	bMAC := b.Interfaces()[0].MAC()

	// Stale: the ping goes out at once; 5 s later one unicast request,
	// answered by b, confirms the entry. (b, which learnt a from a's
	// first request, does the same for its entry for a.)
	aMAC := a.Interfaces()[0].MAC()
	tn.hub.sent = nil
	t0 := tn.sched.Now()
	var at []time.Duration
	tn.hub.drop = func(frame []byte) bool {
		if f, _ := ether.Parse(frame); f.Src() == aMAC {
			at = append(at, tn.sched.Now().Sub(t0))
		}
		return false
	}
	require.NoError(t, a.Ping(ip(2), 1, 2, nil))
	tn.run(delayFirstProbe + 100*time.Millisecond)
	var fromA, toA []ether.Frame
	for _, b := range tn.hub.sent {
		f, err := ether.Parse(b)
		require.NoError(t, err)
		switch {
		case f.EtherType() != ether.TypeARP:
		case f.Src() == aMAC:
			fromA = append(fromA, f)
		case f.Dst() == aMAC:
			toA = append(toA, f)
		}
	}
	require.NotEmpty(t, fromA)
	req, err := arp.Parse(fromA[0].Payload())
	require.NoError(t, err)
	assert.Equal(t, arp.OpRequest, req.Op())
	assert.Equal(t, ip(2), req.TargetIP())
	assert.True(t, req.TargetHW().IsZero())
	assert.Equal(t, bMAC, fromA[0].Dst(), "the request is unicast to the cached address")
	require.NotEmpty(t, toA)
	reply, err := arp.Parse(toA[len(toA)-1].Payload())
	require.NoError(t, err)
	assert.Equal(t, arp.OpReply, reply.Op(), "b answers")
	require.GreaterOrEqual(t, len(at), 2)
	assert.Equal(t, []time.Duration{0, delayFirstProbe}, at[:2], "a's echo request, then its probe")
	n := a.Interfaces()[0].neigh[ip(2).As4()]
	require.NotNil(t, n)
	assert.Equal(t, nudReachable, n.nud)

	// Unanswered: three unicast requests a second apart, then the entry
	// is forgotten and the next ping broadcasts a request.
	tn.run(DefaultARPCacheTimeout)
	tn.hub.sent, at = nil, nil
	t0 = tn.sched.Now()
	tn.hub.drop = func(frame []byte) bool {
		f, _ := ether.Parse(frame)
		if f.Src() == aMAC {
			at = append(at, tn.sched.Now().Sub(t0))
		}
		return f.Src() == bMAC // b is gone
	}
	require.NoError(t, a.Ping(ip(2), 1, 3, nil))
	tn.run(delayFirstProbe + 5*time.Second)
	assert.Equal(t, []time.Duration{0, delayFirstProbe, delayFirstProbe + time.Second, delayFirstProbe + 2*time.Second}, at,
		"the ping, then three unicast probes")
	_, ok := a.Interfaces()[0].neigh[ip(2).As4()]
	assert.False(t, ok, "forgotten after the unanswered probes")
	tn.hub.sent = nil
	require.NoError(t, a.Ping(ip(2), 1, 4, nil))
	pk := sentARP(tn.hub)
	require.Len(t, pk, 1)
	f, _ := ether.Parse(tn.hub.sent[0])
	assert.Equal(t, ether.Broadcast, f.Dst())
}

func TestARPRetryAndGiveUp(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.run(5 * time.Second)
	tn.hub.sent = nil
	start := tn.sched.Now()
	var times []time.Duration
	tn.hub.drop = func(frame []byte) bool {
		times = append(times, tn.sched.Now().Sub(start))
		return false
	}
	for seq := range 20 {
		require.NoError(t, a.Ping(ip(9), 1, uint16(seq), nil))
	}
	assert.Equal(t, uint64(4), a.Stats().ARPQueueOverflow, "queue holds 16")
	tn.run(10 * time.Second)
	assert.Equal(t, []time.Duration{0, time.Second, 2 * time.Second}, times, "3 requests, 1 s apart")
	s := a.Stats()
	assert.Equal(t, uint64(3), s.ARPRequestsOut)
	assert.Equal(t, uint64(16), s.ARPResolutionFailed)
	assert.Empty(t, a.Interfaces()[0].neigh)
	assert.Empty(t, sentIP(tn.hub))
}

func TestARPRetryAnsweredLate(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.addHost("b", 2)
	tn.run(5 * time.Second)
	var rec echoRecorder
	a.SetEchoReplyHandler(&rec)
	dropped := 0
	tn.hub.drop = func(frame []byte) bool {
		f, _ := ether.Parse(frame)
		if f.EtherType() == ether.TypeARP && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	start := tn.sched.Now()
	require.NoError(t, a.Ping(ip(2), 7, 7, nil))
	tn.run(900 * time.Millisecond)
	assert.Empty(t, rec.got)
	tn.run(200 * time.Millisecond)
	require.Len(t, rec.got, 1)
	assert.Equal(t, uint64(2), a.Stats().ARPRequestsOut)
	assert.True(t, tn.sched.Now().Sub(start) >= time.Second)
}

func TestARPRepliesOnlyForOwnAddress(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.run(5 * time.Second)
	ifc := a.Interfaces()[0]
	frame := make([]byte, ether.HeaderLen+arp.PacketLen)
	ether.Encode(frame, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 0x55}, ether.TypeARP)
	arp.Request(frame[ether.HeaderLen:], ether.Addr{2, 0, 0, 0, 0, 0x55}, ip(0x55), ip(0x66))
	tn.hub.sent = nil
	ifc.Receive(frame, link.Note{})
	assert.Empty(t, tn.hub.sent, "not our address")
	assert.Empty(t, ifc.neigh, "not learned either (RFC 826: only when we are the target)")

	arp.Request(frame[ether.HeaderLen:], ether.Addr{2, 0, 0, 0, 0, 0x55}, netip.IPv4Unspecified(), ip(1))
	ifc.Receive(frame, link.Note{})
	pk := sentARP(tn.hub)
	require.Len(t, pk, 1, "an RFC 5227 probe for our address is answered")
	assert.Empty(t, ifc.neigh, "a probe's 0.0.0.0 sender is not learned")
}

func TestPingTTLAndIDs(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1, func(c *Config) { c.DefaultTTL = 9 })
	tn.addHost("b", 2)
	tn.run(5 * time.Second)
	var rec echoRecorder
	a.SetEchoReplyHandler(&rec)
	tn.hub.sent = nil
	require.NoError(t, a.Ping(ip(2), 1, 1, nil))
	require.NoError(t, a.Ping(ip(2), 1, 2, nil))
	tn.run(time.Second)
	require.Len(t, rec.got, 2)
	assert.Equal(t, uint8(64), rec.got[0].ttl, "b's default TTL")
	ips := sentIP(tn.hub)
	require.Len(t, ips, 4)
	assert.Equal(t, uint8(9), ips[0].TTL())
	assert.Equal(t, ips[0].ID()+1, ips[1].ID(), "IDs from a per-host counter")
	m, err := icmp.Parse(ips[2].Payload())
	require.NoError(t, err)
	assert.Equal(t, icmp.TypeEchoReply, m.Type())
}

func TestLoopbackPing(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.run(5 * time.Second)
	var rec echoRecorder
	a.SetEchoReplyHandler(&rec)
	tn.hub.sent = nil
	require.NoError(t, a.Ping(ip(1), 3, 4, []byte("self")))
	assert.Empty(t, rec.got, "delivered on the next loop turn, not inside Ping")
	tn.run(0)
	require.Len(t, rec.got, 1)
	assert.Equal(t, []byte("self"), rec.got[0].payload)
	assert.Empty(t, tn.hub.sent, "nothing on the wire")
	assert.Equal(t, uint64(2), a.Stats().IPLoopback)
}

func TestUDPEcho(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	server := &udpRecorder{echo: true}
	requireBind(t, b, "0.0.0.0:7", server)
	client := &udpRecorder{}
	cs, err := a.BindUDP(netip.AddrPort{}, client)
	require.NoError(t, err)
	port := cs.LocalAddr().Port()
	assert.GreaterOrEqual(t, int(port), 49152)
	assert.Equal(t, netip.IPv4Unspecified(), cs.LocalAddr().Addr())

	require.NoError(t, cs.SendTo(netip.AddrPortFrom(ip(2), 7), []byte("ping over udp")))
	tn.run(time.Second)
	require.Len(t, server.got, 1)
	assert.Equal(t, netip.AddrPortFrom(ip(1), port), server.got[0].src)
	assert.Equal(t, netip.AddrPortFrom(ip(2), 7), server.got[0].dst)
	assert.Empty(t, server.echoErr)
	require.Len(t, client.got, 1)
	assert.Equal(t, []byte("ping over udp"), client.got[0].payload)
	assert.Equal(t, netip.AddrPortFrom(ip(2), 7), client.got[0].src)

	// The datagram on the wire has a valid, non-zero checksum.
	for _, h := range sentIP(tn.hub) {
		u, err := udp.Parse(h.Payload())
		require.NoError(t, err)
		assert.NotZero(t, u.Checksum())
		assert.True(t, u.VerifyChecksum(h.Src(), h.Dst()))
	}
	assert.Equal(t, uint64(1), a.Stats().UDPOut)
	assert.Equal(t, uint64(1), a.Stats().UDPIn)

	// Closing unbinds: the next datagram draws a port unreachable.
	cs.Close()
	cs.Close()
	assert.ErrorIs(t, cs.SendTo(netip.AddrPortFrom(ip(2), 7), nil), ErrClosed)
}

func TestBindUDP(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	_, err := a.BindUDP(netip.MustParseAddrPort("0.0.0.0:53"), &udpRecorder{})
	require.NoError(t, err)
	_, err = a.BindUDP(netip.MustParseAddrPort("0.0.0.0:53"), &udpRecorder{})
	assert.ErrorIs(t, err, ErrAddrInUse)
	specific := &udpRecorder{}
	_, err = a.BindUDP(netip.MustParseAddrPort("10.0.0.1:53"), specific)
	require.NoError(t, err, "a specific address may share a wildcard's port")
	_, err = a.BindUDP(netip.MustParseAddrPort("[::1]:53"), &udpRecorder{})
	assert.ErrorIs(t, err, ErrInvalidAddr)

	// Ephemeral ports are distinct and deterministic for a seed.
	seen := map[uint16]bool{}
	var order []uint16
	for range 100 {
		s, err := a.BindUDP(netip.AddrPort{}, &udpRecorder{})
		require.NoError(t, err)
		p := s.LocalAddr().Port()
		assert.False(t, seen[p])
		seen[p] = true
		order = append(order, p)
	}
	tn2 := newTestNet(t, 1500)
	a2 := tn2.addHost("a", 1)
	_, err = a2.BindUDP(netip.MustParseAddrPort("0.0.0.0:53"), &udpRecorder{})
	require.NoError(t, err)
	_, err = a2.BindUDP(netip.MustParseAddrPort("10.0.0.1:53"), &udpRecorder{})
	require.NoError(t, err)
	for k := range 100 {
		s, err := a2.BindUDP(netip.AddrPort{}, &udpRecorder{})
		require.NoError(t, err)
		require.Equal(t, order[k], s.LocalAddr().Port())
	}
}

func TestUDPSpecificBindPreferred(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	wild, spec := &udpRecorder{}, &udpRecorder{}
	requireBind(t, b, "0.0.0.0:53", wild)
	requireBind(t, b, "10.0.0.2:53", spec)
	cs := requireBind(t, a, "0.0.0.0:1000", &udpRecorder{})
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.2:53"), []byte("q")))
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.255:53"), []byte("b")))
	tn.run(time.Second)
	require.Len(t, spec.got, 1)
	assert.Equal(t, []byte("q"), spec.got[0].payload)
	require.Len(t, wild.got, 1, "the subnet broadcast goes to the wildcard socket")
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.255:53"), wild.got[0].dst)
}

func TestARPQueueKeepsLatest(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.addHost("b", 2)
	tn.run(5 * time.Second)
	var rec echoRecorder
	a.SetEchoReplyHandler(&rec)
	for seq := range uint16(20) {
		require.NoError(t, a.Ping(ip(2), 1, seq, nil))
	}
	tn.run(time.Second)
	require.Len(t, rec.got, DefaultARPQueueLimit)
	for k, r := range rec.got {
		assert.Equal(t, uint16(4+k), r.seq, "oldest dropped, order kept (RFC 1122 2.3.2.2)")
	}
}
