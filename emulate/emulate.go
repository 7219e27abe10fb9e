// Package emulate runs a scenario's simulated world on the wall clock with
// Linux tap devices bridged into its switches, so that real programs on the
// kernel side of a tap are stations on a simulated network (ns-3's
// TapBridge, Mininet's hosts behind a switch): `simnet run FILE --tap
// NAME:SWITCH`.
//
// The world is built exactly as for a simulated run (package
// sim/scenario) and its event code is unchanged: the differences are the
// clock, whose scheduler is driven by a live loop (loop.NewOn) following
// the wall clock, and one more port on each named switch, bridged to the
// tap endpoint (link/tap). Frames the kernel sends out of the tap enter the
// switch like frames from any link; frames the switch sends to that port
// are written to the tap. Each tap port is captured into its own file,
// DIR/tap-NAME.pcapng (interface "SWITCH:NAME"), beside the captures of
// every simulated interface, and written through to the files every
// FlushInterval, so that they can be read while the run goes on.
//
// The package is Linux-only, like link/tap.
package emulate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/sim"
	"github.com/simnet-go/simnet/sim/scenario"
)

// Tap names a tap device and the scenario switch it is bridged into.
type Tap struct {
	// Name is the tap device, such as "tap0".
	Name string
	// Switch is the scenario switch the device becomes a port of.
	Switch string
}

// String returns the tap in its flag form, NAME:SWITCH.
func (t Tap) String() string { return t.Name + ":" + t.Switch }

// ParseTap parses a --tap value, NAME:SWITCH.
func ParseTap(s string) (Tap, error) {
	name, sw, ok := strings.Cut(s, ":")
	if !ok || name == "" || sw == "" || strings.Contains(sw, ":") {
		return Tap{}, fmt.Errorf("--tap %q: want NAME:SWITCH, such as tap0:lan", s)
	}
	if len(name) > 15 || strings.ContainsAny(name, "/ \t") {
		return Tap{}, fmt.Errorf("--tap %q: %q is not a valid device name (1 to 15 characters, no '/' or spaces)", s, name)
	}
	return Tap{Name: name, Switch: sw}, nil
}

// CheckTaps reports the first tap that names a switch s does not have or
// a device named twice.
func CheckTaps(s *scenario.Scenario, taps []Tap) error {
	have := make([]string, 0, len(s.Switches))
	for _, sw := range s.Switches {
		have = append(have, sw.Name)
	}
	seen := map[string]bool{}
	for _, t := range taps {
		if seen[t.Name] {
			return fmt.Errorf("--tap %s: device %q is bridged twice", t, t.Name)
		}
		seen[t.Name] = true
		found := false
		for _, n := range have {
			found = found || n == t.Switch
		}
		if !found {
			list := "it has none"
			if len(have) > 0 {
				list = "it has " + strings.Join(have, ", ")
			}
			return fmt.Errorf("--tap %s: scenario %q has no switch %q (%s)", t, s.Name, t.Switch, list)
		}
	}
	return nil
}

// FlushInterval is how often an emulated run writes its captures through
// to their files.
const FlushInterval = time.Second

// Config configures a Driver.
type Config struct {
	// Taps are the devices to bridge, at least one.
	Taps []Tap
	// Create creates a device that does not exist (it needs
	// CAP_NET_ADMIN); it is removed again when the run ends.
	Create bool
	// CaptureDir, when not empty, receives one capture per tap port,
	// tap-NAME plus the format's extension.
	CaptureDir string
	// Format and SnapLen are the captures' format and snapshot length.
	Format  pcap.Format
	SnapLen int
	// Ready, when not nil, is called once every tap is open and bridged,
	// just before the world starts running on the wall clock (the place
	// to drop privileges); an error ends the run before it starts.
	Ready func() error
}

// Driver is a scenario.Driver that runs the world on the wall clock with
// the configured taps bridged into its switches. A Driver runs one world.
type Driver struct {
	cfg      Config
	captures []string
	stats    []Stats
}

// Stats are one tap's counters after a run.
type Stats struct {
	// Tap is the device and its switch.
	Tap Tap
	// Device holds the tap endpoint's totals.
	Device tap.Stats
}

// New returns a Driver for cfg.
func New(cfg Config) (*Driver, error) {
	if len(cfg.Taps) == 0 {
		return nil, errors.New("emulate: no tap to bridge")
	}
	return &Driver{cfg: cfg}, nil
}

// Start returns the wall clock's now: the world's clock starts there.
func (d *Driver) Start() clock.Time { return clock.FromTime(time.Now()) }

// Captures returns the file names of the tap-port captures written.
func (d *Driver) Captures() []string { return append([]string(nil), d.captures...) }

// Stats returns each tap's counters, after Drive.
func (d *Driver) Stats() []Stats { return append([]Stats(nil), d.stats...) }

// port is an open tap bridged into a switch.
type port struct {
	t   Tap
	dev *tap.Endpoint
	cw  *pcap.Writer
}

// Drive opens the taps, bridges each into its switch and runs w on a live
// loop until end (the wall clock reaching it) or until stop is closed or a
// tap device fails. The taps and their captures are closed before it
// returns.
func (d *Driver) Drive(w *sim.World, switches map[string]*sim.Switch, end clock.Time, stop <-chan struct{}) (interrupted bool, err error) {
	l := loop.NewOn(w.Scheduler(), time.Now)
	ports := make([]*port, 0, len(d.cfg.Taps))
	defer func() {
		if cerr := d.close(ports); err == nil {
			err = cerr
		}
	}()
	for _, t := range d.cfg.Taps {
		sw := switches[t.Switch]
		if sw == nil {
			return false, fmt.Errorf("emulate: --tap %s: no switch %q", t, t.Switch)
		}
		p, err := d.open(l, w, t)
		if err != nil {
			return false, err
		}
		ports = append(ports, p)
		var ep link.Endpoint = p.dev
		if p.cw != nil {
			if ep, err = pcap.NewTap(p.dev, w.Clock(), p.cw, t.Switch+":"+t.Name); err != nil {
				return false, fmt.Errorf("emulate: capture of tap %s: %w", t.Name, err)
			}
		}
		sw.AddPort(ep)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.At(end, func(clock.Time) { cancel() })
	// Captures reach their files every FlushInterval, so that they can be
	// read while the run goes on (errors surface again at Close).
	var flush func(now clock.Time)
	flush = func(now clock.Time) {
		_ = w.FlushCaptures()
		for _, p := range ports {
			if p.cw != nil {
				_ = p.cw.Flush()
			}
		}
		w.At(now.Add(FlushInterval), flush)
	}
	w.After(FlushInterval, flush)
	var (
		stopped atomic.Bool
		devErr  error
		errOnce sync.Once
		wg      sync.WaitGroup
	)
	for _, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-p.dev.Done():
				errOnce.Do(func() {
					devErr = p.dev.Err()
					if devErr == nil {
						devErr = fmt.Errorf("emulate: tap %s closed", p.t.Name)
					}
				})
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if stop != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-stop:
				stopped.Store(true)
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if d.cfg.Ready != nil {
		if err := d.cfg.Ready(); err != nil {
			cancel()
			wg.Wait()
			return false, err
		}
	}
	_ = l.Run(ctx) // it returns only when ctx ends
	wg.Wait()
	if devErr != nil {
		return false, devErr
	}
	return stopped.Load(), nil
}

// open opens t's device and, when captures are on, its capture file.
func (d *Driver) open(l *loop.Loop, w *sim.World, t Tap) (*port, error) {
	dev, err := tap.Open(l, tap.Config{Name: t.Name, Create: d.cfg.Create})
	if err != nil {
		return nil, fmt.Errorf("emulate: %w", err)
	}
	p := &port{t: t, dev: dev}
	if d.cfg.CaptureDir == "" {
		return p, nil
	}
	name := "tap-" + t.Name + d.cfg.Format.Ext()
	p.cw, err = pcap.CreateWith(filepath.Join(d.cfg.CaptureDir, name), d.cfg.Format, pcap.Options{SnapLen: d.cfg.SnapLen})
	if err != nil {
		_ = dev.Close()
		return nil, fmt.Errorf("emulate: capture of tap %s: %w", t.Name, err)
	}
	d.captures = append(d.captures, name)
	return p, nil
}

// close closes every port's device, then its capture, and records the
// devices' counters.
func (d *Driver) close(ports []*port) error {
	var errs []error
	for _, p := range ports {
		if err := p.dev.Close(); err != nil {
			errs = append(errs, err)
		}
		d.stats = append(d.stats, Stats{Tap: p.t, Device: p.dev.Stats()})
		if p.cw != nil {
			if err := p.cw.Close(); err != nil {
				errs = append(errs, fmt.Errorf("emulate: capture of tap %s: %w", p.t.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
