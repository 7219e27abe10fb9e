package scenario

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/tcpapps"
)

// Limits on host groups.
const (
	// MaxGroupCount bounds the count of one host group.
	MaxGroupCount = 100000
	// maxExpanded bounds the hosts, links, apps, events or expectations
	// of a scenario once its groups are expanded.
	maxExpanded = 1000000
)

// Group is a host entry with a count: its members are ordinary hosts
// named NAME1..NAMEN in Scenario.Hosts.
type Group struct {
	Name    string
	Members []string
	Line    int
}

// groupCount reads a host's count.
func (d *decoder) groupCount(o *object, h *Host) {
	n := o.get("count")
	if n == nil {
		return
	}
	v, ok := d.integer(n, o.field("count"), 1, MaxGroupCount)
	if !ok {
		return
	}
	h.Count = int(v)
	for j, in := range d.list(o.get("interfaces"), o.field("interfaces")) {
		if in.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(in.Content); k += 2 {
			if in.Content[k].Value == "mac" {
				d.fail(in.Content[k], index(o.field("interfaces"), j)+".mac", "mac is not allowed on a host with count: each member gets a MAC derived from its name")
			}
		}
	}
}

// expand turns host groups into their members, and the links, apps,
// expectations and schedule events that name a group into one per member
// (RFC-free bookkeeping: the simulator itself knows no groups). The
// parsed objects are repeated so that later checks point at the group's
// lines.
func (d *decoder) expand(s *Scenario, p *parsed) {
	groups := map[string]*Group{}
	// The expanded lists are made at their final size: a 10,000-member
	// group's links and apps stay in memory for the whole run, and
	// append's doubling would leave up to half of them unused.
	nh := 0
	for _, h := range s.Hosts {
		nh += max(h.Count, 1)
	}
	hosts := make([]Host, 0, nh)
	hostObjs := make([]*object, 0, nh)
	for i, h := range s.Hosts {
		o := p.hosts[i]
		if h.Count == 0 {
			hosts = append(hosts, h)
			hostObjs = append(hostObjs, o)
			continue
		}
		g := &Group{Name: h.Name, Line: h.Line}
		if _, dup := groups[h.Name]; dup {
			d.fail(o.get("name"), o.field("name"), "duplicate host name %q", h.Name)
			continue
		}
		groups[h.Name] = g
		for k := 1; k <= h.Count; k++ {
			m, ok := d.member(o, h, k)
			if !ok {
				break
			}
			hosts = append(hosts, m)
			hostObjs = append(hostObjs, o)
			g.Members = append(g.Members, m.Name)
		}
		s.Groups = append(s.Groups, *g)
	}
	for i, h := range hosts {
		if g := groups[h.Name]; g != nil && h.Count == 0 && !slices.Contains(g.Members, h.Name) {
			o := hostObjs[i]
			d.fail(o.get("name"), o.field("name"), "host name %q is also the name of a host group", h.Name)
		}
	}
	if len(groups) == 0 || len(d.errs) > 0 {
		return
	}
	if len(hosts) > maxExpanded {
		d.fail(nil, "hosts", "more than %d hosts once groups are expanded", maxExpanded)
		return
	}
	s.Hosts, p.hosts = hosts, hostObjs

	// Links: one per member, named LINK-1..LINK-N.
	linkGroups := map[string][]string{}
	size := func(names ...string) int {
		n := 1
		for _, name := range names {
			if g := groups[name]; g != nil {
				n = max(n, len(g.Members))
			}
		}
		return n
	}
	nl := 0
	for _, l := range s.Links {
		nl += size(l.A.Host, l.B.Host)
	}
	links := make([]Link, 0, nl)
	linkObjs := make([]*object, 0, nl)
	for i, l := range s.Links {
		o := p.links[i]
		ga, gb := groups[l.A.Host], groups[l.B.Host]
		if ga == nil && gb == nil {
			links = append(links, l)
			linkObjs = append(linkObjs, o)
			continue
		}
		n := 0
		switch {
		case ga != nil && gb != nil && len(ga.Members) != len(gb.Members):
			d.fail(o.get("b"), o.field("b"), "groups %q (%d members) and %q (%d members) differ in size: a link pairs their members", ga.Name, len(ga.Members), gb.Name, len(gb.Members))
			continue
		case ga != nil:
			n = len(ga.Members)
		default:
			n = len(gb.Members)
		}
		for k := 1; k <= n; k++ {
			m := l
			m.Name = l.Name + "-" + strconv.Itoa(k)
			if !d.expandedName(o, "name", m.Name) {
				break
			}
			if ga != nil {
				m.A.Host = ga.Members[k-1]
			}
			if gb != nil {
				m.B.Host = gb.Members[k-1]
			}
			links = append(links, m)
			linkObjs = append(linkObjs, o)
			linkGroups[l.Name] = append(linkGroups[l.Name], m.Name)
		}
	}
	s.Links, p.links = links, linkObjs

	// Apps: one per member, named APP-1..APP-N, each remembering its
	// group app.
	appGroups := map[string][]string{}
	na := 0
	for _, a := range s.Apps {
		na += size(a.Host)
	}
	apps := make([]App, 0, na)
	appObjs := make([]*object, 0, na)
	for i, a := range s.Apps {
		o := p.apps[i]
		g := groups[a.Host]
		if g == nil {
			apps = append(apps, a)
			appObjs = append(appObjs, o)
			continue
		}
		for k, member := range g.Members {
			m := a
			m.Name, m.Host, m.Group, m.GroupHost = a.Name+"-"+strconv.Itoa(k+1), member, a.Name, g.Name
			if !d.expandedName(o, "name", m.Name) {
				break
			}
			apps = append(apps, m)
			appObjs = append(appObjs, o)
			appGroups[a.Name] = append(appGroups[a.Name], m.Name)
		}
	}
	s.Apps, p.apps = apps, appObjs

	// Expectations on a group app or a group hold for every member.
	ne := 0
	for _, e := range s.Expect {
		switch {
		case e.App != "" && appGroups[e.App] != nil:
			ne += len(appGroups[e.App])
		default:
			ne += size(e.Host)
		}
	}
	expect := make([]Expectation, 0, ne)
	expectObjs := make([]*object, 0, ne)
	for i, e := range s.Expect {
		o := p.expect[i]
		switch {
		case e.App != "" && appGroups[e.App] != nil:
			for _, name := range appGroups[e.App] {
				m := e
				m.App = name
				expect = append(expect, m)
				expectObjs = append(expectObjs, o)
			}
		case e.Host != "" && groups[e.Host] != nil:
			for _, name := range groups[e.Host].Members {
				m := e
				m.Host = name
				expect = append(expect, m)
				expectObjs = append(expectObjs, o)
			}
		default:
			expect = append(expect, e)
			expectObjs = append(expectObjs, o)
		}
	}
	s.Expect, p.expect = expect, expectObjs

	// Events on a group's link apply to every member's link.
	var events []Event
	var eventObjs []*object
	for i, e := range s.Schedule {
		o := p.events[i]
		names := linkGroups[e.Link]
		if g := groups[e.Host]; g != nil {
			// A crash or restart of a group is one per member.
			for _, name := range g.Members {
				m := e
				m.Host = name
				events = append(events, m)
				eventObjs = append(eventObjs, o)
			}
			continue
		}
		if names == nil {
			events = append(events, e)
			eventObjs = append(eventObjs, o)
			continue
		}
		for _, name := range names {
			m := e
			m.Link = name
			events = append(events, m)
			eventObjs = append(eventObjs, o)
		}
	}
	s.Schedule, p.events = events, eventObjs
	for _, n := range []int{len(s.Links), len(s.Apps), len(s.Expect), len(s.Schedule)} {
		if n > maxExpanded {
			d.fail(nil, "", "more than %d links, apps, expectations or events once groups are expanded", maxExpanded)
			return
		}
	}
}

// expandedName checks a generated name; it reports the problem at the
// field the name came from.
func (d *decoder) expandedName(o *object, field, name string) bool {
	if !nameRE.MatchString(name) {
		d.fail(o.get(field), o.field(field), "the generated name %q is longer than 63 characters: shorten the name", name)
		return false
	}
	return true
}

// member returns member k (from 1) of group h: named NAMEk, each static
// address k-1 after the first member's, MACs derived from its own name.
func (d *decoder) member(o *object, h Host, k int) (Host, bool) {
	m := h
	m.Count = 0
	m.Name = h.Name + strconv.Itoa(k)
	if !d.expandedName(o, "name", m.Name) {
		return Host{}, false
	}
	m.Interfaces = make([]Interface, len(h.Interfaces))
	for j, ifc := range h.Interfaces {
		ifc.MAC = DeriveMAC(m.Name, ifc.Name)
		if ifc.Address.IsValid() {
			a, ok := addAddr(ifc.Address.Addr(), uint32(k-1))
			bad := !ok || !ifc.Address.Masked().Contains(a)
			if !bad && ifc.Address.Bits() < 31 {
				bad = a == broadcast(ifc.Address)
			}
			if bad {
				path := index(o.field("interfaces"), j) + ".address"
				d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path,
					Msg: fmt.Sprintf("host group %q (count %d) runs out of addresses in %s at member %s (the last usable address is %s)",
						h.Name, h.Count, ifc.Address.Masked(), m.Name, lastUsable(ifc.Address))})
				return Host{}, false
			}
			ifc.Address = netip.PrefixFrom(a, ifc.Address.Bits())
		}
		if len(ifc.IPv6) > 0 {
			v6 := make([]netip.Prefix, len(ifc.IPv6))
			for i, p := range ifc.IPv6 {
				a, ok := addAddr6(p.Addr(), uint64(k-1))
				if !ok || !p.Masked().Contains(a) {
					path := index(o.field("interfaces"), j) + ".addresses"
					d.errs = append(d.errs, &FieldError{File: d.file, Line: ifc.Line, Field: path,
						Msg: fmt.Sprintf("host group %q (count %d) runs out of addresses in %s at member %s", h.Name, h.Count, p.Masked(), m.Name)})
					return Host{}, false
				}
				v6[i] = netip.PrefixFrom(a, p.Bits())
			}
			ifc.IPv6 = v6
		}
		m.Interfaces[j] = ifc
	}
	return m, true
}

// addAddr returns a+n (IPv4), reporting false on overflow.
func addAddr(a netip.Addr, n uint32) (netip.Addr, bool) {
	b := a.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	v += uint64(n)
	if v > 0xffffffff {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// addAddr6 returns a+n (IPv6), reporting false on overflow.
func addAddr6(a netip.Addr, n uint64) (netip.Addr, bool) {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	lo2, carry := bits.Add64(lo, n, 0)
	hi2, over := bits.Add64(hi, 0, carry)
	if over != 0 {
		return netip.Addr{}, false
	}
	binary.BigEndian.PutUint64(b[:8], hi2)
	binary.BigEndian.PutUint64(b[8:], lo2)
	return netip.AddrFrom16(b), true
}

// lastUsable returns the last host address of p.
func lastUsable(p netip.Prefix) netip.Addr {
	b := broadcast(p)
	if p.Bits() >= 31 {
		return b
	}
	return b.Prev()
}

// Stat summarises one measure over the members of a group: the sum,
// minimum, median, 99th percentile (nearest rank) and maximum of the
// members that have it.
type Stat struct {
	N   int     `json:"n"`
	Sum float64 `json:"sum"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// newStat summarises vs (nil for none).
func newStat(vs []float64) *Stat {
	if len(vs) == 0 {
		return nil
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	st := &Stat{N: len(s), Min: s[0], Max: s[len(s)-1]}
	for _, v := range s {
		st.Sum += v
	}
	rank := func(p float64) float64 {
		k := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(k, 0)]
	}
	st.P50, st.P99 = rank(0.50), rank(0.99)
	return st
}

// GroupReport aggregates the results of an app that ran on every member
// of a host group; the members' own results are in Report.Apps.
type GroupReport struct {
	// App is the app's name as written; its members are APP-1..APP-N.
	App  string `json:"app"`
	Type string `json:"type"`
	// Host is the group's name.
	Host    string `json:"host"`
	Members int    `json:"members"`
	// Errors counts members whose app did not run.
	Errors int `json:"errors"`
	// GoodputBps is the goodput of TCP transfers in bit/s; RTTMs the
	// average ping round-trip time of each member, or the smoothed TCP
	// round-trip time at the end of a transfer, in milliseconds (for text
	// output); RTT is the same in integer nanoseconds, as report.json
	// writes every time.
	GoodputBps *Stat         `json:"goodput_bps,omitempty"`
	RTTMs      *Stat         `json:"-"`
	RTT        *DurationStat `json:"rtt,omitempty"`
}

// DurationStat is a Stat of durations, each in integer nanoseconds.
type DurationStat struct {
	N   int           `json:"n"`
	Sum time.Duration `json:"sum_ns"`
	Min time.Duration `json:"min_ns"`
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// durationStat converts s, a Stat in milliseconds (nil for none).
func durationStat(s *Stat) *DurationStat {
	if s == nil {
		return nil
	}
	ns := func(ms float64) time.Duration { return time.Duration(math.Round(ms * float64(time.Millisecond))) }
	return &DurationStat{N: s.N, Sum: ns(s.Sum), Min: ns(s.Min), P50: ns(s.P50), P99: ns(s.P99), Max: ns(s.Max)}
}

// groupReports aggregates the apps expanded from group apps, in the order
// of the file.
func groupReports(apps []App, reports []AppReport) []GroupReport {
	var out []GroupReport
	idx := map[string]int{}
	var goodput, rtt [][]float64
	for i, a := range apps {
		if a.Group == "" {
			continue
		}
		k, ok := idx[a.Group]
		if !ok {
			k = len(out)
			idx[a.Group] = k
			out = append(out, GroupReport{App: a.Group, Type: a.Type, Host: a.GroupHost})
			goodput, rtt = append(goodput, nil), append(rtt, nil)
		}
		g := &out[k]
		g.Members++
		r := reports[i]
		if r.Error != "" {
			g.Errors++
			continue
		}
		switch res := r.Result.(type) {
		case ping.Result:
			if res.Received > 0 {
				rtt[k] = append(rtt[k], res.RTTAvgMs)
			}
		case tcpapps.BulkResult:
			goodput[k] = append(goodput[k], res.Goodput)
			if res.TCP.SRTT > 0 {
				rtt[k] = append(rtt[k], float64(res.TCP.SRTT)/float64(time.Millisecond))
			}
		}
	}
	for k := range out {
		out[k].GoodputBps, out[k].RTTMs = newStat(goodput[k]), newStat(rtt[k])
		out[k].RTT = durationStat(out[k].RTTMs)
	}
	return out
}

// summary renders g on one line.
func (g GroupReport) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d members", g.Members)
	if g.Errors > 0 {
		fmt.Fprintf(&b, " (%d did not run)", g.Errors)
	}
	if s := g.GoodputBps; s != nil {
		fmt.Fprintf(&b, ", goodput bit/s sum %.0f min %.0f p50 %.0f p99 %.0f max %.0f", s.Sum, s.Min, s.P50, s.P99, s.Max)
	}
	if s := g.RTTMs; s != nil {
		fmt.Fprintf(&b, ", rtt ms min %.3f p50 %.3f p99 %.3f max %.3f", s.Min, s.P50, s.P99, s.Max)
	}
	return b.String()
}
