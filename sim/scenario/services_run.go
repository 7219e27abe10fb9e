package scenario

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/attack"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/stack"
)

// LeaseReport is the DHCP state of one interface configured by DHCP.
type LeaseReport struct {
	Interface string `json:"interface"`
	// State is the client's state at the end of the run (e.g. BOUND).
	State string `json:"state"`
	// Bound reports that a lease was in use at the end of the run.
	Bound   bool     `json:"bound"`
	Address string   `json:"address,omitempty"`
	Router  string   `json:"router,omitempty"`
	DNS     []string `json:"dns"`
	// LeaseTime is the lease's duration and BoundAt when the first lease
	// was bound, from the start of the run, as text; report.json carries
	// them in nanoseconds (LeaseTimeNs, BoundAtNs).
	LeaseTime   string        `json:"-"`
	BoundAt     string        `json:"-"`
	LeaseTimeNs time.Duration `json:"lease_time_ns,omitempty"`
	BoundAtNs   time.Duration `json:"bound_at_ns,omitempty"`
	// Renewals counts leases applied after the first (renewals and
	// rebinds); Lost counts leases removed.
	Renewals int `json:"renewals"`
	Lost     int `json:"lost"`
	// Sent counts DHCP messages the client sent.
	Sent uint64 `json:"sent"`
}

// TimelineEvent is one thing that happened during a run, for the human
// timeline.
type TimelineEvent struct {
	// At is the time from the start of the run, as text; AtNs in
	// nanoseconds, as report.json carries it.
	At   string        `json:"-"`
	AtNs time.Duration `json:"at_ns"`
	Host string        `json:"host"`
	What string        `json:"what"`
}

// dhcpIface is a host interface configured by DHCP during a run.
type dhcpIface struct {
	host   string
	ifc    *stack.Interface
	client *dhcpstack.Client
	rep    LeaseReport
	first  bool
}

// timeline collects events during a run.
type timeline struct {
	t0     clock.Time
	events []TimelineEvent
}

func (tl *timeline) add(now clock.Time, host, format string, args ...any) {
	d := now.Sub(tl.t0)
	tl.events = append(tl.events, TimelineEvent{At: fmtOffset(d), AtNs: d, Host: host, What: fmt.Sprintf(format, args...)})
}

// sorted returns the events in time order (insertion order at the same
// instant).
func (tl *timeline) sorted() []TimelineEvent {
	out := slices.Clone(tl.events)
	slices.SortStableFunc(out, func(a, b TimelineEvent) int { return cmp.Compare(a.AtNs, b.AtNs) })
	if out == nil {
		out = []TimelineEvent{}
	}
	return out
}

// fmtOffset renders a time from the start of the run to the microsecond.
func fmtOffset(d time.Duration) string {
	return fmt.Sprintf("%.6fs", d.Seconds())
}

// startDHCP creates the DHCP client of an interface; it starts at t0.
func startDHCP(host string, ifc *stack.Interface, rnd *rand.Rand, tl *timeline, onFirst func(clock.Time, netip.Addr)) (*dhcpIface, error) {
	c, err := dhcpstack.NewClient(ifc, rnd, nil)
	if err != nil {
		return nil, err
	}
	di := &dhcpIface{host: host, ifc: ifc, client: c, rep: LeaseReport{Interface: ifc.Name(), DNS: []string{}}}
	clk := ifc.Host().Clock()
	c.OnLease = func(l dhcp.Lease, bound bool) {
		now := clk.Now()
		if !bound {
			di.rep.Lost++
			tl.add(now, host, "DHCP lease %s on %s lost", l.Addr, ifc.Name())
			return
		}
		if di.first {
			di.rep.Renewals++
			tl.add(now, host, "DHCP lease %s on %s renewed (%v)", l.Addr, ifc.Name(), l.LeaseTime)
			return
		}
		di.first = true
		di.rep.BoundAtNs = now.Sub(tl.t0)
		di.rep.BoundAt = fmtOffset(di.rep.BoundAtNs)
		tl.add(now, host, "DHCP lease bound: %s on %s, router %s, DNS %s, lease %v", l.Addr, ifc.Name(), joinAddrs(l.Routers), joinAddrs(l.DNS), l.LeaseTime)
		onFirst(now, l.Addr.Addr())
	}
	return di, nil
}

func joinAddrs(as []netip.Addr) string {
	if len(as) == 0 {
		return "none"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// report fills in the end-of-run state.
func (di *dhcpIface) report() LeaseReport {
	r := di.rep
	r.State = di.client.State().String()
	r.Sent = di.client.Stats.Sent
	if l, ok := di.client.Lease(); ok {
		r.Bound = true
		r.Address = l.Addr.String()
		if len(l.Routers) > 0 {
			r.Router = l.Routers[0].String()
		}
		r.DNS = make([]string, len(l.DNS))
		for i, a := range l.DNS {
			r.DNS[i] = a.String()
		}
		r.LeaseTime, r.LeaseTimeNs = l.LeaseTime.String(), l.LeaseTime
	}
	return r
}

// errNoDNS reports a lookup on a host that learned no DNS server.
var errNoDNS = errors.New("no DNS server: none given and none learned by DHCP")

// newServiceApp makes a DHCP, DNS or HTTP app; dnsServers returns the
// DNS servers the host learned by DHCP.
func newServiceApp(a App, env *app.Env, dnsServers func() []netip.Addr) (app.App, error) {
	servers := func() ([]netip.AddrPort, error) {
		addrs := []netip.Addr{a.Server}
		if !a.Server.IsValid() {
			addrs = dnsServers()
		}
		if len(addrs) == 0 {
			return nil, errNoDNS
		}
		out := make([]netip.AddrPort, len(addrs))
		for i, x := range addrs {
			out[i] = netip.AddrPortFrom(x, app.DNSPort)
		}
		return out, nil
	}
	switch a.Type {
	case AppTCPEchoClient:
		return app.NewTCPEchoClient(a.Name, netip.AddrPortFrom(a.Target, a.TargetPort), a.Bytes), nil
	case AppDHCPServer:
		cfg := app.DHCPServerConfig{Name: a.Name, PoolStart: a.PoolStart, PoolEnd: a.PoolEnd, Router: a.Router, DNS: a.DNS, LeaseTime: a.LeaseTime}
		for _, r := range a.Reservations {
			cfg.Reservations = append(cfg.Reservations, dhcp.Reservation{HW: r.MAC, Addr: r.Addr})
		}
		for _, sub := range a.Subnets {
			cfg.Subnets = append(cfg.Subnets, dhcp.ServerConfig{Subnet: sub.Subnet, PoolStart: sub.PoolStart, PoolEnd: sub.PoolEnd, Router: sub.Router})
		}
		return app.NewDHCPServer(cfg), nil
	case AppDNSServer:
		z, err := dns.ParseZone(strings.NewReader(a.Zone), a.Origin, cmp.Or(a.ZoneFile, "zone"))
		if err != nil {
			return nil, fmt.Errorf("dns_server %s: %w", a.Name, err)
		}
		return app.NewDNSServer(a.Name, z), nil
	case AppHTTPServer:
		cfg := httpapp.ServerConfig{Name: a.Name, Port: a.Port}
		if a.Dir != "" {
			// An os.Root: neither ".." nor a symlink leaves the directory.
			root, err := os.OpenRoot(a.Dir)
			if err != nil {
				return nil, fmt.Errorf("http_server %s: %w", a.Name, err)
			}
			cfg.Root = root.FS()
		}
		return httpapp.NewServer(cfg)
	case AppHTTPGet:
		cfg := httpapp.ClientConfig{Name: a.Name, URL: a.URL, Count: a.Count, Interval: a.Interval}
		if u := a.URL; !hostIsAddr(u) {
			s, err := servers()
			if err != nil {
				return nil, fmt.Errorf("http_get %s: %w", a.Name, err)
			}
			cfg.Resolver = &patientResolver{env: env, servers: s}
		}
		return httpapp.NewClient(cfg)
	case AppDNSLookup:
		s, err := servers()
		if err != nil {
			return nil, fmt.Errorf("dns_lookup %s: %w", a.Name, err)
		}
		l := app.NewDNSLookup(a.Name, a.Query, s...)
		l.Attempts = LookupAttempts
		if a.QType == "AAAA" {
			l.Type = dns.TypeAAAA
		}
		return l, nil
	}
	return nil, errors.New("unknown app type " + a.Type)
}

// hostIsAddr reports whether an http URL names its host by address.
func hostIsAddr(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return false
	}
	host, _, _ := strings.Cut(rest, "/")
	if ap, err := netip.ParseAddrPort(host); err == nil {
		return ap.Addr().IsValid()
	}
	_, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil
}

// resultEvents adds to the timeline what an app's result says happened.
func resultEvents(tl *timeline, a App, started clock.Time, res any) {
	switch r := res.(type) {
	case app.DNSLookupResult:
		if r.Answered {
			tl.add(r.End, a.Host, "DNS answer for %s: %s (%s, %d queries)", r.Query, strings.Join(r.Addresses, ","), r.Rcode, r.Queries)
		} else if r.Error != "" {
			tl.add(r.End, a.Host, "DNS lookup of %s failed: %s", r.Query, r.Error)
		}
	case httpapp.ClientResult:
		if r.Requests > 0 {
			at := started.Add(time.Duration(r.TotalMs * float64(time.Millisecond)))
			tl.add(at, a.Host, "HTTP %d from %s (%s): %d bytes, sha256 %.12s…, %d request(s)", r.Status, r.URL, r.Address, r.BodyLength, r.BodySHA256, r.Requests)
		}
		if r.Error != "" {
			tl.add(started, a.Host, "%s: %s", a.Name, r.Error)
		}
	case tcpapps.BulkResult:
		if r.End == 0 {
			return
		}
		if r.Verified {
			tl.add(r.End, a.Host, "%s: %d bytes verified (%d retransmissions)", a.Name, r.Bytes, r.TCP.Retransmits)
		} else {
			tl.add(r.End, a.Host, "%s: failed after %d bytes: %s", a.Name, r.Bytes, r.Error)
		}
	}
}

// evaluateHost checks a host's expectation (dhcp_bound,
// max_tcp_connections) against the host reports.
func evaluateHost(e Expectation, hosts []HostReport) []ExpectResult {
	var out []ExpectResult
	if e.MaxTCPConns != nil {
		r := ExpectResult{App: e.Host, Condition: fmt.Sprintf("max_tcp_connections: %d", *e.MaxTCPConns), Line: e.Line}
		for _, h := range hosts {
			if h.Name == e.Host {
				r.Passed = h.TCP.PeakConnections <= uint64(*e.MaxTCPConns)
				r.Message = fmt.Sprintf("at most %d TCP connections at once (%d SYN cookies sent, %d backlog drops)",
					h.TCP.PeakConnections, h.TCP.SYNCookiesSent, h.TCP.BacklogDrops)
			}
		}
		out = append(out, r)
	}
	if e.MaxReassemblyBytes != nil {
		r := ExpectResult{App: e.Host, Condition: fmt.Sprintf("max_reassembly_bytes: %d", *e.MaxReassemblyBytes), Line: e.Line}
		for _, h := range hosts {
			if h.Name == e.Host {
				r.Passed = h.IP.ReassemblyBytesPeak <= uint64(*e.MaxReassemblyBytes)
				r.Message = fmt.Sprintf("at most %d bytes held by partial datagrams (%d fragments in; dropped: %d to the memory limit, %d overlapping, %d timed out)",
					h.IP.ReassemblyBytesPeak, h.IP.FragmentsIn, h.IP.ReassemblyMemory, h.IP.ReassemblyOverlap, h.IP.ReassemblyTimeout)
			}
		}
		out = append(out, r)
	}
	if e.DHCPBound == nil {
		return out
	}
	r := ExpectResult{App: e.Host, Condition: fmt.Sprintf("dhcp_bound: %t", *e.DHCPBound), Line: e.Line}
	bound, msgs := false, []string{}
	for _, h := range hosts {
		if h.Name != e.Host {
			continue
		}
		for _, l := range h.DHCP {
			if l.Bound {
				bound = true
				msgs = append(msgs, fmt.Sprintf("%s %s %s since %s", l.Interface, l.State, l.Address, l.BoundAt))
			} else {
				msgs = append(msgs, fmt.Sprintf("%s %s, no lease", l.Interface, l.State))
			}
		}
	}
	r.Passed = bound == *e.DHCPBound
	r.Message = strings.Join(msgs, "; ")
	return append(out, r)
}

// evaluateService checks the DNS and HTTP conditions of e against a
// service app's result.
func evaluateService(e Expectation, res any, add func(cond string, pass bool, format string, args ...any)) {
	switch r := res.(type) {
	case app.DNSLookupResult:
		if e.DNSAnswer.IsValid() {
			msg := "no answer"
			if r.Answered {
				msg = fmt.Sprintf("answer %s [%s] after %d queries", r.Rcode, strings.Join(r.Addresses, ","), r.Queries)
			} else if r.Error != "" {
				msg = r.Error
			}
			add("dns_answer: "+e.DNSAnswer.String(), slices.Contains(r.Addresses, e.DNSAnswer.String()), "%s", msg)
		}
	case httpapp.ClientResult:
		msg := fmt.Sprintf("%d responses, last status %d, %d bytes", r.Requests, r.Status, r.BodyLength)
		if r.Error != "" {
			msg += ", error: " + r.Error
		}
		if e.DNSAnswer.IsValid() {
			ap, err := netip.ParseAddrPort(r.Address)
			got := err == nil && ap.Addr() == e.DNSAnswer
			add("dns_answer: "+e.DNSAnswer.String(), got, "connected to %q", r.Address)
		}
		if e.HTTPStatus != nil {
			add(fmt.Sprintf("http_status: %d", *e.HTTPStatus), r.Requests > 0 && r.Status == *e.HTTPStatus, "%s", msg)
		}
		if e.BodySHA256 != "" {
			add("body_sha256: "+e.BodySHA256, r.Requests > 0 && r.BodySHA256 == e.BodySHA256, "body sha256 %s", cmp.Or(r.BodySHA256, "none"))
		}
		if e.MinRequests != nil {
			add(fmt.Sprintf("min_requests: %d", *e.MinRequests), r.Requests >= *e.MinRequests, "%s", msg)
		}
	}
}

// serviceSummary renders a service app's result for the summary.
func serviceSummary(res any) (string, bool) {
	switch r := res.(type) {
	case app.DNSLookupResult:
		if !r.Answered {
			return fmt.Sprintf("%s: no answer after %d queries %s", r.Query, r.Queries, r.Error), true
		}
		return fmt.Sprintf("%s: %s [%s] from %s after %d queries", r.Query, r.Rcode, strings.Join(r.Addresses, ","), r.Server, r.Queries), true
	case httpapp.ClientResult:
		s := fmt.Sprintf("%d responses from %s (%s), last status %d, %d bytes, %d connections", r.Requests, r.URL, r.Address, r.Status, r.BodyLength, r.Connections)
		if r.Error != "" {
			s += ", error: " + r.Error
		}
		return s, true
	case httpapp.ServerResult:
		return fmt.Sprintf("%d connections, %d requests, %d bytes sent", r.Connections, r.Requests, r.BytesSent), true
	case app.DNSServerResult:
		return fmt.Sprintf("%d queries answered, %d NXDOMAIN, %d refused", r.Queries, r.NXDomain, r.Refused), true
	case app.DHCPServerResult:
		return fmt.Sprintf("%d offers, %d acks, %d naks, %d declines", r.Offers, r.Acks, r.Naks, r.Declines), true
	case attack.SYNFloodResult:
		return fmt.Sprintf("%d SYNs sent to %s, %d not sent", r.Sent, r.Target, r.Errors), true
	case attack.TCPInjectResult:
		return fmt.Sprintf("%d RSTs, %d SYNs and %d data segments forged from %s to %s", r.RSTs, r.SYNs, r.Data, r.Client, r.Target), true
	case attack.ARPSpoofResult:
		return fmt.Sprintf("%d forged ARP replies told %s that %s is here", r.Sent, r.Target, r.Claim), true
	case attack.DHCPRogueResult:
		return fmt.Sprintf("%d DISCOVERs answered with %d broken offers", r.Discovers, r.Offers), true
	case attack.DNSBadQueryResult:
		return fmt.Sprintf("%d malformed queries to %s: %d answers, %d FORMERR, %d other", r.Sent, r.Target, r.Answers, r.FormErr, r.Other), true
	case attack.FragFloodResult:
		return fmt.Sprintf("%d datagrams (%d fragments) to %s: %d unfinished, %d overlapping, %d tiny; %d not sent",
			r.Datagrams, r.Fragments, r.Target, r.Unfinished, r.Overlapping, r.Tiny, r.Errors), true
	}
	return "", false
}

// LookupAttempts is how many UDP queries the name lookups of http_get and
// dns_lookup send before giving up (2 s apart), more than the resolver's
// default of 3, so that a lookup rides out a lost ARP reply and lost
// answers on a lossy link.
const LookupAttempts = 6

// patientResolver is http_get's resolver: simnet's stub resolver with
// LookupAttempts attempts, created on the first lookup.
type patientResolver struct {
	env     *app.Env
	servers []netip.AddrPort
	r       *httpapp.DNSResolver
}

// Resolve looks name up.
func (p *patientResolver) Resolve(name string, done func(netip.Addr, error)) {
	if p.r == nil {
		r, err := httpapp.NewDNSResolver(p.env, p.servers...)
		if err != nil {
			done(netip.Addr{}, fmt.Errorf("resolve %s: %w", name, err))
			return
		}
		r.R.Attempts = LookupAttempts
		p.r = r
	}
	p.r.Resolve(name, done)
}
