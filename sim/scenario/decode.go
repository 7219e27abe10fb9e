package scenario

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/app/attack"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/link/impair"
)

// Limits on the size of a scenario.
const (
	maxItems     = 100000   // hosts, switches, links, apps, events or expectations written in a file
	maxCount     = 10000000 // packets an app sends
	maxPingCount = 65535    // one 16-bit sequence number per echo request
	maxPayload   = 65507    // largest UDP or ICMP payload in an IPv4 packet
	minUDPSize   = 16       // udp_send payload: sequence number and check word
	minMTU       = 68       // RFC 791: every IPv4 module must forward 68 bytes
	maxMTU       = 65535
	defaultPing  = 5
)

// parsed keeps the decoded mappings next to the values, so that checks
// across sections can point at the right line.
type parsed struct {
	hosts  []*object
	links  []*object
	apps   []*object
	events []*object
	expect []*object
}

func (d *decoder) scenario(root *yaml.Node) *Scenario {
	o := d.object(root, "", "name", "seed", "duration", "hosts", "switches", "links", "apps", "schedule", "expect", "capture")
	if o == nil {
		return nil
	}
	s := &Scenario{}
	p := &parsed{}
	if n := d.require(o, "name"); n != nil {
		s.Name, _ = d.name(n, "name")
	}
	if n := o.get("seed"); n != nil {
		s.Seed, s.HasSeed = d.seed(n, "seed")
	}
	if n := d.require(o, "duration"); n != nil {
		if v, ok := d.duration(n, "duration"); ok {
			if v == 0 {
				d.fail(n, "duration", "duration must be positive")
			}
			s.Duration = v
		}
	}
	hosts := d.require(o, "hosts")
	for i, n := range d.items(hosts, "hosts") {
		if h, ho := d.host(n, index("hosts", i)); ho != nil {
			s.Hosts = append(s.Hosts, h)
			p.hosts = append(p.hosts, ho)
		}
	}
	if hosts != nil && hosts.Kind == yaml.SequenceNode && len(hosts.Content) == 0 {
		d.fail(hosts, "hosts", "a scenario needs at least one host")
	}
	for i, n := range d.items(o.get("switches"), "switches") {
		path := index("switches", i)
		so := d.object(n, path, "name")
		if so == nil {
			continue
		}
		if nn := d.require(so, "name"); nn != nil {
			if name, ok := d.name(nn, so.field("name")); ok {
				s.Switches = append(s.Switches, Switch{Name: name, Line: n.Line})
			}
		}
	}
	for i, n := range d.items(o.get("links"), "links") {
		if l, lo := d.link(n, index("links", i)); lo != nil {
			s.Links = append(s.Links, l)
			p.links = append(p.links, lo)
		}
	}
	for i, n := range d.items(o.get("apps"), "apps") {
		if a, ao := d.app(n, index("apps", i)); ao != nil {
			s.Apps = append(s.Apps, a)
			p.apps = append(p.apps, ao)
		}
	}
	for i, n := range d.items(o.get("schedule"), "schedule") {
		if e, eo := d.event(n, index("schedule", i)); eo != nil {
			s.Schedule = append(s.Schedule, e)
			p.events = append(p.events, eo)
		}
	}
	for i, n := range d.items(o.get("expect"), "expect") {
		if e, eo := d.expectation(n, index("expect", i)); eo != nil {
			s.Expect = append(s.Expect, e)
			p.expect = append(p.expect, eo)
		}
	}
	d.captureBlock(o, s)
	if len(d.errs) == 0 {
		d.expand(s, p)
		d.expandCapture(s)
	}
	if len(d.errs) == 0 {
		d.check(s, p)
	}
	return s
}

// items is list with a bound on its length.
func (d *decoder) items(n *yaml.Node, path string) []*yaml.Node {
	l := d.list(n, path)
	if len(l) > maxItems {
		d.fail(n, path, "more than %d items", maxItems)
		return nil
	}
	return l
}

func (d *decoder) host(n *yaml.Node, path string) (Host, *object) {
	o := d.object(n, path, "name", "interfaces", "gateway", "forwarding", "routes", "ra", "count", "cc", "ecn")
	if o == nil {
		return Host{}, nil
	}
	h := Host{Line: n.Line}
	ok := true
	if nn := d.require(o, "name"); nn != nil {
		h.Name, ok = d.name(nn, o.field("name"))
	}
	ifs := d.require(o, "interfaces")
	for i, in := range d.items(ifs, o.field("interfaces")) {
		ip := index(o.field("interfaces"), i)
		io := d.object(in, ip, "name", "address", "addresses", "slaac", "mac", "dhcp_relay", "static_arp")
		if io == nil {
			continue
		}
		ifc := Interface{Line: in.Line}
		if nn := d.require(io, "name"); nn != nil {
			ifc.Name, _ = d.name(nn, io.field("name"))
		}
		d.addresses(io, &ifc)
		if mn := io.get("mac"); mn != nil {
			ifc.MAC, ifc.MACSet = d.mac(mn, io.field("mac"))
		} else {
			ifc.MAC = DeriveMAC(h.Name, ifc.Name)
		}
		if rn := io.get("dhcp_relay"); rn != nil {
			ifc.DHCPRelay, _ = d.addr(rn, io.field("dhcp_relay"))
		}
		for k, sn := range d.items(io.get("static_arp"), io.field("static_arp")) {
			so := d.object(sn, index(io.field("static_arp"), k), "address", "mac")
			if so == nil {
				continue
			}
			var e StaticNeighbor
			if an := d.require(so, "address"); an != nil {
				e.Addr, _ = d.addr(an, so.field("address"))
			}
			if mn := d.require(so, "mac"); mn != nil {
				e.MAC, _ = d.mac(mn, so.field("mac"))
			}
			ifc.StaticARP = append(ifc.StaticARP, e)
		}
		h.Interfaces = append(h.Interfaces, ifc)
	}
	if ifs != nil && ifs.Kind == yaml.SequenceNode && len(ifs.Content) == 0 {
		d.fail(ifs, o.field("interfaces"), "a host needs at least one interface")
	}
	if gn := o.get("gateway"); gn != nil {
		h.Gateway, _ = d.addr46(gn, o.field("gateway"))
	}
	d.routing(o, &h)
	d.hostTCP(o, &h)
	d.groupCount(o, &h)
	if !ok {
		return h, nil
	}
	return h, o
}

func (d *decoder) endpoint(n *yaml.Node, path string) Endpoint {
	s, ok := d.scalar(n, path)
	if !ok {
		return Endpoint{}
	}
	if host, iface, found := strings.Cut(s, ":"); found {
		if !nameRE.MatchString(host) || !nameRE.MatchString(iface) {
			d.fail(n, path, "invalid endpoint %q (want host:iface or a switch name)", s)
			return Endpoint{}
		}
		return Endpoint{Host: host, Iface: iface}
	}
	if !nameRE.MatchString(s) {
		d.fail(n, path, "invalid endpoint %q (want host:iface or a switch name)", s)
		return Endpoint{}
	}
	return Endpoint{Switch: s}
}

func (d *decoder) link(n *yaml.Node, path string) (Link, *object) {
	o := d.object(n, path, "name", "a", "b", "mtu", "impair")
	if o == nil {
		return Link{}, nil
	}
	l := Link{Line: n.Line, MTU: DefaultMTU}
	if nn := d.require(o, "name"); nn != nil {
		l.Name, _ = d.name(nn, o.field("name"))
	}
	if an := d.require(o, "a"); an != nil {
		l.A = d.endpoint(an, o.field("a"))
	}
	if bn := d.require(o, "b"); bn != nil {
		l.B = d.endpoint(bn, o.field("b"))
	}
	if mn := o.get("mtu"); mn != nil {
		v, _ := d.integer(mn, o.field("mtu"), minMTU, maxMTU)
		l.MTU = int(v)
	}
	if in := o.get("impair"); in != nil {
		ab, ba := d.impairBlock(in, o.field("impair"))
		l.AtoB, l.BtoA = ab.Apply(Impair{}), ba.Apply(Impair{})
		if (l.AtoB.Queue != Queue{} && l.AtoB.Rate == 0) || (l.BtoA.Queue != Queue{} && l.BtoA.Rate == 0) {
			d.fail(in, o.field("impair"), "a queue bound needs a rate in the same direction")
		}
		if d.checkQdisc(l.AtoB, ab.Qdisc, in, o.field("impair"), "a_to_b") {
			d.checkQdisc(l.BtoA, ba.Qdisc, in, o.field("impair"), "b_to_a")
		}
	}
	return l, o
}

var impairFields = append([]string{"loss", "gilbert", "delay", "jitter", "jitter_dist", "keep_order", "reorder", "reorder_delay", "duplicate", "corrupt", "rate", "queue"}, qdiscFields...)

// impairBlock reads an impairment block: fields that apply to both
// directions, and a_to_b / b_to_a blocks laid over them.
func (d *decoder) impairBlock(n *yaml.Node, path string) (ab, ba ImpairPatch) {
	o := d.object(n, path, append(impairFields[:len(impairFields):len(impairFields)], "a_to_b", "b_to_a")...)
	if o == nil {
		return
	}
	both := d.impair(o)
	ab, ba = both, both
	if dn := o.get("a_to_b"); dn != nil {
		if do := d.object(dn, o.field("a_to_b"), impairFields...); do != nil {
			ab = both.merge(d.impair(do))
		}
	}
	if dn := o.get("b_to_a"); dn != nil {
		if do := d.object(dn, o.field("b_to_a"), impairFields...); do != nil {
			ba = both.merge(d.impair(do))
		}
	}
	return ab, ba
}

func (d *decoder) impair(o *object) ImpairPatch {
	var p ImpairPatch
	prob := func(name string) *float64 {
		if n := o.get(name); n != nil {
			if v, ok := d.fraction(n, o.field(name)); ok {
				return &v
			}
		}
		return nil
	}
	dur := func(name string) *time.Duration {
		if n := o.get(name); n != nil {
			if v, ok := d.duration(n, o.field(name)); ok {
				return &v
			}
		}
		return nil
	}
	p.Loss = prob("loss")
	p.Reorder = prob("reorder")
	p.Duplicate = prob("duplicate")
	p.Corrupt = prob("corrupt")
	p.Delay = dur("delay")
	p.Jitter = dur("jitter")
	p.ReorderDelay = dur("reorder_delay")
	if n := o.get("rate"); n != nil {
		if v, ok := d.rate(n, o.field("rate")); ok {
			p.Rate = &v
		}
	}
	if n := o.get("queue"); n != nil {
		if v, ok := d.queue(n, o.field("queue")); ok {
			p.Queue = &v
		}
	}
	if n := o.get("jitter_dist"); n != nil {
		if v, ok := d.scalar(n, o.field("jitter_dist")); ok {
			switch v {
			case impair.JitterUniform, impair.JitterNormal:
				p.JitterDist = &v
			default:
				d.fail(n, o.field("jitter_dist"), "unknown jitter distribution %q (want %s or %s)", v, impair.JitterUniform, impair.JitterNormal)
			}
		}
	}
	if n := o.get("keep_order"); n != nil {
		if v, ok := d.boolean(n, o.field("keep_order")); ok {
			p.KeepOrder = &v
		}
	}
	p.Qdisc = d.qdiscPatch(o)
	if n, present := o.vals["gilbert"]; present {
		var g *Gilbert
		if !isNull(n) && !(n.Kind == yaml.ScalarNode && n.Value == "off") {
			g = d.gilbert(n, o.field("gilbert"))
		}
		p.Gilbert = &g
	}
	return p
}

func (d *decoder) gilbert(n *yaml.Node, path string) *Gilbert {
	o := d.object(n, path, "p", "r", "loss_bad", "loss_good")
	if o == nil {
		return nil
	}
	g := &Gilbert{LossBad: 1}
	if v := d.require(o, "p"); v != nil {
		g.P, _ = d.fraction(v, o.field("p"))
	}
	if v := d.require(o, "r"); v != nil {
		g.R, _ = d.fraction(v, o.field("r"))
	}
	if v := o.get("loss_bad"); v != nil {
		g.LossBad, _ = d.fraction(v, o.field("loss_bad"))
	}
	if v := o.get("loss_good"); v != nil {
		g.LossGood, _ = d.fraction(v, o.field("loss_good"))
	}
	if g.P > 0 && g.R == 0 && o.get("r") != nil {
		d.fail(o.get("r"), o.field("r"), "r must be positive when p is: the channel would never leave the bad state")
	}
	return g
}

// appFields lists, per app type, the fields it accepts beyond name, type
// and host.
var appFields = map[string][]string{
	AppPing:       {"target", "count", "interval", "size", "start"},
	AppUDPSink:    {"port", "interval", "start"},
	AppUDPSend:    {"target", "port", "count", "interval", "size", "start"},
	AppTCPEcho:    {"port", "start"},
	AppTCPDiscard: {"port", "start"},
	AppTCPSend:    {"target", "bytes", "interval", "start", "cc"},
	AppTCPRecv:    {"port", "bytes", "interval", "start"},
	// Service apps.
	AppTCPEchoClient: {"target", "bytes", "start"},
	AppDHCPServer:    {"pool", "router", "dns", "lease_time", "reservations", "subnets", "start"},
	AppDNSServer:     {"zone", "zone_file", "zone_origin", "start"},
	AppHTTPServer:    {"port", "dir", "start"},
	AppHTTPGet:       {"url", "dns", "count", "interval", "start"},
	AppDNSLookup:     {"query", "qtype", "dns", "start"},
	AppTraceroute:    {"target", "max_hops", "queries", "start"},
	AppSYNFlood:      {"target", "rate", "count", "spoof", "start"},
	AppFragFlood:     {"target", "rate", "count", "start"},
	AppDNSBadQuery:   {"target", "count", "interval", "start"},
	AppDHCPRogue:     {"offer", "start"},
	AppARPSpoof:      {"target", "claim", "count", "interval", "start"},
	AppTCPInject:     {"target", "rate", "count", "start"},
}

var appTypes = []string{AppARPSpoof, AppDHCPRogue, AppDHCPServer, AppDNSBadQuery, AppDNSLookup, AppDNSServer, AppFragFlood, AppHTTPGet, AppHTTPServer, AppPing, AppSYNFlood, AppTCPDiscard, AppTCPEcho, AppTCPEchoClient, AppTCPInject, AppTCPRecv, AppTCPSend, AppTraceroute, AppUDPSend, AppUDPSink}

// appOptional lists the fields every app type may set.
var appOptional = []string{"start", "after"}

// appKnown lists every field of an app mapping.
var appKnown = []string{"name", "type", "host", "target", "port", "count", "interval", "size", "start", "after", "bytes",
	"pool", "router", "dns", "lease_time", "reservations", "zone", "zone_file", "zone_origin", "dir", "url", "query", "qtype",
	"subnets", "max_hops", "queries", "cc", "rate", "spoof", "offer", "claim"}

// maxBulk bounds a TCP bulk transfer.
const maxBulk = 1 << 34

func (d *decoder) app(n *yaml.Node, path string) (App, *object) {
	o := d.object(n, path, appKnown...)
	if o == nil {
		return App{}, nil
	}
	a := App{Line: n.Line}
	if nn := d.require(o, "name"); nn != nil {
		a.Name, _ = d.name(nn, o.field("name"))
	}
	if hn := d.require(o, "host"); hn != nil {
		a.Host, _ = d.name(hn, o.field("host"))
	}
	tn := d.require(o, "type")
	if tn == nil {
		return a, nil
	}
	a.Type, _ = d.scalar(tn, o.field("type"))
	allowed, known := appFields[a.Type]
	if !known {
		d.fail(tn, o.field("type"), "unknown app type %q (want one of %s)", a.Type, strings.Join(appTypes, ", "))
		return a, nil
	}
	for _, f := range appKnown[3:] {
		if _, present := o.vals[f]; present && !slices.Contains(allowed, f) && !slices.Contains(appOptional, f) {
			d.fail(o.keys[f], o.field(f), "not used by a %s app", a.Type)
		}
	}
	maxN := int64(maxCount)
	switch a.Type {
	case AppPing:
		a.Count, a.Size, a.Interval = defaultPing, 56, time.Second
		maxN = maxPingCount
		if tn := d.require(o, "target"); tn != nil {
			a.Target, _ = d.addr46(tn, o.field("target"))
		}
	case AppTraceroute:
		if tn := d.require(o, "target"); tn != nil {
			a.Target, _ = d.addr46(tn, o.field("target"))
		}
	case AppUDPSend:
		a.Count, a.Size, a.Interval = 10, 512, 10*time.Millisecond
		if tn := d.require(o, "target"); tn != nil {
			if ap, ok := d.addrPort46(tn, o.field("target")); ok {
				a.Target, a.TargetPort = ap.Addr(), ap.Port()
			}
		}
	case AppUDPSink, AppTCPEcho, AppTCPDiscard, AppTCPRecv:
		if pn := d.require(o, "port"); pn != nil {
			a.Port, _ = d.port(pn, o.field("port"))
		}
	case AppTCPSend, AppTCPEchoClient:
		if tn := d.require(o, "target"); tn != nil {
			if ap, ok := d.addrPort46(tn, o.field("target")); ok {
				a.Target, a.TargetPort = ap.Addr(), ap.Port()
			}
		}
	case AppHTTPGet:
		a.Count = 1
		maxN = httpapp.MaxCount
	case AppARPSpoof:
		a.Count, a.Interval = 10, 100*time.Millisecond
		if tn := d.require(o, "target"); tn != nil {
			a.Target, _ = d.addr(tn, o.field("target"))
		}
		if cn := d.require(o, "claim"); cn != nil {
			a.Claim, _ = d.addr(cn, o.field("claim"))
		}
	case AppDHCPRogue:
		if on := d.require(o, "offer"); on != nil {
			a.Offer, _ = d.addr(on, o.field("offer"))
		}
	case AppDNSBadQuery:
		a.Count, a.Interval = 5, 20*time.Millisecond
		if tn := d.require(o, "target"); tn != nil {
			if ap, ok := d.addrPort(tn, o.field("target")); ok {
				a.Target, a.TargetPort = ap.Addr(), ap.Port()
			}
		}
	case AppSYNFlood, AppFragFlood, AppTCPInject:
		if tn := d.require(o, "target"); tn != nil {
			if a.Type == AppFragFlood {
				a.Target, _ = d.addr(tn, o.field("target"))
			} else if ap, ok := d.addrPort(tn, o.field("target")); ok {
				a.Target, a.TargetPort = ap.Addr(), ap.Port()
			}
		}
		if rn := d.require(o, "rate"); rn != nil {
			v, _ := d.integer(rn, o.field("rate"), 1, attack.MaxRate)
			a.Rate = int(v)
		}
		d.require(o, "count")
		if sn := o.get("spoof"); sn != nil {
			if v, ok := d.scalar(sn, o.field("spoof")); ok {
				p, err := netip.ParsePrefix(v)
				if err != nil || !p.Addr().Is4() {
					d.fail(sn, o.field("spoof"), "invalid IPv4 prefix %q (want e.g. 198.18.0.0/15)", v)
				}
				a.Spoof = p.Masked()
			}
		}
	}
	d.serviceApp(o, &a)
	d.routingApp(o, &a)
	d.appTCP(o, &a)
	if a.Type == AppTCPSend || a.Type == AppTCPRecv || a.Type == AppTCPEchoClient {
		if bn := d.require(o, "bytes"); bn != nil {
			a.Bytes, _ = d.byteSize(bn, o.field("bytes"), maxBulk)
		}
	}
	if a.Type == AppUDPSend {
		if pn := o.get("port"); pn != nil {
			a.Port, _ = d.port(pn, o.field("port"))
		}
	}
	if slices.Contains(allowed, "count") {
		if cn := o.get("count"); cn != nil {
			v, _ := d.integer(cn, o.field("count"), 1, maxN)
			a.Count = int(v)
		}
		if sn := o.get("size"); sn != nil {
			lo := int64(0)
			if a.Type == AppUDPSend {
				lo = minUDPSize
			}
			v, _ := d.integer(sn, o.field("size"), lo, maxPayload)
			a.Size = int(v)
		}
		if in := o.get("interval"); in != nil {
			if v, ok := d.duration(in, o.field("interval")); ok {
				if v == 0 {
					d.fail(in, o.field("interval"), "interval must be positive")
				}
				a.Interval = v
			}
		}
	}
	if a.Type == AppTCPSend || a.Type == AppTCPRecv || a.Type == AppUDPSink {
		// The reporting interval of goodput, like iperf's --interval.
		if in := o.get("interval"); in != nil {
			if v, ok := d.duration(in, o.field("interval")); ok {
				if v < time.Millisecond {
					d.fail(in, o.field("interval"), "interval must be at least 1ms")
				}
				a.Interval = v
			}
		}
	}
	if sn := o.get("start"); sn != nil {
		a.Start, _ = d.duration(sn, o.field("start"))
	}
	if an := o.get("after"); an != nil {
		if v, ok := d.scalar(an, o.field("after")); ok {
			if v != "lease" {
				d.fail(an, o.field("after"), "unknown after %q (want lease)", v)
			}
			a.AfterLease = true
		}
	}
	return a, o
}

func (d *decoder) event(n *yaml.Node, path string) (Event, *object) {
	o := d.object(n, path, "at", "link", "host", "action", "set")
	if o == nil {
		return Event{}, nil
	}
	e := Event{Line: n.Line}
	if an := d.require(o, "at"); an != nil {
		e.At, _ = d.duration(an, o.field("at"))
	}
	an, sn := o.get("action"), o.get("set")
	if hn := o.get("host"); hn != nil {
		e.Host, _ = d.name(hn, o.field("host"))
		switch {
		case o.get("link") != nil:
			d.fail(hn, o.field("host"), "give either link or host, not both")
		case sn != nil:
			d.fail(sn, o.field("set"), "a set block changes a link; a host event takes action: crash|restart")
		case an == nil:
			d.fail(n, o.field("action"), "required field is missing (want action: crash|restart)")
		default:
			v, _ := d.scalar(an, o.field("action"))
			if v != ActionCrash && v != ActionRestart {
				d.fail(an, o.field("action"), "unknown host action %q (want crash or restart)", v)
			}
			e.Action = v
		}
		return e, o
	}
	if ln := d.require(o, "link"); ln != nil {
		e.Link, _ = d.name(ln, o.field("link"))
	}
	switch {
	case an != nil && sn != nil:
		d.fail(an, o.field("action"), "give either action or set, not both")
	case sn != nil:
		e.Action = ActionSet
		e.SetAtoB, e.SetBtoA = d.impairBlock(sn, o.field("set"))
		if e.SetAtoB.IsZero() && e.SetBtoA.IsZero() && len(d.errs) == 0 {
			d.fail(sn, o.field("set"), "set changes nothing")
		}
	case an != nil:
		v, _ := d.scalar(an, o.field("action"))
		if v != ActionDown && v != ActionUp {
			d.fail(an, o.field("action"), "unknown action %q (want down or up, or a set block)", v)
		}
		e.Action = v
	default:
		d.fail(n, o.field("action"), "required field is missing (want action: down|up or a set block)")
	}
	return e, o
}

func (d *decoder) expectation(n *yaml.Node, path string) (Expectation, *object) {
	o := d.object(n, path, "app", "host", "min_replies", "max_loss", "min_rtt_avg", "max_rtt_avg", "min_datagrams", "bytes_verified", "min_bytes",
		"dhcp_bound", "dns_answer", "http_status", "body_sha256", "min_requests", "reached", "hops", "max_tcp_connections",
		"max_reassembly_bytes", "link", "direction", "min_marks", "max_drops")
	if o == nil {
		return Expectation{}, nil
	}
	e := Expectation{Line: n.Line}
	if hn := o.get("host"); hn != nil {
		e.Host, _ = d.name(hn, o.field("host"))
		if o.get("app") != nil {
			d.fail(hn, o.field("host"), "give either app or host, not both")
		}
		if o.get("dhcp_bound") == nil && o.get("max_tcp_connections") == nil && o.get("max_reassembly_bytes") == nil {
			d.fail(n, o.field("dhcp_bound"), "an expectation on a host needs dhcp_bound, max_tcp_connections or max_reassembly_bytes")
		}
		if v := o.get("max_reassembly_bytes"); v != nil {
			if x, ok := d.byteSize(v, o.field("max_reassembly_bytes"), maxBulk); ok {
				e.MaxReassemblyBytes = &x
			}
		}
		if v := o.get("max_tcp_connections"); v != nil {
			if x, ok := d.integer(v, o.field("max_tcp_connections"), 0, maxCount); ok {
				i := int(x)
				e.MaxTCPConns = &i
			}
		}
	} else if o.get("link") == nil {
		if an := d.require(o, "app"); an != nil {
			e.App, _ = d.name(an, o.field("app"))
		}
	}
	d.linkExpect(o, &e)
	d.serviceExpect(o, &e)
	d.routingExpect(o, &e)
	if v := o.get("min_replies"); v != nil {
		if x, ok := d.integer(v, o.field("min_replies"), 0, maxCount); ok {
			i := int(x)
			e.MinReplies = &i
		}
	}
	if v := o.get("max_loss"); v != nil {
		if x, ok := d.fraction(v, o.field("max_loss")); ok {
			e.MaxLoss = &x
		}
	}
	for _, f := range []struct {
		name string
		dst  **time.Duration
	}{{"min_rtt_avg", &e.MinRTTAvg}, {"max_rtt_avg", &e.MaxRTTAvg}} {
		if v := o.get(f.name); v != nil {
			if x, ok := d.duration(v, o.field(f.name)); ok {
				*f.dst = &x
			}
		}
	}
	if v := o.get("min_datagrams"); v != nil {
		if x, ok := d.integer(v, o.field("min_datagrams"), 0, maxCount); ok {
			i := int(x)
			e.MinDatagrams = &i
		}
	}
	if v := o.get("bytes_verified"); v != nil {
		if x, ok := d.boolean(v, o.field("bytes_verified")); ok {
			e.BytesVerified = &x
		}
	}
	if v := o.get("min_bytes"); v != nil {
		if x, ok := d.byteSize(v, o.field("min_bytes"), maxBulk); ok {
			e.MinBytes = &x
		}
	}
	if len(o.vals) == 1 && e.App != "" {
		d.fail(n, path, "an expectation needs at least one condition (min_replies, max_loss, min_rtt_avg, max_rtt_avg, min_datagrams, bytes_verified, min_bytes, dns_answer, http_status, body_sha256, min_requests, reached, hops)")
	}
	return e, o
}

// criterion is one condition an expectation sets, with the app types it
// applies to.
type criterion struct {
	name     string
	appTypes []string
}

// criteria returns the conditions e sets.
func (e Expectation) criteria() []criterion {
	var out []criterion
	add := func(set bool, name string, appTypes ...string) {
		if set {
			out = append(out, criterion{name, appTypes})
		}
	}
	add(e.MinReplies != nil, "min_replies", AppPing)
	add(e.MaxLoss != nil, "max_loss", AppPing)
	add(e.MinRTTAvg != nil, "min_rtt_avg", AppPing)
	add(e.MaxRTTAvg != nil, "max_rtt_avg", AppPing)
	add(e.MinDatagrams != nil, "min_datagrams", AppUDPSink)
	add(e.BytesVerified != nil, "bytes_verified", AppUDPSink, AppTCPSend, AppTCPRecv, AppTCPEchoClient)
	add(e.MinBytes != nil, "min_bytes", AppTCPSend, AppTCPRecv, AppTCPEchoClient)
	add(e.DNSAnswer.IsValid(), "dns_answer", AppDNSLookup, AppHTTPGet)
	add(e.HTTPStatus != nil, "http_status", AppHTTPGet)
	add(e.BodySHA256 != "", "body_sha256", AppHTTPGet)
	add(e.MinRequests != nil, "min_requests", AppHTTPGet)
	add(e.Reached != nil, "reached", AppTraceroute)
	add(e.Hops != nil, "hops", AppTraceroute)
	return out
}
