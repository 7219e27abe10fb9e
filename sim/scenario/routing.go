package scenario

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/simnet-go/simnet/app/traceroute"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
	"github.com/simnet-go/simnet/proto/stack"
)

// maxRoutes bounds the static routes of one host.
const maxRoutes = 1024

// routing reads a host's forwarding flag and static routes.
func (d *decoder) routing(o *object, h *Host) {
	if fn := o.get("forwarding"); fn != nil {
		h.Forwarding, _ = d.boolean(fn, o.field("forwarding"))
	}
	if rn := o.get("ra"); rn != nil {
		h.RA, _ = d.boolean(rn, o.field("ra"))
		if h.RA && !h.Forwarding {
			d.fail(rn, o.field("ra"), "ra: true needs forwarding: true (only routers advertise themselves, RFC 4861 section 6.2)")
		}
	}
	rs := o.get("routes")
	items := d.list(rs, o.field("routes"))
	if len(items) > maxRoutes {
		d.fail(rs, o.field("routes"), "more than %d routes", maxRoutes)
		return
	}
	for i, rn := range items {
		path := index(o.field("routes"), i)
		ro := d.object(rn, path, "to", "via")
		if ro == nil {
			continue
		}
		r := Route{Line: rn.Line}
		if tn := d.require(ro, "to"); tn != nil {
			if s, ok := d.scalar(tn, ro.field("to")); ok {
				p, err := netip.ParsePrefix(s)
				if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" || p.Masked() != p {
					d.fail(tn, ro.field("to"), "invalid destination %q (want a network in CIDR notation, e.g. 10.1.0.0/16, 0.0.0.0/0, 2001:db8:2::/64 or ::/0)", s)
				}
				r.To = p
			}
		}
		if vn := d.require(ro, "via"); vn != nil {
			r.Via, _ = d.addr46(vn, ro.field("via"))
			r.Line = vn.Line
			if r.To.IsValid() && r.Via.IsValid() && r.To.Addr().Is4() != r.Via.Is4() {
				d.fail(vn, ro.field("via"), "route to %s via %s: the next hop must be of the destination's family", r.To, r.Via)
				r.Via = netip.Addr{}
			}
		}
		h.Routes = append(h.Routes, r)
	}
}

// routingApp reads a traceroute's fields and a dhcp_server's relayed
// subnets.
func (d *decoder) routingApp(o *object, a *App) {
	switch a.Type {
	case AppTraceroute:
		if n := o.get("max_hops"); n != nil {
			v, _ := d.integer(n, o.field("max_hops"), 1, traceroute.MaxHops)
			a.MaxHops = int(v)
		}
		if n := o.get("queries"); n != nil {
			v, _ := d.integer(n, o.field("queries"), 1, traceroute.MaxQueries)
			a.Queries = int(v)
		}
	case AppDHCPServer:
		for i, sn := range d.items(o.get("subnets"), o.field("subnets")) {
			path := index(o.field("subnets"), i)
			so := d.object(sn, path, "subnet", "pool", "router")
			if so == nil {
				continue
			}
			sub := DHCPSubnet{Line: sn.Line}
			if n := d.require(so, "subnet"); n != nil {
				if s, ok := d.scalar(n, so.field("subnet")); ok {
					p, err := netip.ParsePrefix(s)
					if err != nil || !p.Addr().Is4() || p.Masked() != p || p.Bits() > 30 {
						d.fail(n, so.field("subnet"), "invalid subnet %q (want a network in CIDR notation, e.g. 10.0.1.0/24)", s)
					}
					sub.Subnet = p
				}
			}
			if n := d.require(so, "pool"); n != nil {
				sub.PoolStart, sub.PoolEnd = d.pool(n, so.field("pool"))
				if sub.Subnet.IsValid() && sub.PoolStart.IsValid() && (!sub.Subnet.Contains(sub.PoolStart) || !sub.Subnet.Contains(sub.PoolEnd)) {
					d.fail(n, so.field("pool"), "pool %s-%s is not inside %s", sub.PoolStart, sub.PoolEnd, sub.Subnet)
				}
			}
			if n := so.get("router"); n != nil {
				if v, ok := d.addr(n, so.field("router")); ok {
					sub.Router = v
					if sub.Subnet.IsValid() && !sub.Subnet.Contains(v) {
						d.fail(n, so.field("router"), "router %s is not inside %s", v, sub.Subnet)
					}
				}
			}
			a.Subnets = append(a.Subnets, sub)
		}
	}
}

// routingExpect reads a traceroute's conditions.
func (d *decoder) routingExpect(o *object, e *Expectation) {
	if v := o.get("reached"); v != nil {
		if x, ok := d.boolean(v, o.field("reached")); ok {
			e.Reached = &x
		}
	}
	if v := o.get("hops"); v != nil {
		if x, ok := d.integer(v, o.field("hops"), 1, traceroute.MaxHops); ok {
			i := int(x)
			e.Hops = &i
		}
	}
}

// checkRouting checks what routes, relays and relayed DHCP subnets refer
// to: a route's next hop and a gateway on one of the host's subnets, a
// relay on an interface with a static address and on a host that runs no
// DHCP server, subnets that do not overlap the server's own.
func (d *decoder) checkRouting(s *Scenario, p *parsed) {
	servers := map[string]bool{}
	for _, a := range s.Apps {
		if a.Type == AppDHCPServer {
			servers[a.Host] = true
		}
	}
	for i, h := range s.Hosts {
		o := p.hosts[i]
		for j, r := range h.Routes {
			path := index(o.field("routes"), j) + ".via"
			if !r.Via.IsValid() {
				continue
			}
			// An IPv6 next hop may be link-local (RFC 4861 section 8: the
			// addresses routers advertise from) or in a prefix of the host.
			on := r.Via.IsLinkLocalUnicast()
			for _, ifc := range h.Interfaces {
				for _, a := range append([]netip.Prefix{ifc.Address}, ifc.IPv6...) {
					if a.IsValid() && a.Masked().Contains(r.Via) {
						on = true
						if a.Addr() == r.Via {
							d.errs = append(d.errs, &FieldError{File: d.file, Line: r.Line, Field: path, Msg: fmt.Sprintf("route via %s: that is %s's own address", r.Via, h.Name)})
						}
					}
				}
				if ifc.SLAAC && r.Via.Is6() {
					on = true // the prefixes come from advertisements
				}
			}
			if !on {
				d.errs = append(d.errs, &FieldError{File: d.file, Line: r.Line, Field: path,
					Msg: fmt.Sprintf("route to %s via %s: %s is on no subnet attached to host %q", r.To, r.Via, r.Via, h.Name)})
			}
		}
		for j, ifc := range h.Interfaces {
			if !ifc.DHCPRelay.IsValid() {
				continue
			}
			path := index(o.field("interfaces"), j) + ".dhcp_relay"
			switch {
			case !ifc.Address.IsValid():
				d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path, Msg: fmt.Sprintf("a DHCP relay needs a static address on %s:%s (it becomes the requests' giaddr)", h.Name, ifc.Name)})
			case servers[h.Name]:
				d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path, Msg: fmt.Sprintf("host %q runs a dhcp_server: it cannot also relay on UDP port 67", h.Name)})
			case ifc.Address.Masked().Contains(ifc.DHCPRelay):
				d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path, Msg: fmt.Sprintf("server %s is on the subnet relayed for: its clients reach it without a relay", ifc.DHCPRelay)})
			}
		}
	}
	hostIdx := map[string]int{}
	for i, h := range s.Hosts {
		hostIdx[h.Name] = i
	}
	for i, a := range s.Apps {
		if a.Type != AppDHCPServer || len(a.Subnets) == 0 {
			continue
		}
		hi, ok := hostIdx[a.Host]
		if !ok {
			continue
		}
		own := s.Hosts[hi].Interfaces[0].Address.Masked()
		o := p.apps[i]
		for j, sub := range a.Subnets {
			path := index(o.field("subnets"), j) + ".subnet"
			if sub.Subnet.IsValid() && own.IsValid() && sub.Subnet.Overlaps(own) {
				d.errs = append(d.errs, &FieldError{File: d.file, Line: sub.Line, Field: path, Msg: fmt.Sprintf("subnet %s overlaps the server's own subnet %s", sub.Subnet, own)})
			}
			for _, prev := range a.Subnets[:j] {
				if sub.Subnet.IsValid() && prev.Subnet.IsValid() && sub.Subnet.Overlaps(prev.Subnet) {
					d.errs = append(d.errs, &FieldError{File: d.file, Line: sub.Line, Field: path, Msg: fmt.Sprintf("subnet %s overlaps subnet %s", sub.Subnet, prev.Subnet)})
				}
			}
		}
	}
}

// startRelay starts the DHCP relay agent of a host with dhcp_relay on an
// interface, or returns nil.
func startRelay(host *stack.Host, h Host) (*dhcpstack.Relay, error) {
	var r *dhcpstack.Relay
	for _, ifc := range h.Interfaces {
		if !ifc.DHCPRelay.IsValid() {
			continue
		}
		if r == nil {
			var err error
			if r, err = dhcpstack.NewRelay(host); err != nil {
				return nil, err
			}
		}
		r.Serve(host.Interface(ifc.Name), ifc.DHCPRelay)
	}
	return r, nil
}

// startRA makes a host with ra: true advertise, on each interface with
// static IPv6 addresses, the prefixes of those addresses (link-local ones
// aside), so that hosts on the link autoconfigure in them.
func startRA(host *stack.Host, h Host) {
	for _, ifc := range h.Interfaces {
		var prefixes []netip.Prefix
		for _, p := range ifc.IPv6 {
			if !p.Addr().IsLinkLocalUnicast() {
				prefixes = append(prefixes, p.Masked())
			}
		}
		if len(prefixes) > 0 {
			host.Interface(ifc.Name).AdvertisePrefixes(prefixes...)
		}
	}
}

// tracerouteSummary renders a traceroute's hops on one line, e.g.
// "reached 10.2.0.10 in 3 hops: 1 10.0.0.1 (0.5 ms) 2 ...".
func tracerouteSummary(r traceroute.Result) string {
	var b strings.Builder
	if r.Reached {
		fmt.Fprintf(&b, "reached %s in %d hops:", r.Target, len(r.Hops))
	} else {
		fmt.Fprintf(&b, "did not reach %s (%d hops):", r.Target, len(r.Hops))
	}
	for _, h := range r.Hops {
		fmt.Fprintf(&b, " %d", h.TTL)
		for _, p := range h.Probes {
			if p.Addr == "" {
				b.WriteString(" *")
				continue
			}
			fmt.Fprintf(&b, " %s %.3fms%s", p.Addr, p.RTTMs, p.Note)
		}
		b.WriteString(";")
	}
	return strings.TrimSuffix(b.String(), ";")
}

// evaluateRouting checks a traceroute's conditions.
func evaluateRouting(e Expectation, res any, add func(cond string, pass bool, format string, args ...any)) {
	r, ok := res.(traceroute.Result)
	if !ok {
		return
	}
	if e.Reached != nil {
		add(fmt.Sprintf("reached: %t", *e.Reached), r.Reached == *e.Reached, "%s", tracerouteSummary(r))
	}
	if e.Hops != nil {
		add(fmt.Sprintf("hops: %d", *e.Hops), r.Reached && len(r.Hops) == *e.Hops, "%s", tracerouteSummary(r))
	}
}
