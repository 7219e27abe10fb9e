package stack

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
)

// Probe timing of RFC 5227 section 1.1.
const (
	// ProbeWait bounds the random delay before the first probe
	// (PROBE_WAIT).
	ProbeWait = time.Second
	// ProbeNum is how many probes are sent (PROBE_NUM).
	ProbeNum = 3
	// ProbeMin and ProbeMax bound the random spacing between probes
	// (PROBE_MIN, PROBE_MAX).
	ProbeMin = time.Second
	ProbeMax = 2 * time.Second
	// AnnounceWait is how long the host keeps listening after the last
	// probe before it may use the address (ANNOUNCE_WAIT).
	AnnounceWait = 2 * time.Second
)

// ARPProbe is one RFC 5227 address probe running on an interface, started
// by Interface.StartARPProbe. Several probes, for the same or different
// addresses, may run at once on one interface; each keeps its own timer.
type ARPProbe struct {
	ifc *Interface
	ip  [4]byte
	// bad marks an address that cannot be probed: it is reported in use
	// when the timer first fires.
	bad bool
	// seq orders probes by start, so a packet only concludes probes that
	// were running when it arrived.
	seq     uint64
	sent    int
	running bool
	done    func(inUse bool)
	timer   clock.Timer
}

// ProbeARP checks whether addr is in use on the interface's link, as RFC
// 5227 section 2.1.1 describes, and calls done once, later, from the
// host's loop: with true as soon as a conflict is seen, or with false
// after the last probe and ANNOUNCE_WAIT. An address that is not a
// unicast IPv4 address is reported in use on the next loop turn.
// ProbeARP implements the DHCP client's Prober interface.
func (i *Interface) ProbeARP(addr netip.Addr, done func(inUse bool)) {
	i.StartARPProbe(addr, done)
}

// StartARPProbe starts an RFC 5227 section 2.1.1 probe of addr and returns
// it, so the caller can cancel it. It waits a random time below
// PROBE_WAIT, sends PROBE_NUM ARP probes (requests from the interface's
// MAC with sender address 0.0.0.0 and target addr) PROBE_MIN to PROBE_MAX
// apart, then listens for ANNOUNCE_WAIT. The delays are drawn from the
// host's Rand. done is called once, later, from the host's loop: true as
// soon as a conflict is seen, false at the end of the probe. A conflict is
// any ARP request or reply whose sender address is addr (from a MAC other
// than the interface's), or another host's probe for addr. Probing does
// not configure the address: the caller does that with SetAddress, which
// announces it. An address that is not a unicast IPv4 address is
// reported in use on the next loop turn, without probing.
func (i *Interface) StartARPProbe(addr netip.Addr, done func(inUse bool)) *ARPProbe {
	h := i.h
	addr = addr.Unmap()
	i.probeSeq++
	p := &ARPProbe{ifc: i, seq: i.probeSeq, running: true, done: done}
	p.timer.Init(p)
	i.probes = append(i.probes, p)
	i.probing = true
	now := h.clk.Now()
	if !addr.Is4() || addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		p.bad = true
		h.clk.Schedule(&p.timer, now)
		return p
	}
	p.ip = addr.As4()
	// RFC 5227 section 2.1.1: "the host should first wait for a random
	// time interval selected uniformly in the range zero to PROBE_WAIT
	// seconds".
	h.clk.Schedule(&p.timer, now.Add(time.Duration(h.rnd.Int64N(int64(ProbeWait)))))
	return p
}

// Addr returns the address being probed.
func (p *ARPProbe) Addr() netip.Addr { return netip.AddrFrom4(p.ip) }

// Running reports whether the probe has neither concluded nor been
// cancelled.
func (p *ARPProbe) Running() bool { return p.running }

// Cancel stops a running probe without calling its done function. It does
// nothing to a probe that has concluded.
func (p *ARPProbe) Cancel() {
	if p.running {
		p.stop()
	}
}

// OnTimer sends the next probe, or concludes the probe with no conflict
// ANNOUNCE_WAIT after the last one.
func (p *ARPProbe) OnTimer(now clock.Time) {
	if !p.running {
		return
	}
	if p.bad {
		p.finish(true)
		return
	}
	if p.sent >= ProbeNum {
		p.finish(false)
		return
	}
	i := p.ifc
	h := i.h
	p.sent++
	h.stats.ARPProbesOut++
	// RFC 5227 section 2.1.1: an ARP Request with the sender hardware
	// address of the interface, sender IP address all zeroes, target
	// hardware address all zeroes and target IP address the probed one,
	// broadcast.
	i.sendARP(arp.Fields{Op: arp.OpRequest, SenderHW: i.mac, TargetIP: p.ip}, ether.Broadcast)
	if p.sent < ProbeNum {
		// "... PROBE_NUM probe packets, each of these probe packets
		// spaced randomly and uniformly, PROBE_MIN to PROBE_MAX seconds
		// apart."
		d := ProbeMin + time.Duration(h.rnd.Int64N(int64(ProbeMax-ProbeMin)+1))
		h.clk.Schedule(&p.timer, now.Add(d))
		return
	}
	// The window closes ANNOUNCE_WAIT after the last probe.
	h.clk.Schedule(&p.timer, now.Add(AnnounceWait))
}

// stop disarms p and takes it off its interface, keeping the order of the
// others.
func (p *ARPProbe) stop() {
	i := p.ifc
	p.running = false
	i.h.clk.Cancel(&p.timer)
	for k, q := range i.probes {
		if q == p {
			copy(i.probes[k:], i.probes[k+1:])
			i.probes[len(i.probes)-1] = nil
			i.probes = i.probes[:len(i.probes)-1]
			i.probing = len(i.probes) > 0
			break
		}
	}
}

// finish stops p and reports its outcome.
func (p *ARPProbe) finish(inUse bool) {
	p.stop()
	if inUse {
		p.ifc.h.stats.ARPProbeConflicts++
	}
	if p.done != nil {
		p.done(inUse)
	}
}

// conflicts reports whether an ARP packet from another host conflicts
// with probing p's address (RFC 5227 section 2.1.1).
func (p *ARPProbe) conflicts(sha ether.Addr, spa, tpa [4]byte) bool {
	if p.bad {
		return false
	}
	// "... any ARP packet (Request *or* Reply) on the interface where the
	// probe is being performed, where the packet's 'sender IP address' is
	// the address being probed for".
	if spa == p.ip {
		return true
	}
	// "... any ARP Probe where the packet's 'target IP address' is the
	// address being probed for, and the packet's 'sender hardware
	// address' is not the hardware address of any of the host's
	// interfaces": another host is probing for the same address.
	return spa == ([4]byte{}) && tpa == p.ip && !p.ifc.h.hasMAC(sha)
}

// probeInput concludes, with a conflict, every probe running on i since
// before the packet arrived that the packet conflicts with. done
// functions may start or cancel probes; probes started by them are not
// concluded by this packet.
func (i *Interface) probeInput(sha ether.Addr, spa, tpa [4]byte) {
	last := i.probeSeq
	for k := 0; k < len(i.probes); {
		p := i.probes[k]
		if p.seq <= last && p.conflicts(sha, spa, tpa) {
			p.finish(true)
			k = 0 // done may have changed the list
			continue
		}
		k++
	}
}

// hasMAC reports whether mac is the hardware address of one of the host's
// interfaces.
func (h *Host) hasMAC(mac ether.Addr) bool {
	for _, i := range h.ifcs {
		if i.mac == mac {
			return true
		}
	}
	return false
}
