package stack

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// own6 returns the interface holding the IPv6 unicast address a, or nil.
func (h *Host) own6(a netip.Addr) *v6Iface {
	for _, i := range h.ifcs {
		if i.v6 != nil && i.v6.own(a) {
			return i.v6
		}
	}
	return nil
}

// route6 returns the interface and next hop to reach the IPv6 address
// dst: the longest match among the interfaces' prefixes (on-link) and the
// IPv6 static routes, else a default router learned from Router
// Advertisements (RFC 4861 section 6.3.6), else the first interface with
// IPv6, taking dst as on-link (the RFC 2461 rule that RFC 4943 retired,
// kept so that a single link needs no configuration). Link-local and
// multicast destinations go out on the first interface with IPv6.
func (h *Host) route6(dst netip.Addr) (*v6Iface, netip.Addr, bool) {
	return h.route6x(dst, false)
}

// route6x is route6; strict refuses the on-link fallback, as a router
// must (an unroutable packet draws Destination Unreachable).
func (h *Host) route6x(dst netip.Addr, strict bool) (*v6Iface, netip.Addr, bool) {
	var (
		first *v6Iface
		best  = -1
		bv    *v6Iface
		hop   netip.Addr
	)
	for _, i := range h.ifcs {
		v := i.v6
		if v == nil {
			continue
		}
		if first == nil {
			first = v
		}
		for _, p := range v.addrs {
			if p.Bits() > best && !p.Addr().IsLinkLocalUnicast() && p.Contains(dst) {
				best, bv, hop = p.Bits(), v, dst
			}
		}
	}
	if first == nil {
		return nil, netip.Addr{}, false
	}
	if dst.IsLinkLocalUnicast() || dst.IsMulticast() {
		return first, dst, true
	}
	for _, r := range h.routes {
		if !r.dst.Addr().Is6() || r.dst.Bits() <= best || !r.dst.Contains(dst) {
			continue
		}
		ifc, next := r.ifc, dst
		if r.gw.IsValid() && !r.gw.IsUnspecified() {
			next = r.gw
			if ifc == nil {
				ifc = h.connected6(r.gw, first)
			}
		}
		if ifc == nil || ifc.v6 == nil {
			continue
		}
		best, bv, hop = r.dst.Bits(), ifc.v6, next
	}
	if bv != nil {
		return bv, hop, true
	}
	now := h.clk.Now()
	for _, i := range h.ifcs {
		if v := i.v6; v != nil && v.defRouter.IsValid() && now < v.defUntil {
			return v, v.defRouter, true
		}
	}
	if strict {
		return nil, netip.Addr{}, false
	}
	return first, dst, true
}

// forward routes on a packet that is not for the host (RFC 8200 section
// 3: the hop limit is decremented, a packet that would reach zero is
// discarded with Time Exceeded, RFC 4443 section 3.3; one without a
// route draws Destination Unreachable code 0, section 3.1; one over the
// next link's MTU draws Packet Too Big, section 3.2, as routers never
// fragment, RFC 8200 section 5). Packets from or to link-local
// addresses stay on their link (RFC 4291 section 2.5.6).
func (v *v6Iface) forward(pkt ipv6.Header) {
	h := v.i.h
	dst, src := pkt.Dst(), pkt.Src()
	if ov := h.own6(dst); ov != nil {
		ov.packetInput(pkt, false)
		return
	}
	if dst.IsLinkLocalUnicast() || src.IsLinkLocalUnicast() || src.IsUnspecified() || src.IsMulticast() {
		v.stats.DropNotOurs++
		return
	}
	if pkt.HopLimit() <= 1 {
		v.stats.HopLimitExceeded++
		v.sendError(pkt, icmpv6.TypeTimeExceeded, icmpv6.CodeHopLimitExceeded, 0, false, false)
		return
	}
	out, next, ok := h.route6x(dst, true)
	if !ok {
		v.stats.NoRoute++
		v.sendError(pkt, icmpv6.TypeDestUnreach, icmpv6.CodeNoRoute, 0, false, false)
		return
	}
	if mtu := out.i.mtu; len(pkt) > mtu {
		v.stats.TooBig++
		v.sendError(pkt, icmpv6.TypePacketTooBig, 0, uint32(mtu), false, true)
		return
	}
	b := h.acquire(ether.HeaderLen + len(pkt))
	defer h.release()
	copy(b[ether.HeaderLen:], pkt)
	ipv6.Header(b[ether.HeaderLen:]).SetHopLimit(pkt.HopLimit() - 1)
	v.stats.Forwarded++
	out.stats.Out++
	out.output(b, next)
}

// ping6 sends an ICMPv6 echo request to dst through the routing table.
func (h *Host) ping6(dst netip.Addr, id, seq uint16, payload []byte) error {
	if h.own6(dst) != nil {
		b := h.acquire(icmpv6.HeaderLen + len(payload))
		defer h.release()
		m, err := icmpv6.Echo(b, icmpv6.TypeEchoRequest, id, seq, payload, dst, dst)
		if err != nil {
			return fmt.Errorf("ping6 %v: %w", dst, err)
		}
		return h.loopback6(ipv6.ProtoICMPv6, dst, dst, m, h.ttl)
	}
	v, next, ok := h.route6(dst)
	if !ok {
		return fmt.Errorf("ping6 %v: %w", dst, ErrNoIPv6)
	}
	src := v.source(dst)
	if src.IsUnspecified() {
		return fmt.Errorf("ping6 %v on %s: no IPv6 address yet: %w", dst, v.i.name, ErrNoSource)
	}
	b := h.acquire(v6Headroom + icmpv6.HeaderLen + len(payload))
	defer h.release()
	m, err := icmpv6.Echo(b[v6Headroom:], icmpv6.TypeEchoRequest, id, seq, payload, src, dst)
	if err != nil {
		return fmt.Errorf("ping6 %v: %w", dst, err)
	}
	v.sendVia(b, len(m), src, dst, next, ipv6.ProtoICMPv6, h.ttl)
	h.hot.EchoRequestsOut++
	return nil
}

// connected6 returns the interface on whose link the gateway gw lies:
// first for a link-local gw, else the one with a prefix holding gw, or
// nil.
func (h *Host) connected6(gw netip.Addr, first *v6Iface) *Interface {
	if gw.IsLinkLocalUnicast() {
		return first.i
	}
	for _, i := range h.ifcs {
		if i.v6 != nil && i.v6.onLink(gw) {
			return i
		}
	}
	return nil
}

// onLink reports whether a lies in one of the interface's prefixes.
func (v *v6Iface) onLink(a netip.Addr) bool {
	for _, p := range v.addrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sendIP6 sends payload as an IPv6 packet with Next Header proto from src
// (the unspecified or zero address: the egress interface's choice) to
// the unicast address dst.
func (h *Host) sendIP6(proto uint8, src, dst netip.Addr, payload []byte, hopLimit uint8) error {
	if dst.IsMulticast() || dst.IsUnspecified() || (src.IsValid() && (!src.Is6() || src.Is4In6())) {
		return fmt.Errorf("send ipv6 proto %d %v -> %v: %w", proto, src, dst, ErrInvalidAddr)
	}
	if len(payload) > ipv6.MaxPayloadLen {
		return fmt.Errorf("send ipv6 proto %d %v -> %v (%d bytes): %w", proto, src, dst, len(payload), ErrMessageTooBig)
	}
	if hopLimit == 0 {
		hopLimit = h.ttl
	}
	if v := h.own6(dst); v != nil {
		if !src.IsValid() || src.IsUnspecified() {
			src = dst
		}
		return h.loopback6(proto, src, dst, payload, hopLimit)
	}
	v, next, ok := h.route6(dst)
	if !ok {
		h.stats.IPNoRoute++
		return fmt.Errorf("send ipv6 proto %d %v -> %v: %w", proto, src, dst, ErrNoRoute)
	}
	if !src.IsValid() || src.IsUnspecified() {
		src = v.source(dst)
		if src.IsUnspecified() {
			return fmt.Errorf("send ipv6 proto %d -> %v on %s: %w", proto, dst, v.i.name, ErrNoSource)
		}
	}
	n := len(payload)
	b := h.acquire(v6Headroom + n)
	defer h.release()
	copy(b[v6Headroom:], payload)
	v.sendVia(b, n, src, dst, next, proto, hopLimit)
	return nil
}

// loopback6 queues an IPv6 packet to one of the host's own addresses,
// delivered on the next loop turn as IPv4 loopback is.
func (h *Host) loopback6(proto uint8, src, dst netip.Addr, payload []byte, hopLimit uint8) error {
	if len(h.loopQ) >= maxLoopback {
		h.stats.LinkDrops++
		return nil
	}
	h.stats.IPLoopback++
	b := h.acquire(ipv6.HeaderLen + len(payload))
	defer h.release()
	copy(b[ipv6.HeaderLen:], payload)
	if _, err := ipv6.Encode(b, &ipv6.Fields{NextHeader: proto, HopLimit: hopLimit, Src: src, Dst: dst}, len(payload)); err != nil {
		return fmt.Errorf("send ipv6 %v -> %v: %w", src, dst, err)
	}
	h.loopQ = append(h.loopQ, h.pool.Get(b))
	if !h.loopTimer.Pending() {
		h.clk.Schedule(&h.loopTimer, h.clk.Now())
	}
	return nil
}

// loopInput6 delivers an IPv6 packet the host sent to itself.
func (h *Host) loopInput6(b []byte) {
	pkt, err := ipv6.Parse(b)
	if err != nil {
		return
	}
	if v := h.own6(pkt.Dst()); v != nil {
		v.packetInput(b, false)
	}
}

// transportInput hands the upper-layer packet of h (TCP) to the protocol
// registered for it. Connection-oriented protocols take unicast only;
// without a handler the packet draws a Parameter Problem (RFC 8200
// section 4).
func (v *v6Iface) transportInput(pkt ipv6.Header, c ipv6.Chain, linkMulticast bool) {
	h := v.i.h
	ph := h.proto(c.Proto)
	if ph == nil {
		v.stats.DropProto++
		v.problem(pkt, &ipv6.ProblemError{Code: ipv6.ProblemNextHeader, Pointer: uint32(c.NextOff)}, linkMulticast)
		return
	}
	if pkt.Dst().IsMulticast() {
		v.stats.DropNotOurs++
		return
	}
	h.rx = v.i
	ph.HandleIP(pkt.Src(), pkt.Dst(), pkt[c.Offset:])
	h.rx = nil
}

// sourceFor6 is SourceFor for an IPv6 destination.
func (h *Host) sourceFor6(dst netip.Addr) (netip.Addr, bool) {
	if h.own6(dst) != nil {
		return dst, true
	}
	v, _, ok := h.route6(dst)
	if !ok {
		return netip.Addr{}, false
	}
	s := v.source(dst)
	return s, !s.IsUnspecified()
}

// pathMTU6 is PathMTU for an IPv6 destination: the egress interface's
// path MTU toward dst, never below IPv6's minimum of 1280 (RFC 8200
// section 5).
func (h *Host) pathMTU6(dst netip.Addr) int {
	if v := h.own6(dst); v != nil {
		return max(v.i.mtu, ipv6.MinMTU)
	}
	v, _, ok := h.route6(dst)
	if !ok {
		return ipv6.MinMTU
	}
	return max(v.i.PathMTU(dst), ipv6.MinMTU)
}

// learnRouter records the sender of a Router Advertisement as a default
// router for the advertised lifetime; a zero lifetime removes it (RFC
// 4861 section 6.3.4).
func (v *v6Iface) learnRouter(src netip.Addr, m icmpv6.Message) {
	lt := m.RouterLifetime()
	switch {
	case lt > 0:
		v.defRouter, v.defUntil = src, v.i.h.clk.Now().Add(lt)
	case v.defRouter == src:
		v.defRouter, v.defUntil = netip.Addr{}, clock.Time(0)
	}
}

// DefaultRouter6 returns the interface's default IPv6 router learned from
// Router Advertisements, if any is current.
func (i *Interface) DefaultRouter6() (netip.Addr, bool) {
	v := i.v6
	if v == nil || !v.defRouter.IsValid() || i.h.clk.Now() >= v.defUntil {
		return netip.Addr{}, false
	}
	return v.defRouter, true
}
