package scenario

import (
	"fmt"

	"github.com/simnet-go/simnet/link/impair"
)

// Directions a link expectation may name.
const (
	dirAtoB = "a_to_b"
	dirBtoA = "b_to_a"
)

// linkExpect decodes the keys of an expectation on a link direction:
// {link: NAME, direction: a_to_b|b_to_a, min_marks: N, max_drops: N}.
func (d *decoder) linkExpect(o *object, e *Expectation) {
	ln := o.get("link")
	if ln == nil {
		for _, k := range []string{"direction", "min_marks", "max_drops"} {
			if n := o.get(k); n != nil {
				d.fail(n, o.field(k), "%s needs link", k)
			}
		}
		return
	}
	e.Link, _ = d.name(ln, o.field("link"))
	if o.get("app") != nil || o.get("host") != nil {
		d.fail(ln, o.field("link"), "give one of app, host or link")
	}
	if dn := d.require(o, "direction"); dn != nil {
		if v, ok := d.scalar(dn, o.field("direction")); ok {
			if v != dirAtoB && v != dirBtoA {
				d.fail(dn, o.field("direction"), "want a_to_b or b_to_a, got %q", v)
			}
			e.Direction = v
		}
	}
	if n := o.get("min_marks"); n != nil {
		if x, ok := d.integer(n, o.field("min_marks"), 0, 1<<53); ok {
			v := uint64(x)
			e.MinMarks = &v
		}
	}
	if n := o.get("max_drops"); n != nil {
		if x, ok := d.integer(n, o.field("max_drops"), 0, 1<<53); ok {
			v := uint64(x)
			e.MaxDrops = &v
		}
	}
	if e.MinMarks == nil && e.MaxDrops == nil {
		d.fail(ln, o.field("link"), "an expectation on a link needs min_marks or max_drops")
	}
}

// evaluateLink checks a link expectation against the link reports: the
// ECN marks and the drops (for any reason) of one direction.
func evaluateLink(e Expectation, links []LinkReport) []ExpectResult {
	var c impair.Counters
	for _, l := range links {
		if l.Name == e.Link {
			c = l.AtoB
			if e.Direction == dirBtoA {
				c = l.BtoA
			}
		}
	}
	name := e.Link + " " + e.Direction
	var out []ExpectResult
	if e.MinMarks != nil {
		out = append(out, ExpectResult{App: name, Condition: fmt.Sprintf("min_marks: %d", *e.MinMarks), Line: e.Line,
			Passed: c.Marked >= *e.MinMarks, Message: fmt.Sprintf("got %d ECN marks", c.Marked)})
	}
	if e.MaxDrops != nil {
		out = append(out, ExpectResult{App: name, Condition: fmt.Sprintf("max_drops: %d", *e.MaxDrops), Line: e.Line,
			Passed: c.Dropped <= *e.MaxDrops, Message: fmt.Sprintf("got %d drops (%d queue full)", c.Dropped, c.DroppedQueueFull)})
	}
	return out
}
