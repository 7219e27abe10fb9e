package impair

import (
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// Line holds the frames in flight of one or more pipes on one clock, in
// delivery order, with one clock.Timer armed at the earliest. A pipe made by
// New has a Line of its own; pipes made by NewOn share one, so that a world
// of many links keeps a single scheduler entry for all the frames on the
// wire instead of one per link direction, and orders them in a timing
// wheel of sorted bucket lists (a heap beyond its 16.8 ms horizon), whose
// cost does not grow with the number of frames in flight. Frames due at
// the same instant are delivered in the order they were offered, across
// all the pipes of the Line.
type Line struct {
	clk     clock.Clock
	small   *link.BufPool // buffers of smallBufSize for small frames
	seq     uint64
	delay   delayLine
	timer   clock.Timer
	fans    []*fan // free fan-outs
	fanOuts uint64 // fan-outs held so far
	// scratch is the copy of a flooded frame each member receives, so
	// that no receiver sees what another one did to its frame.
	scratch []byte
	// pops counts the frames taken out of the delay line, so that it is
	// warmed every warmChunkLine of them (delayLine.warmAhead); sink
	// keeps what the warming loads read, so that they are not dropped.
	pops uint64
	sink uintptr
}

// NewLine returns an empty Line on clk.
func NewLine(clk clock.Clock) *Line {
	l := &Line{clk: clk, small: link.NewBufPool(smallBufSize)}
	l.timer.Init(clock.HandlerFunc(l.fire))
	return l
}

// Len returns the number of frames in the line, including those of pipes
// that went down, which are discarded when their instant comes.
func (l *Line) Len() int { return l.delay.len() }

// push queues e for delivery at at and re-arms the timer when it becomes
// the earliest.
func (l *Line) push(at clock.Time, e held) {
	l.seq++
	l.delay.push(at, l.seq, e)
	if l.delay.top().seq == l.seq {
		l.clk.Schedule(&l.timer, at)
	}
}

// fire delivers every frame due at now that was queued before the timer
// fired; frames queued during delivery wait for the next turn, so events
// scheduled elsewhere for the same instant run in between.
func (l *Line) fire(now clock.Time) {
	limit := l.seq
	for l.delay.len() > 0 {
		k := l.delay.top()
		if k.at > now || k.seq > limit {
			break
		}
		if l.pops++; l.pops%warmChunkLine == 0 {
			l.sink += l.delay.warmAhead()
		}
		e := l.delay.pop()
		if e.fan != nil {
			l.deliverFan(e, k.seq)
		} else {
			e.pipe.deliver(e, k.seq)
		}
	}
	if l.delay.len() > 0 {
		l.clk.Schedule(&l.timer, l.delay.top().at)
	}
}
