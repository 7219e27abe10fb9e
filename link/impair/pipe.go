// Package impair is one direction of a link as middleware: it takes offered
// frames, decides their fate (loss, burst loss, delay and jitter, reordering,
// duplication, corruption, rate limiting behind a queue discipline, MTU, link
// down) and delivers the survivors to a link.Receiver later, on a clock.
//
// The rate limiter's queue is a drop-tail fifo by default, which knows each
// frame's departure when it admits it; RED, CoDel and FQ-CoDel (package
// link/qdisc) decide when the frame leaves, so a frame queued there leaves
// Send with a link.Note.Ticket and its fate goes to the FateFunc later.
//
// It plays the role of Linux netem and smoltcp's FaultInjector, on virtual or
// wall-clock time alike. All randomness comes from the *rand.Rand the caller
// gives (one per direction, from rng.New), so a run is reproducible from its
// seed. Pending frames are held in pooled buffers, in a Line: a timing
// wheel for the near future and a heap for the far future, ordered by
// (delivery instant, sequence), with one clock.Timer armed at the earliest,
// private to a pipe or shared by all the pipes of a simulated world.
// Nothing is allocated per frame in steady state.
package impair

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/qdisc"
	"github.com/simnet-go/simnet/proto/clock"
)

// etherHeaderLen is the length of an Ethernet II header without VLAN tag.
const etherHeaderLen = 14

// smallBufSize is the size of the Line's buffers for small frames (ARP,
// pings, TCP acknowledgements, most DNS).
const smallBufSize = 256

// DefaultBufSize is the buffer size of the pool a Pipe makes for itself.
const DefaultBufSize = 2048

// Counters are a direction's running totals. A frame sent twice counts once
// in Offered and twice in Delivered.
type Counters struct {
	// Offered is the number of frames offered to Send.
	Offered uint64 `json:"offered"`
	// OfferedBytes is the total length of the offered frames.
	OfferedBytes uint64 `json:"offered_bytes"`
	// Delivered is the number of frames (including duplicate copies)
	// handed to the receiver.
	Delivered uint64 `json:"delivered"`
	// DeliveredBytes is the total length of the delivered frames.
	DeliveredBytes uint64 `json:"delivered_bytes"`
	// Dropped is the number of frames dropped, for any reason.
	Dropped uint64 `json:"dropped"`
	// DroppedLoss counts drops by the Bernoulli loss model.
	DroppedLoss uint64 `json:"dropped_loss"`
	// DroppedBurst counts drops by the Gilbert-Elliott model.
	DroppedBurst uint64 `json:"dropped_burst"`
	// DroppedQueueFull counts drops by the rate limiter's full queue.
	DroppedQueueFull uint64 `json:"dropped_queue_full"`
	// DroppedMTU counts frames whose payload exceeded the MTU.
	DroppedMTU uint64 `json:"dropped_mtu"`
	// DroppedLinkDown counts frames offered, or in flight, while the link
	// was down.
	DroppedLinkDown uint64 `json:"dropped_link_down"`
	// DroppedNoPeer counts frames with no receiver to deliver them to.
	DroppedNoPeer uint64 `json:"dropped_no_peer"`
	// DroppedAQM counts drops by an active queue discipline signalling
	// congestion (RED's early drops, CoDel's control law).
	DroppedAQM uint64 `json:"dropped_aqm"`
	// Marked counts frames a queue discipline marked ECN Congestion
	// Experienced instead of dropping them.
	Marked uint64 `json:"marked"`
	// Duplicated is the number of frames sent twice.
	Duplicated uint64 `json:"duplicated"`
	// Corrupted is the number of frames with a flipped bit.
	Corrupted uint64 `json:"corrupted"`
	// Reordered is the number of frames delivered out of order: held back
	// so later ones overtake them, or given a jittered delay that made
	// them overtake earlier ones.
	Reordered uint64 `json:"reordered"`
	// Qdisc is the queue discipline's report when Rate is set: drops,
	// marks and sojourn times.
	Qdisc *qdisc.Stats `json:"qdisc,omitempty"`
}

// Pipe is one direction of a link. It is driven from one loop and is not
// safe for concurrent use. Pipe satisfies link.Endpoint for the sending
// side: Send offers a frame, SetReceiver sets where survivors go.
type Pipe struct {
	// What every frame touches comes first, so that a frame crossing a
	// pipe of a large world loads few cache lines; what a delivery
	// touches, first of all (a flood delivers to many pipes in a row).
	recv           link.Receiver
	downSeq        uint64 // the Line's last sequence number when the pipe last went down
	inflight       int
	delivered      uint64     // Counters.Delivered
	deliveredBytes uint64     // Counters.DeliveredBytes
	lastAt         clock.Time // latest delivery instant, for KeepOrder
	line           *Line
	// What a flood's offer touches besides (Flood.Add, fixedAt) follows,
	// in the second line.
	delay        time.Duration
	mtu          int    // cfg.MTU
	offered      uint64 // Counters.Offered
	offeredBytes uint64 // Counters.OfferedBytes
	fixed        bool   // up, with a receiver, only a fixed delay configured (fixedAt)
	down         bool
	bad          bool // Gilbert-Elliott state
	simple       bool // only loss, delay and jitter are configured
	normal       bool // cfg.JitterDist is JitterNormal
	carrying     bool // within SendCarrying: merge carry into delivered notes
	clk          clock.Clock
	rnd          *rand.Rand
	pool         *link.BufPool
	loss         float64 // cfg.Loss
	jitter       time.Duration
	cnt          Counters

	cfg       Config
	busyUntil clock.Time // when the rate limiter finishes its backlog
	fin       []clock.Time
	finHead   int
	finLen    int
	dropped   [link.DropAQM + 1]uint64
	fate      link.FateFunc
	fifoStats *fifoStats // the drop-tail queue's report, when Rate is set
	aqm       *aqmState  // the queue discipline, when one is configured

	// carry holds the marks of the frame being sent by SendCarrying.
	carry link.Note

	// qobs hears the queue's state; obsFin[obsHead:] are the finish
	// instants of the drop-tail queue's frames while it is set.
	qobs    QueueObserver
	obsFin  []clock.Time
	obsHead int
}

// New returns an up Pipe with configuration cfg that draws its decisions
// from rnd and times deliveries on clk, holding its frames in flight in a
// Line of its own. Held frames are copied into buffers from pool; a nil
// pool makes the Pipe its own.
func New(clk clock.Clock, rnd *rand.Rand, cfg Config, pool *link.BufPool) (*Pipe, error) {
	if clk == nil {
		return nil, fmt.Errorf("impair: new pipe: nil clock")
	}
	return newPipe(NewLine(clk), rnd, cfg, pool)
}

// NewOn returns a Pipe like New whose frames in flight are held in line,
// shared with other pipes, and timed on the line's clock.
func NewOn(line *Line, rnd *rand.Rand, cfg Config, pool *link.BufPool) (*Pipe, error) {
	if line == nil {
		return nil, fmt.Errorf("impair: new pipe: nil line")
	}
	return newPipe(line, rnd, cfg, pool)
}

func newPipe(line *Line, rnd *rand.Rand, cfg Config, pool *link.BufPool) (*Pipe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if line.clk == nil || rnd == nil {
		return nil, fmt.Errorf("impair: new pipe: nil clock or random source")
	}
	if pool == nil {
		pool = link.NewBufPool(DefaultBufSize)
	}
	p := &Pipe{clk: line.clk, rnd: rnd, pool: pool, line: line}
	p.apply(cfg)
	return p, nil
}

// Config returns the current configuration.
func (p *Pipe) Config() Config { return p.cfg }

// SetConfig replaces the configuration for frames offered from now on;
// frames already in flight keep the fate decided for them.
func (p *Pipe) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.apply(cfg)
	return nil
}

// apply installs a validated configuration.
func (p *Pipe) apply(cfg Config) {
	p.cfg = cfg
	p.loss, p.delay, p.jitter, p.mtu = cfg.Loss, cfg.Delay, cfg.Jitter, cfg.MTU
	p.normal = cfg.JitterDist == JitterNormal
	p.simple = !cfg.Burst.Enabled() && cfg.Rate == 0 && !cfg.KeepOrder &&
		cfg.Reorder == 0 && cfg.Duplicate == 0 && cfg.Corrupt == 0
	p.setFixed()
	if cfg.Rate > 0 && !cfg.IsAQM() && p.fifoStats == nil {
		p.fifoStats = &fifoStats{}
	}
	if cfg.IsAQM() {
		p.applyAQM(cfg)
	}
	if !cfg.Burst.Enabled() {
		p.bad = false
	}
	if n := cfg.queuePackets(); n != len(p.fin) {
		fin := make([]clock.Time, n)
		// Keep the newest finish instants that still fit.
		keep := min(p.finLen, n)
		for i := 0; i < keep; i++ {
			fin[i] = p.fin[(p.finHead+p.finLen-keep+i)%len(p.fin)]
		}
		p.fin, p.finHead, p.finLen = fin, 0, keep
	}
}

// SetReceiver sets where delivered frames go.
func (p *Pipe) SetReceiver(r link.Receiver) {
	p.recv = r
	p.setFixed()
}

// setFixed updates p.fixed after a change of configuration, state or
// receiver.
func (p *Pipe) setFixed() {
	p.fixed = p.simple && !p.down && p.recv != nil && p.loss == 0 && p.jitter == 0
}

// MTU returns the configured MTU, or 0 when there is no limit.
func (p *Pipe) MTU() int { return p.cfg.MTU }

// Up reports whether the link direction is up.
func (p *Pipe) Up() bool { return !p.down }

// SetUp brings the direction up or down. Taking it down drops the frames in
// flight (counted as DroppedLinkDown) and empties the rate limiter's queue;
// while down, every offered frame is dropped with link.DropLinkDown.
func (p *Pipe) SetUp(up bool) {
	if up == !p.down {
		return
	}
	p.down = !up
	p.setFixed()
	if up {
		return
	}
	// Frames in flight stay in the line until their instant, then are
	// discarded as belonging to an older generation.
	for ; p.inflight > 0; p.inflight-- {
		p.countDrop(link.DropLinkDown)
	}
	p.downSeq = p.line.seq
	p.busyUntil = 0
	p.finLen = 0
	p.obsFin, p.obsHead = p.obsFin[:0], 0
	p.flushAQM()
}

// Pending returns the number of frames in flight.
func (p *Pipe) Pending() int { return p.inflight }

// Counters returns the running totals.
func (p *Pipe) Counters() Counters {
	c := p.cnt
	c.Offered, c.OfferedBytes = p.offered, p.offeredBytes
	c.Delivered, c.DeliveredBytes = p.delivered, p.deliveredBytes
	c.DroppedLoss = p.dropped[link.DropLoss]
	c.DroppedBurst = p.dropped[link.DropBurst]
	c.DroppedQueueFull = p.dropped[link.DropQueueFull]
	c.DroppedMTU = p.dropped[link.DropMTU]
	c.DroppedLinkDown = p.dropped[link.DropLinkDown]
	c.DroppedNoPeer = p.dropped[link.DropNoPeer]
	c.DroppedAQM = p.dropped[link.DropAQM]
	switch {
	case p.aqm != nil && p.aqm.q != nil && (p.cfg.IsAQM() || p.fifoStats == nil):
		st := p.aqm.q.Stats()
		c.Qdisc = &st
	case p.fifoStats != nil:
		st := p.fifoStats.stats()
		c.Qdisc = &st
	}
	return c
}

func (p *Pipe) countDrop(r link.DropReason) {
	p.cnt.Dropped++
	if int(r) < len(p.dropped) {
		p.dropped[r]++
	}
}

func (p *Pipe) drop(r link.DropReason) link.Note {
	p.countDrop(r)
	return link.Note{Drop: r}
}

// chance draws a Bernoulli trial of probability q, without consuming
// randomness when q is 0 or 1.
func (p *Pipe) chance(q float64) bool {
	if q <= 0 {
		return false
	}
	if q >= 1 {
		return true
	}
	return p.rnd.Float64() < q
}

// Send offers frame and returns what the link decided for it. The frame is
// copied; delivery, if any, happens later from a timer on the clock, never
// from within Send.
func (p *Pipe) Send(frame []byte) link.Note {
	c := &p.cfg
	p.offered++
	p.offeredBytes += uint64(len(frame))
	if p.down {
		return p.drop(link.DropLinkDown)
	}
	if p.recv == nil {
		return p.drop(link.DropNoPeer)
	}
	if p.mtu > 0 && len(frame)-etherHeaderLen > p.mtu {
		return p.drop(link.DropMTU)
	}
	if p.simple {
		// The stages below with nothing configured draw nothing: the
		// same draws as the general path.
		if p.chance(p.loss) {
			return p.drop(link.DropLoss)
		}
		at := p.clk.Now().Add(p.drawDelay())
		var note link.Note
		if at > p.lastAt {
			p.lastAt = at
		} else if at < p.lastAt {
			p.overtook(&note)
		}
		p.push(at, p.getBuf(frame), note)
		return note
	}
	if c.Burst.Enabled() {
		if p.bad {
			p.bad = !p.chance(c.Burst.R)
		} else {
			p.bad = p.chance(c.Burst.P)
		}
		lossp := c.Burst.LossGood
		if p.bad {
			lossp = c.Burst.LossBad
		}
		if p.chance(lossp) {
			return p.drop(link.DropBurst)
		}
	}
	if p.chance(c.Loss) {
		return p.drop(link.DropLoss)
	}
	now := p.clk.Now()
	if p.cfg.IsAQM() {
		return p.sendAQM(now, frame)
	}
	at := now
	if c.Rate > 0 {
		var ok bool
		if at, ok = p.enqueue(now, len(frame)); !ok {
			p.fifoStats.st.Drops++
			p.fifoStats.st.DropsOverlimit++
			if p.qobs != nil {
				p.observeFIFO(now, 0, len(frame))
			}
			return p.drop(link.DropQueueFull)
		}
		p.fifoStats.admitted(at.Sub(now) - serialisation(len(frame), c.Rate))
		if p.qobs != nil {
			p.observeFIFO(now, at, len(frame))
		}
	}
	return p.emit(at, frame, nil, link.Note{})
}

// serialisation returns how long n bytes occupy a link of rate bits/s.
func serialisation(n int, rate int64) time.Duration {
	return time.Duration(int64(n) * 8e9 / rate)
}

// emit runs the stages after the queue on a frame whose serialisation ends
// at at: duplication, corruption, delay with jitter and reordering, and puts
// it (and its copy) on the line. buf, when not nil, is frame's held buffer,
// handed over. It returns the frame's Note, note plus what these stages did.
func (p *Pipe) emit(at clock.Time, frame, buf []byte, note link.Note) link.Note {
	c := &p.cfg
	dup := p.chance(c.Duplicate)
	corrupt := len(frame) > etherHeaderLen && p.chance(c.Corrupt)
	at = at.Add(p.drawDelay())
	if c.KeepOrder && at < p.lastAt {
		at = p.lastAt
	}
	if p.chance(c.Reorder) {
		note.Reordered = true
		note.HeldBack = c.ReorderDelay
		p.cnt.Reordered++
		at = at.Add(c.ReorderDelay)
	} else if at > p.lastAt {
		p.lastAt = at
	} else if at < p.lastAt {
		p.overtook(&note)
	}

	var dupBuf []byte
	if dup {
		dupBuf = p.getBuf(frame)
	}
	if buf == nil {
		buf = p.getBuf(frame)
	}
	if corrupt {
		off := etherHeaderLen + p.rnd.IntN(len(frame)-etherHeaderLen)
		buf[off] ^= 1 << p.rnd.IntN(8)
		note.CorruptByte = off + 1
		p.cnt.Corrupted++
	}
	p.push(at, buf, note)
	if dup {
		p.cnt.Duplicated++
		p.push(at, dupBuf, link.Note{Duplicated: true, CE: note.CE})
		note.Duplicated = true
	}
	return note
}

// overtook marks a frame whose jittered delay delivers it before a frame
// offered earlier (netem reorders the same way when jitter exceeds the
// spacing of frames).
func (p *Pipe) overtook(note *link.Note) {
	note.Overtook = true
	p.cnt.Reordered++
}

// enqueue admits a frame of n bytes into the rate limiter's drop-tail queue
// and returns the instant its serialisation ends, or false when the queue is
// full.
func (p *Pipe) enqueue(now clock.Time, n int) (clock.Time, bool) {
	c := &p.cfg
	start := p.busyUntil
	if start < now {
		start = now
	}
	if c.QueueBytes > 0 {
		backlog := float64(start-now) * float64(c.Rate) / 8e9
		if backlog+float64(n) > float64(c.QueueBytes) {
			return 0, false
		}
	}
	if len(p.fin) > 0 {
		// Frames whose serialisation has ended have left the queue.
		for p.finLen > 0 && p.fin[p.finHead] <= now {
			p.finHead = (p.finHead + 1) % len(p.fin)
			p.finLen--
		}
		if p.finLen == len(p.fin) {
			return 0, false
		}
	}
	end := start.Add(serialisation(n, c.Rate))
	p.busyUntil = end
	if len(p.fin) > 0 {
		p.fin[(p.finHead+p.finLen)%len(p.fin)] = end
		p.finLen++
	}
	return end, true
}

// drawDelay draws one frame's delay.
func (p *Pipe) drawDelay() time.Duration {
	d := p.delay
	if p.jitter > 0 {
		var off float64
		if p.normal {
			off = p.rnd.NormFloat64()
		} else {
			off = 2*p.rnd.Float64() - 1
		}
		d += time.Duration(off * float64(p.jitter))
		if d < 0 {
			d = 0
		}
	}
	return d
}

// SendCarrying is Send for a frame that an earlier link already marked
// (duplicated, corrupted, reordered): the marks are delivered with it, merged
// with this pipe's own. The returned Note is this pipe's decision only.
func (p *Pipe) SendCarrying(frame []byte, carried link.Note) link.Note {
	p.carry, p.carrying = carried.Carried(), true
	n := p.Send(frame)
	p.carry, p.carrying = link.Note{}, false
	return n
}

// push queues buf for delivery at at.
func (p *Pipe) push(at clock.Time, buf []byte, note link.Note) {
	if p.carrying {
		note = note.Merge(p.carry)
	}
	p.inflight++
	p.line.push(at, held{buf: buf, note: note, pipe: p})
}

// deliver hands a frame whose instant has come to the receiver; seq is the
// sequence number the Line gave it.
func (p *Pipe) deliver(e held, seq uint64) {
	if seq <= p.downSeq {
		// Queued before the pipe last went down: already counted as
		// dropped.
		p.putBuf(e.buf)
		return
	}
	p.inflight--
	if p.recv == nil {
		p.countDrop(link.DropNoPeer)
	} else {
		p.delivered++
		p.deliveredBytes += uint64(len(e.buf))
		p.recv.Receive(e.buf, e.note)
	}
	p.putBuf(e.buf)
}

// getBuf returns a copy of frame in a held buffer: from the Line's pool of
// small buffers for a small frame, so that the frames in flight take little
// memory and stay in cache, else from the pipe's pool.
func (p *Pipe) getBuf(frame []byte) []byte {
	if len(frame) <= smallBufSize {
		return p.line.small.Get(frame)
	}
	return p.pool.Get(frame)
}

// putBuf returns a buffer from getBuf to its pool.
func (p *Pipe) putBuf(b []byte) {
	if cap(b) == smallBufSize {
		p.line.small.Put(b)
		return
	}
	p.pool.Put(b)
}
