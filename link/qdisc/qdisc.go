// Package qdisc holds the queue disciplines that sit in front of a
// rate-limited link direction (link/impair): RED, CoDel and FQ-CoDel, with
// optional ECN marking, behind one small interface, Qdisc.
//
// A Qdisc only orders, drops and marks: the caller (impair.Pipe) owns the
// frame buffers, the link's rate and the clock. It enqueues each admitted
// frame with the current instant and dequeues the next one whenever the link
// becomes free; drops of frames already queued (CoDel's head drops,
// FQ-CoDel's drops from the fattest flow) are handed back through the
// DropFunc given at construction, so the caller can free the buffer and say
// in its capture what happened. Randomness (RED's draws, FQ-CoDel's hash
// perturbation) comes from the caller's *rand.Rand, time from the instants
// the caller passes: a run is deterministic. Nothing is allocated per packet
// once the queues have grown to their working size.
//
// Not implemented: Linux's byte limits (memory_limit, RED's byte
// thresholds; limits here count packets), CoDel's ce_threshold, RED's
// adaptive mode and gentle ramp, and classification by anything but the
// IPv4/IPv6 5-tuple.
package qdisc

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// The queue disciplines accepted in Params.Kind.
const (
	// FIFO is the drop-tail queue (the default; impair runs it itself).
	FIFO = "fifo"
	// RED is Random Early Detection (Floyd and Jacobson 1993, RFC 7567).
	RED = "red"
	// CoDel is Controlled Delay (RFC 8289).
	CoDel = "codel"
	// FQCoDel is Flow Queue CoDel (RFC 8290).
	FQCoDel = "fq_codel"
)

// Linux's defaults (tc-codel(8), tc-fq_codel(8), tc-red(8) with iproute2's
// derivation of the thresholds from the limit).
const (
	DefaultTarget         = 5 * time.Millisecond
	DefaultInterval       = 100 * time.Millisecond
	DefaultCoDelLimit     = 1000  // packets, sch_codel
	DefaultFQCoDelLimit   = 10240 // packets, sch_fq_codel
	DefaultFlows          = 1024
	DefaultQuantum        = 1514 // bytes: the MTU plus the Ethernet header
	DefaultREDLimit       = 1000 // packets (Linux's txqueuelen; tc-red needs one)
	DefaultREDProbability = 0.02
	// fqDropBatch is how many packets FQ-CoDel drops at most from the
	// fattest flow when the limit is hit (Linux's drop_batch_size).
	fqDropBatch = 64
	// MaxLimit bounds Params.Limit.
	MaxLimit = 1 << 20
	// MaxFlows bounds Params.Flows (Linux's 65536).
	MaxFlows = 65536
)

// Params configures a queue discipline. Zero fields take Linux's defaults
// for the chosen Kind.
type Params struct {
	// Kind is FIFO (or ""), RED, CoDel or FQCoDel.
	Kind string `yaml:"qdisc" json:"qdisc,omitempty"`
	// Limit bounds the packets queued (RED, CoDel, FQ-CoDel).
	Limit int `yaml:"limit" json:"limit,omitempty"`
	// Target is CoDel's acceptable standing queue delay.
	Target time.Duration `yaml:"target" json:"target,omitempty"`
	// Interval is CoDel's sliding window, about a worst-case RTT.
	Interval time.Duration `yaml:"interval" json:"interval,omitempty"`
	// Flows is the number of FQ-CoDel's flow queues.
	Flows int `yaml:"flows" json:"flows,omitempty"`
	// Quantum is FQ-CoDel's DRR quantum in bytes.
	Quantum int `yaml:"quantum" json:"quantum,omitempty"`
	// Min and Max are RED's thresholds on the average queue, in packets.
	Min int `yaml:"min" json:"min,omitempty"`
	Max int `yaml:"max" json:"max,omitempty"`
	// Probability is RED's max_p, the drop probability reached at Max.
	Probability float64 `yaml:"probability" json:"probability,omitempty"`
	// ECN marks ECN-capable IP packets Congestion Experienced instead of
	// dropping them (RFC 3168 section 5).
	ECN bool `yaml:"ecn" json:"ecn,omitempty"`
}

// IsAQM reports whether p names an active queue discipline (not FIFO).
func (p Params) IsAQM() bool { return p.Kind != "" && p.Kind != FIFO }

// WithDefaults returns p with its zero fields set to Linux's defaults for
// its Kind.
func (p Params) WithDefaults() Params {
	switch p.Kind {
	case CoDel, FQCoDel:
		if p.Target == 0 {
			p.Target = DefaultTarget
		}
		if p.Interval == 0 {
			p.Interval = DefaultInterval
		}
		if p.Limit == 0 {
			p.Limit = DefaultCoDelLimit
			if p.Kind == FQCoDel {
				p.Limit = DefaultFQCoDelLimit
			}
		}
		if p.Kind == FQCoDel {
			if p.Flows == 0 {
				p.Flows = DefaultFlows
			}
			if p.Quantum == 0 {
				p.Quantum = DefaultQuantum
			}
		}
	case RED:
		// iproute2 q_red.c: max = limit/4, min = max/3, probability 2%.
		if p.Limit == 0 {
			p.Limit = DefaultREDLimit
		}
		if p.Max == 0 {
			p.Max = max(p.Limit/4, 2)
		}
		if p.Min == 0 {
			p.Min = max(p.Max/3, 1)
		}
		if p.Probability == 0 {
			p.Probability = DefaultREDProbability
		}
	}
	return p
}

// Validate reports the fields of p that are out of range or do not apply to
// its Kind, or nil.
func (p Params) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch p.Kind {
	case "", FIFO, RED, CoDel, FQCoDel:
	default:
		bad("qdisc %q is not fifo, red, codel or fq_codel", p.Kind)
	}
	if p.ECN && !p.IsAQM() {
		bad("ecn needs an AQM qdisc (red, codel or fq_codel)")
	}
	if !p.IsAQM() && (p.Limit != 0 || p.Target != 0 || p.Interval != 0 || p.Flows != 0 || p.Quantum != 0 ||
		p.Min != 0 || p.Max != 0 || p.Probability != 0) {
		bad("limit, target, interval, flows, quantum, min, max and probability configure an AQM qdisc, not fifo")
	}
	if p.Limit < 0 || p.Limit > MaxLimit {
		bad("limit = %d is not in [1, %d]", p.Limit, MaxLimit)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"target", p.Target}, {"interval", p.Interval}} {
		if d.v < 0 || d.v > time.Hour {
			bad("%s = %v is not in [0, 1h]", d.name, d.v)
		}
	}
	if p.Kind != CoDel && p.Kind != FQCoDel && (p.Target != 0 || p.Interval != 0) {
		bad("target and interval configure codel and fq_codel")
	}
	if p.Kind != FQCoDel && (p.Flows != 0 || p.Quantum != 0) {
		bad("flows and quantum configure fq_codel")
	}
	if p.Flows < 0 || p.Flows > MaxFlows {
		bad("flows = %d is not in [1, %d]", p.Flows, MaxFlows)
	}
	if p.Quantum < 0 || p.Quantum > 1<<20 {
		bad("quantum = %d is not in [1, %d]", p.Quantum, 1<<20)
	}
	if p.Kind != RED && (p.Min != 0 || p.Max != 0 || p.Probability != 0) {
		bad("min, max and probability configure red")
	}
	if p.Kind == RED {
		q := p.WithDefaults()
		if q.Min < 1 || q.Max <= q.Min || q.Max > q.Limit {
			bad("red needs 1 <= min < max <= limit (have min %d, max %d, limit %d)", q.Min, q.Max, q.Limit)
		}
		if math.IsNaN(p.Probability) || p.Probability < 0 || p.Probability > 1 {
			bad("probability = %v is not in [0, 1]", p.Probability)
		}
	}
	return errors.Join(errs...)
}

// Packet is one frame in a queue. The caller owns Frame and fills Ticket
// and Carried for itself; the qdisc sets Enqueued and, when it marked the
// frame Congestion Experienced, CE.
type Packet struct {
	// Frame is the Ethernet frame. A qdisc that marks it rewrites its IP
	// header in place.
	Frame []byte
	// Ticket and Carried are the caller's: the qdisc keeps them with the
	// frame and never reads them.
	Ticket  uint64
	Carried link.Note
	// Enqueued is the instant the frame entered the queue.
	Enqueued clock.Time
	// CE is set when the qdisc marked the frame.
	CE bool
}

// Verdict is what Enqueue decided for the offered packet.
type Verdict uint8

// The verdicts of Enqueue.
const (
	// Queued means the packet waits in the queue.
	Queued Verdict = iota
	// DroppedFull means the packet was refused because the queue is at
	// its limit.
	DroppedFull
	// DroppedEarly means an AQM (RED) dropped it to signal congestion.
	DroppedEarly
)

// Reason says why a qdisc dropped a packet it had queued.
type Reason uint8

// The reasons passed to a DropFunc.
const (
	// Overlimit is a drop to make room (FQ-CoDel's fattest flow).
	Overlimit Reason = iota + 1
	// Congestion is an AQM drop to signal congestion (CoDel's control law).
	Congestion
)

// DropFunc takes a packet the qdisc dropped from its queue; the caller frees
// its buffer. It must not call back into the qdisc.
type DropFunc func(pkt Packet, why Reason, now clock.Time)

// Qdisc is a queue discipline. It is driven from one loop and is not safe
// for concurrent use.
type Qdisc interface {
	// Enqueue offers pkt at now. On Queued the qdisc holds the packet (and
	// may have dropped others through the DropFunc, possibly this one when
	// its flow was the fattest); otherwise pkt was refused and stays the
	// caller's.
	Enqueue(now clock.Time, pkt Packet) Verdict
	// Dequeue returns the next packet to transmit at now, dropping or
	// marking on the way as the discipline decides; false when the queue
	// is empty.
	Dequeue(now clock.Time) (Packet, bool)
	// Len is the number of packets queued, Backlog their bytes.
	Len() int
	Backlog() int
	// Stats returns the running totals.
	Stats() Stats
	// Flush empties the queue, handing each packet to fn (a link going
	// down); the packets are not counted as drops by the qdisc.
	Flush(fn func(Packet))
}

// Stats are a qdisc's running totals.
type Stats struct {
	// Kind names the discipline.
	Kind string `json:"qdisc"`
	// Enqueued counts packets admitted, Dequeued packets sent on.
	Enqueued uint64 `json:"enqueued"`
	Dequeued uint64 `json:"dequeued"`
	// Drops counts every packet the qdisc dropped: DropsOverlimit for a
	// full queue, DropsCongestion to signal congestion.
	Drops           uint64 `json:"drops"`
	DropsOverlimit  uint64 `json:"drops_overlimit"`
	DropsCongestion uint64 `json:"drops_congestion"`
	// Marks counts packets marked Congestion Experienced instead.
	Marks uint64 `json:"marks"`
	// Sojourn summarises the queueing delay of the dequeued packets.
	Sojourn Summary `json:"sojourn"`
	// Hist is the distribution behind Sojourn (not reported).
	Hist *Histogram `json:"-"`
}

// New returns the qdisc p describes for a link of rate bits per second whose
// largest frame is maxFrame bytes. rnd supplies its randomness; drop takes
// the packets it drops from its queue. FIFO is not a Qdisc here: impair runs
// the drop-tail queue itself, so New returns an error for it.
func New(p Params, rate int64, maxFrame int, rnd *rand.Rand, drop DropFunc) (Qdisc, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("qdisc: %w", err)
	}
	if rnd == nil || drop == nil {
		return nil, errors.New("qdisc: nil random source or drop function")
	}
	if maxFrame <= 0 {
		maxFrame = DefaultQuantum
	}
	p = p.WithDefaults()
	switch p.Kind {
	case RED:
		return newRED(p, rate, rnd), nil
	case CoDel:
		return newCoDel(p, maxFrame, drop), nil
	case FQCoDel:
		return newFQCoDel(p, maxFrame, rnd, drop), nil
	}
	return nil, fmt.Errorf("qdisc: %q is not an AQM qdisc", p.Kind)
}

// ring is a FIFO of packets in a growable circular buffer.
type ring struct {
	buf     []Packet
	head, n int
	bytes   int
}

func (r *ring) push(p Packet) {
	if r.n == len(r.buf) {
		nb := make([]Packet, max(2*len(r.buf), 8))
		for i := 0; i < r.n; i++ {
			nb[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = p
	r.n++
	r.bytes += len(p.Frame)
}

func (r *ring) flush(fn func(Packet)) {
	for {
		p, ok := r.pop()
		if !ok {
			return
		}
		fn(p)
	}
}

func (r *ring) pop() (Packet, bool) {
	if r.n == 0 {
		return Packet{}, false
	}
	p := r.buf[r.head]
	r.buf[r.head] = Packet{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.bytes -= len(p.Frame)
	return p, true
}

// Summary is a distribution's median, 99th percentile and maximum.
type Summary struct {
	// Count is the number of samples.
	Count uint64 `json:"count"`
	// P50, P99 and Max are in seconds, for text output (not in JSON).
	P50 float64 `json:"-"`
	P99 float64 `json:"-"`
	Max float64 `json:"-"`
	// P50Ns, P99Ns and MaxNs are the same as durations: report.json
	// writes every time in integer nanoseconds.
	P50Ns time.Duration `json:"p50_ns"`
	P99Ns time.Duration `json:"p99_ns"`
	MaxNs time.Duration `json:"max_ns"`
}

// Histogram buckets durations on a log-linear scale (16 buckets per
// doubling above 32 ns, within about 3% of the bucket's middle), in a fixed
// array of 2.7 KiB: recording costs no allocation.
type Histogram struct {
	counts [histBuckets]uint32
	n      uint64
	max    time.Duration
}

const (
	histSub     = 16
	histExact   = 2 * histSub
	histBuckets = histExact + 40*histSub
)

func histBucket(v time.Duration) int {
	if v < histExact {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 5 // v>>e is in [16, 32)
	b := histExact + (e-1)*histSub + int(uint64(v)>>e) - histSub
	return min(b, histBuckets-1)
}

// bucketMid returns a representative value of bucket b.
func bucketMid(b int) time.Duration {
	if b < histExact {
		return time.Duration(b)
	}
	e := (b-histExact)/histSub + 1
	sub := (b-histExact)%histSub + histSub
	lo := time.Duration(sub) << e
	return lo + time.Duration(1)<<e/2
}

// Record adds one sample.
func (h *Histogram) Record(v time.Duration) {
	h.counts[histBucket(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// Quantile returns the q-quantile (0 < q <= 1) of the samples, within the
// bucket resolution, or 0 with no samples.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return min(bucketMid(b), h.max)
		}
	}
	return h.max
}

// Summary returns the median, 99th percentile and maximum.
func (h *Histogram) Summary() Summary {
	if h == nil {
		return Summary{}
	}
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	return Summary{Count: h.n, P50: p50.Seconds(), P99: p99.Seconds(), Max: h.max.Seconds(),
		P50Ns: p50, P99Ns: p99, MaxNs: h.max}
}

// base holds what every discipline counts.
type base struct {
	st   Stats
	hist Histogram
}

func (b *base) stats() Stats {
	s := b.st
	s.Sojourn = b.hist.Summary()
	h := b.hist
	s.Hist = &h
	return s
}

// sent records a packet leaving the queue for the link.
func (b *base) sent(now clock.Time, p *Packet) {
	b.st.Dequeued++
	b.hist.Record(now.Sub(p.Enqueued))
}
