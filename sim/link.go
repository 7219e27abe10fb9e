package sim

import (
	"fmt"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
)

// DefaultMTU is the MTU of a link whose configuration sets none.
const DefaultMTU = 1500

// Dir is one direction of a link.
type Dir uint8

// The two directions of a link.
const (
	// AtoB carries frames sent by end A to end B.
	AtoB Dir = iota
	// BtoA carries frames sent by end B to end A.
	BtoA
)

// String names the direction.
func (d Dir) String() string {
	if d == BtoA {
		return "b>a"
	}
	return "a>b"
}

// LinkConfig configures a point-to-point link.
type LinkConfig struct {
	// MTU is the largest Ethernet payload carried in both directions; 0
	// means DefaultMTU. A direction whose impairment sets its own MTU
	// keeps it.
	MTU int `yaml:"mtu" json:"mtu"`
	// AtoB is the impairment of the direction from end A to end B.
	AtoB impair.Config `yaml:"a_to_b" json:"a_to_b"`
	// BtoA is the impairment of the direction from end B to end A.
	BtoA impair.Config `yaml:"b_to_a" json:"b_to_a"`
}

// Link is a point-to-point link: two ends, each a link.Endpoint, and an
// impair.Pipe per direction. Each pipe draws from World.Rand("link/NAME/a>b")
// or "link/NAME/b>a". The frames in flight on every link of a world share
// one impair.Line: one delay line, one scheduler entry.
type Link struct {
	w      *World
	name   string
	mtu    int
	pipes  [2]*impair.Pipe
	ends   [2]end
	attach [2]link.Endpoint // what A and B return: the end, or its tap
	labels [2]string        // "host:iface" or "switch" for the report
}

// end is one end of a link: it sends into one pipe and receives from the
// other.
type end struct {
	l   *Link
	out Dir
}

// Send offers frame to the link in this end's outgoing direction.
func (e *end) Send(frame []byte) link.Note { return e.l.pipes[e.out].Send(frame) }

// SendCarrying offers a frame that an earlier link already marked; the marks
// reach the far end with it (link.Carrier).
func (e *end) SendCarrying(frame []byte, carried link.Note) link.Note {
	return e.l.pipes[e.out].SendCarrying(frame, carried)
}

// SetFate sets where the fates of frames this end sent into a queue
// discipline are reported (link.FateReporter).
func (e *end) SetFate(f link.FateFunc) { e.l.pipes[e.out].SetFate(f) }

// SetReceiver sets where frames arriving at this end go.
func (e *end) SetReceiver(r link.Receiver) { e.l.pipes[1-e.out].SetReceiver(r) }

// MTU returns the link's MTU.
func (e *end) MTU() int { return e.l.mtu }

// NewLink creates a link called name whose ends are not attached to
// anything yet; A and B return them raw. Most callers use Connect,
// ConnectSwitch or ConnectSwitches instead.
func (w *World) NewLink(name string, cfg LinkConfig) (*Link, error) {
	if err := w.claim("link", name); err != nil {
		return nil, err
	}
	if cfg.MTU < 0 {
		return nil, fmt.Errorf("sim: link %q: mtu %d is negative", name, cfg.MTU)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	l := &Link{w: w, name: name, mtu: cfg.MTU}
	for d, c := range [2]impair.Config{cfg.AtoB, cfg.BtoA} {
		if c.MTU == 0 {
			c.MTU = cfg.MTU
		}
		p, err := impair.NewOn(w.line, w.Rand("link/"+name+"/"+Dir(d).String()), c, w.pool)
		if err != nil {
			delete(w.names, name)
			return nil, fmt.Errorf("sim: link %q %v: %w", name, Dir(d), err)
		}
		l.pipes[d] = p
	}
	l.ends[0] = end{l: l, out: AtoB}
	l.ends[1] = end{l: l, out: BtoA}
	l.attach[0], l.attach[1] = &l.ends[0], &l.ends[1]
	w.links = append(w.links, l)
	return l, nil
}

// Iface names a host interface.
type Iface struct {
	// Host is the host's name.
	Host string
	// Name is the interface's name on the host, such as "eth0".
	Name string
}

// String returns "host:iface".
func (i Iface) String() string { return i.Host + ":" + i.Name }

// Connect links host interfaces a and b. Give l.A() to host a's interface
// and l.B() to host b's: they are captured when the world records captures.
func (w *World) Connect(name string, a, b Iface, cfg LinkConfig) (*Link, error) {
	for _, ifc := range [2]Iface{a, b} {
		if err := w.checkIface(ifc.Host, ifc.Name); err != nil {
			return nil, fmt.Errorf("sim: link %q: %w", name, err)
		}
	}
	if a == b {
		return nil, fmt.Errorf("sim: link %q: both ends are %v", name, a)
	}
	l, err := w.NewLink(name, cfg)
	if err != nil {
		return nil, err
	}
	for i, ifc := range [2]Iface{a, b} {
		ep, err := w.Attach(ifc.Host, ifc.Name, l.attach[i])
		if err != nil {
			return nil, fmt.Errorf("sim: link %q: %w", name, err)
		}
		l.attach[i] = ep
		l.labels[i] = ifc.String()
	}
	return l, nil
}

// ConnectSwitch links host interface a (end A) to a new port of sw (end B).
// Give l.A() to the host's interface.
func (w *World) ConnectSwitch(name string, a Iface, sw *Switch, cfg LinkConfig) (*Link, error) {
	if err := w.checkIface(a.Host, a.Name); err != nil {
		return nil, fmt.Errorf("sim: link %q: %w", name, err)
	}
	l, err := w.NewLink(name, cfg)
	if err != nil {
		return nil, err
	}
	ep, err := w.Attach(a.Host, a.Name, l.attach[0])
	if err != nil {
		return nil, fmt.Errorf("sim: link %q: %w", name, err)
	}
	l.attach[0] = ep
	l.labels[0] = a.String()
	port, err := w.switchPort(sw, l, l.attach[1])
	if err != nil {
		return nil, fmt.Errorf("sim: link %q: %w", name, err)
	}
	l.attach[1] = port
	sw.AddPort(port)
	l.labels[1] = sw.name
	return l, nil
}

// ConnectSwitches links a new port of sa (end A) to a new port of sb (end B).
func (w *World) ConnectSwitches(name string, sa, sb *Switch, cfg LinkConfig) (*Link, error) {
	l, err := w.NewLink(name, cfg)
	if err != nil {
		return nil, err
	}
	for i, sw := range [2]*Switch{sa, sb} {
		port, err := w.switchPort(sw, l, l.attach[i])
		if err != nil {
			return nil, fmt.Errorf("sim: link %q: %w", name, err)
		}
		l.attach[i] = port
		sw.AddPort(port)
	}
	l.labels = [2]string{sa.name, sb.name}
	return l, nil
}

// Name returns the link's name.
func (l *Link) Name() string { return l.name }

// MTU returns the link's MTU.
func (l *Link) MTU() int { return l.mtu }

// A returns end A: the endpoint for whatever is attached there.
func (l *Link) A() link.Endpoint { return l.attach[0] }

// B returns end B.
func (l *Link) B() link.Endpoint { return l.attach[1] }

// Pipe returns the impairment stage of direction d.
func (l *Link) Pipe(d Dir) *impair.Pipe { return l.pipes[d&1] }

// Up reports whether the link is up (both directions).
func (l *Link) Up() bool { return l.pipes[0].Up() && l.pipes[1].Up() }

// SetUp brings both directions up or down; going down loses the frames in
// flight.
func (l *Link) SetUp(up bool) {
	l.pipes[0].SetUp(up)
	l.pipes[1].SetUp(up)
}

// SetImpair changes the impairment of direction d for frames offered from
// now on. A zero MTU in cfg keeps the link's MTU.
func (l *Link) SetImpair(d Dir, cfg impair.Config) error {
	if cfg.MTU == 0 {
		cfg.MTU = l.mtu
	}
	if err := l.pipes[d&1].SetConfig(cfg); err != nil {
		return fmt.Errorf("sim: link %q %v: %w", l.name, d, err)
	}
	return nil
}

// ScheduleUp brings the link up or down at instant at.
func (l *Link) ScheduleUp(at clock.Time, up bool) {
	l.w.At(at, func(clock.Time) { l.SetUp(up) })
}

// ScheduleImpair changes direction d's impairment at instant at. cfg is
// validated now, so a bad change is reported before the run.
func (l *Link) ScheduleImpair(at clock.Time, d Dir, cfg impair.Config) error {
	if cfg.MTU == 0 {
		cfg.MTU = l.mtu
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("sim: link %q %v: %w", l.name, d, err)
	}
	l.w.At(at, func(clock.Time) {
		// Validated above: SetConfig cannot fail.
		_ = l.pipes[d&1].SetConfig(cfg)
	})
	return nil
}

// LinkStats are a link's counters for the report.
type LinkStats struct {
	// Name is the link's name.
	Name string `json:"name"`
	// A and B say what is attached at each end ("host:iface" or a switch
	// name; empty for a raw end).
	A string `json:"a"`
	B string `json:"b"`
	// Up is whether the link was up when the counters were taken.
	Up bool `json:"up"`
	// AtoB and BtoA are the counters of each direction.
	AtoB impair.Counters `json:"a_to_b"`
	BtoA impair.Counters `json:"b_to_a"`
}

// Stats returns the link's counters.
func (l *Link) Stats() LinkStats {
	return LinkStats{
		Name: l.name, A: l.labels[0], B: l.labels[1], Up: l.Up(),
		AtoB: l.pipes[0].Counters(), BtoA: l.pipes[1].Counters(),
	}
}
