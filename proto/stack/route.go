package stack

import (
	"net/netip"

	"github.com/simnet-go/simnet/proto/ipv4"
)

// route is a static route: destinations in dst are reached through gw (the
// zero Addr for an on-link destination) on ifc (nil: the interface whose
// connected prefix holds gw).
type route struct {
	dst netip.Prefix
	gw  netip.Addr
	ifc *Interface
}

// SetDefaultGateway sets the gateway of the default route 0.0.0.0/0; the
// zero Addr removes it.
func (h *Host) SetDefaultGateway(gw netip.Addr) { h.gw = gw.Unmap() }

// DefaultGateway returns the default gateway, or the zero Addr.
func (h *Host) DefaultGateway() netip.Addr { return h.gw }

// AddRoute adds a static route: destinations in dst go through gateway gw
// on ifc. gw may be the zero Addr for a destination on ifc's link; ifc may
// be nil to use the interface whose connected prefix contains gw. Routes
// are chosen by longest-prefix match over the connected prefixes of the
// interfaces' addresses, the static routes and the default gateway (RFC
// 1812 section 5.2.4.3); among equal prefixes the connected route wins,
// then the route added first.
func (h *Host) AddRoute(dst netip.Prefix, gw netip.Addr, ifc *Interface) {
	h.routes = append(h.routes, route{dst: dst.Masked(), gw: gw.Unmap(), ifc: ifc})
}

// lookup returns the egress interface and the next hop for dst.
func (h *Host) lookup(dst netip.Addr) (*Interface, netip.Addr, bool) {
	var (
		best    = -1
		bestIfc *Interface
		bestHop netip.Addr
	)
	if dst.Is4() {
		d := be32(dst.As4())
		for _, i := range h.ifcs {
			if i.bits > best && i.contains4(d) {
				best, bestIfc, bestHop = i.bits, i, dst
			}
		}
	}
	for _, r := range h.routes {
		if r.dst.Bits() <= best || !r.dst.Contains(dst) {
			continue
		}
		ifc, hop := r.ifc, dst
		if r.gw.IsValid() && !r.gw.IsUnspecified() {
			hop = r.gw
			if ifc == nil {
				ifc = h.connected(r.gw)
			}
		}
		if ifc == nil {
			continue
		}
		best, bestIfc, bestHop = r.dst.Bits(), ifc, hop
	}
	if best < 0 && h.gw.IsValid() {
		if ifc := h.connected(h.gw); ifc != nil {
			return ifc, h.gw, true
		}
	}
	return bestIfc, bestHop, best >= 0
}

// connected returns the interface whose connected prefix contains a, or
// nil.
func (h *Host) connected(a netip.Addr) *Interface {
	var best *Interface
	for _, i := range h.ifcs {
		if i.addr.IsValid() && i.addr.Contains(a) && (best == nil || i.addr.Bits() > best.addr.Bits()) {
			best = i
		}
	}
	return best
}

// ownAddr reports whether a is the address of one of the host's
// interfaces.
func (h *Host) ownAddr(a [4]byte) bool {
	for _, i := range h.ifcs {
		if i.hasAddr(a) {
			return true
		}
	}
	return false
}

// SourceFor returns the source address the host uses to reach dst: the
// address of the egress interface (dst itself for one of the host's own
// addresses and for 127.0.0.0/8). It reports false when there is no route or the egress
// interface has no address.
func (h *Host) SourceFor(dst netip.Addr) (netip.Addr, bool) {
	if dst.Is6() && !dst.Is4In6() {
		return h.sourceFor6(dst)
	}
	dst = dst.Unmap()
	if !dst.Is4() {
		return netip.Addr{}, false
	}
	if h.ownAddr(dst.As4()) || dst.IsLoopback() {
		return dst, true
	}
	if dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		for _, i := range h.ifcs {
			if i.addr.IsValid() {
				return i.addr.Addr(), true
			}
		}
		return netip.Addr{}, false
	}
	ifc, _, ok := h.lookup(dst)
	if !ok || !ifc.addr.IsValid() {
		return netip.Addr{}, false
	}
	return ifc.addr.Addr(), true
}

// PathMTU returns the largest IP packet the host sends toward dst without
// fragmenting: the egress interface's MTU (65535 for 127.0.0.0/8, which
// loops back inside the host). Without a route it returns 576,
// the datagram size every host accepts (RFC 1122 section 3.3.3). A path MTU
// learned from ICMP "fragmentation needed" (RFC 1191) or Packet Too Big
// (RFC 8201) lowers the interface's.
func (h *Host) PathMTU(dst netip.Addr) int {
	if dst.Is6() && !dst.Is4In6() {
		return h.pathMTU6(dst)
	}
	dst = dst.Unmap()
	if !dst.Is4() {
		return noRouteMTU
	}
	if dst.IsLoopback() {
		return ipv4.MaxTotalLen
	}
	if h.ownAddr(dst.As4()) {
		for _, i := range h.ifcs {
			if i.hasAddr(dst.As4()) {
				return i.mtu
			}
		}
	}
	ifc, _, ok := h.lookup(dst)
	if !ok {
		return noRouteMTU
	}
	if p, ok := h.pmtu4For(dst); ok && p < ifc.mtu {
		return p
	}
	return ifc.mtu
}
