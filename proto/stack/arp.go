package stack

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// arpLockTime is how long after a neighbour's address was confirmed (by
// an answer to our request, or a packet repeating it) an ARP packet
// claiming another MAC address for it is ignored: Linux's neighbour
// locktime (net.ipv4.neigh.*.locktime, 1 s), which keeps a spoofer from
// overriding an entry just learnt. RFC 826's merge rule applies after it.
const arpLockTime = time.Second

// neighHits is the number of resolved neighbours an interface keeps in its
// inline cache: a host typically talks to one or two at a time (a peer
// and a gateway, or the host it pings and the one pinging it).
const neighHits = 2

// neighHit is one inline cache entry: a resolved neighbour's addresses,
// copied from its neigh entry so that sending to it reads no map and no
// separately allocated neighbor.
type neighHit struct {
	ip  [4]byte
	mac ether.Addr
	ok  bool
}

// forgetHit drops ip from the inline cache; it is called whenever ip's
// neigh entry changes or goes away, so a hit always equals the entry.
func (i *Interface) forgetHit(ip [4]byte) {
	for k := range i.hits {
		if i.hits[k].ip == ip {
			i.hits[k].ok = false
		}
	}
}

// neighBit returns the bit of Interface.neighMask that stands for ip.
func neighBit(ip [4]byte) uint64 { return 1 << (be32(ip) * 0x9e3779b1 >> 26) }

// neighbor is one ARP cache entry of an interface. While unresolved it
// holds the frames waiting for the address and its timer paces the
// requests; once resolved the same timer expires the entry.
type neighbor struct {
	ifc      *Interface
	ip       [4]byte
	mac      ether.Addr
	resolved bool
	static   bool
	// nud is a resolved entry's reachability state (nudReachable ..
	// nudProbe), after Linux's neighbour state machine.
	nud   uint8
	tries int
	// confirmed is when mac was last learnt or repeated by the neighbour.
	confirmed clock.Time
	// queue holds whole frames (Ethernet header space included), copied
	// by Host.hold.
	queue [][]byte
	timer clock.Timer
}

// The reachability states of a resolved entry, after Linux's neighbour
// state machine (net/core/neighbour.c): an entry confirmed by an ARP
// packet from the neighbour is REACHABLE for ARPCacheTimeout, then STALE.
// A STALE entry is still used; the first frame sent through it starts a
// DELAY of delayFirstProbe (Linux's delay_first_probe_time), after which,
// unless the neighbour confirmed it meanwhile, the host re-confirms it
// with ARP requests sent unicast to the cached address (RFC 1122 section
// 2.3.2.1's "unicast poll"; Linux's PROBE state, ucast_probes) every
// ARPRetry, ARPMaxTries times, and forgets it when none is answered. A
// STALE entry unused for another ARPCacheTimeout is forgotten (Linux's
// gc_stale_time). So a busy conversation costs one unicast request and
// its reply per timeout, and no broadcast.
const (
	nudReachable uint8 = iota
	nudStale
	nudDelay
	nudProbe
)

// delayFirstProbe is how long a used STALE entry waits for a
// confirmation before it is probed (Linux's delay_first_probe_time).
const delayFirstProbe = 5 * time.Second

// OnTimer retries or gives up an unresolved entry, or moves a resolved one
// on in its reachability states.
func (n *neighbor) OnTimer(now clock.Time) {
	i := n.ifc
	h := i.h
	if n.static {
		return
	}
	if n.resolved {
		switch n.nud {
		case nudReachable:
			n.nud = nudStale
			i.forgetHit(n.ip) // so that the next send sees the state
			h.clk.Schedule(&n.timer, now.Add(h.cfg.ARPCacheTimeout))
		case nudDelay:
			n.nud = nudProbe
			n.tries = 0
			n.probe(now)
		case nudProbe:
			if n.tries < h.cfg.ARPMaxTries {
				n.probe(now)
				return
			}
			fallthrough
		default: // an unused STALE entry, or one whose probes went unanswered
			i.forgetHit(n.ip)
			delete(i.neigh, n.ip)
		}
		return
	}
	if n.tries >= h.cfg.ARPMaxTries {
		h.stats.ARPResolutionFailed += uint64(len(n.queue))
		i.forgetHit(n.ip)
		delete(i.neigh, n.ip)
		if h.cfg.Forwarding {
			n.unreachable()
		}
		n.dropQueue()
		return
	}
	n.request(now)
}

// request sends one ARP request for n and arms the retry timer.
func (n *neighbor) request(now clock.Time) { n.sendRequest(now, ether.Broadcast) }

// probe sends one ARP request for n unicast to its cached address (the
// target hardware address left zero, as Linux does) and arms the retry
// timer.
func (n *neighbor) probe(now clock.Time) { n.sendRequest(now, n.mac) }

// sendRequest sends one ARP request for n to dst and arms the retry timer.
func (n *neighbor) sendRequest(now clock.Time, dst ether.Addr) {
	i := n.ifc
	h := i.h
	n.tries++
	h.stats.ARPRequestsOut++
	var spa [4]byte
	if i.addr.IsValid() {
		spa = i.addr.Addr().As4()
	}
	i.sendARP(arp.Fields{Op: arp.OpRequest, SenderHW: i.mac, SenderIP: spa, TargetIP: n.ip}, dst)
	h.clk.Schedule(&n.timer, now.Add(h.cfg.ARPRetry))
}

// unreachable sends an ICMP host unreachable for each forwarded datagram
// queued behind n, which did not resolve (RFC 1812 section 5.2.7.1). The
// errors about datagrams the host originated are not sent: its own
// senders see no answer, as on a host.
func (n *neighbor) unreachable() {
	h := n.ifc.h
	for _, b := range n.queue {
		ip, err := ipv4.Parse(b[ether.HeaderLen:])
		if err != nil || h.ownAddr(ip.Src4()) {
			continue
		}
		h.sendICMPError(ip[:ip.HeaderLen()], ip.Payload(), false, icmp.TypeDestUnreach, icmp.CodeHostUnreachable, 0)
	}
}

func (n *neighbor) dropQueue() {
	for k, b := range n.queue {
		n.ifc.h.pool.Put(b)
		n.queue[k] = nil
	}
	n.queue = n.queue[:0]
}

// resolve records mac for n, refreshes its lifetime and sends the frames
// waiting for it, in the order they were queued.
func (n *neighbor) resolve(mac ether.Addr) {
	i := n.ifc
	h := i.h
	i.forgetHit(n.ip)
	if !n.static {
		n.mac = mac
		n.confirmed = h.clk.Now()
		h.clk.Schedule(&n.timer, h.clk.Now().Add(h.cfg.ARPCacheTimeout))
	}
	n.resolved = true
	n.nud = nudReachable
	n.tries = 0
	for k, b := range n.queue {
		n.queue[k] = nil
		i.send(b, n.mac, ether.TypeIPv4)
		h.pool.Put(b)
	}
	n.queue = n.queue[:0]
}

// hold returns a copy of frame to queue behind an unresolved neighbour.
// A small frame (the ping or SYN a host of a large world sends first) is
// copied into a buffer of its own size, which the pool does not keep once
// it is sent (BufPool.Put drops buffers below its size), so 10,000 hosts
// that each queued one echo request hold no full-sized buffer each
// afterwards; a large frame takes a pool buffer.
func (h *Host) hold(frame []byte) []byte {
	if len(frame) <= smallScratch {
		return append([]byte(nil), frame...)
	}
	return h.pool.Get(frame)
}

// sendIPFrame sends frame (an IPv4 packet after 14 bytes of Ethernet header
// space) to the next hop ip, resolving it first if needed. frame is not
// retained: a queued frame is copied.
func (i *Interface) sendIPFrame(frame []byte, ip [4]byte) {
	for k := range i.hits {
		if e := &i.hits[k]; e.ok && e.ip == ip {
			i.send(frame, e.mac, ether.TypeIPv4)
			return
		}
	}
	h := i.h
	n := i.neigh[ip]
	if n != nil && n.resolved {
		if n.nud == nudStale {
			n.nud = nudDelay
			h.clk.Schedule(&n.timer, h.clk.Now().Add(delayFirstProbe))
		}
		e := &i.hits[i.hitNext]
		e.ip, e.mac, e.ok = ip, n.mac, true
		i.hitNext = (i.hitNext + 1) % neighHits
		i.send(frame, n.mac, ether.TypeIPv4)
		return
	}
	if n == nil {
		n = &neighbor{ifc: i, ip: ip}
		n.timer.Init(n)
		i.neigh[ip] = n
		i.neighMask |= neighBit(ip)
		n.queue = append(n.queue, h.hold(frame))
		n.request(h.clk.Now())
		return
	}
	if len(n.queue) >= h.cfg.ARPQueueLimit {
		// RFC 1122 section 2.3.2.2: keep at least the latest packet, so
		// the oldest is the one dropped.
		h.stats.ARPQueueOverflow++
		h.pool.Put(n.queue[0])
		copy(n.queue, n.queue[1:])
		n.queue[len(n.queue)-1] = nil
		n.queue = n.queue[:len(n.queue)-1]
	}
	n.queue = append(n.queue, h.hold(frame))
}

// arpInput handles an ARP packet received on i, following the packet
// reception algorithm of RFC 826.
func (i *Interface) arpInput(b []byte) {
	h := i.h
	p, err := arp.Parse(b)
	if err != nil {
		h.stats.DropMalformed++
		return
	}
	if p.Op() == arp.OpRequest {
		i.link.ARPRequestsIn++
	} else {
		h.stats.ARPRepliesIn++
	}
	sha, spa, tpa := p.SenderHW(), p.SenderIP4(), p.TargetIP4()
	if sha == i.mac {
		return // our own frame reflected back
	}
	if sha.IsMulticast() {
		h.stats.DropMalformed++
		return
	}
	if i.probing {
		i.probeInput(sha, spa, tpa)
	}
	if i.hasAddr(spa) {
		// Another host claims our address (RFC 5227 section 2.4). We do
		// not defend or give up the address; we count and ignore it.
		h.stats.ARPConflicts++
		return
	}
	// RFC 826: "If the pair <protocol type, sender protocol address> is
	// already in my translation table, update the sender hardware address
	// field of the entry with the new information ... Set Merge_flag."
	// A sender address of 0.0.0.0 is an RFC 5227 probe and teaches
	// nothing.
	// A static entry keeps its address against a packet claiming another,
	// and so does one confirmed within arpLockTime unless the packet is a
	// gratuitous announcement (sender address = target address: a
	// failover), as Linux's arp_process decides its override; the packet
	// is still answered below.
	merged := false
	if spa != ([4]byte{}) && i.neighMask&neighBit(spa) != 0 {
		if n := i.neigh[spa]; n != nil {
			locked := n.static || (spa != tpa && h.clk.Now().Sub(n.confirmed) < arpLockTime)
			if n.resolved && n.mac != sha && locked {
				h.stats.ARPOverridesRefused++
			} else {
				n.resolve(sha)
			}
			merged = true
		}
	}
	if !i.hasAddr(tpa) {
		return
	}
	// "Am I the target protocol address? If Merge_flag is false, add the
	// triplet <protocol type, sender protocol address, sender hardware
	// address> to the translation table."
	if !merged && spa != ([4]byte{}) && len(i.neigh) < h.cfg.ARPCacheLimit {
		n := &neighbor{ifc: i, ip: spa}
		n.timer.Init(n)
		i.neigh[spa] = n
		i.neighMask |= neighBit(spa)
		n.resolve(sha)
	}
	// "Is the opcode ares_op$REQUEST? Swap hardware and protocol fields,
	// putting the local hardware and protocol addresses in the sender
	// fields. Set the ar$op field to ares_op$REPLY. Send the packet to the
	// (new) target hardware address on the same hardware on which the
	// request was received."
	if p.Op() == arp.OpRequest {
		h.stats.ARPRepliesOut++
		i.sendARP(arp.Fields{Op: arp.OpReply, SenderHW: i.mac, SenderIP: tpa, TargetHW: sha, TargetIP: spa}, sha)
	}
}

// Neighbor returns the hardware address cached for ip on the interface,
// and whether it is resolved.
func (i *Interface) Neighbor(ip netip.Addr) (ether.Addr, bool) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return ether.Addr{}, false
	}
	n := i.neigh[ip.As4()]
	if n == nil || !n.resolved {
		return ether.Addr{}, false
	}
	return n.mac, true
}

// AddStaticNeighbor binds ip to mac on the interface permanently: the
// entry never expires and ARP traffic (for an IPv6 ip, on an interface
// with IPv6 enabled: Neighbor Discovery and NUD) does not change it.
// Frames queued for ip are sent at once.
func (i *Interface) AddStaticNeighbor(ip netip.Addr, mac ether.Addr) {
	ip = ip.Unmap()
	if ip.Is6() {
		if i.v6 != nil {
			i.v6.cache.AddStatic(ip, mac) // ipv6.go
		}
		return
	}
	if !ip.Is4() {
		return
	}
	k := ip.As4()
	n := i.neigh[k]
	if n == nil {
		n = &neighbor{ifc: i, ip: k}
		n.timer.Init(n)
		i.neigh[k] = n
		i.neighMask |= neighBit(k)
	}
	i.h.clk.Cancel(&n.timer)
	n.static = true
	n.mac = mac
	n.resolve(mac)
}
