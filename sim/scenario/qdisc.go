package scenario

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/link/qdisc"
)

// qdiscFields are the impair keys of the queue discipline.
var qdiscFields = []string{"qdisc", "limit", "target", "interval", "flows", "quantum", "min", "max", "probability", "ecn"}

// QdiscPatch is the queue discipline fields of an impair block: nil fields
// are left as they are.
type QdiscPatch struct {
	Kind             *string
	Limit            *int
	Target, Interval *time.Duration
	Flows, Quantum   *int
	Min, Max         *int
	Probability      *float64
	ECN              *bool
	// ecn is where ecn was written, for errors found after merging.
	ecn *yaml.Node
	// ecnPath is the field path of ecn.
	ecnPath string
}

// Apply returns base with p's fields replaced. Choosing another qdisc
// resets the parameters of the previous one.
func (p QdiscPatch) Apply(base qdisc.Params) qdisc.Params {
	if p.Kind != nil && *p.Kind != base.Kind {
		base = qdisc.Params{Kind: *p.Kind, ECN: base.ECN}
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&base.Limit, p.Limit)
	set(&base.Flows, p.Flows)
	set(&base.Quantum, p.Quantum)
	set(&base.Min, p.Min)
	set(&base.Max, p.Max)
	if p.Target != nil {
		base.Target = *p.Target
	}
	if p.Interval != nil {
		base.Interval = *p.Interval
	}
	if p.Probability != nil {
		base.Probability = *p.Probability
	}
	if p.ECN != nil {
		base.ECN = *p.ECN
	}
	if base.Kind == qdisc.FIFO {
		base.Kind = ""
	}
	return base
}

// merge returns p with q's set fields laid over it.
func (p QdiscPatch) merge(q QdiscPatch) QdiscPatch {
	pick := func(a, b *int) *int {
		if b != nil {
			return b
		}
		return a
	}
	if q.Kind != nil {
		p.Kind = q.Kind
	}
	p.Limit, p.Flows, p.Quantum = pick(p.Limit, q.Limit), pick(p.Flows, q.Flows), pick(p.Quantum, q.Quantum)
	p.Min, p.Max = pick(p.Min, q.Min), pick(p.Max, q.Max)
	if q.Target != nil {
		p.Target = q.Target
	}
	if q.Interval != nil {
		p.Interval = q.Interval
	}
	if q.Probability != nil {
		p.Probability = q.Probability
	}
	if q.ECN != nil {
		p.ECN, p.ecn, p.ecnPath = q.ECN, q.ecn, q.ecnPath
	}
	return p
}

// qdiscPatch reads the queue discipline fields of an impair block.
func (d *decoder) qdiscPatch(o *object) QdiscPatch {
	var p QdiscPatch
	if n := o.get("qdisc"); n != nil {
		if s, ok := d.scalar(n, o.field("qdisc")); ok {
			switch s {
			case qdisc.FIFO, qdisc.RED, qdisc.CoDel, qdisc.FQCoDel:
				p.Kind = &s
			default:
				d.fail(n, o.field("qdisc"), "unknown qdisc %q (want fifo, red, codel or fq_codel)", s)
			}
		}
	}
	integer := func(name string, lo, hi int64) *int {
		if n := o.get(name); n != nil {
			if v, ok := d.integer(n, o.field(name), lo, hi); ok {
				i := int(v)
				return &i
			}
		}
		return nil
	}
	dur := func(name string) *time.Duration {
		if n := o.get(name); n != nil {
			if v, ok := d.duration(n, o.field(name)); ok {
				if v <= 0 || v > time.Hour {
					d.fail(n, o.field(name), "%s must be in (0, 1h]", name)
					return nil
				}
				return &v
			}
		}
		return nil
	}
	p.Limit = integer("limit", 1, qdisc.MaxLimit)
	p.Flows = integer("flows", 1, qdisc.MaxFlows)
	p.Quantum = integer("quantum", 64, 1<<20)
	p.Min = integer("min", 1, qdisc.MaxLimit)
	p.Max = integer("max", 1, qdisc.MaxLimit)
	p.Target = dur("target")
	p.Interval = dur("interval")
	if n := o.get("probability"); n != nil {
		if v, ok := d.fraction(n, o.field("probability")); ok {
			p.Probability = &v
		}
	}
	if n := o.get("ecn"); n != nil {
		if v, ok := d.boolean(n, o.field("ecn")); ok {
			p.ECN, p.ecn, p.ecnPath = &v, n, o.field("ecn")
		}
	}
	return p
}

// checkQdisc reports a direction whose queue discipline fields do not fit
// together: ecn without an AQM, an AQM without a rate or with the fifo's
// queue bound, parameters of another qdisc. at and path locate the block
// for errors that no single field carries.
func (d *decoder) checkQdisc(im Impair, patch QdiscPatch, at *yaml.Node, path, dir string) bool {
	q := im.Qdisc
	switch {
	case q.ECN && !q.IsAQM():
		n, f := patch.ecn, patch.ecnPath
		if n == nil {
			n, f = at, path
		}
		d.fail(n, f, "ecn marks instead of dropping and needs an AQM qdisc in %s (red, codel or fq_codel)", dir)
	case q.IsAQM() && im.Rate == 0:
		d.fail(at, path, "qdisc %s in %s needs a rate: it manages the rate limiter's queue", q.Kind, dir)
	case q.IsAQM() && im.Queue != (Queue{}):
		d.fail(at, path, "queue bounds the fifo in %s; qdisc %s takes limit", dir, q.Kind)
	default:
		if err := q.Validate(); err != nil {
			d.fail(at, path, "%s: %v", dir, err)
			return false
		}
		return true
	}
	return false
}

// qdiscSummary renders a direction's queue discipline report for the
// summary, or "" when it has none.
func qdiscSummary(st *qdisc.Stats) string {
	if st == nil {
		return ""
	}
	return fmt.Sprintf("%s: %d drops, %d marks, sojourn p50 %s p99 %s max %s", st.Kind, st.Drops, st.Marks,
		fmtSeconds(st.Sojourn.P50), fmtSeconds(st.Sojourn.P99), fmtSeconds(st.Sojourn.Max))
}

func fmtSeconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(10 * time.Microsecond).String()
}
