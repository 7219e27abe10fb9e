package scenario

import (
	"time"

	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/attack"
	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/traceroute"
	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// Options are the settings of a run that do not come from the file.
type Options struct {
	// Seed replaces the file's seed when SeedSet is true.
	Seed    uint64
	SeedSet bool
	// OutDir receives the captures; "" runs without captures.
	OutDir string
	// Format is the capture format (pcap.PcapNG by default).
	Format pcap.Format
	// Stop, when not nil, ends the run early once it is closed (or
	// receives): the world stops at the current simulated instant, every
	// capture is closed validly and the report says Interrupted, with the
	// simulated time reached. The command closes it on SIGINT/SIGTERM.
	Stop <-chan struct{}
	// Progress, when not nil, is called every few thousand events with the
	// simulated time elapsed, the run's duration and the events run so
	// far, from the goroutine running the world (simnet run draws its
	// progress line from it; the callback may read the wall clock, the
	// world never does).
	Progress func(elapsed, duration time.Duration, events uint64)
	// Capture overrides the file's capture selection (simnet run
	// --capture).
	Capture CaptureMode
}

// ReportFile is the name of the report Run's callers write beside the
// captures.
const ReportFile = "report.json"

// runLink is a scenario link as built in the world. A link from a switch
// to a host is built with the host at end A, so its directions are
// swapped.
type runLink struct {
	l       *sim.Link
	swapped bool
	cur     [2]Impair // current impairment, in the file's a_to_b, b_to_a order
}

// dir maps a direction of the file (0: a_to_b) to the world's.
func (r *runLink) dir(i int) sim.Dir {
	if r.swapped {
		return sim.Dir(1 - i)
	}
	return sim.Dir(i)
}

// unplugged is the endpoint of an interface no link is attached to: it
// drops every frame.
type unplugged struct{}

// Send drops the frame: nothing is attached.
func (unplugged) Send([]byte) link.Note { return link.Note{Drop: link.DropNoPeer} }

// SetReceiver does nothing: no frame ever arrives.
func (unplugged) SetReceiver(link.Receiver) {}

// MTU returns DefaultMTU.
func (unplugged) MTU() int { return DefaultMTU }

// Run builds the world that s describes, runs it for s.Duration and
// returns the report. Captures go to opts.OutDir; the caller writes the
// report (see WriteReport).
func Run(s *Scenario, opts Options) (*Report, error) {
	seed := s.Seed
	if opts.SeedSet {
		seed = opts.Seed
	}
	on, hostSel, switchSel, snap := s.captureConfig(opts.Capture)
	dir := opts.OutDir
	if !on {
		dir = ""
	}
	w, err := sim.New(sim.Config{Seed: seed, CaptureDir: dir, CaptureFormat: opts.Format,
		CaptureHost: hostSel, CaptureSwitch: switchSel, SnapLen: snap})
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", s.Name, err)
	}
	rep, err := build(w, s, seed, opts.Stop, opts.Progress)
	if cerr := w.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("run %s: %w", s.Name, cerr)
	}
	if err != nil {
		return nil, err
	}
	if dir != "" {
		for _, h := range s.Hosts {
			if p := w.CapturePath(h.Name); p != "" {
				if _, err := os.Stat(p); err == nil {
					rep.Captures = append(rep.Captures, filepath.Base(p))
				}
			}
		}
		for _, sw := range s.Switches {
			if p := w.CapturePath(sw.Name); p != "" && w.CapturesSwitch(sw.Name) {
				if _, err := os.Stat(p); err == nil {
					rep.SwitchCaptures = append(rep.SwitchCaptures, filepath.Base(p))
				}
			}
		}
	}
	return rep, nil
}

func build(w *sim.World, s *Scenario, seed uint64, stop <-chan struct{}, progress func(elapsed, duration time.Duration, events uint64)) (*Report, error) {
	fail := func(err error) (*Report, error) { return nil, fmt.Errorf("run %s: %w", s.Name, err) }
	t0 := w.Now()

	switches := make(map[string]*sim.Switch, len(s.Switches))
	for _, sw := range s.Switches {
		x, err := w.NewSwitch(sw.Name, sim.SwitchConfig{})
		if err != nil {
			return fail(err)
		}
		switches[sw.Name] = x
	}

	eps := map[string]link.Endpoint{}
	links := make([]*runLink, len(s.Links))
	byName := map[string]*runLink{}
	for i, l := range s.Links {
		rl := &runLink{cur: [2]Impair{l.AtoB, l.BtoA}}
		cfg := sim.LinkConfig{MTU: l.MTU, AtoB: l.AtoB.Config(0), BtoA: l.BtoA.Config(0)}
		a, b := l.A, l.B
		var err error
		switch {
		case !a.IsSwitch() && !b.IsSwitch():
			rl.l, err = w.Connect(l.Name, sim.Iface{Host: a.Host, Name: a.Iface}, sim.Iface{Host: b.Host, Name: b.Iface}, cfg)
			if err == nil {
				eps[a.String()], eps[b.String()] = rl.l.A(), rl.l.B()
			}
		case !a.IsSwitch():
			rl.l, err = w.ConnectSwitch(l.Name, sim.Iface{Host: a.Host, Name: a.Iface}, switches[b.Switch], cfg)
			if err == nil {
				eps[a.String()] = rl.l.A()
			}
		case !b.IsSwitch():
			rl.swapped = true
			cfg.AtoB, cfg.BtoA = cfg.BtoA, cfg.AtoB
			rl.l, err = w.ConnectSwitch(l.Name, sim.Iface{Host: b.Host, Name: b.Iface}, switches[a.Switch], cfg)
			if err == nil {
				eps[b.String()] = rl.l.A()
			}
		default:
			rl.l, err = w.ConnectSwitches(l.Name, switches[a.Switch], switches[b.Switch], cfg)
		}
		if err != nil {
			return fail(err)
		}
		links[i] = rl
		byName[l.Name] = rl
	}

	tl := &timeline{t0: t0}
	var dhcpIfs []*dhcpIface
	leased := map[string]bool{}
	afterLease := map[string][]func(clock.Time){}
	hostList := make([]*stack.Host, 0, len(s.Hosts))
	hosts := make(map[string]*app.StackNet, len(s.Hosts))
	tcps := make(map[string]*tcp.Stack, len(s.Hosts))
	relays := map[string]*dhcpstack.Relay{}
	for _, h := range s.Hosts {
		host := stack.New(stack.Config{Name: h.Name, Clock: w.Clock(), Rand: w.Rand("host/" + h.Name), Forwarding: h.Forwarding})
		ts := tcp.New(host, w.Clock(), w.Rand("host/"+h.Name+"/tcp"), tcp.Config{})
		host.RegisterProtocol(tcp.ProtocolNumber, ts)
		tcps[h.Name] = ts
		for _, ifc := range h.Interfaces {
			id := h.Name + ":" + ifc.Name
			ep, ok := eps[id]
			if !ok {
				var err error
				if ep, err = w.Attach(h.Name, ifc.Name, unplugged{}); err != nil {
					return fail(err)
				}
			}
			si := host.AddInterface(ifc.Name, ether.Addr(ifc.MAC), ep)
			for _, e := range ifc.StaticARP {
				si.AddStaticNeighbor(e.Addr, ether.Addr(e.MAC))
			}
			if !ifc.DHCP {
				si.SetAddress(ifc.Address)
				continue
			}
			hostName := h.Name
			di, err := startDHCP(h.Name, si, w.Rand("dhcp/"+h.Name+"/"+ifc.Name), tl, func(now clock.Time, addr netip.Addr) {
				// The capture names learn the leased address.
				_ = w.AddNames([]pcap.Name{{Addr: addr, Name: hostName}})
				if leased[hostName] {
					return
				}
				leased[hostName] = true
				for _, f := range afterLease[hostName] {
					f(now)
				}
			})
			if err != nil {
				return fail(err)
			}
			dhcpIfs = append(dhcpIfs, di)
			w.At(t0, func(clock.Time) { di.client.Start(netip.Addr{}) })
		}
		if h.Gateway.IsValid() {
			host.SetDefaultGateway(h.Gateway)
		}
		for _, r := range h.Routes {
			host.AddRoute(r.To, r.Via, nil)
		}
		relay, err := startRelay(host, h)
		if err != nil {
			return fail(err)
		}
		if relay != nil {
			relays[h.Name] = relay
		}
		hosts[h.Name] = app.NewStackNet(host)
		hostList = append(hostList, host)
	}

	if w.Captures() {
		if err := w.AddNames(hostNames(s)); err != nil {
			return fail(err)
		}
	}

	apps := make([]app.App, len(s.Apps))
	reports := make([]AppReport, len(s.Apps))
	started := make([]clock.Time, len(s.Apps))
	for i, a := range s.Apps {
		reports[i] = AppReport{Name: a.Name, Type: a.Type, Host: a.Host, Group: a.Group}
		env := &app.Env{Clock: w.Clock(), Rand: w.Rand("app/" + a.Host + "/" + a.Name), Net: hosts[a.Host], TCP: tcps[a.Host]}
		dnsOf := func() []netip.Addr {
			for _, di := range dhcpIfs {
				if di.host == a.Host && len(di.client.DNS()) > 0 {
					return di.client.DNS()
				}
			}
			return nil
		}
		start := func(now clock.Time) {
			x, err := newApp(a, env, dnsOf)
			if inj, ok := x.(*attack.TCPInject); ok {
				inj.SetLocate(func(srv netip.AddrPort) (netip.AddrPort, bool) { return findClient(s, tcps, srv) })
			}
			if err == nil {
				apps[i] = x
				started[i] = now
				err = x.Start(env)
			}
			if err != nil {
				reports[i].Error = err.Error()
			}
		}
		if !a.AfterLease {
			w.At(t0.Add(a.Start), start)
			continue
		}
		reports[i].Error = "not started: the host got no DHCP lease"
		afterLease[a.Host] = append(afterLease[a.Host], func(now clock.Time) {
			reports[i].Error = ""
			w.At(now.Add(a.Start), start)
		})
	}

	// Impairment changes build on one another: apply them in time order
	// (file order at the same instant), which is also the order the world
	// runs them in.
	events := make([]Event, 0, len(s.Schedule))
	for _, i := range scheduleOrder(s.Schedule) {
		events = append(events, s.Schedule[i])
	}
	for _, e := range events {
		rl := byName[e.Link]
		at := t0.Add(e.At)
		switch e.Action {
		case ActionDown, ActionUp:
			rl.l.ScheduleUp(at, e.Action == ActionUp)
		case ActionSet:
			for i, p := range [2]ImpairPatch{e.SetAtoB, e.SetBtoA} {
				if p.IsZero() {
					continue
				}
				rl.cur[i] = p.Apply(rl.cur[i])
				if err := rl.l.ScheduleImpair(at, rl.dir(i), rl.cur[i].Config(0)); err != nil {
					return fail(fmt.Errorf("schedule at %v: %w", e.At, err))
				}
			}
		}
	}

	interrupted := runUntil(w, t0, s.Duration, stop, progress)

	rep := &Report{
		Scenario: s.Name, Seed: seed, Duration: s.Duration.String(), DurationNs: s.Duration, Passed: true,
		Interrupted: interrupted, Simulated: w.Now().Sub(t0),
		Captures: []string{}, SwitchCaptures: []string{}, Links: make([]LinkReport, len(links)), Apps: reports,
		Switches: w.Stats().Switches, Hosts: make([]HostReport, len(hostList)),
		Expectations: []ExpectResult{},
	}
	for i, h := range hostList {
		rep.Hosts[i] = HostReport{Name: h.Name(), IP: h.Stats(), TCP: tcps[h.Name()].Stats()}
		if r := relays[h.Name()]; r != nil {
			st := r.Stats
			rep.Hosts[i].DHCPRelay = &st
		}
		for _, di := range dhcpIfs {
			if di.host == h.Name() {
				rep.Hosts[i].DHCP = append(rep.Hosts[i].DHCP, di.report())
			}
		}
	}
	for i, rl := range links {
		st := rl.l.Stats()
		lr := LinkReport{Name: s.Links[i].Name, A: s.Links[i].A.String(), B: s.Links[i].B.String(), AtoB: st.AtoB, BtoA: st.BtoA}
		if rl.swapped {
			lr.AtoB, lr.BtoA = st.BtoA, st.AtoB
		}
		rep.Links[i] = lr
	}
	appIdx := map[string]int{}
	for i, a := range s.Apps {
		appIdx[a.Name] = i
		if apps[i] == nil {
			continue
		}
		reports[i].Result = apps[i].Result()
		resultEvents(tl, a, started[i], reports[i].Result)
		reports[i].Result = rebaseInstants(reports[i].Result, t0)
	}
	rep.Timeline = tl.sorted()
	rep.Groups = groupReports(s.Apps, reports)
	for _, e := range s.Expect {
		var results []ExpectResult
		if e.Host != "" {
			results = evaluateHost(e, rep.Hosts)
		} else {
			results = evaluate(e, reports[appIdx[e.App]])
		}
		for _, r := range results {
			rep.Expectations = append(rep.Expectations, r)
			if !r.Passed {
				rep.Passed = false
			}
		}
	}
	return rep, nil
}

// stepsPerStopCheck is how many events run between two looks at the stop
// channel.
const stepsPerStopCheck = 1024

// runUntil runs the world's events from t0 up to t0+duration, in the same
// order as w.Run(end). When stop fires first it finishes the current
// simulated instant, stops there and returns true. progress, when not nil,
// hears how far the run is every stepsPerStopCheck events.
func runUntil(w *sim.World, t0 clock.Time, duration time.Duration, stop <-chan struct{},
	progress func(elapsed, duration time.Duration, events uint64)) bool {
	end := t0.Add(duration)
	if stop == nil && progress == nil {
		w.Run(end)
		return false
	}
	sched := w.Scheduler()
	var events uint64
	for {
		select {
		case <-stop:
			sched.RunUntil(sched.Now())
			return true
		default:
		}
		if progress != nil {
			progress(sched.Now().Sub(t0), duration, events)
		}
		for range stepsPerStopCheck {
			next, ok := sched.Next()
			if !ok || next > end {
				sched.RunUntil(end)
				return false
			}
			sched.Step()
			events++
		}
	}
}

// newApp makes the app a describes to run in env; dnsServers returns the
// DNS servers its host learned by DHCP.
func newApp(a App, env *app.Env, dnsServers func() []netip.Addr) (app.App, error) {
	switch a.Type {
	case AppPing:
		return ping.New(ping.Config{Name: a.Name, Target: a.Target, Count: a.Count, Interval: a.Interval, Size: a.Size})
	case AppUDPSend:
		return udpapp.NewSender(udpapp.SendConfig{Name: a.Name, Target: netip.AddrPortFrom(a.Target, a.TargetPort), Port: a.Port, Count: a.Count, Size: a.Size, Interval: a.Interval})
	case AppUDPSink:
		return udpapp.NewSink(udpapp.SinkConfig{Name: a.Name, Port: a.Port})
	case AppTCPEcho, AppTCPDiscard:
		return app.NewTCPServer(a.Name, a.Port, a.Type == AppTCPEcho), nil
	case AppTCPSend:
		return app.NewTCPBulkSender(a.Name, netip.AddrPortFrom(a.Target, a.TargetPort), a.Bytes), nil
	case AppTCPRecv:
		return app.NewTCPBulkReceiver(a.Name, a.Port, a.Bytes), nil
	case AppSYNFlood:
		return attack.NewSYNFlood(attack.SYNFloodConfig{Name: a.Name, Target: netip.AddrPortFrom(a.Target, a.TargetPort), Rate: a.Rate, Count: a.Count, Spoof: a.Spoof})
	case AppTCPInject:
		return attack.NewTCPInject(attack.TCPInjectConfig{Name: a.Name, Target: netip.AddrPortFrom(a.Target, a.TargetPort), Rate: a.Rate, Count: a.Count})
	case AppARPSpoof:
		return attack.NewARPSpoof(attack.ARPSpoofConfig{Name: a.Name, Target: a.Target, Claim: a.Claim, Count: a.Count, Interval: a.Interval})
	case AppDHCPRogue:
		return attack.NewDHCPRogue(attack.DHCPRogueConfig{Name: a.Name, Offer: a.Offer})
	case AppDNSBadQuery:
		return attack.NewDNSBadQuery(attack.DNSBadQueryConfig{Name: a.Name, Target: netip.AddrPortFrom(a.Target, a.TargetPort), Count: a.Count, Interval: a.Interval})
	case AppFragFlood:
		return attack.NewFragFlood(attack.FragFloodConfig{Name: a.Name, Target: a.Target, Rate: a.Rate, Count: a.Count})
	case AppTraceroute:
		return traceroute.New(traceroute.Config{Name: a.Name, Target: a.Target, MaxHops: a.MaxHops, Queries: a.Queries})
	}
	return newServiceApp(a, env, dnsServers)
}

// findClient returns the remote side of the established connection whose
// local side is srv, looking through the hosts in scenario order.
func findClient(s *Scenario, tcps map[string]*tcp.Stack, srv netip.AddrPort) (netip.AddrPort, bool) {
	for _, h := range s.Hosts {
		for _, c := range tcps[h.Name].AllStats() {
			if c.Local == srv && c.State == tcp.StateEstablished.String() {
				return c.Remote, true
			}
		}
	}
	return netip.AddrPort{}, false
}

// hostNames maps every static address of the scenario to its host.
func hostNames(s *Scenario) []pcap.Name {
	var out []pcap.Name
	for _, h := range s.Hosts {
		for _, ifc := range h.Interfaces {
			if ifc.Address.IsValid() {
				out = append(out, pcap.Name{Addr: ifc.Address.Addr(), Name: h.Name})
			}
		}
	}
	return out
}

// WriteReport writes r to dir/report.json.
func WriteReport(dir string, r *Report) error {
	f, err := os.Create(filepath.Join(dir, ReportFile))
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := r.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
