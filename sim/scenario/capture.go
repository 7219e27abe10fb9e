package scenario

import (
	"fmt"
	"slices"

	"github.com/simnet-go/simnet/link/pcap"
)

// Capture selects what a run records. Nil Hosts or Switches select every
// host or switch; an empty list selects none.
type Capture struct {
	Hosts    []string
	Switches []string
	// SnapLen is the snapshot length (0: pcap.SnapLen).
	SnapLen int
	Line    int
}

// CaptureMode overrides a scenario's capture selection for a run
// (simnet run --capture).
type CaptureMode uint8

// The capture modes.
const (
	// CaptureFile records what the file's capture block selects
	// (everything without one).
	CaptureFile CaptureMode = iota
	// CaptureAll records every host and switch.
	CaptureAll
	// CaptureHosts records every host and no switch.
	CaptureHosts
	// CaptureNone records nothing.
	CaptureNone
)

// ParseCaptureMode returns the mode named s: all, hosts or none ("" is
// the file's selection).
func ParseCaptureMode(s string) (CaptureMode, error) {
	switch s {
	case "":
		return CaptureFile, nil
	case "all":
		return CaptureAll, nil
	case "hosts":
		return CaptureHosts, nil
	case "none":
		return CaptureNone, nil
	}
	return 0, fmt.Errorf("unknown capture mode %q (want all, hosts or none)", s)
}

// captureBlock reads the top-level capture block.
func (d *decoder) captureBlock(o *object, s *Scenario) {
	n := o.get("capture")
	if n == nil {
		return
	}
	co := d.object(n, "capture", "hosts", "switches", "snaplen")
	if co == nil {
		return
	}
	c := &Capture{Line: n.Line}
	names := func(field string) []string {
		v, present := co.vals[field]
		if !present {
			return nil
		}
		out := []string{}
		if isNull(v) {
			return out
		}
		for i, in := range d.items(v, co.field(field)) {
			if name, ok := d.name(in, index(co.field(field), i)); ok {
				out = append(out, name)
			}
		}
		return out
	}
	c.Hosts, c.Switches = names("hosts"), names("switches")
	if sn := co.get("snaplen"); sn != nil {
		v, _ := d.integer(sn, co.field("snaplen"), pcap.MinSnapLen, pcap.SnapLen)
		c.SnapLen = int(v)
	}
	s.Capture = c
	d.captureObj = co
}

// expandCapture replaces the groups named in the capture block by their
// members.
func (d *decoder) expandCapture(s *Scenario) {
	if s.Capture == nil || s.Capture.Hosts == nil {
		return
	}
	hosts := []string{}
	for _, h := range s.Capture.Hosts {
		if k := slices.IndexFunc(s.Groups, func(g Group) bool { return g.Name == h }); k >= 0 {
			hosts = append(hosts, s.Groups[k].Members...)
			continue
		}
		hosts = append(hosts, h)
	}
	s.Capture.Hosts = hosts
}

// checkCapture checks that the capture block names hosts and switches.
func (d *decoder) checkCapture(s *Scenario, nodes map[string]string) {
	c := s.Capture
	if c == nil {
		return
	}
	o := d.captureObj
	for _, h := range c.Hosts {
		if nodes[h] != "host" {
			d.fail(o.get("hosts"), o.field("hosts"), "no host or host group named %q", h)
		}
	}
	for _, sw := range c.Switches {
		if nodes[sw] != "switch" {
			d.fail(o.get("switches"), o.field("switches"), "no switch named %q", sw)
		}
	}
}

// selector returns the capture filter of a list (nil: everything).
func selector(names []string) func(string) bool {
	if names == nil {
		return nil
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(name string) bool { return set[name] }
}

// captureConfig returns what a run with mode records: whether captures
// are on at all, and the host and switch filters.
func (s *Scenario) captureConfig(mode CaptureMode) (on bool, hosts, switches func(string) bool, snap int) {
	if s.Capture != nil {
		snap = s.Capture.SnapLen
	}
	none := func(string) bool { return false }
	switch mode {
	case CaptureNone:
		return false, nil, nil, snap
	case CaptureAll:
		return true, nil, nil, snap
	case CaptureHosts:
		return true, nil, none, snap
	}
	if s.Capture == nil {
		return true, nil, nil, snap
	}
	return true, selector(s.Capture.Hosts), selector(s.Capture.Switches), snap
}
