package scenario

import (
	"cmp"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// check validates references between sections once every field decoded.
func (d *decoder) check(s *Scenario, p *parsed) {
	// Hosts and switches share one namespace: a link end names either.
	nodes := map[string]string{} // name -> "host" or "switch"
	hostIdx := map[string]int{}
	addrs := map[netip.Addr]string{}
	macs := map[[6]byte]string{}
	for i, h := range s.Hosts {
		o := p.hosts[i]
		if _, dup := nodes[h.Name]; dup {
			d.fail(o.get("name"), o.field("name"), "duplicate host name %q", h.Name)
			continue
		}
		nodes[h.Name], hostIdx[h.Name] = "host", i
		ifNames := map[string]bool{}
		onSubnet := false
		for j, ifc := range h.Interfaces {
			path := index(o.field("interfaces"), j)
			if ifNames[ifc.Name] {
				d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path + ".name", Msg: fmt.Sprintf("duplicate interface name %q on host %q", ifc.Name, h.Name)})
			}
			ifNames[ifc.Name] = true
			where := h.Name + ":" + ifc.Name
			if ifc.Address.IsValid() {
				if other, dup := addrs[ifc.Address.Addr()]; dup {
					d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path + ".address", Msg: fmt.Sprintf("address %s is already used by %s", ifc.Address.Addr(), other)})
				}
				addrs[ifc.Address.Addr()] = where
				if h.Gateway.IsValid() && ifc.Address.Contains(h.Gateway) {
					onSubnet = true
				}
			}
			for _, p := range ifc.IPv6 {
				if other, dup := addrs[p.Addr()]; dup {
					d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path + ".addresses", Msg: fmt.Sprintf("address %s is already used by %s", p.Addr(), other)})
				}
				addrs[p.Addr()] = where
				if h.Gateway.IsValid() && p.Contains(h.Gateway) {
					onSubnet = true
				}
			}
			if ifc.DHCP && h.Gateway.Is4() || (ifc.SLAAC || len(ifc.IPv6) > 0) && h.Gateway.IsLinkLocalUnicast() {
				onSubnet = true
			}
			if other, dup := macs[ifc.MAC]; dup {
				d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path + ".mac", Msg: fmt.Sprintf("MAC address %s is already used by %s", formatMAC(ifc.MAC), other)})
			}
			macs[ifc.MAC] = where
		}
		if h.Gateway.IsValid() && !onSubnet {
			d.fail(o.get("gateway"), o.field("gateway"), "gateway %s is not on any subnet of host %q", h.Gateway, h.Name)
		}
	}
	for i, sw := range s.Switches {
		if _, dup := nodes[sw.Name]; dup {
			d.errs = append(d.errs, &FieldError{File: d.file, Line: sw.Line, Field: index("switches", i) + ".name", Msg: fmt.Sprintf("name %q is already used by a host or switch", sw.Name)})
			continue
		}
		nodes[sw.Name] = "switch"
	}

	links := map[string]int{}
	attached := map[string]string{} // host:iface -> link
	for i, l := range s.Links {
		o := p.links[i]
		if _, dup := links[l.Name]; dup {
			d.fail(o.get("name"), o.field("name"), "duplicate link name %q", l.Name)
		}
		links[l.Name] = i
		for _, side := range []struct {
			f string
			e Endpoint
		}{{"a", l.A}, {"b", l.B}} {
			n := o.get(side.f)
			e := side.e
			switch {
			case e.IsSwitch() && nodes[e.Switch] == "host":
				d.fail(n, o.field(side.f), "%q is a host: name its interface, e.g. %q", e.Switch, e.Switch+":"+s.Hosts[hostIdx[e.Switch]].Interfaces[0].Name)
			case e.IsSwitch() && nodes[e.Switch] != "switch":
				d.fail(n, o.field(side.f), "no host interface or switch named %q", e.Switch)
			case !e.IsSwitch() && nodes[e.Host] != "host":
				d.fail(n, o.field(side.f), "no host named %q", e.Host)
			case !e.IsSwitch():
				if !hasIface(s.Hosts[hostIdx[e.Host]], e.Iface) {
					d.fail(n, o.field(side.f), "host %q has no interface %q", e.Host, e.Iface)
				} else if other, dup := attached[e.String()]; dup {
					d.fail(n, o.field(side.f), "interface %s is already attached to link %q", e, other)
				} else {
					attached[e.String()] = l.Name
				}
			}
		}
		if l.A == l.B {
			d.fail(o.get("b"), o.field("b"), "a link cannot join %s to itself", l.A)
		}
	}

	apps := map[string]int{}
	ports := map[string]string{} // host/port -> app
	for i, a := range s.Apps {
		o := p.apps[i]
		if _, dup := apps[a.Name]; dup {
			d.fail(o.get("name"), o.field("name"), "duplicate app name %q", a.Name)
		}
		apps[a.Name] = i
		if nodes[a.Host] != "host" {
			d.fail(o.get("host"), o.field("host"), "no host named %q", a.Host)
		}
		if a.Start >= s.Duration {
			d.fail(o.get("start"), o.field("start"), "app starts at %v, not before the end of the run (%v)", a.Start, s.Duration)
		}
		if a.AfterLease && !hasDHCP(s.Hosts[hostIdx[a.Host]]) && nodes[a.Host] == "host" {
			d.fail(o.get("after"), o.field("after"), "host %q has no interface with address dhcp", a.Host)
		}
		d.checkService(s, o, a, hostIdx, nodes)
		if a.Port != 0 {
			proto := "UDP"
			if strings.HasPrefix(a.Type, "tcp_") || a.Type == AppHTTPServer {
				proto = "TCP"
			}
			key := fmt.Sprintf("%s/%s/%d", a.Host, proto, a.Port)
			if other, dup := ports[key]; dup {
				d.fail(o.get("port"), o.field("port"), "%s port %d on host %q is already used by app %q", proto, a.Port, a.Host, other)
			}
			ports[key] = a.Name
		}
	}

	for i, e := range s.Schedule {
		o := p.events[i]
		if e.Host != "" {
			if nodes[e.Host] != "host" {
				d.fail(o.get("host"), o.field("host"), "no host named %q", e.Host)
			}
		} else if _, ok := links[e.Link]; !ok {
			d.fail(o.get("link"), o.field("link"), "no link named %q", e.Link)
		}
		if e.At > s.Duration {
			d.fail(o.get("at"), o.field("at"), "event at %v is after the end of the run (%v)", e.At, s.Duration)
		}
	}
	d.checkPower(s, p)
	d.checkChanges(s, p, links)
	d.checkRouting(s, p)
	d.checkCapture(s, nodes)

	for i, e := range s.Expect {
		o := p.expect[i]
		if e.Link != "" {
			if _, ok := links[e.Link]; !ok {
				d.fail(o.get("link"), o.field("link"), "no link named %q", e.Link)
			}
			continue
		}
		if e.Host != "" {
			if nodes[e.Host] != "host" {
				d.fail(o.get("host"), o.field("host"), "no host named %q", e.Host)
			} else if e.DHCPBound != nil && !hasDHCP(s.Hosts[hostIdx[e.Host]]) {
				d.fail(o.get("host"), o.field("host"), "host %q has no interface with address dhcp", e.Host)
			}
			continue
		}
		ai, ok := apps[e.App]
		if !ok {
			d.fail(o.get("app"), o.field("app"), "no app named %q", e.App)
			continue
		}
		for _, c := range e.criteria() {
			if !slices.Contains(c.appTypes, s.Apps[ai].Type) {
				d.fail(o.keys[c.name], o.field(c.name), "%s applies to %s apps, and %q is a %s app", c.name, strings.Join(c.appTypes, ", "), e.App, s.Apps[ai].Type)
			}
		}
	}
}

func hasIface(h Host, name string) bool {
	for _, ifc := range h.Interfaces {
		if ifc.Name == name {
			return true
		}
	}
	return false
}

func formatMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// checkChanges replays the impairment changes of the schedule in time order
// and reports a change that leaves a direction with a queue bound but no
// rate.
func (d *decoder) checkChanges(s *Scenario, p *parsed, links map[string]int) {
	cur := make([][2]Impair, len(s.Links))
	for i, l := range s.Links {
		cur[i] = [2]Impair{l.AtoB, l.BtoA}
	}
	for _, i := range scheduleOrder(s.Schedule) {
		e := s.Schedule[i]
		li, ok := links[e.Link]
		if !ok || e.Action != ActionSet {
			continue
		}
		for dir, patch := range [2]ImpairPatch{e.SetAtoB, e.SetBtoA} {
			if patch.IsZero() {
				continue
			}
			cur[li][dir] = patch.Apply(cur[li][dir])
			if im := cur[li][dir]; im.Queue != (Queue{}) && im.Rate == 0 {
				o := p.events[i]
				d.fail(o.get("set"), o.field("set"), "after this change, %s of link %q has a queue bound but no rate", [2]string{"a_to_b", "b_to_a"}[dir], e.Link)
				break
			}
			o := p.events[i]
			if !d.checkQdisc(cur[li][dir], patch.Qdisc, o.get("set"), o.field("set"), [2]string{"a_to_b", "b_to_a"}[dir]+" after this change") {
				break
			}
		}
	}
}

// checkPower replays the crash and restart events in time order: a host
// crashes only while it runs and restarts only after a crash.
func (d *decoder) checkPower(s *Scenario, p *parsed) {
	down := map[string]bool{}
	for _, i := range scheduleOrder(s.Schedule) {
		e := s.Schedule[i]
		o := p.events[i]
		switch e.Action {
		case ActionCrash:
			if down[e.Host] {
				d.fail(o.get("action"), o.field("action"), "host %q is already crashed at %v", e.Host, e.At)
			}
			down[e.Host] = true
		case ActionRestart:
			if !down[e.Host] {
				d.fail(o.get("action"), o.field("action"), "host %q is running at %v: restart follows a crash", e.Host, e.At)
			}
			down[e.Host] = false
		}
	}
}

// scheduleOrder returns the indexes of events in the order they run: by
// instant, then file order.
func scheduleOrder(events []Event) []int {
	idx := make([]int, len(events))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(events[a].At, events[b].At)
	})
	return idx
}

func hasDHCP(h Host) bool {
	for _, ifc := range h.Interfaces {
		if ifc.DHCP {
			return true
		}
	}
	return false
}

// checkService checks what a service app needs from its host: a DHCP
// server a static address whose subnet holds its pool, a name lookup a DNS
// server (explicit or from a DHCP lease).
func (d *decoder) checkService(s *Scenario, o *object, a App, hostIdx map[string]int, nodes map[string]string) {
	if nodes[a.Host] != "host" {
		return
	}
	h := s.Hosts[hostIdx[a.Host]]
	switch a.Type {
	case AppDHCPServer:
		ifc := h.Interfaces[0]
		if !ifc.Address.IsValid() {
			d.fail(o.get("host"), o.field("host"), "a dhcp_server needs a static address on %s:%s", h.Name, ifc.Name)
			return
		}
		if a.PoolStart.IsValid() && (!ifc.Address.Contains(a.PoolStart) || !ifc.Address.Contains(a.PoolEnd)) {
			d.fail(o.get("pool"), o.field("pool"), "pool %s-%s is not inside %s's subnet %s", a.PoolStart, a.PoolEnd, h.Name, ifc.Address.Masked())
		}
	case AppHTTPGet, AppDNSLookup:
		if a.Type == AppHTTPGet {
			if u, err := url.Parse(a.URL); err == nil {
				if _, err := netip.ParseAddr(u.Hostname()); err == nil {
					return
				}
			}
		}
		if !a.Server.IsValid() && !hasDHCP(h) {
			d.fail(o.node, o.field("dns"), "required field is missing: host %q learns no DNS server by DHCP", h.Name)
		}
	}
}
