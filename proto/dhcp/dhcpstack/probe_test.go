package dhcpstack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/udp"
)

// wireEvent is one frame of the hub's log, decoded: an ARP packet or a
// DHCP message in a UDP datagram.
type wireEvent struct {
	at       clock.Time
	src, dst ether.Addr
	arp      arp.Packet    // nil unless ARP
	dhcp     *dhcp.Message // nil unless DHCP
	ipSrc    netip.AddrPort
	ipDst    netip.AddrPort
}

// decodeLog decodes the frames of the hub's log; frames that are neither
// ARP nor DHCP are skipped.
func decodeLog(t *testing.T, lan *hub) []wireEvent {
	t.Helper()
	var out []wireEvent
	for _, lf := range lan.log {
		f, err := ether.Parse(lf.frame)
		require.NoError(t, err)
		ev := wireEvent{at: lf.at, src: f.Src(), dst: f.Dst()}
		switch f.EtherType() {
		case ether.TypeARP:
			ev.arp, err = arp.Parse(f.Payload())
			require.NoError(t, err)
		case ether.TypeIPv4:
			ih, err := ipv4.Parse(f.Payload())
			require.NoError(t, err)
			if ih.Protocol() != 17 {
				continue
			}
			uh, err := udp.Parse(ih.Payload())
			require.NoError(t, err)
			if uh.DstPort() != dhcp.ServerPort && uh.DstPort() != dhcp.ClientPort {
				continue
			}
			ev.ipSrc = netip.AddrPortFrom(ih.Src(), uh.SrcPort())
			ev.ipDst = netip.AddrPortFrom(ih.Dst(), uh.DstPort())
			ev.dhcp = new(dhcp.Message)
			require.NoError(t, ev.dhcp.Unmarshal(uh.Payload()))
		default:
			continue
		}
		out = append(out, ev)
	}
	return out
}

// isProbe reports whether ev is an RFC 5227 probe for a from mac.
func (ev wireEvent) isProbe(mac ether.Addr, a netip.Addr) bool {
	return ev.arp != nil && ev.src == mac && ev.arp.Op() == arp.OpRequest &&
		ev.arp.SenderHW() == mac && ev.arp.SenderIP() == netip.IPv4Unspecified() && ev.arp.TargetIP() == a
}

// TestStackDeclinesAddressInUse puts a host configured by hand on the
// address the server offers first. The client probes the acknowledged
// address, hears the owner answer, declines it and binds another.
func TestStackDeclinesAddressInUse(t *testing.T) {
	sch := clock.NewScheduler(0)
	lan := &hub{sch: sch}
	_, srvIfc := newHost(sch, lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	ss, err := NewServer(srvIfc, testCfg)
	require.NoError(t, err)
	first := testCfg.PoolStart // 10.0.0.10, the first offer
	_, squatIfc := newHost(sch, lan, "squatter", 3)
	squatIfc.SetAddress(netip.PrefixFrom(first, 24))
	sch.RunUntil(clock.Time(5 * time.Second)) // the squatter's announcements are over
	lan.log = nil

	_, cliIfc := newHost(sch, lan, "client", 2)
	sc, err := NewClient(cliIfc, rng.New(5, "dhcp/client"), nil)
	require.NoError(t, err)
	var leases []netip.Prefix
	sc.OnLease = func(l dhcp.Lease, bound bool) {
		if bound {
			leases = append(leases, l.Addr)
		}
	}
	sc.Start(netip.Addr{})
	sch.RunUntil(clock.Time(40 * time.Second))

	require.Equal(t, dhcp.StateBound, sc.State())
	second := netip.MustParseAddr("10.0.0.11")
	assert.Equal(t, netip.PrefixFrom(second, 24), cliIfc.Address())
	assert.Equal(t, []netip.Prefix{netip.PrefixFrom(second, 24)}, leases, "the address in use was never applied")
	assert.Equal(t, netip.PrefixFrom(first, 24), squatIfc.Address())
	assert.Equal(t, uint64(1), sc.Stats.Declined)
	assert.Equal(t, uint64(1), ss.Stats.Declines)
	cs := cliIfc.Host().Stats()
	assert.Equal(t, uint64(1+stack.ProbeNum), cs.ARPProbesOut, "one probe for the taken address, PROBE_NUM for the free one")
	assert.Equal(t, uint64(1), cs.ARPProbeConflicts)

	// The wire, in order: the client's DHCP messages and ARP traffic.
	ev := decodeLog(t, lan)
	cli, squat := cliIfc.MAC(), squatIfc.MAC()
	var types []dhcp.MessageType
	var decl *wireEvent
	declIdx := -1
	for k := range ev {
		if ev[k].dhcp != nil && ev[k].src == cli {
			types = append(types, ev[k].dhcp.Type())
			if ev[k].dhcp.Type() == dhcp.Decline {
				decl, declIdx = &ev[k], k
			}
		}
	}
	assert.Equal(t, []dhcp.MessageType{dhcp.Discover, dhcp.Request, dhcp.Decline, dhcp.Discover, dhcp.Request}, types)
	require.NotNil(t, decl, "DHCPDECLINE on the wire")

	// RFC 2131 section 4.4.1 and table 5: the DECLINE is broadcast from
	// 0.0.0.0, names the address in option 50 and the server in option
	// 54, and has a zero ciaddr.
	assert.Equal(t, ether.Broadcast, decl.dst)
	assert.Equal(t, netip.MustParseAddrPort("0.0.0.0:68"), decl.ipSrc)
	assert.Equal(t, netip.MustParseAddrPort("255.255.255.255:67"), decl.ipDst)
	ra, ok := decl.dhcp.Options.Addr(dhcp.OptRequestedIP)
	require.True(t, ok)
	assert.Equal(t, first, ra)
	sid, ok := decl.dhcp.Options.Addr(dhcp.OptServerID)
	require.True(t, ok)
	assert.Equal(t, serverIP, sid)
	assert.Equal(t, netip.IPv4Unspecified(), decl.dhcp.CIAddr)

	// Before it: the ACK for the first address, the client's probe, and
	// the owner's reply, which the DECLINE follows at once.
	ackIdx, probeIdx, replyIdx := -1, -1, -1
	for k := 0; k < declIdx; k++ {
		e := ev[k]
		switch {
		case e.dhcp != nil && e.dhcp.Type() == dhcp.Ack:
			ackIdx = k
			assert.Equal(t, first, e.dhcp.YIAddr)
		case e.isProbe(cli, first):
			probeIdx = k
		case e.arp != nil && e.src == squat && e.arp.Op() == arp.OpReply:
			replyIdx = k
			assert.Equal(t, first, e.arp.SenderIP())
			assert.Equal(t, cli, e.dst, "the owner answers the prober")
		}
	}
	require.True(t, ackIdx >= 0 && probeIdx > ackIdx && replyIdx > probeIdx,
		"ACK %d, probe %d, reply %d", ackIdx, probeIdx, replyIdx)
	assert.Equal(t, ev[replyIdx].at.Add(time.Millisecond), decl.at, "declined as soon as the reply arrives")
	assert.Less(t, ev[probeIdx].at.Sub(ev[ackIdx].at), stack.ProbeWait+time.Millisecond)

	// After it: ten seconds of quiet (RFC 2131 section 3.1 step 5), then a
	// new exchange; the second address is probed PROBE_NUM times, nobody
	// answers, and the client announces it.
	var probes2, announce []clock.Time
	var nextDiscover clock.Time
	for _, e := range ev[declIdx+1:] {
		switch {
		case e.dhcp != nil && e.dhcp.Type() == dhcp.Discover && nextDiscover == 0:
			nextDiscover = e.at
		case e.isProbe(cli, second):
			probes2 = append(probes2, e.at)
		case e.arp != nil && e.src == cli && e.arp.IsGratuitous() && e.arp.SenderIP() == second:
			announce = append(announce, e.at)
		case e.arp != nil && e.src == squat:
			t.Errorf("the owner answered again at %v", e.at)
		}
	}
	assert.Equal(t, decl.at.Add(declineWait), nextDiscover)
	assert.Len(t, probes2, stack.ProbeNum)
	require.NotEmpty(t, announce)
	assert.Equal(t, probes2[len(probes2)-1].Add(stack.AnnounceWait), announce[0], "bound ANNOUNCE_WAIT after the last probe")
}

// TestStackNoProbe turns probing off: the client binds the acknowledged
// address at once and sends no probe.
func TestStackNoProbe(t *testing.T) {
	sch := clock.NewScheduler(0)
	lan := &hub{sch: sch}
	_, srvIfc := newHost(sch, lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	_, err := NewServer(srvIfc, testCfg)
	require.NoError(t, err)
	_, cliIfc := newHost(sch, lan, "client", 2)
	sc, err := NewClient(cliIfc, rng.New(5, "dhcp/client"), NoProbe)
	require.NoError(t, err)
	sc.Start(netip.Addr{})
	sch.RunUntil(clock.Time(100 * time.Millisecond))
	require.Equal(t, dhcp.StateBound, sc.State())
	assert.Equal(t, netip.PrefixFrom(testCfg.PoolStart, 24), cliIfc.Address())
	assert.Zero(t, cliIfc.Host().Stats().ARPProbesOut)
	for _, e := range decodeLog(t, lan) {
		assert.False(t, e.isProbe(cliIfc.MAC(), testCfg.PoolStart), "probe at %v", e.at)
	}
}

// TestNoProbeWithClient checks NoProbe given straight to NewClient: every
// address is reported free, so the client binds.
func TestNoProbeWithClient(t *testing.T) {
	var got []bool
	NoProbe.Probe(netip.MustParseAddr("10.0.0.10"), func(inUse bool) { got = append(got, inUse) })
	assert.Equal(t, []bool{false}, got)
}

// TestStackCloseCancelsProbe closes the client while it probes: no probe
// follows and the address is never applied.
func TestStackCloseCancelsProbe(t *testing.T) {
	sch := clock.NewScheduler(0)
	lan := &hub{sch: sch}
	_, srvIfc := newHost(sch, lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	_, err := NewServer(srvIfc, testCfg)
	require.NoError(t, err)
	_, cliIfc := newHost(sch, lan, "client", 2)
	sc, err := NewClient(cliIfc, rng.New(5, "dhcp/client"), nil)
	require.NoError(t, err)
	sc.Start(netip.Addr{})
	sch.RunUntil(clock.Time(100 * time.Millisecond))
	require.NotNil(t, sc.probe.cur, "probing after the ACK")
	p := sc.probe.cur
	sc.Close()
	closedAt := sch.Now()
	assert.False(t, p.Running())
	assert.Nil(t, sc.probe.cur)
	sch.RunUntil(clock.Time(20 * time.Second))
	assert.Equal(t, dhcp.StateStopped, sc.State())
	assert.False(t, cliIfc.Address().IsValid())
	for _, e := range decodeLog(t, lan) {
		if e.at > closedAt {
			assert.False(t, e.src == cliIfc.MAC(), "client frame at %v after Close", e.at)
		}
	}
}

// TestStackCustomProber passes a prober of the caller's own: it is used
// instead of the interface's ARP probe.
func TestStackCustomProber(t *testing.T) {
	sch := clock.NewScheduler(0)
	lan := &hub{sch: sch}
	_, srvIfc := newHost(sch, lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	_, err := NewServer(srvIfc, testCfg)
	require.NoError(t, err)
	_, cliIfc := newHost(sch, lan, "client", 2)
	// The interface's own probe of another host stands in for the
	// caller's prober: it reports 10.0.0.10 taken when b owns it.
	_, ownerIfc := newHost(sch, lan, "owner", 3)
	ownerIfc.SetAddress(netip.PrefixFrom(testCfg.PoolStart, 24))
	var asked []netip.Addr
	pr := proberFunc(func(a netip.Addr, done func(bool)) {
		asked = append(asked, a)
		cliIfc.ProbeARP(a, done)
	})
	sc, err := NewClient(cliIfc, rng.New(5, "dhcp/client"), pr)
	require.NoError(t, err)
	assert.Nil(t, sc.probe)
	sc.Start(netip.Addr{})
	sch.RunUntil(clock.Time(40 * time.Second))
	require.Equal(t, dhcp.StateBound, sc.State())
	assert.Equal(t, []netip.Addr{testCfg.PoolStart, netip.MustParseAddr("10.0.0.11")}, asked)
	assert.Equal(t, netip.MustParsePrefix("10.0.0.11/24"), cliIfc.Address())
}

// proberFunc adapts a function to Prober.
type proberFunc func(addr netip.Addr, done func(inUse bool))

func (f proberFunc) Probe(addr netip.Addr, done func(inUse bool)) { f(addr, done) }
