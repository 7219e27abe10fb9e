package scenario

import (
	"slices"
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
	// Driver, when not nil, runs the built world instead of the virtual
	// clock: emulation (package emulate) drives it on the wall clock with
	// tap devices bridged into switches. Progress is not used then.
	Driver Driver
	// Series records time series of every TCP connection and every
	// rate-limited queue into Report.Series (simnet run --series).
	Series bool
	// SeriesMax bounds the rows kept per connection and per queue
	// direction (decimated, keeping the first, last and extreme rows);
	// 0 means DefaultSeriesMax, a negative value keeps every row.
	SeriesMax int
	// Flows fills Report.Flows, the per-flow table of packets, bytes,
	// losses, delay and jitter (simnet run does by default).
	Flows bool
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
	// cur is the current impairment, in the file's a_to_b, b_to_a order,
	// made from the file's link (file) when the schedule first changes
	// it: most links of a large world are never changed.
	cur  *[2]Impair
	file *Link
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
	cfg := sim.Config{Seed: seed, CaptureDir: dir, CaptureFormat: opts.Format,
		CaptureHost: hostSel, CaptureSwitch: switchSel, SnapLen: snap}
	if opts.Driver != nil {
		cfg.Start = opts.Driver.Start()
	}
	w, err := sim.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", s.Name, err)
	}
	run := func(w *sim.World, _ map[string]*sim.Switch, t0 clock.Time) (bool, error) {
		return runUntil(w, t0, s.Duration, opts.Stop, opts.Progress), nil
	}
	if d := opts.Driver; d != nil {
		run = func(w *sim.World, switches map[string]*sim.Switch, t0 clock.Time) (bool, error) {
			return d.Drive(w, switches, t0.Add(s.Duration), opts.Stop)
		}
	}
	rep, err := build(w, s, seed, opts, run)
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
	if opts.Driver != nil {
		rep.SwitchCaptures = append(rep.SwitchCaptures, opts.Driver.Captures()...)
	}
	return rep, nil
}

// runFunc runs a built world from t0 (its switches by name) and reports
// whether it was stopped early.
type runFunc func(w *sim.World, switches map[string]*sim.Switch, t0 clock.Time) (interrupted bool, err error)

func build(w *sim.World, s *Scenario, seed uint64, opts Options, run runFunc) (*Report, error) {
	fail := func(err error) (*Report, error) { return nil, fmt.Errorf("run %s: %w", s.Name, err) }
	t0 := w.Now()
	var rec *seriesRecorder
	if opts.Series {
		limit := opts.SeriesMax
		if limit == 0 {
			limit = DefaultSeriesMax
		}
		rec = newSeriesRecorder(w, t0, limit)
	}
	var mon *flowMonitor
	if opts.Flows {
		mon = newFlowMonitor(w.Clock(), t0)
	}

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
		rl := &runLink{file: &s.Links[i]}
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
		if rec != nil {
			rec.observeQueue(l.Name, "a_to_b", rl.l.Pipe(rl.dir(0)))
			rec.observeQueue(l.Name, "b_to_a", rl.l.Pipe(rl.dir(1)))
		}
	}

	tl := &timeline{t0: t0}
	crashes, boots := map[string]int{}, map[string]int{}
	crashed := make([]bool, len(s.Apps))
	var dhcpIfs []*dhcpIface
	leased := map[string]bool{}
	afterLease := map[string][]func(clock.Time){}
	hostList := make([]*stack.Host, 0, len(s.Hosts))
	hosts := make(map[string]*app.StackNet, len(s.Hosts))
	tcps := make(map[string]*tcp.Stack, len(s.Hosts))
	relays := map[string]*dhcpstack.Relay{}
	hostIdx := map[string]int{}
	power := map[string][]*bool{}
	// boot builds a host's stack, interfaces, DHCP clients and relay; a
	// restart boots it again from its configuration (gen counts boots, so
	// each boot draws from its own random streams; the first boot's names
	// are those a run without restarts uses).
	// powered names the hosts the schedule crashes or restarts.
	powered := map[string]bool{}
	for _, e := range s.Schedule {
		if e.Action == ActionCrash || e.Action == ActionRestart {
			powered[e.Host] = true
		}
	}
	boot := func(h Host, gen int) error {
		name := h.Name
		if gen > 0 {
			name = fmt.Sprintf("%s/boot%d", h.Name, gen)
		}
		host := stack.New(stack.Config{Name: h.Name, Clock: w.Clock(), Rand: w.Rand("host/" + name), Forwarding: h.Forwarding})
		ts := tcp.New(host, w.Clock(), w.Rand("host/"+name+"/tcp"), tcp.Config{CongestionControl: h.CC, ECN: h.ECN})
		host.RegisterProtocol(tcp.ProtocolNumber, ts)
		tcps[h.Name] = ts
		power[h.Name] = nil
		if gen > 0 {
			// The old boot's leases went with it.
			dhcpIfs = slices.DeleteFunc(dhcpIfs, func(di *dhcpIface) bool { return di.host == h.Name })
		}
		hi := &hostIfaces{}
		if rec != nil {
			rec.observeTCP(h.Name, ts)
		}
		for _, ifc := range h.Interfaces {
			id := h.Name + ":" + ifc.Name
			ep, ok := eps[id]
			if !ok {
				var err error
				if ep, err = w.Attach(h.Name, ifc.Name, unplugged{}); err != nil {
					return err
				}
				eps[id] = ep
			}
			// The flow monitor sits between two halves of the power
			// port: a crashed boot neither sends nor receives anything
			// it could count. A host the schedule never crashes has no
			// power port: a flood reaches its interface one pointer
			// sooner.
			hep := ep
			if powered[h.Name] {
				off := new(bool)
				power[h.Name] = append(power[h.Name], off)
				hep = &powerPort{ep: ep, off: off}
				if mon != nil {
					hep = &powerPort{ep: &monEndpoint{inner: hep, m: mon, h: hi}, off: off}
				}
			} else if mon != nil {
				hep = &monEndpoint{inner: hep, m: mon, h: hi}
			}
			si := host.AddInterface(ifc.Name, ether.Addr(ifc.MAC), hep)
			hi.ifs = append(hi.ifs, si)
			if len(ifc.IPv6) > 0 || h.RA {
				si.EnableIPv6(ifc.IPv6...)
			}
			if ifc.SLAAC {
				si.EnableSLAAC()
			}
			for _, e := range ifc.StaticARP {
				si.AddStaticNeighbor(e.Addr, ether.Addr(e.MAC))
			}
			if !ifc.DHCP {
				si.SetAddress(ifc.Address)
				continue
			}
			hostName := h.Name
			di, err := startDHCP(h.Name, si, w.Rand("dhcp/"+name+"/"+ifc.Name), tl, func(now clock.Time, addr netip.Addr) {
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
				return err
			}
			dhcpIfs = append(dhcpIfs, di)
			if gen == 0 {
				w.At(t0, func(clock.Time) { di.client.Start(netip.Addr{}) })
			} else {
				di.client.Start(netip.Addr{})
			}
		}
		switch {
		case h.Gateway.Is4():
			host.SetDefaultGateway(h.Gateway)
		case h.Gateway.Is6():
			host.AddRoute(netip.MustParsePrefix("::/0"), h.Gateway, nil)
		}
		for _, r := range h.Routes {
			host.AddRoute(r.To, r.Via, nil)
		}
		if h.RA {
			startRA(host, h)
		}
		relay, err := startRelay(host, h)
		if err != nil {
			return err
		}
		delete(relays, h.Name)
		if relay != nil {
			relays[h.Name] = relay
		}
		hosts[h.Name] = app.NewStackNet(host)
		if i, ok := hostIdx[h.Name]; ok {
			hostList[i] = host
		} else {
			hostIdx[h.Name] = len(hostList)
			hostList = append(hostList, host)
		}
		return nil
	}
	for _, h := range s.Hosts {
		if err := boot(h, 0); err != nil {
			return fail(err)
		}
	}

	if w.Captures() {
		if err := w.AddNames(hostNames(s)); err != nil {
			return fail(err)
		}
	}

	apps := make([]app.App, len(s.Apps))
	reports := make([]AppReport, len(s.Apps))
	started := make([]clock.Time, len(s.Apps))
	startApp := make([]func(clock.Time), len(s.Apps))
	meters := make([]*intervalMeter, len(s.Apps))
	for i := range s.Apps {
		// A pointer, not a copy: the closures below keep it, and a copy
		// per app of a 10,000-member group is 5 MiB.
		a := &s.Apps[i]
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
			x, err := newApp(*a, env, dnsOf)
			if inj, ok := x.(*attack.TCPInject); ok {
				inj.SetLocate(func(srv netip.AddrPort) (netip.AddrPort, bool) { return findClient(s, tcps, srv) })
			}
			if err == nil {
				apps[i] = x
				started[i] = now
				err = x.Start(env)
			}
			if err == nil && a.Interval > 0 {
				if m := meterFor(w, t0, a.Interval, x); m != nil {
					meters[i] = m
					m.start(now)
				}
			}
			if err != nil {
				reports[i].Error = err.Error()
			}
		}
		startApp[i] = func(now clock.Time) {
			// After a restart: the same app on the host's new stack.
			env = &app.Env{Clock: w.Clock(), Rand: w.Rand(fmt.Sprintf("app/%s/%s/%d", a.Host, a.Name, now)), Net: hosts[a.Host], TCP: tcps[a.Host]}
			reports[i].Error = ""
			start(now)
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
	hostCfg := map[string]Host{}
	for _, h := range s.Hosts {
		hostCfg[h.Name] = h
	}
	for _, e := range events {
		rl := byName[e.Link]
		at := t0.Add(e.At)
		switch e.Action {
		case ActionCrash:
			w.At(at, func(now clock.Time) {
				crashes[e.Host]++
				tl.add(now, e.Host, "host crashed")
				for _, off := range power[e.Host] {
					*off = true
				}
				for i, a := range s.Apps {
					if a.Host == e.Host && apps[i] != nil {
						reports[i].Result = apps[i].Result()
						reports[i].Error = fmt.Sprintf("host %s crashed at %s", e.Host, fmtOffset(now.Sub(t0)))
						crashed[i] = true
					}
				}
			})
		case ActionRestart:
			w.At(at, func(now clock.Time) {
				boots[e.Host]++
				if err := boot(hostCfg[e.Host], boots[e.Host]); err != nil {
					tl.add(now, e.Host, "restart failed: %v", err)
					return
				}
				tl.add(now, e.Host, "host restarted")
				leased[e.Host] = false
				afterLease[e.Host] = nil
				for i, a := range s.Apps {
					if a.Host != e.Host || !serverApp(a.Type) {
						continue
					}
					crashed[i] = false
					if a.AfterLease {
						afterLease[a.Host] = append(afterLease[a.Host], func(now clock.Time) { startApp[i](now) })
						continue
					}
					startApp[i](now)
				}
			})
		case ActionDown, ActionUp:
			rl.l.ScheduleUp(at, e.Action == ActionUp)
		case ActionSet:
			for i, p := range [2]ImpairPatch{e.SetAtoB, e.SetBtoA} {
				if p.IsZero() {
					continue
				}
				if rl.cur == nil {
					rl.cur = &[2]Impair{rl.file.AtoB, rl.file.BtoA}
				}
				rl.cur[i] = p.Apply(rl.cur[i])
				if err := rl.l.ScheduleImpair(at, rl.dir(i), rl.cur[i].Config(0)); err != nil {
					return fail(fmt.Errorf("schedule at %v: %w", e.At, err))
				}
			}
		}
	}

	interrupted, err := run(w, switches, t0)
	if err != nil {
		return fail(err)
	}

	rep := &Report{
		Scenario: s.Name, Seed: seed, Duration: s.Duration.String(), DurationNs: s.Duration, Passed: true,
		Interrupted: interrupted, Simulated: w.Now().Sub(t0),
		Captures: []string{}, SwitchCaptures: []string{}, Links: make([]LinkReport, len(links)), Apps: reports,
		Switches: w.Stats().Switches, Hosts: make([]HostReport, len(hostList)),
		Expectations: []ExpectResult{},
	}
	for i, h := range hostList {
		rep.Hosts[i] = HostReport{Name: h.Name(), IP: h.Stats(), TCP: tcps[h.Name()].Stats(), Crashes: crashes[h.Name()]}
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
		if !crashed[i] {
			// A crashed app's result is what it had when its host went down.
			reports[i].Result = apps[i].Result()
		}
		if m := meters[i]; m != nil {
			reports[i].Intervals = m.close(w.Now())
		}
		resultEvents(tl, a, started[i], reports[i].Result)
		reports[i].Result = rebaseInstants(reports[i].Result, t0)
	}
	rep.Timeline = tl.sorted()
	if rec != nil {
		rep.Series = rec.series(reports)
	}
	if mon != nil {
		rep.Flows = mon.report(w.Now())
	}
	rep.Groups = groupReports(s.Apps, reports)
	for _, e := range s.Expect {
		var results []ExpectResult
		if e.Link != "" {
			results = evaluateLink(e, rep.Links)
		} else if e.Host != "" {
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
		b := app.NewTCPBulkSender(a.Name, netip.AddrPortFrom(a.Target, a.TargetPort), a.Bytes)
		b.CC = a.CC
		return b, nil
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
			for _, p := range ifc.IPv6 {
				out = append(out, pcap.Name{Addr: p.Addr(), Name: h.Name})
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
