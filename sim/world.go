// Package sim is the simulator: a world of hosts, links and switches on one
// virtual clock, run deterministically from a seed.
//
// A World owns one clock.Scheduler whose time starts at Epoch (or a chosen
// instant) and jumps from event to event; every host, link direction and
// application draws its randomness from World.Rand(name), so a run depends
// only on its seed and its configuration, never on the wall clock, the
// machine or GOMAXPROCS. Everything runs on the caller's goroutine.
//
// Links are point-to-point, with an impair.Pipe in each direction; switches
// are learning bridges. When the world records captures, every host
// interface is wrapped in a pcap.Tap writing to one file per host,
// DIR/<host>.pcapng (or .pcap), with one interface block per interface named
// "host:iface". The sender's capture holds every frame offered, with a
// comment when the link dropped, duplicated, corrupted or held it back; the
// receiver's holds every frame delivered, with a comment on duplicate
// copies, corrupted, reordered and ECN-marked frames. Switch ports are
// captured too, one file per switch (DIR/<switch>.pcapng, an interface per
// port named "switch:link"), so that a frame dropped on a direction a
// switch sends into is commented in the switch's capture; a switch carries
// the marks earlier links left across to the next link. A frame waiting in
// a queue discipline is recorded when it was sent, with the comment its
// fate gives when it leaves the queue.
package sim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

// Epoch is the instant a world's clock starts at unless configured
// otherwise: 2026-01-01T00:00:00Z.
var Epoch = clock.FromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// Config configures a World.
type Config struct {
	// Seed determines every random draw of the run.
	Seed uint64
	// Start is the initial instant of the virtual clock; zero means Epoch.
	Start clock.Time
	// CaptureHost chooses the hosts whose interfaces are captured when
	// captures are on; nil captures every host.
	CaptureHost func(name string) bool
	// SnapLen is the captures' snapshot length (0: pcap.SnapLen).
	SnapLen int
	// CaptureDir, when not empty, is the directory receiving one capture
	// file per host (created if missing).
	CaptureDir string
	// CaptureFormat is the format of the capture files.
	CaptureFormat pcap.Format
	// CaptureOpen, when not nil, replaces file creation: it is called with
	// each capture's file name (such as "alice.pcapng") and captures are on
	// even without CaptureDir. If the returned writer is an io.Closer,
	// World.Close closes it.
	CaptureOpen func(name string) (io.Writer, error)
	// CaptureSwitch chooses the switches whose ports are captured when
	// captures are on, one file per switch (DIR/<switch>.pcapng) with an
	// interface per port named "switch:link"; nil captures every switch.
	CaptureSwitch func(name string) bool
}

// World is a simulated network on one virtual clock. It is not safe for
// concurrent use: all of it runs on the goroutine that calls Run or Step.
type World struct {
	cfg   Config
	sched *clock.Scheduler
	pool  *link.BufPool
	line  *impair.Line // frames in flight on every link

	links    []*Link
	switches []*Switch
	names    map[string]bool // link and switch names
	ifaces   map[string]bool // "host:iface" attached so far

	captures     map[string]*pcap.Writer
	captureHosts []string    // creation order
	closers      []io.Closer // outputs from Config.CaptureOpen
	closed       bool
	resolved     []pcap.Name // written into every capture (AddNames)
	// nameOf maps every address given to AddNames to its name; once
	// there are more than eagerNames, captures name addresses as frames
	// carry them (lazyNames).
	nameOf    map[[4]byte]string
	lazyNames bool
}

// eagerNames is how many names every capture gets up front; past it, each
// capture names only the addresses its frames carry, so that a world of
// many hosts does not write every name into every capture.
const eagerNames = 1024

// New returns an empty world.
func New(cfg Config) (*World, error) {
	if cfg.Start == 0 {
		cfg.Start = Epoch
	}
	if cfg.CaptureFormat != pcap.PcapNG && cfg.CaptureFormat != pcap.Pcap {
		return nil, fmt.Errorf("sim: new world: unknown capture format %d", cfg.CaptureFormat)
	}
	if cfg.CaptureDir != "" && cfg.CaptureOpen == nil {
		if err := os.MkdirAll(cfg.CaptureDir, 0o755); err != nil {
			return nil, fmt.Errorf("sim: new world: capture dir: %w", err)
		}
	}
	sched := clock.NewScheduler(cfg.Start)
	return &World{
		cfg:      cfg,
		sched:    sched,
		line:     impair.NewLine(sched),
		pool:     link.NewBufPool(2048),
		names:    make(map[string]bool),
		ifaces:   make(map[string]bool),
		captures: make(map[string]*pcap.Writer),
	}, nil
}

// Clock returns the world's virtual clock, for hosts and applications.
func (w *World) Clock() clock.Clock { return w.sched }

// Scheduler returns the world's event queue.
func (w *World) Scheduler() *clock.Scheduler { return w.sched }

// Now returns the current virtual instant.
func (w *World) Now() clock.Time { return w.sched.Now() }

// Elapsed returns the virtual time since the world started.
func (w *World) Elapsed() time.Duration { return w.sched.Now().Sub(w.cfg.Start) }

// Seed returns the run's seed.
func (w *World) Seed() uint64 { return w.cfg.Seed }

// Rand returns the random source of the consumer called name, derived from
// the seed and the name only (see package rng). Each consumer must use its
// own name, such as "host/alice" or "app/alice/ping".
func (w *World) Rand(name string) *rand.Rand { return rng.New(w.cfg.Seed, name) }

// Step runs the earliest pending event and reports whether there was one.
func (w *World) Step() bool { return w.sched.Step() }

// Run runs every event due up to and including until, then sets the clock
// to until (if it is later), and returns the number of events run.
func (w *World) Run(until clock.Time) int { return w.sched.RunUntil(until) }

// RunFor runs the world for d of virtual time.
func (w *World) RunFor(d time.Duration) int { return w.Run(w.sched.Now().Add(d)) }

// event is a one-shot scheduled callback.
type event struct {
	timer clock.Timer
	fn    func(now clock.Time)
}

// OnTimer runs the event's callback.
func (e *event) OnTimer(now clock.Time) { e.fn(now) }

// At schedules fn to run at instant at (at once if at is past). Events at
// the same instant run in the order they were scheduled.
func (w *World) At(at clock.Time, fn func(now clock.Time)) {
	e := &event{fn: fn}
	e.timer.Init(e)
	w.sched.Schedule(&e.timer, at)
}

// After schedules fn to run d from now.
func (w *World) After(d time.Duration, fn func(now clock.Time)) { w.At(w.sched.Now().Add(d), fn) }

// validName reports whether s is a usable host, interface, link or switch
// name: 1 to 64 characters from [A-Za-z0-9._-], not starting with a dot, so
// that it is safe as a file name and in "host:iface".
func validName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("name %q must be 1 to 64 characters", s)
	}
	if s[0] == '.' {
		return fmt.Errorf("name %q must not start with a dot", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("name %q has character %q outside [A-Za-z0-9._-]", s, c)
		}
	}
	return nil
}

// claim registers a link or switch name.
func (w *World) claim(kind, name string) error {
	if err := validName(name); err != nil {
		return fmt.Errorf("sim: %s: %w", kind, err)
	}
	if w.names[name] {
		return fmt.Errorf("sim: %s %q: name already used", kind, name)
	}
	w.names[name] = true
	return nil
}

// Captures reports whether the world records captures.
func (w *World) Captures() bool { return w.cfg.CaptureDir != "" || w.cfg.CaptureOpen != nil }

// CapturePath returns the capture file of host, or "" when captures are
// off or go through Config.CaptureOpen.
func (w *World) CapturePath(host string) string {
	if w.cfg.CaptureDir == "" || w.cfg.CaptureOpen != nil {
		return ""
	}
	return filepath.Join(w.cfg.CaptureDir, host+w.cfg.CaptureFormat.Ext())
}

// capture returns the capture writer of a host or switch, creating it on
// first use.
func (w *World) capture(host string) (*pcap.Writer, error) {
	if cw, ok := w.captures[host]; ok {
		return cw, nil
	}
	name := host + w.cfg.CaptureFormat.Ext()
	var (
		cw  *pcap.Writer
		err error
	)
	if w.cfg.CaptureOpen != nil {
		var out io.Writer
		out, err = w.cfg.CaptureOpen(name)
		if err == nil {
			cw, err = pcap.NewWriterWith(out, w.cfg.CaptureFormat, pcap.Options{SnapLen: w.cfg.SnapLen})
			if c, ok := out.(io.Closer); ok {
				w.closers = append(w.closers, c)
			}
		}
	} else {
		cw, err = pcap.CreateWith(filepath.Join(w.cfg.CaptureDir, name), w.cfg.CaptureFormat, pcap.Options{SnapLen: w.cfg.SnapLen})
	}
	if err != nil {
		return nil, fmt.Errorf("sim: capture of host %q: %w", host, err)
	}
	if len(w.resolved) > 0 {
		if err := cw.WriteNames(w.resolved); err != nil {
			return nil, fmt.Errorf("sim: capture of %q: %w", host, err)
		}
	}
	if w.lazyNames {
		cw.SetNamer(w.nameFor)
	}
	w.captures[host] = cw
	w.captureHosts = append(w.captureHosts, host)
	return cw, nil
}

// CapturesSwitch reports whether the ports of the switch called name are
// captured.
func (w *World) CapturesSwitch(name string) bool {
	return w.Captures() && (w.cfg.CaptureSwitch == nil || w.cfg.CaptureSwitch(name))
}

// switchPort returns the endpoint a switch port uses on link l's end ep:
// ep itself, or ep wrapped in a capture tap recording into the switch's
// capture as interface "switch:link".
func (w *World) switchPort(sw *Switch, l *Link, ep link.Endpoint) (link.Endpoint, error) {
	if !w.CapturesSwitch(sw.name) {
		return ep, nil
	}
	cw, err := w.capture(sw.name)
	if err != nil {
		return nil, err
	}
	id := sw.name + ":" + l.name
	tap, err := pcap.NewTap(ep, w.sched, cw, id)
	if err != nil {
		return nil, fmt.Errorf("sim: switch port %s: %w", id, err)
	}
	return tap, nil
}

// Attach declares that host's interface iface uses ep and returns the
// endpoint to give to the host: ep itself, or ep wrapped in a capture tap
// when the world records captures.
func (w *World) Attach(host, iface string, ep link.Endpoint) (link.Endpoint, error) {
	if err := w.checkIface(host, iface); err != nil {
		return nil, err
	}
	id := host + ":" + iface
	if !w.Captures() || (w.cfg.CaptureHost != nil && !w.cfg.CaptureHost(host)) {
		w.ifaces[id] = true
		return ep, nil
	}
	cw, err := w.capture(host)
	if err != nil {
		return nil, err
	}
	tap, err := pcap.NewTap(ep, w.sched, cw, id)
	if err != nil {
		return nil, fmt.Errorf("sim: attach %s: %w", id, err)
	}
	w.ifaces[id] = true
	return tap, nil
}

// checkIface reports whether host:iface can be attached.
func (w *World) checkIface(host, iface string) error {
	if err := validName(host); err != nil {
		return fmt.Errorf("sim: attach host: %w", err)
	}
	if err := validName(iface); err != nil {
		return fmt.Errorf("sim: attach %s: interface %w", host, err)
	}
	if id := host + ":" + iface; w.ifaces[id] {
		return fmt.Errorf("sim: attach %s: interface already attached", id)
	}
	return nil
}

// AddNames maps addresses to host names in every capture: a pcapng Name
// Resolution Block in each capture open now and in each created later, so
// that Wireshark shows names instead of addresses. Plain pcap captures
// carry no names.
//
// Past eagerNames names in all, captures switch to naming each address
// just before the first frame that carries it (pcap.Writer.SetNamer).
func (w *World) AddNames(names []pcap.Name) error {
	if w.nameOf == nil {
		w.nameOf = make(map[[4]byte]string, len(names))
	}
	for _, n := range names {
		if n.Addr.Is4() {
			w.nameOf[n.Addr.As4()] = n.Name
		}
	}
	if !w.lazyNames && len(w.resolved)+len(names) > eagerNames {
		w.lazyNames = true
		for _, h := range w.captureHosts {
			w.captures[h].SetNamer(w.nameFor)
		}
	}
	if w.lazyNames {
		return nil
	}
	w.resolved = append(w.resolved, names...)
	for _, h := range w.captureHosts {
		if err := w.captures[h].WriteNames(names); err != nil {
			return fmt.Errorf("sim: capture of %q: %w", h, err)
		}
	}
	return nil
}

// nameFor returns the name given to address a.
func (w *World) nameFor(a [4]byte) (string, bool) {
	n, ok := w.nameOf[a]
	return n, ok
}

// Close flushes and closes every capture, in the order they were created,
// and returns their errors joined.
func (w *World) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	for _, h := range w.captureHosts {
		if err := w.captures[h].Close(); err != nil {
			errs = append(errs, fmt.Errorf("sim: capture of host %q: %w", h, err))
		}
	}
	for _, c := range w.closers {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sim: close capture output: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Stats is the world's report: per-link and per-switch counters.
type Stats struct {
	// Links are the counters of every link, in creation order.
	Links []LinkStats `json:"links"`
	// Switches are the counters of every switch, in creation order.
	Switches []SwitchStats `json:"switches"`
}

// Stats returns the counters of every link and switch.
func (w *World) Stats() Stats {
	s := Stats{Links: make([]LinkStats, 0, len(w.links)), Switches: make([]SwitchStats, 0, len(w.switches))}
	for _, l := range w.links {
		s.Links = append(s.Links, l.Stats())
	}
	for _, sw := range w.switches {
		s.Switches = append(s.Switches, sw.Stats())
	}
	return s
}

// Links returns the world's links in creation order.
func (w *World) Links() []*Link { return append([]*Link(nil), w.links...) }

// Link returns the link called name, or nil.
func (w *World) Link(name string) *Link {
	for _, l := range w.links {
		if l.name == name {
			return l
		}
	}
	return nil
}
