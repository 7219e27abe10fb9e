package simtest

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/sim"
	"github.com/simnet-go/simnet/sim/scenario"
)

// unplugged is the endpoint of a loaded interface no link reaches.
type unplugged struct{}

// Send drops the frame: nothing is attached.
func (unplugged) Send([]byte) link.Note { return link.Note{Drop: link.DropNoPeer} }

// SetReceiver does nothing: no frame ever arrives.
func (unplugged) SetReceiver(link.Receiver) {}

// MTU returns the default MTU.
func (unplugged) MTU() int { return sim.DefaultMTU }

// loadedApp is a scenario app started by Load.
type loadedApp struct {
	name string
	app  app.App
	err  error
}

// Load adds the scenario file at path to the world (see docs/scenarios.md):
// its switches, its hosts (which become Hosts, with the file's interface
// names, MAC and addresses), its links with their impairments, its
// schedule of link changes and its built-in apps, started at their times
// from now. It returns the hosts in file order. The world's seed, not the
// file's, draws the randomness; the file's duration and expectations are
// not used (the test decides how long to run and what to check, and reads
// the apps' results with AppResult). A dns_server app becomes every host's
// resolver. DHCP interfaces are not supported.
func (w *World) Load(path string) []*Host {
	w.t.Helper()
	s, err := scenario.Load(path)
	if err != nil {
		w.fatalf("load: %v", err)
	}
	for _, h := range s.Hosts {
		for _, ifc := range h.Interfaces {
			if ifc.DHCP {
				w.fatalf("load %s: host %s interface %s: dhcp interfaces are not supported by simtest", path, h.Name, ifc.Name)
			}
		}
	}
	for _, sw := range s.Switches {
		w.Switch(sw.Name)
	}
	hosts := make([]*Host, len(s.Hosts))
	for i, h := range s.Hosts {
		hosts[i] = w.Host(h.Name)
		for _, ifc := range h.Interfaces {
			hosts[i].addrs = append(hosts[i].addrs, ifc.Address)
		}
	}
	w.do(func() { err = w.load(s, hosts) })
	if err != nil {
		w.fatalf("load %s: %v", path, err)
	}
	return hosts
}

// load builds the scenario's links, schedule and apps on the loop.
func (w *World) load(s *scenario.Scenario, hosts []*Host) error {
	byName := make(map[string]*Host, len(hosts))
	for _, h := range hosts {
		byName[h.name] = h
	}
	node := func(e scenario.Endpoint) Node {
		if e.IsSwitch() {
			for _, sw := range w.switches {
				if sw.name == e.Switch {
					return sw
				}
			}
			return nil
		}
		return byName[e.Host]
	}
	eps := map[string]link.Endpoint{}
	links := map[string]*Link{}
	for _, fl := range s.Links {
		l := &Link{w: w, a: node(fl.A), b: node(fl.B)}
		cfg := sim.LinkConfig{MTU: fl.MTU, AtoB: fl.AtoB.Config(0), BtoA: fl.BtoA.Config(0)}
		var err error
		switch {
		case !fl.A.IsSwitch() && !fl.B.IsSwitch():
			l.l, err = w.sw.Connect(fl.Name, sim.Iface{Host: fl.A.Host, Name: fl.A.Iface}, sim.Iface{Host: fl.B.Host, Name: fl.B.Iface}, cfg)
			if err == nil {
				eps[fl.A.String()], eps[fl.B.String()] = l.l.A(), l.l.B()
			}
		case !fl.A.IsSwitch():
			l.l, err = w.sw.ConnectSwitch(fl.Name, sim.Iface{Host: fl.A.Host, Name: fl.A.Iface}, l.b.(*Switch).sw, cfg)
			if err == nil {
				eps[fl.A.String()] = l.l.A()
			}
		case !fl.B.IsSwitch():
			l.swapped = true
			cfg.AtoB, cfg.BtoA = cfg.BtoA, cfg.AtoB
			l.l, err = w.sw.ConnectSwitch(fl.Name, sim.Iface{Host: fl.B.Host, Name: fl.B.Iface}, l.a.(*Switch).sw, cfg)
			if err == nil {
				eps[fl.B.String()] = l.l.A()
			}
		default:
			l.l, err = w.sw.ConnectSwitches(fl.Name, l.a.(*Switch).sw, l.b.(*Switch).sw, cfg)
		}
		if err != nil {
			return err
		}
		w.links = append(w.links, l)
		links[fl.Name] = l
	}

	nets := make(map[string]*app.StackNet, len(hosts))
	for i, fh := range s.Hosts {
		h := hosts[i]
		for _, ifc := range fh.Interfaces {
			ep, ok := eps[fh.Name+":"+ifc.Name]
			if !ok {
				var err error
				if ep, err = w.sw.Attach(fh.Name, ifc.Name, unplugged{}); err != nil {
					return err
				}
			}
			h.h.AddInterface(ifc.Name, ether.Addr(ifc.MAC), ep).SetAddress(ifc.Address)
			h.nifs++
		}
		if fh.Gateway.IsValid() {
			h.h.SetDefaultGateway(fh.Gateway)
		}
		nets[fh.Name] = app.NewStackNet(h.h)
	}

	t0 := w.sw.Now()
	for _, i := range scenario.ScheduleOrder(s.Schedule) {
		e := s.Schedule[i]
		l := links[e.Link]
		if l == nil {
			return fmt.Errorf("schedule: no link %q", e.Link)
		}
		at := t0.Add(e.At)
		switch e.Action {
		case scenario.ActionDown, scenario.ActionUp:
			l.l.ScheduleUp(at, e.Action == scenario.ActionUp)
		case scenario.ActionSet:
			fl := findLink(s, e.Link)
			cur := [2]scenario.Impair{fl.AtoB, fl.BtoA}
			for d, p := range [2]scenario.ImpairPatch{e.SetAtoB, e.SetBtoA} {
				if p.IsZero() {
					continue
				}
				cur[d] = p.Apply(cur[d])
				dir := sim.Dir(d)
				if l.swapped {
					dir = sim.Dir(1 - d)
				}
				if err := l.l.ScheduleImpair(at, dir, cur[d].Config(0)); err != nil {
					return err
				}
			}
		}
	}

	for _, a := range s.Apps {
		h := byName[a.Host]
		if h == nil {
			return fmt.Errorf("app %s: no host %q", a.Name, a.Host)
		}
		if a.AfterLease {
			return fmt.Errorf("app %s: after: lease needs DHCP, which simtest does not support", a.Name)
		}
		if a.Type == scenario.AppDNSServer && h.Addr().IsValid() {
			w.dns = append(w.dns, netip.AddrPortFrom(h.Addr(), app.DNSPort))
		}
		env := &app.Env{Clock: w.sw.Clock(), Rand: w.sw.Rand("app/" + a.Host + "/" + a.Name), Net: nets[a.Host], TCP: h.tcp}
		la := &loadedApp{name: a.Name}
		w.apps = append(w.apps, la)
		w.sw.At(t0.Add(a.Start), func(clock.Time) {
			x, err := scenario.NewApp(a, env, func() []netip.Addr { return nil })
			if err == nil {
				la.app = x
				err = x.Start(env)
			}
			la.err = err
		})
	}
	return nil
}

// findLink returns the file's link called name.
func findLink(s *scenario.Scenario, name string) scenario.Link {
	for _, l := range s.Links {
		if l.Name == name {
			return l
		}
	}
	return scenario.Link{}
}

// HostNamed returns the world's host called name (from Host or Load), or
// nil.
func (w *World) HostNamed(name string) *Host {
	var h *Host
	w.do(func() {
		for _, x := range w.hosts {
			if x.name == name {
				h = x
				return
			}
		}
	})
	return h
}

// ErrNotStarted is returned by AppResult for a loaded app whose start time
// has not come yet.
var ErrNotStarted = errors.New("simtest: app not started yet")

// AppResult returns the result so far of the loaded app called name (the
// same value simnet run puts in report.json), or an error when it failed to
// start, has not started yet or does not exist.
func (w *World) AppResult(name string) (any, error) {
	var (
		res any
		err = fmt.Errorf("simtest: no loaded app %q", name)
	)
	w.do(func() {
		for _, a := range w.apps {
			if a.name != name {
				continue
			}
			switch {
			case a.err != nil:
				err = fmt.Errorf("simtest: app %s: %w", name, a.err)
			case a.app == nil:
				err = ErrNotStarted
			default:
				res, err = a.app.Result(), nil
			}
			return
		}
	})
	return res, err
}
