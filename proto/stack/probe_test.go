package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
)

// probeResult records the calls of a probe's done function.
type probeResult struct {
	calls []bool
	at    []clock.Time
	clk   clock.Clock
}

func (r *probeResult) done(inUse bool) {
	r.calls = append(r.calls, inUse)
	r.at = append(r.at, r.clk.Now())
}

// sentFrame is a frame the hub saw sent, with the instant it was sent.
type sentFrame struct {
	at    clock.Time
	frame []byte
}

// recordSends makes the hub log every sent frame with its send time.
func recordSends(tn *testNet) *[]sentFrame {
	var log []sentFrame
	tn.hub.drop = func(frame []byte) bool {
		log = append(log, sentFrame{at: tn.sched.Now(), frame: append([]byte(nil), frame...)})
		return false
	}
	return &log
}

// probesFrom returns the RFC 5227 probes (ARP requests with sender address
// 0.0.0.0) that mac sent, with their Ethernet headers.
func probesFrom(log []sentFrame, mac ether.Addr) (at []clock.Time, eth []ether.Frame, pk []arp.Packet) {
	for _, s := range log {
		f, err := ether.Parse(s.frame)
		if err != nil || f.EtherType() != ether.TypeARP || f.Src() != mac {
			continue
		}
		p, err := arp.Parse(f.Payload())
		if err != nil || p.Op() != arp.OpRequest || p.SenderIP4() != ([4]byte{}) {
			continue
		}
		at = append(at, s.at)
		eth = append(eth, f)
		pk = append(pk, p)
	}
	return at, eth, pk
}

// unaddressed adds host number n without an address, as a DHCP client
// starts, and returns its interface.
func (tn *testNet) unaddressed(name string, n byte) *Interface {
	h := tn.addHost(name, n)
	ifc := h.Interfaces()[0]
	ifc.SetAddress(netip.Prefix{})
	return ifc
}

// arpFrame crafts an Ethernet frame carrying ARP fields f from f.SenderHW.
func arpFrame(dst ether.Addr, f arp.Fields) []byte {
	b := make([]byte, ether.HeaderLen+arp.PacketLen)
	ether.Encode(b, dst, f.SenderHW, ether.TypeARP)
	arp.Encode(b[ether.HeaderLen:], f)
	return b
}

func TestARPProbeNoConflict(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	tn.addHost("b", 2)
	tn.run(5 * time.Second)
	log := recordSends(tn)
	start := tn.sched.Now()
	r := &probeResult{clk: tn.sched}
	target := ip(77)
	ifc.ProbeARP(target, r.done)
	assert.Empty(t, r.calls, "done is never called synchronously")

	tn.run(10 * time.Second)
	require.Equal(t, []bool{false}, r.calls)
	at, eth, pk := probesFrom(*log, ifc.MAC())
	require.Len(t, pk, ProbeNum, "exactly PROBE_NUM probes")
	for k, p := range pk {
		assert.Equal(t, ether.Broadcast, eth[k].Dst(), "probe %d is broadcast", k)
		assert.Equal(t, ifc.MAC(), p.SenderHW(), "probe %d sender MAC", k)
		assert.Equal(t, netip.IPv4Unspecified(), p.SenderIP(), "probe %d sender IP", k)
		assert.True(t, p.TargetHW().IsZero(), "probe %d target MAC", k)
		assert.Equal(t, target, p.TargetIP(), "probe %d target IP", k)
	}
	// RFC 5227 section 2.1.1 timing.
	assert.GreaterOrEqual(t, at[0].Sub(start), time.Duration(0))
	assert.Less(t, at[0].Sub(start), ProbeWait)
	for k := 1; k < len(at); k++ {
		gap := at[k].Sub(at[k-1])
		assert.GreaterOrEqual(t, gap, ProbeMin, "gap before probe %d", k)
		assert.LessOrEqual(t, gap, ProbeMax, "gap before probe %d", k)
	}
	assert.Equal(t, at[len(at)-1].Add(AnnounceWait), r.at[0], "done ANNOUNCE_WAIT after the last probe")
	assert.Len(t, *log, ProbeNum, "b does not answer probes for an address it does not own")
	s := ifc.Host().Stats()
	assert.Equal(t, uint64(ProbeNum), s.ARPProbesOut)
	assert.Zero(t, s.ARPProbeConflicts)
	assert.Zero(t, s.ARPRequestsOut, "probes are not resolution requests")
	assert.Empty(t, ifc.probes)
	assert.False(t, ifc.Address().IsValid(), "probing does not configure the address")
}

// TestARPProbeNoConflictTimingIsExact checks the conclusion is not early:
// one nanosecond before ANNOUNCE_WAIT has passed, done has not run.
func TestARPProbeNoConflictTimingIsExact(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	log := recordSends(tn)
	r := &probeResult{clk: tn.sched}
	p := ifc.StartARPProbe(ip(77), r.done)
	assert.Equal(t, ip(77), p.Addr())
	for len(*log) < ProbeNum {
		require.True(t, tn.sched.Step())
	}
	last := (*log)[ProbeNum-1].at
	tn.sched.RunUntil(last.Add(AnnounceWait - 1))
	assert.Empty(t, r.calls)
	assert.True(t, p.Running())
	tn.sched.RunUntil(last.Add(AnnounceWait))
	assert.Equal(t, []bool{false}, r.calls)
	assert.False(t, p.Running())
}

func TestARPProbeAnsweredByOwner(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	log := recordSends(tn)
	r := &probeResult{clk: tn.sched}
	ifc.ProbeARP(ip(2), r.done)
	tn.run(10 * time.Second)
	require.Equal(t, []bool{true}, r.calls)
	at, _, pk := probesFrom(*log, ifc.MAC())
	require.Len(t, pk, 1, "the probe stops at the first conflict")
	// The owner's reply, unicast to the prober, is the conflict.
	require.Len(t, *log, 2)
	f, err := ether.Parse((*log)[1].frame)
	require.NoError(t, err)
	assert.Equal(t, ifc.MAC(), f.Dst())
	rep, err := arp.Parse(f.Payload())
	require.NoError(t, err)
	assert.Equal(t, arp.OpReply, rep.Op())
	assert.Equal(t, b.Interfaces()[0].MAC(), rep.SenderHW())
	assert.Equal(t, ip(2), rep.SenderIP())
	assert.Equal(t, at[0].Add(2*tn.hub.latency), r.at[0], "done as soon as the reply arrives")
	assert.Equal(t, uint64(1), ifc.Host().Stats().ARPProbeConflicts)
	assert.Empty(t, ifc.probes)
}

// TestARPProbeCraftedPackets delivers one crafted ARP packet during a
// probe of 10.0.0.50 and checks whether it counts as a conflict (RFC 5227
// section 2.1.1).
func TestARPProbeCraftedPackets(t *testing.T) {
	probed := ip(50)
	other := ether.Addr{2, 0, 0, 0, 0, 0x99}
	own := ether.Addr{2, 0, 0, 0, 0, 1}
	second := ether.Addr{2, 0, 0, 0, 0, 0x11} // a's second interface
	as4 := func(a netip.Addr) [4]byte { return a.As4() }
	tests := []struct {
		name     string
		dst      ether.Addr
		f        arp.Fields
		conflict bool
	}{
		{"reply from the owner", own, arp.Fields{Op: arp.OpReply, SenderHW: other, SenderIP: as4(probed), TargetHW: own}, true},
		{"announcement by another host", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, SenderIP: as4(probed), TargetIP: as4(probed)}, true},
		{"request from the address", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, SenderIP: as4(probed), TargetIP: as4(ip(7))}, true},
		{"probe by another host", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, TargetIP: as4(probed)}, true},
		{"our own probe reflected", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: own, TargetIP: as4(probed)}, false},
		{"probe from another interface of ours", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: second, TargetIP: as4(probed)}, false},
		{"ordinary request for the address", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, SenderIP: as4(ip(7)), TargetIP: as4(probed)}, false},
		{"probe for another address", ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, TargetIP: as4(ip(51))}, false},
		{"reply about another address", own, arp.Fields{Op: arp.OpReply, SenderHW: other, SenderIP: as4(ip(51)), TargetHW: own}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNet(t, 1500)
			ifc := tn.unaddressed("a", 1)
			ifc.Host().AddInterface("eth1", second, tn.hub.port())
			log := recordSends(tn)
			r := &probeResult{clk: tn.sched}
			ifc.ProbeARP(probed, r.done)
			tn.run(1500 * time.Millisecond)
			require.Empty(t, r.calls)
			before := len(*log)
			ifc.Receive(arpFrame(tc.dst, tc.f), link.Note{})
			if !tc.conflict {
				assert.Empty(t, r.calls)
				tn.run(10 * time.Second)
				assert.Equal(t, []bool{false}, r.calls)
				_, _, pk := probesFrom(*log, own)
				assert.Len(t, pk, ProbeNum)
				return
			}
			require.Equal(t, []bool{true}, r.calls, "conflict reported at once")
			assert.Equal(t, tn.sched.Now(), r.at[0])
			tn.run(10 * time.Second)
			assert.Equal(t, []bool{true}, r.calls, "done runs once")
			assert.Len(t, *log, before, "no probe after the conflict")
			assert.Empty(t, ifc.probes)
		})
	}
}

// TestARPProbeRacingHosts has two hosts probe the same address at the same
// time: the one that hears the other's probe first backs off.
func TestARPProbeRacingHosts(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.unaddressed("a", 1)
	b := tn.unaddressed("b", 2)
	tn.run(5 * time.Second)
	log := recordSends(tn)
	ra := &probeResult{clk: tn.sched}
	rb := &probeResult{clk: tn.sched}
	a.ProbeARP(ip(50), ra.done)
	b.ProbeARP(ip(50), rb.done)
	tn.run(10 * time.Second)
	atA, _, _ := probesFrom(*log, a.MAC())
	atB, _, _ := probesFrom(*log, b.MAC())
	first, later, firstR, laterR := atA, atB, ra, rb
	if len(atA) == 0 || (len(atB) > 0 && atB[0] < atA[0]) {
		first, later, firstR, laterR = atB, atA, rb, ra
	}
	require.NotEmpty(t, first)
	if len(later) > 0 {
		require.Greater(t, later[0].Sub(first[0]), tn.hub.latency, "the seeds give well separated first probes")
	}
	assert.Equal(t, []bool{true}, laterR.calls, "the later host hears the earlier probe")
	assert.Equal(t, first[0].Add(tn.hub.latency), laterR.at[0])
	assert.Empty(t, later, "the later host stopped before its first probe")
	assert.Equal(t, []bool{false}, firstR.calls, "the earlier host heard no probe")
	assert.Len(t, first, ProbeNum)
}

// TestARPProbesConcurrentOnOneInterface runs two probes on one interface:
// each concludes on its own.
func TestARPProbesConcurrentOnOneInterface(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	tn.addHost("b", 2)
	tn.run(5 * time.Second)
	log := recordSends(tn)
	taken := &probeResult{clk: tn.sched}
	free := &probeResult{clk: tn.sched}
	ifc.ProbeARP(ip(2), taken.done)
	ifc.ProbeARP(ip(60), free.done)
	require.Len(t, ifc.probes, 2)
	tn.run(10 * time.Second)
	assert.Equal(t, []bool{true}, taken.calls)
	assert.Equal(t, []bool{false}, free.calls)
	_, _, pk := probesFrom(*log, ifc.MAC())
	n := map[netip.Addr]int{}
	for _, p := range pk {
		n[p.TargetIP()]++
	}
	assert.Equal(t, map[netip.Addr]int{ip(2): 1, ip(60): ProbeNum}, n)
	assert.Empty(t, ifc.probes)
}

func TestARPProbeCancel(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	log := recordSends(tn)
	r := &probeResult{clk: tn.sched}
	p := ifc.StartARPProbe(ip(50), r.done)
	keep := ifc.StartARPProbe(ip(51), nil) // a nil done is allowed
	for len(*log) == 0 {
		require.True(t, tn.sched.Step())
	}
	p.Cancel()
	p.Cancel() // twice is harmless
	assert.False(t, p.Running())
	assert.Equal(t, []*ARPProbe{keep}, ifc.probes)
	tn.run(10 * time.Second)
	assert.Empty(t, r.calls, "a cancelled probe never reports")
	_, _, pk := probesFrom(*log, ifc.MAC())
	n50 := 0
	for _, q := range pk {
		if q.TargetIP() == ip(50) {
			n50++
		}
	}
	assert.LessOrEqual(t, n50, 1, "no probe after Cancel")
	assert.False(t, keep.Running())
	keep.Cancel() // after the end: nothing
	assert.Zero(t, tn.sched.Len())
}

// TestARPProbeRestartFromDone starts a new probe of the same address from
// a done function: the packet that concluded the first does not conclude
// the second.
func TestARPProbeRestartFromDone(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	second := &probeResult{clk: tn.sched}
	var first []bool
	ifc.ProbeARP(ip(50), func(inUse bool) {
		first = append(first, inUse)
		ifc.ProbeARP(ip(50), second.done)
	})
	other := ether.Addr{2, 0, 0, 0, 0, 0x99}
	ifc.Receive(arpFrame(ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, TargetIP: ip(50).As4()}), link.Note{})
	assert.Equal(t, []bool{true}, first)
	assert.Empty(t, second.calls)
	require.Len(t, ifc.probes, 1)
	tn.run(10 * time.Second)
	assert.Equal(t, []bool{false}, second.calls)
}

func TestARPProbeUnprobeableAddress(t *testing.T) {
	for _, a := range []netip.Addr{{}, netip.MustParseAddr("2001:db8::1"), netip.IPv4Unspecified(),
		netip.MustParseAddr("224.0.0.1"), netip.MustParseAddr("255.255.255.255")} {
		t.Run(a.String(), func(t *testing.T) {
			tn := newTestNet(t, 1500)
			ifc := tn.unaddressed("a", 1)
			log := recordSends(tn)
			r := &probeResult{clk: tn.sched}
			ifc.ProbeARP(a, r.done)
			assert.Empty(t, r.calls, "not synchronous")
			tn.run(0)
			assert.Equal(t, []bool{true}, r.calls)
			tn.run(10 * time.Second)
			assert.Len(t, r.calls, 1)
			assert.Empty(t, *log)
		})
	}
}

// TestARPProbeMappedAddress accepts an IPv4-mapped IPv6 address as the
// IPv4 address it maps.
func TestARPProbeMappedAddress(t *testing.T) {
	tn := newTestNet(t, 1500)
	ifc := tn.unaddressed("a", 1)
	log := recordSends(tn)
	r := &probeResult{clk: tn.sched}
	p := ifc.StartARPProbe(netip.AddrFrom16(ip(50).As16()), r.done)
	assert.Equal(t, ip(50), p.Addr())
	tn.run(10 * time.Second)
	assert.Equal(t, []bool{false}, r.calls)
	_, _, pk := probesFrom(*log, ifc.MAC())
	require.Len(t, pk, ProbeNum)
	assert.Equal(t, ip(50), pk[0].TargetIP())
}

// TestARPProbeDeterministic checks that the same seed gives the same
// probe times.
func TestARPProbeDeterministic(t *testing.T) {
	times := func() []clock.Time {
		tn := newTestNet(t, 1500)
		ifc := tn.unaddressed("a", 1)
		log := recordSends(tn)
		ifc.ProbeARP(ip(50), nil)
		tn.run(10 * time.Second)
		at, _, _ := probesFrom(*log, ifc.MAC())
		return at
	}
	first := times()
	require.Len(t, first, ProbeNum)
	assert.Equal(t, first, times())
}

// FuzzARPProbeInput feeds arbitrary frames to an interface with probes
// running. It must never panic, every done function runs at most once,
// and every probe has concluded once its window is over.
func FuzzARPProbeInput(f *testing.F) {
	other := ether.Addr{2, 0, 0, 0, 0, 0x99}
	f.Add([]byte{})
	f.Add(arpFrame(ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, TargetIP: ip(50).As4()}))
	f.Add(arpFrame(ether.Addr{2, 0, 0, 0, 0, 1}, arp.Fields{Op: arp.OpReply, SenderHW: other, SenderIP: ip(51).As4()}))
	f.Add(arpFrame(ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: ether.Broadcast, SenderIP: ip(50).As4()}))
	f.Add(arpFrame(ether.Broadcast, arp.Fields{Op: arp.OpRequest, SenderHW: other, SenderIP: ip(52).As4(), TargetIP: ip(50).As4()})[:30])
	f.Fuzz(func(t *testing.T, frame []byte) {
		tn := newTestNet(t, 1500)
		tn.hub.logSent = false
		ifc := tn.unaddressed("a", 1)
		calls := make([]int, 3)
		for k := range calls {
			ifc.ProbeARP(ip(50+byte(k)), func(bool) { calls[k]++ })
		}
		tn.run(1500 * time.Millisecond)
		ifc.Receive(frame, link.Note{})
		ifc.Receive(frame, link.Note{})
		tn.run(10 * time.Second)
		for k, n := range calls {
			if n != 1 {
				t.Fatalf("probe %d: done called %d times", k, n)
			}
		}
		if len(ifc.probes) != 0 {
			t.Fatalf("%d probes still running", len(ifc.probes))
		}
	})
}
