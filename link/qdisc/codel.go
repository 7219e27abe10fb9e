package qdisc

import (
	"math"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// codelVars is the state of one CoDel instance (RFC 8289 section 5.4): one
// for the codel qdisc, one per flow queue of fq_codel.
type codelVars struct {
	firstAboveTime clock.Time // 0: sojourn below target
	dropNext       clock.Time
	count          uint32
	lastCount      uint32
	dropping       bool
}

// codelParams are the shared parameters of CoDel instances.
type codelParams struct {
	target, interval time.Duration
	maxPacket        int // bytes: below one MTU of backlog, never drop
	ecn              bool
}

// controlLaw returns t + interval/sqrt(count) (RFC 8289 section 5.5).
func (cp *codelParams) controlLaw(t clock.Time, count uint32) clock.Time {
	return t.Add(time.Duration(float64(cp.interval) / math.Sqrt(float64(count))))
}

// codelQueue is what CoDel dequeues from: a FIFO with the total backlog the
// "one MTU left" rule looks at.
type codelQueue interface {
	pop() (Packet, bool)
	backlog() int
}

// doDequeue is RFC 8289's dodequeue: pop the head and say whether its
// sojourn has been above target for at least an interval.
func (cp *codelParams) doDequeue(v *codelVars, q codelQueue, now clock.Time) (p Packet, okToDrop, ok bool) {
	p, ok = q.pop()
	if !ok {
		v.firstAboveTime = 0
		return p, false, false
	}
	sojourn := now.Sub(p.Enqueued)
	if sojourn < cp.target || q.backlog() <= cp.maxPacket {
		// Below target, or too little queued to matter: leave.
		v.firstAboveTime = 0
		return p, false, true
	}
	if v.firstAboveTime == 0 {
		// Just went above target: wait an interval before dropping.
		v.firstAboveTime = now.Add(cp.interval)
	} else if now >= v.firstAboveTime {
		okToDrop = true
	}
	return p, okToDrop, true
}

// dequeue is RFC 8289's dequeue (section 5.5): in dropping state, drop at
// the instants the control law spaces by interval/sqrt(count); enter it when
// the sojourn stayed above target for an interval. With ECN, an ECN-capable
// packet is marked instead of dropped and sent (Linux codel_dequeue does
// the same).
func (cp *codelParams) dequeue(v *codelVars, q codelQueue, now clock.Time, b *base, drop DropFunc) (Packet, bool) {
	p, okToDrop, ok := cp.doDequeue(v, q, now)
	if !ok {
		v.dropping = false
		return p, false
	}
	if v.dropping {
		if !okToDrop {
			// Sojourn fell below target: leave dropping state.
			v.dropping = false
		}
		for v.dropping && now >= v.dropNext {
			v.count++
			if cp.ecn && MarkCE(p.Frame) {
				p.CE = true
				b.st.Marks++
				v.dropNext = cp.controlLaw(v.dropNext, v.count)
				return p, true
			}
			b.st.Drops++
			b.st.DropsCongestion++
			drop(p, Congestion, now)
			p, okToDrop, ok = cp.doDequeue(v, q, now)
			if !ok {
				v.dropping = false
				return p, false
			}
			if !okToDrop {
				v.dropping = false
			} else {
				v.dropNext = cp.controlLaw(v.dropNext, v.count)
			}
		}
		return p, true
	}
	if okToDrop {
		// Enter dropping state. If it was left recently, resume near the
		// drop rate that controlled the queue (section 5.5).
		marked := false
		if cp.ecn && MarkCE(p.Frame) {
			p.CE = true
			b.st.Marks++
			marked = true
		} else {
			b.st.Drops++
			b.st.DropsCongestion++
			drop(p, Congestion, now)
			p, _, ok = cp.doDequeue(v, q, now)
		}
		v.dropping = true
		delta := v.count - v.lastCount
		if delta > 1 && now.Sub(v.dropNext) < 16*cp.interval {
			v.count = delta
		} else {
			v.count = 1
		}
		v.dropNext = cp.controlLaw(now, v.count)
		v.lastCount = v.count
		if !marked && !ok {
			return p, false
		}
	}
	return p, true
}

// codelQ is the codel qdisc: one FIFO, one CoDel instance.
type codelQ struct {
	base
	q    ring
	cp   codelParams
	v    codelVars
	lim  int
	drop DropFunc
}

func newCoDel(p Params, maxFrame int, drop DropFunc) *codelQ {
	c := &codelQ{cp: codelParams{target: p.Target, interval: p.Interval, maxPacket: maxFrame, ecn: p.ECN}, lim: p.Limit, drop: drop}
	c.st.Kind = CoDel
	return c
}

// pop and backlog make codelQ its own codelQueue.
func (c *codelQ) pop() (Packet, bool) { return c.q.pop() }
func (c *codelQ) backlog() int        { return c.q.bytes }

// Enqueue timestamps the packet, or refuses it when the queue is at its
// limit (CoDel drops at dequeue; the limit is only a safety net).
func (c *codelQ) Enqueue(now clock.Time, pkt Packet) Verdict {
	if c.q.n >= c.lim {
		c.st.Drops++
		c.st.DropsOverlimit++
		return DroppedFull
	}
	pkt.Enqueued = now
	c.q.push(pkt)
	c.st.Enqueued++
	return Queued
}

// Dequeue runs the CoDel control law.
func (c *codelQ) Dequeue(now clock.Time) (Packet, bool) {
	p, ok := c.cp.dequeue(&c.v, c, now, &c.base, c.drop)
	if ok {
		c.sent(now, &p)
	}
	return p, ok
}

func (c *codelQ) Len() int     { return c.q.n }
func (c *codelQ) Backlog() int { return c.q.bytes }
func (c *codelQ) Stats() Stats { return c.stats() }

// Flush empties the queue and leaves the dropping state.
func (c *codelQ) Flush(fn func(Packet)) {
	c.q.flush(fn)
	c.v.dropping, c.v.firstAboveTime = false, 0
}
