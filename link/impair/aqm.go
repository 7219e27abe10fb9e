package impair

import (
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/qdisc"
	"github.com/simnet-go/simnet/proto/clock"
)

// fifoStats is the drop-tail queue's report. The drop-tail queue knows each
// frame's departure when it admits it, so its sojourn is recorded then.
type fifoStats struct {
	st   qdisc.Stats
	hist qdisc.Histogram
}

// admitted records a frame that will wait wait before its serialisation.
func (f *fifoStats) admitted(wait time.Duration) {
	f.st.Enqueued++
	f.st.Dequeued++
	f.hist.Record(wait)
}

func (f *fifoStats) stats() qdisc.Stats {
	s := f.st
	s.Kind = qdisc.FIFO
	s.Sojourn = f.hist.Summary()
	return s
}

// aqmState runs a queue discipline in front of the rate limiter: frames wait
// in the qdisc, and the link dequeues the next one each time it finishes
// serialising the previous one, so the qdisc decides at dequeue time
// (CoDel's sojourn, FQ-CoDel's round robin). A frame's fate is known when
// it leaves the queue; until then Send returns a Note with a Ticket, and the
// final Note goes to the FateFunc.
type aqmState struct {
	p      *Pipe
	q      qdisc.Qdisc
	params qdisc.Params
	rate   int64
	mtu    int
	timer  clock.Timer
	busy   bool // a frame is being serialised; the timer fires at its end
	ticket uint64

	// While Send runs: the ticket of the frame offered, and its fate if
	// it was decided before Send returns.
	sending  uint64
	selfSet  bool
	selfNote link.Note
}

// applyAQM installs cfg's queue discipline. Frames queued in an earlier
// one are offered to the new one in order.
func (p *Pipe) applyAQM(cfg Config) {
	a := p.aqm
	if a == nil {
		a = &aqmState{p: p}
		a.timer.Init(clock.HandlerFunc(a.txDone))
		p.aqm = a
	} else if a.params == cfg.Params && a.rate == cfg.Rate && a.mtu == cfg.MTU {
		return
	}
	maxFrame := qdisc.DefaultQuantum
	if cfg.MTU > 0 {
		maxFrame = cfg.MTU + etherHeaderLen
	}
	// Validated with cfg: New cannot fail.
	q, err := qdisc.New(cfg.Params, cfg.Rate, maxFrame, p.rnd, a.dropped)
	if err != nil {
		panic("impair: " + err.Error())
	}
	old := a.q
	a.q, a.params, a.rate, a.mtu = q, cfg.Params, cfg.Rate, cfg.MTU
	if old != nil {
		now := p.clk.Now()
		for {
			pkt, ok := old.Dequeue(now)
			if !ok {
				break
			}
			if v := q.Enqueue(now, pkt); v != qdisc.Queued {
				a.dropped(pkt, qdisc.Overlimit, now)
			}
		}
	}
}

// SetFate sets the function told the final Note of frames whose Send
// returned a Note with a Ticket (link.FateReporter).
func (p *Pipe) SetFate(f link.FateFunc) { p.fate = f }

// sendAQM offers a frame that passed the loss stages to the qdisc.
func (p *Pipe) sendAQM(now clock.Time, frame []byte) link.Note {
	a := p.aqm
	a.ticket++
	t := a.ticket
	pkt := qdisc.Packet{Frame: p.getBuf(frame), Ticket: t}
	if p.carrying {
		pkt.Carried = p.carry
	}
	a.sending, a.selfSet = t, false
	v := a.q.Enqueue(now, pkt)
	if v == qdisc.Queued && !a.busy {
		a.transmit(now)
	}
	a.sending = 0
	switch v {
	case qdisc.DroppedFull:
		p.putBuf(pkt.Frame)
		p.countDrop(link.DropQueueFull)
		return link.Note{Drop: link.DropQueueFull, Qdisc: a.params.Kind}
	case qdisc.DroppedEarly:
		p.putBuf(pkt.Frame)
		p.countDrop(link.DropAQM)
		return link.Note{Drop: link.DropAQM, Qdisc: a.params.Kind}
	}
	if a.selfSet {
		return a.selfNote
	}
	return link.Note{Ticket: t}
}

// transmit dequeues the next frame at now and starts its serialisation.
func (a *aqmState) transmit(now clock.Time) {
	p := a.p
	pkt, ok := a.q.Dequeue(now)
	if !ok {
		a.busy = false
		return
	}
	var note link.Note
	if pkt.CE {
		note.CE = a.params.Kind
		p.cnt.Marked++
	}
	end := now.Add(serialisation(len(pkt.Frame), a.rate))
	a.busy = true
	if p.qobs != nil {
		// The frame being serialised counts as queued, as in the
		// drop-tail queue's report.
		p.qobs(now, QueueState{Packets: a.q.Len() + 1, Bytes: a.q.Backlog() + len(pkt.Frame), Sojourn: now.Sub(pkt.Enqueued)})
	}
	p.clk.Schedule(&a.timer, end)
	// emit merges p.carry into what it pushes: this frame's own marks.
	saved, was := p.carry, p.carrying
	p.carry, p.carrying = pkt.Carried, true
	note = p.emit(end, pkt.Frame, pkt.Frame, note)
	p.carry, p.carrying = saved, was
	a.resolve(pkt.Ticket, note)
}

// txDone runs when a frame's serialisation ends: the next one starts.
func (a *aqmState) txDone(now clock.Time) {
	a.busy = false
	if a.p.down {
		return
	}
	a.transmit(now)
}

// dropped takes a frame the qdisc dropped from its queue.
func (a *aqmState) dropped(pkt qdisc.Packet, why qdisc.Reason, _ clock.Time) {
	r := link.DropAQM
	if why == qdisc.Overlimit {
		r = link.DropQueueFull
	}
	a.p.countDrop(r)
	a.p.putBuf(pkt.Frame)
	a.resolve(pkt.Ticket, link.Note{Drop: r, Qdisc: a.params.Kind})
}

// resolve reports a frame's final Note.
func (a *aqmState) resolve(ticket uint64, note link.Note) {
	if ticket == a.sending {
		a.selfNote, a.selfSet = note, true
		return
	}
	if a.p.fate != nil {
		a.p.fate(ticket, note)
	}
}

// flushAQM drops every queued frame as lost with the link going down.
func (p *Pipe) flushAQM() {
	a := p.aqm
	if a == nil || a.q == nil {
		return
	}
	p.clk.Cancel(&a.timer)
	a.busy = false
	a.q.Flush(func(pkt qdisc.Packet) {
		p.countDrop(link.DropLinkDown)
		p.putBuf(pkt.Frame)
		a.resolve(pkt.Ticket, link.Note{Drop: link.DropLinkDown})
	})
}
