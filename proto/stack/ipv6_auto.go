package stack

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/slaac"
)

// Router and host constants of RFC 4861 section 10.
const (
	maxRtrSolicitations         = 3
	rtrSolicitationInterval     = 4 * time.Second
	maxInitialRtrAdvertisements = 3
	maxInitialRtrAdvertInterval = 16 * time.Second
	maxRtrAdvInterval           = 600 * time.Second
	minRtrAdvInterval           = 200 * time.Second // 0.33 * MaxRtrAdvInterval
	maxRADelayTime              = 500 * time.Millisecond
	// Lifetimes advertised for prefixes (RFC 4861 section 6.2.1
	// AdvValidLifetime and AdvPreferredLifetime defaults) and for the
	// router (AdvDefaultLifetime: 3 * MaxRtrAdvInterval).
	advValidLifetime     = 2592000
	advPreferredLifetime = 604800
	advDefaultLifetime   = 3 * maxRtrAdvInterval
)

// EnableSLAAC turns IPv6 on with autoconfigured addresses (RFC 4862): a
// link-local address with a stable identifier (RFC 7217) once Duplicate
// Address Detection passes, then Router Solicitations, and an address in
// every autonomous /64 prefix that Router Advertisements carry, again
// after DAD. A conflict replaces the identifier (RFC 7217 section 6).
func (i *Interface) EnableSLAAC() {
	v := i.v6
	if v == nil {
		v = i.newV6()
	}
	if v.auto != nil {
		return
	}
	h := i.h
	v.auto = slaac.New(h.clk, v.rnd, v, slaac.Config{NetIface: i.name, Secret: []byte(h.cfg.Name)})
	v.auto.StartLinkLocal()
}

// AdvertisePrefixes makes the interface a router on its link (RFC 4861
// section 6.2): it sends Router Advertisements for prefixes (on-link and
// autonomous, so hosts form addresses in them), at first up to three
// 16 s apart, then every 200 to 600 s, and answers Router Solicitations
// within half a second. The interface must have IPv6 (EnableIPv6).
func (i *Interface) AdvertisePrefixes(prefixes ...netip.Prefix) {
	v := i.v6
	if v == nil {
		return
	}
	v.router = true
	for _, p := range prefixes {
		if p.Addr().Is6() {
			v.prefixes = append(v.prefixes, p.Masked())
		}
	}
	v.raSent = 0
	i.h.clk.Schedule(&v.ra, i.h.clk.Now())
}

// OnIPv6AddressChange sets f to be called, on the loop, whenever an
// autoconfigured IPv6 address (SLAAC or the link-local one) is added to the
// interface or removed from it; nil removes the hook.
func (i *Interface) OnIPv6AddressChange(f func(p netip.Prefix, added bool)) { i.onV6Change = f }

// SolicitDAD sends a DAD Neighbor Solicitation for target (slaac.Sink):
// from the unspecified address to its solicited-node group, without a
// Source Link-Layer Address option (RFC 4862 section 5.4.2).
func (v *v6Iface) SolicitDAD(target netip.Addr) {
	dst := ipv6.SolicitedNode(target)
	h := v.i.h
	b := h.acquire(v6Headroom + icmpv6.NSLen)
	defer h.release()
	m, err := icmpv6.NeighborSolicitation(b[v6Headroom:], netip.IPv6Unspecified(), dst, target, nil)
	if err != nil {
		return
	}
	v.send(b, len(m), netip.IPv6Unspecified(), dst, ipv6.ProtoICMPv6, icmpv6.HopLimit)
}

// Changed adds or removes an autoconfigured address (slaac.Sink). When the
// link-local address is assigned, Router Solicitations start.
func (v *v6Iface) Changed(a netip.Addr, _ slaac.State, ok bool) {
	p := netip.PrefixFrom(a, 64)
	k := -1
	for j, q := range v.addrs {
		if q.Addr() == a {
			k = j
		}
	}
	if f := v.i.onV6Change; f != nil && ok != (k >= 0) {
		defer f(p, ok)
	}
	switch {
	case ok && k < 0:
		v.addrs = append(v.addrs, p)
		if a.IsLinkLocalUnicast() && !v.router {
			v.rsLeft = maxRtrSolicitations
			v.i.h.clk.Schedule(&v.rs, v.i.h.clk.Now())
		}
	case !ok && k >= 0:
		v.addrs = append(v.addrs[:k], v.addrs[k+1:]...)
	}
}

// Failed counts a prefix left without an address (slaac.Sink).
func (v *v6Iface) Failed(netip.Prefix) { v.stats.DADFailures++ }

// onRS sends a Router Solicitation, up to MAX_RTR_SOLICITATIONS of them
// RTR_SOLICITATION_INTERVAL apart, until an advertisement arrives (RFC 4861
// section 6.3.7).
func (v *v6Iface) onRS(now clock.Time) {
	if v.gotRA || v.rsLeft <= 0 {
		return
	}
	v.rsLeft--
	src := v.source(ipv6.AllRouters)
	h := v.i.h
	var opts [8]byte
	n := 0
	if !src.IsUnspecified() {
		icmpv6.AppendLinkAddr(opts[:0], icmpv6.OptSourceLinkAddr, v.i.mac)
		n = len(opts)
	}
	b := h.acquire(v6Headroom + icmpv6.RSLen + n)
	defer h.release()
	m, err := icmpv6.RouterSolicitation(b[v6Headroom:], src, ipv6.AllRouters, opts[:n])
	if err != nil {
		return
	}
	v.stats.RSsOut++
	v.send(b, len(m), src, ipv6.AllRouters, ipv6.ProtoICMPv6, icmpv6.HopLimit)
	if v.rsLeft > 0 {
		h.clk.Schedule(&v.rs, now.Add(rtrSolicitationInterval))
	}
}

// routerAdvert applies a valid Router Advertisement (RFC 4861 section
// 6.3.4): its timers to the neighbour cache and its prefixes to SLAAC.
func (v *v6Iface) routerAdvert(m icmpv6.Message) {
	v.stats.RAsIn++
	v.gotRA = true
	if v.router {
		return
	}
	if d := m.ReachableTime(); d > 0 && d != v.cache.BaseReachableTime() {
		v.cache.SetBaseReachableTime(d)
	}
	if d := m.RetransTimer(); d > 0 {
		v.cache.SetRetransTimer(d)
	}
	if v.auto == nil {
		return
	}
	it := icmpv6.Options(m.NDOptions())
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() != icmpv6.OptPrefixInfo {
			continue
		}
		if pi, ok := o.PrefixInfo(); ok {
			v.auto.PrefixInfo(pi)
		}
	}
}

// routerSolicit answers a Router Solicitation with a multicast
// advertisement after a random delay of at most MAX_RA_DELAY_TIME (RFC
// 4861 section 6.2.6), unless one is due sooner.
func (v *v6Iface) routerSolicit() {
	if !v.router {
		return
	}
	h := v.i.h
	at := h.clk.Now().Add(time.Duration(v.rnd.Int64N(int64(maxRADelayTime) + 1)))
	if !v.ra.Pending() || v.ra.When() > at {
		h.clk.Schedule(&v.ra, at)
	}
}

// onRA sends a Router Advertisement and arms the next one (RFC 4861
// section 6.2.4).
func (v *v6Iface) onRA(now clock.Time) {
	if !v.router {
		return
	}
	v.sendRA()
	v.raSent++
	h := v.i.h
	next := minRtrAdvInterval + time.Duration(v.rnd.Int64N(int64(maxRtrAdvInterval-minRtrAdvInterval)+1))
	if v.raSent < maxInitialRtrAdvertisements && next > maxInitialRtrAdvertInterval {
		next = maxInitialRtrAdvertInterval
	}
	h.clk.Schedule(&v.ra, now.Add(next))
}

// sendRA sends an advertisement to all-nodes from the link-local address
// with the source link-layer address, one Prefix Information option per
// prefix and the link MTU.
func (v *v6Iface) sendRA() {
	src := v.source(ipv6.AllNodes)
	if !src.IsLinkLocalUnicast() {
		return // RFC 4861 section 6.1.2: hosts accept RAs from link-local sources only
	}
	h := v.i.h
	opts := make([]byte, 0, 16+icmpv6.PrefixInfoLen*len(v.prefixes))
	opts = icmpv6.AppendLinkAddr(opts, icmpv6.OptSourceLinkAddr, v.i.mac)
	for _, p := range v.prefixes {
		opts = icmpv6.AppendPrefixInfo(opts, icmpv6.PrefixInfo{Prefix: p, OnLink: true, Autonomous: true,
			ValidLifetime: advValidLifetime, PreferredLifetime: advPreferredLifetime})
	}
	opts = icmpv6.AppendMTU(opts, uint32(v.i.mtu))
	f := icmpv6.RAFields{CurHopLimit: 64}
	if h.cfg.Forwarding {
		f.RouterLifetime = advDefaultLifetime
	}
	b := h.acquire(v6Headroom + icmpv6.RALen + len(opts))
	defer h.release()
	m, err := icmpv6.RouterAdvertisement(b[v6Headroom:], src, ipv6.AllNodes, &f, opts)
	if err != nil {
		return
	}
	v.stats.RAsOut++
	v.send(b, len(m), src, ipv6.AllNodes, ipv6.ProtoICMPv6, icmpv6.HopLimit)
}
