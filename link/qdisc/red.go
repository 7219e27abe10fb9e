package qdisc

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// redAvpkt is the average packet size iproute2 assumes (avpkt 1000), used
// to turn idle time into the number of packets that could have been sent.
const redAvpkt = 1000

// redQ is Random Early Detection as Floyd and Jacobson specify it ("Random
// Early Detection Gateways for Congestion Avoidance", 1993, section 4),
// with thresholds in packets. RFC 7567 recommends AQM of this kind.
type redQ struct {
	base
	q         ring
	p         Params
	rnd       *rand.Rand
	wq        float64       // EWMA weight
	avg       float64       // average queue in packets
	count     int           // packets since the last mark or drop, -1 below min
	idleSince clock.Time    // when the queue last went empty, 0 when busy
	pktTime   time.Duration // transmission time of an average packet
}

func newRED(p Params, rate int64, rnd *rand.Rand) *redQ {
	r := &redQ{p: p, rnd: rnd, count: -1, wq: redWeight(p.Min, p.Max)}
	r.st.Kind = RED
	if rate > 0 {
		r.pktTime = time.Duration(int64(redAvpkt) * 8e9 / rate)
	}
	return r
}

// redWeight chooses the EWMA weight as iproute2's tc_red_eval_ewma does: the
// largest 2^-n for which a burst of (2min+max)/3 packets arriving at an empty
// queue does not push the average over min (Floyd-Jacobson section 10).
func redWeight(minTh, maxTh int) float64 {
	burst := float64(2*minTh+maxTh) / 3
	a := burst + 1 - float64(minTh)
	w := 0.5
	for n := 1; n < 32; n++ {
		if a <= (1-math.Pow(1-w, burst))/w {
			return w
		}
		w /= 2
	}
	return w
}

// markProbability returns pb, the base probability for average queue avg:
// max_p*(avg-min)/(max-min) between the thresholds (Floyd-Jacobson
// section 4).
func (r *redQ) markProbability(avg float64) float64 {
	mn, mx := float64(r.p.Min), float64(r.p.Max)
	switch {
	case avg < mn:
		return 0
	case avg >= mx:
		return 1
	}
	return r.p.Probability * (avg - mn) / (mx - mn)
}

// Enqueue updates the average queue and marks or drops the arriving packet
// with the probability the algorithm gives; a full queue refuses it.
func (r *redQ) Enqueue(now clock.Time, pkt Packet) Verdict {
	// Average queue: EWMA on arrival, decayed over idle time as if
	// m = idle/s small packets had arrived at an empty queue.
	if r.q.n > 0 || r.idleSince == 0 {
		r.avg = (1-r.wq)*r.avg + r.wq*float64(r.q.n)
	} else if r.pktTime > 0 {
		m := float64(now.Sub(r.idleSince)) / float64(r.pktTime)
		r.avg *= math.Pow(1-r.wq, m)
	} else {
		r.avg = 0
	}
	r.idleSince = 0
	congested := false
	switch {
	case r.avg >= float64(r.p.Max):
		congested, r.count = true, 0
	case r.avg >= float64(r.p.Min):
		r.count++
		pb := r.markProbability(r.avg)
		pa := 1.0
		if d := 1 - float64(r.count)*pb; d > 0 {
			pa = pb / d
		}
		if r.rnd.Float64() < pa {
			congested, r.count = true, 0
		}
	default:
		r.count = -1
	}
	if congested {
		if r.p.ECN && MarkCE(pkt.Frame) {
			pkt.CE = true
			r.st.Marks++
		} else {
			r.st.Drops++
			r.st.DropsCongestion++
			r.noteEmpty(now)
			return DroppedEarly
		}
	}
	if r.q.n >= r.p.Limit {
		r.st.Drops++
		r.st.DropsOverlimit++
		r.noteEmpty(now)
		return DroppedFull
	}
	pkt.Enqueued = now
	r.q.push(pkt)
	r.st.Enqueued++
	return Queued
}

// noteEmpty starts the idle period when a refused packet leaves the queue
// empty.
func (r *redQ) noteEmpty(now clock.Time) {
	if r.q.n == 0 {
		r.idleSince = now
	}
}

// Dequeue returns the head of the queue.
func (r *redQ) Dequeue(now clock.Time) (Packet, bool) {
	p, ok := r.q.pop()
	if !ok {
		return p, false
	}
	if r.q.n == 0 {
		r.idleSince = now
	}
	r.sent(now, &p)
	return p, true
}

func (r *redQ) Len() int     { return r.q.n }
func (r *redQ) Backlog() int { return r.q.bytes }
func (r *redQ) Stats() Stats { return r.stats() }

// Flush empties the queue.
func (r *redQ) Flush(fn func(Packet)) { r.q.flush(fn) }
