package scenario

import (
	"slices"

	"go.yaml.in/yaml/v3"
)

// Capture chooses what a run captures beyond the hosts.
type Capture struct {
	// Switches names the switches whose ports are captured (one file per
	// switch); nil, when the file does not say, means every switch.
	Switches []string
	// Line is where the capture block is, 0 when absent.
	Line int
	// switchNodes locate each name, for errors.
	switchNodes []*yaml.Node
}

// CapturesSwitch reports whether the switch called name is captured.
func (c Capture) CapturesSwitch(name string) bool {
	return c.Switches == nil || slices.Contains(c.Switches, name)
}

// capture reads the top-level capture block: {switches: [names]}.
func (d *decoder) capture(n *yaml.Node) Capture {
	o := d.object(n, "capture", "switches")
	if o == nil {
		return Capture{}
	}
	c := Capture{Line: n.Line}
	if sn, present := o.vals["switches"]; present {
		c.Switches = []string{}
		for i, item := range d.list(sn, "capture.switches") {
			if name, ok := d.name(item, index("capture.switches", i)); ok {
				c.Switches = append(c.Switches, name)
				c.switchNodes = append(c.switchNodes, item)
			}
		}
	}
	return c
}

// checkCapture reports capture.switches entries that name no switch.
func (d *decoder) checkCapture(s *Scenario) {
	for i, name := range s.Capture.Switches {
		if !slices.ContainsFunc(s.Switches, func(sw Switch) bool { return sw.Name == name }) {
			d.fail(s.Capture.switchNodes[i], index("capture.switches", i), "no switch is called %q", name)
		}
	}
}
