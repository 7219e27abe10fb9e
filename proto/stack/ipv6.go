package stack

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/ndp"
	"github.com/simnet-go/simnet/proto/slaac"
)

// IPv6Stats counts an interface's IPv6 events.
type IPv6Stats struct {
	In, Out            uint64
	DropMalformed      uint64 // unparsable or refused by the header walk
	DropNotOurs        uint64 // for an address or group the interface does not have
	DropProto          uint64 // an upper layer not handled over IPv6 yet
	DropChecksum       uint64 // ICMPv6 checksum
	DropND             uint64 // invalid Neighbor Discovery (RFC 4861 sections 6.1, 7.1)
	DADFailures        uint64 // prefixes left without an address (RFC 4862 section 5.4.5)
	RAsIn, RAsOut      uint64
	RSsOut             uint64
	Reassembled        uint64
	ReassemblyFailures uint64
	EchoReplies        uint64
	NeighborUnreach    uint64 // packets dropped when resolution failed
	ErrorsRateLimited  uint64
	ErrorsSent         uint64
	// Forwarded counts packets routed on; HopLimitExceeded, NoRoute and
	// TooBig the ones a router dropped with an ICMPv6 error.
	Forwarded, HopLimitExceeded, NoRoute, TooBig uint64
}

// v6Iface is an interface's IPv6 state: its addresses, the multicast
// groups it hears, its neighbour cache and reassembly.
type v6Iface struct {
	i       *Interface
	addrs   []netip.Prefix // the link-local address first
	cache   *ndp.Cache
	reasm   *ipv6.Reassembler
	limiter *icmpv6.RateLimiter
	nextID  uint32
	stats   IPv6Stats
	// pmtu holds path MTUs learned from Packet Too Big messages (RFC
	// 8201), by destination; bounded by maxPMTUEntries.
	pmtu map[netip.Addr]pmtuEntry
	// rnd draws ReachableTime, DAD and advertisement delays.
	rnd *rand.Rand
	// auto runs SLAAC and DAD when EnableSLAAC turned them on.
	auto *slaac.Autoconf
	// rs paces Router Solicitations (ipv6_auto.go).
	rs     clock.Timer
	rsLeft int
	gotRA  bool
	// router, prefixes and ra are the Router Advertisements sent by
	// AdvertisePrefixes.
	router   bool
	prefixes []netip.Prefix
	ra       clock.Timer
	raSent   int
	// defRouter is the default router learned from advertisements, valid
	// until defUntil (ipv6_ip.go).
	defRouter netip.Addr
	defUntil  clock.Time
}

// EnableIPv6 turns IPv6 on for the interface: a link-local address with
// a stable identifier (RFC 7217, keyed by the host and interface names)
// and the given addresses (IPv6 prefixes; others are ignored). The
// interface then answers Neighbor Solicitations for them, resolves its
// neighbours with a NUD neighbour cache (RFC 4861) and answers ICMPv6
// echo requests (RFC 4443), reassembling and fragmenting as needed (RFC
// 8200), and carries UDP (sockets bound to an IPv6 address, [::] or
// 0.0.0.0) and the protocols registered with Host.RegisterProtocol (TCP).
// Duplicate Address Detection is not run for these addresses.
func (i *Interface) EnableIPv6(addrs ...netip.Prefix) {
	if i.v6 == nil {
		v := i.newV6()
		iid, _ := slaac.StableIID(slaac.LinkLocalPrefix, i.name, nil, 0, []byte(i.h.cfg.Name))
		v.addrs = append(v.addrs, netip.PrefixFrom(slaac.Address(slaac.LinkLocalPrefix, iid), 64))
	}
	for _, p := range addrs {
		if p.IsValid() && p.Addr().Is6() && !p.Addr().Is4In6() {
			i.v6.addrs = append(i.v6.addrs, p)
		}
	}
}

// newV6 creates the interface's IPv6 state, without addresses.
func (i *Interface) newV6() *v6Iface {
	h := i.h
	// IPv6 draws from its own generator, seeded once from the host's, so
	// that its timers do not shift the host's other draws afterwards.
	v := &v6Iface{i: i, limiter: icmpv6.NewRateLimiter(0, 0), rnd: rand.New(rand.NewPCG(h.rnd.Uint64(), h.rnd.Uint64()))}
	v.cache = ndp.NewCache(h.clk, v.rnd, v, ndp.Config{})
	v.reasm = ipv6.NewReassembler(h.clk, ipv6.ReassemblyConfig{OnTimeout: v.reassemblyTimeout})
	v.rs.Init(clock.HandlerFunc(v.onRS))
	v.ra.Init(clock.HandlerFunc(v.onRA))
	i.v6 = v
	return v
}

// IPv6Addresses returns the interface's IPv6 addresses, link-local first,
// or nil when IPv6 is off.
func (i *Interface) IPv6Addresses() []netip.Prefix {
	if i.v6 == nil {
		return nil
	}
	return append([]netip.Prefix(nil), i.v6.addrs...)
}

// IPv6Stats returns the interface's IPv6 counters.
func (i *Interface) IPv6Stats() IPv6Stats {
	if i.v6 == nil {
		return IPv6Stats{}
	}
	return i.v6.stats
}

// NeighborState returns the neighbour cache state of the IPv6 address a.
func (i *Interface) NeighborState(a netip.Addr) (ndp.State, ether.Addr) {
	if i.v6 == nil {
		return ndp.StateNone, ether.Addr{}
	}
	return i.v6.cache.State(a)
}

// Ping6 sends an ICMPv6 echo request (RFC 4443 section 4.1) to the
// on-link address dst with identifier id, sequence number seq and data
// payload. Replies go to the host's EchoReplyHandler, with the hop limit
// in place of the TTL.
func (i *Interface) Ping6(dst netip.Addr, id, seq uint16, payload []byte) error {
	v := i.v6
	if v == nil {
		return fmt.Errorf("ping6 %v on %s: %w", dst, i.name, ErrNoIPv6)
	}
	src := v.source(dst)
	h := i.h
	b := h.acquire(v6Headroom + icmpv6.HeaderLen + len(payload))
	defer h.release()
	m, err := icmpv6.Echo(b[v6Headroom:], icmpv6.TypeEchoRequest, id, seq, payload, src, dst)
	if err != nil {
		return fmt.Errorf("ping6 %v: %w", dst, err)
	}
	v.send(b, len(m), src, dst, ipv6.ProtoICMPv6, 64)
	return nil
}

// ErrNoIPv6 is returned for IPv6 operations on an interface without IPv6.
var ErrNoIPv6 = errors.New("stack: IPv6 is not enabled on the interface")

// own reports whether a is one of the interface's unicast addresses.
func (v *v6Iface) own(a netip.Addr) bool {
	for _, p := range v.addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// hears reports whether the interface listens to the multicast group a:
// all-nodes and the solicited-node group of each address (RFC 4291
// section 2.8).
func (v *v6Iface) hears(a netip.Addr) bool {
	if a == ipv6.AllNodes || (v.router && a == ipv6.AllRouters) {
		return true
	}
	if v.auto != nil && v.auto.Any(func(x netip.Addr) bool { return ipv6.SolicitedNode(x) == a }) {
		return true
	}
	for _, p := range v.addrs {
		if ipv6.SolicitedNode(p.Addr()) == a {
			return true
		}
	}
	return false
}

// hearsMAC reports whether the Ethernet multicast address m is one the
// interface's groups map to (RFC 2464 section 7).
func (v *v6Iface) hearsMAC(m ether.Addr) bool {
	if m == ipv6.MulticastMAC(ipv6.AllNodes) || (v.router && m == ipv6.MulticastMAC(ipv6.AllRouters)) {
		return true
	}
	if v.auto != nil && v.auto.Any(func(x netip.Addr) bool { return ipv6.MulticastMAC(ipv6.SolicitedNode(x)) == m }) {
		return true
	}
	for _, p := range v.addrs {
		if ipv6.MulticastMAC(ipv6.SolicitedNode(p.Addr())) == m {
			return true
		}
	}
	return false
}

// source picks the address to send to dst from: the link-local address
// for link-local and multicast destinations, else the first address whose
// prefix holds dst, else the first global one (a small part of RFC 6724);
// the unspecified address while the interface has none.
func (v *v6Iface) source(dst netip.Addr) netip.Addr {
	var ll, global netip.Addr
	for _, p := range v.addrs {
		a := p.Addr()
		switch {
		case a.IsLinkLocalUnicast():
			if !ll.IsValid() {
				ll = a
			}
		case p.Contains(dst):
			return a
		case !global.IsValid():
			global = a
		}
	}
	if (dst.IsLinkLocalUnicast() || dst.IsMulticast() || !global.IsValid()) && ll.IsValid() {
		return ll
	}
	if global.IsValid() {
		return global
	}
	return netip.IPv6Unspecified()
}

// input handles an IPv6 frame received by the interface.
func (v *v6Iface) input(f ether.Frame) {
	v.stats.In++
	if d := f.Dst(); d != v.i.mac && !(d.IsMulticast() && v.hearsMAC(d)) {
		v.stats.DropNotOurs++
		return
	}
	v.packetInput(f.Payload(), f.Dst().IsMulticast())
}

// packetInput handles the IPv6 packet b, received on the link (in a
// frame to a multicast MAC when linkMulticast) or looped back.
func (v *v6Iface) packetInput(b []byte, linkMulticast bool) {
	h, err := ipv6.Parse(b)
	if err != nil {
		v.stats.DropMalformed++
		return
	}
	dst := h.Dst()
	if !v.own(dst) && !v.hears(dst) {
		if v.i.h.cfg.Forwarding && !linkMulticast && !dst.IsMulticast() {
			v.forward(h)
			return
		}
		v.stats.DropNotOurs++
		return
	}
	c, err := ipv6.Walk(h)
	if err != nil {
		v.stats.DropMalformed++
		v.problem(h, err, linkMulticast)
		return
	}
	if c.Proto == ipv6.ProtoFragment {
		full, err := v.reasm.Add(h, c)
		if err != nil {
			v.stats.ReassemblyFailures++
			v.problem(h, err, linkMulticast)
			return
		}
		if full == nil {
			return
		}
		v.stats.Reassembled++
		h = full
		if c, err = ipv6.Walk(h); err != nil || c.Proto == ipv6.ProtoFragment {
			v.stats.DropMalformed++
			return
		}
	}
	switch c.Proto {
	case ipv6.ProtoICMPv6:
		v.icmpInput(h, h[c.Offset:])
	case ipv6.ProtoUDP:
		v.udpInput(h, h[c.Offset:], linkMulticast)
	case ipv6.ProtoTCP:
		v.transportInput(h, c, linkMulticast)
	default:
		v.stats.DropProto++
		// RFC 8200 section 4: an unrecognized Next Header draws a
		// Parameter Problem code 1 pointing at it.
		if c.Proto != ipv6.ProtoNoNext {
			v.problem(h, &ipv6.ProblemError{Code: ipv6.ProblemNextHeader, Pointer: uint32(c.NextOff)}, linkMulticast)
		}
	}
}

// problem sends the ICMPv6 Parameter Problem an error from the header
// walk or reassembly asks for, within the rules of RFC 4443 section 2.4.
func (v *v6Iface) problem(h ipv6.Header, err error, linkMulticast bool) {
	pe, ok := err.(*ipv6.ProblemError)
	if !ok || pe.Silent {
		return
	}
	v.sendError(h, icmpv6.TypeParamProblem, pe.Code, pe.Pointer, linkMulticast, pe.MulticastOK)
}

// reassemblyTimeout sends Time Exceeded code 1 for a packet whose first
// fragment arrived but not the rest (RFC 8200 section 4.5).
func (v *v6Iface) reassemblyTimeout(first ipv6.Header) {
	v.stats.ReassemblyFailures++
	v.sendError(first, icmpv6.TypeTimeExceeded, icmpv6.CodeReassemblyTime, 0, false, false)
}

// sendError sends an ICMPv6 error about invoking, when RFC 4443 section
// 2.4 (e) allows and the rate limiter (section 2.4 (f)) has a token.
func (v *v6Iface) sendError(invoking ipv6.Header, t icmpv6.Type, code uint8, rest uint32, linkMulticast, multicastOK bool) {
	var carried icmpv6.Type
	if c, err := ipv6.Walk(invoking); err == nil && c.Proto == ipv6.ProtoICMPv6 && c.Offset < len(invoking) {
		carried = icmpv6.Type(invoking[c.Offset])
	}
	if !icmpv6.MaySendError(invoking, carried, t, code, linkMulticast, multicastOK) {
		return
	}
	if !v.limiter.Allow(v.i.h.clk.Now()) {
		v.stats.ErrorsRateLimited++
		return
	}
	dst := invoking.Src()
	hst := v.i.h
	out, next := v.back(dst)
	src := invoking.Dst()
	if !v.own(src) {
		src = out.source(dst)
	}
	n := icmpv6.HeaderLen + icmpv6.QuoteLen(invoking)
	b := hst.acquire(v6Headroom + n)
	defer hst.release()
	if _, err := icmpv6.Error(b[v6Headroom:], t, code, rest, invoking, src, dst); err != nil {
		return
	}
	out.sendBack(b, n, src, dst, next)
	v.stats.ErrorsSent++
}

// back returns the interface and next hop for an answer to dst, a
// packet's source: the receiving interface for a link-local source, else
// the routing table's choice (a router's errors cross it), else the
// receiving interface, dst taken as on-link.
func (v *v6Iface) back(dst netip.Addr) (*v6Iface, netip.Addr) {
	if !dst.IsLinkLocalUnicast() {
		if o, n, ok := v.i.h.route6x(dst, true); ok {
			return o, n
		}
	}
	return v, dst
}

// sendBack sends the ICMPv6 message of n bytes at b[v6Headroom:] from
// src to dst through next, or loops it back when dst is the host's own.
func (v *v6Iface) sendBack(b []byte, n int, src, dst, next netip.Addr) {
	if h := v.i.h; h.own6(dst) != nil {
		_ = h.loopback6(ipv6.ProtoICMPv6, src, dst, b[v6Headroom:v6Headroom+n], 64)
		return
	}
	v.sendVia(b, n, src, dst, next, ipv6.ProtoICMPv6, 64)
}

// icmpInput handles the ICMPv6 message b carried by h.
func (v *v6Iface) icmpInput(h ipv6.Header, b []byte) {
	src, dst := h.Src(), h.Dst()
	m, err := icmpv6.Parse(b, src, dst)
	if err != nil {
		v.stats.DropChecksum++
		return
	}
	switch m.Type() {
	case icmpv6.TypeEchoRequest:
		if !v.own(dst) && dst != ipv6.AllNodes {
			return
		}
		out, next := v.back(src)
		rsrc := dst
		if !v.own(rsrc) {
			rsrc = out.source(src)
		}
		v.stats.EchoReplies++
		// RFC 4443 section 4.2: identifier, sequence number and data of
		// the request, returned in a reply built in a scratch buffer.
		hst := v.i.h
		b := hst.acquire(v6Headroom + len(m))
		defer hst.release()
		r := icmpv6.Message(b[v6Headroom : v6Headroom+len(m)])
		copy(r, m)
		if rsrc == dst && m.Code() == 0 {
			// Swapped addresses leave the pseudo-header sum alone: only
			// the type changes (RFC 1624 incremental update).
			r.SetType(icmpv6.TypeEchoReply)
		} else {
			r[0], r[1] = uint8(icmpv6.TypeEchoReply), 0
			r.SetChecksum(rsrc, src)
		}
		out.sendBack(b, len(r), rsrc, src, next)
	case icmpv6.TypePacketTooBig:
		v.packetTooBig(m)
		if v.own(dst) {
			v.i.h.transportError6(src, uint8(m.Type()), m.Code(), m.Rest(), m.Body())
		}
	case icmpv6.TypeDestUnreach, icmpv6.TypeTimeExceeded, icmpv6.TypeParamProblem:
		if v.own(dst) {
			if m.Type() != icmpv6.TypeParamProblem {
				v.i.h.udpError6(src, uint8(m.Type()), m.Code(), m.Body())
			}
			v.i.h.transportError6(src, uint8(m.Type()), m.Code(), m.Rest(), m.Body())
		}
	case icmpv6.TypeEchoReply:
		if v.i.h.echo != nil && v.own(dst) {
			v.i.h.echo.HandleEchoReply(src, m.ID(), m.Seq(), m.Body(), h.HopLimit())
		}
	case icmpv6.TypeNeighborSolict:
		if icmpv6.ValidateND(m, h.HopLimit(), src, dst) != nil {
			v.stats.DropND++
			return
		}
		target := m.Target()
		if v.auto != nil && v.auto.NeighborSolicitation(src, target) {
			// RFC 4862 section 5.4.3: a tentative address is not
			// answered for; another node's DAD for it is a conflict.
			return
		}
		if !v.own(target) {
			return
		}
		sll, hasSLL := ndSourceLink(m)
		flags := icmpv6.FlagOverride
		to := src
		if src.IsUnspecified() {
			// RFC 4861 section 7.2.4: answer a DAD probe to all-nodes,
			// unsolicited.
			to = ipv6.AllNodes
		} else {
			flags |= icmpv6.FlagSolicited
			if hasSLL {
				v.cache.Observe(src, sll)
			}
		}
		if v.i.h.cfg.Forwarding {
			flags |= icmpv6.FlagRouter
		}
		var opts [8]byte
		icmpv6.AppendLinkAddr(opts[:0], icmpv6.OptTargetLinkAddr, v.i.mac)
		hst := v.i.h
		b := hst.acquire(v6Headroom + icmpv6.NALen + len(opts))
		defer hst.release()
		na, err := icmpv6.NeighborAdvertisement(b[v6Headroom:], target, to, target, flags, opts[:])
		if err != nil {
			return
		}
		v.send(b, len(na), target, to, ipv6.ProtoICMPv6, icmpv6.HopLimit)
	case icmpv6.TypeNeighborAdvert:
		if icmpv6.ValidateND(m, h.HopLimit(), src, dst) != nil {
			v.stats.DropND++
			return
		}
		a := ndp.Advert{Target: m.Target(), Router: m.NAFlags()&icmpv6.FlagRouter != 0,
			Solicited: m.NAFlags()&icmpv6.FlagSolicited != 0, Override: m.NAFlags()&icmpv6.FlagOverride != 0}
		if o, ok := icmpv6.FindOption(m.NDOptions(), icmpv6.OptTargetLinkAddr); ok {
			a.LLA, a.HasLLA = o.LinkAddr()
		}
		if v.auto != nil {
			v.auto.NeighborAdvertisement(a.Target)
		}
		v.cache.Advertisement(a)
	case icmpv6.TypeRouterAdvert, icmpv6.TypeRouterSolicit:
		if icmpv6.ValidateND(m, h.HopLimit(), src, dst) != nil {
			v.stats.DropND++
			return
		}
		if sll, ok := ndSourceLink(m); ok && !src.IsUnspecified() {
			v.cache.Observe(src, sll)
		}
		if m.Type() == icmpv6.TypeRouterAdvert {
			if !v.router && !src.IsUnspecified() {
				v.learnRouter(src, m)
			}
			v.routerAdvert(m)
		} else {
			v.routerSolicit()
		}
	}
}

// maxPMTUEntries bounds the path MTUs remembered; beyond it the table is
// cleared (a flood of forged messages costs one round of fragmentation).
const maxPMTUEntries = 1024

// packetTooBig records the MTU a Packet Too Big message reports for the
// destination of the packet it quotes, when that packet came from us (RFC
// 8201 section 4). An MTU below 1280 is raised to 1280 (RFC 8200 section
// 5 no longer allows fragment headers to be added for smaller links, RFC
// 8021); an increase is ignored.
func (v *v6Iface) packetTooBig(m icmpv6.Message) {
	q := m.Body()
	if len(q) < ipv6.HeaderLen || q[0]>>4 != ipv6.Version {
		return
	}
	qh := ipv6.Header(q[:ipv6.HeaderLen])
	if !v.own(qh.Src()) {
		return
	}
	mtu := int(min(m.Rest(), 0xffff))
	mtu = max(mtu, ipv6.MinMTU)
	if mtu >= v.i.mtu {
		return
	}
	if v.pmtu == nil || len(v.pmtu) >= maxPMTUEntries {
		v.pmtu = make(map[netip.Addr]pmtuEntry)
	}
	if old, ok := v.pmtuFor(qh.Dst()); ok && old <= mtu {
		return
	}
	// RFC 8201 section 4: an estimate is kept 10 minutes before a larger
	// MTU is tried again.
	v.pmtu[qh.Dst()] = pmtuEntry{mtu: mtu, until: v.i.h.clk.Now().Add(PMTUTimeout)}
}

// PathMTU returns the path MTU the interface uses towards the IPv6
// address dst: its own MTU unless a Packet Too Big message lowered it.
func (i *Interface) PathMTU(dst netip.Addr) int {
	if i.v6 != nil {
		if p, ok := i.v6.pmtuFor(dst); ok {
			return p
		}
	}
	return i.mtu
}

// ndSourceLink returns the Source Link-Layer Address option of m.
func ndSourceLink(m icmpv6.Message) (ether.Addr, bool) {
	if o, ok := icmpv6.FindOption(m.NDOptions(), icmpv6.OptSourceLinkAddr); ok {
		return o.LinkAddr()
	}
	return ether.Addr{}, false
}

// v6Headroom is where the upper-layer packet starts in a scratch buffer:
// after the Ethernet and IPv6 headers.
const v6Headroom = ether.HeaderLen + ipv6.HeaderLen

// send sends the upper-layer packet of n bytes the caller wrote at
// b[v6Headroom:] (b from Host.acquire) in an IPv6 packet from src to dst:
// to the group's MAC for multicast, through the neighbour cache otherwise,
// in fragments when it exceeds the MTU (RFC 8200 section 5).
func (v *v6Iface) send(b []byte, n int, src, dst netip.Addr, proto, hop uint8) {
	v.sendVia(b, n, src, dst, dst, proto, hop)
}

// sendVia is send through the neighbour next (dst itself when on-link, a
// router otherwise).
func (v *v6Iface) sendVia(b []byte, n int, src, dst, next netip.Addr, proto, hop uint8) {
	total := v6Headroom + n
	pkt, err := ipv6.Encode(b[ether.HeaderLen:total], &ipv6.Fields{NextHeader: proto, HopLimit: hop, Src: src, Dst: dst}, n)
	if err != nil {
		v.stats.DropMalformed++
		return
	}
	mtu := v.i.mtu
	if p, ok := v.pmtuFor(dst); ok && p < mtu {
		mtu = p
	}
	if len(pkt) <= mtu {
		v.output(b[:total], next)
		return
	}
	v.nextID++
	fb := make([]byte, ether.HeaderLen+mtu)
	_ = ipv6.Fragment(fb[ether.HeaderLen:], pkt, mtu, v.nextID, func(f ipv6.Header) error {
		v.output(fb[:ether.HeaderLen+len(f)], next)
		return nil
	})
}

// output sends a frame (Ethernet header space included) to dst's MAC.
func (v *v6Iface) output(frame []byte, dst netip.Addr) {
	v.stats.Out++
	if dst.IsMulticast() {
		v.i.send(frame, ipv6.MulticastMAC(dst), ether.TypeIPv6)
		return
	}
	if mac, ok := v.cache.Lookup(dst); ok {
		// Resolved: the use is recorded (STALE to DELAY).
		v.i.send(frame, mac, ether.TypeIPv6)
		return
	}
	// The frame waits in the cache, which owns its copy.
	v.cache.Resolve(dst, append([]byte(nil), frame...))
}

// Solicit sends a Neighbor Solicitation for target (ndp.Sink).
func (v *v6Iface) Solicit(target netip.Addr, lla ether.Addr) {
	src := v.source(target)
	dst := ipv6.SolicitedNode(target)
	if !lla.IsZero() {
		dst = target
	}
	var opts [8]byte
	icmpv6.AppendLinkAddr(opts[:0], icmpv6.OptSourceLinkAddr, v.i.mac)
	hst := v.i.h
	n := icmpv6.NSLen + len(opts)
	total := ether.HeaderLen + ipv6.HeaderLen + n
	b := hst.acquire(total)
	defer hst.release()
	if _, err := icmpv6.NeighborSolicitation(b[v6Headroom:total], src, dst, target, opts[:]); err != nil {
		return
	}
	if _, err := ipv6.Encode(b[ether.HeaderLen:total], &ipv6.Fields{NextHeader: ipv6.ProtoICMPv6, HopLimit: icmpv6.HopLimit, Src: src, Dst: dst}, n); err != nil {
		return
	}
	to := lla
	if to.IsZero() {
		to = ipv6.MulticastMAC(dst)
	}
	v.stats.Out++
	v.i.send(b[:total], to, ether.TypeIPv6)
}

// Deliver sends the frames that waited for target's MAC (ndp.Sink).
func (v *v6Iface) Deliver(_ netip.Addr, lla ether.Addr, pkts [][]byte) {
	for _, f := range pkts {
		if f != nil {
			v.i.send(f, lla, ether.TypeIPv6)
		}
	}
}

// Unreachable drops the frames of a neighbour that did not answer
// (ndp.Sink), each drawing a Destination Unreachable code 3 (address
// unreachable) to its source (RFC 4861 section 7.2.2, RFC 4443 section
// 3.1), looped back when the source is the host itself.
func (v *v6Iface) Unreachable(_ netip.Addr, pkts [][]byte) {
	v.stats.NeighborUnreach += uint64(len(pkts))
	for _, f := range pkts {
		if len(f) < ether.HeaderLen {
			continue
		}
		if pkt, err := ipv6.Parse(f[ether.HeaderLen:]); err == nil && !pkt.Src().IsUnspecified() {
			v.sendError(pkt, icmpv6.TypeDestUnreach, icmpv6.CodeAddrUnreachable, 0, false, false)
		}
	}
}
