package impair

import (
	"runtime"
	"unsafe"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// fan is a run of pipes that one flooded frame goes to, all at the same
// instant: pipes[lo:hi] but pipes[skip]. It takes one slot in the delay
// line and one buffer however many pipes it reaches. Its members are
// delivered one after the other, in index order, when the slot's turn
// comes: as consecutive slots of the same instant would have been.
type fan struct {
	pipes        []*Pipe
	lo, hi, skip int
}

// Flood offers one frame to many pipes of a Line, as a switch flooding a
// broadcast or unknown-destination frame does, without a copy and a delay
// line slot per pipe. Pipes whose fate for the frame is decided without
// randomness (up, with a receiver, only a fixed delay configured, the
// frame within their MTU) join runs of consecutive pipes due at the same
// instant; each run is held once and delivered to its members one after
// the other, so that every member receives the frame at the instant and
// in the order that offering it to each pipe with Send would have given.
//
// A switch floods a frame with StartFlood, then, for each port in order,
// calls Add and, when Add refuses the port, sends the frame out of that
// port as usual; Flush ends the flood.
type Flood struct {
	line   *Line
	pipes  []*Pipe
	skip   int
	frame  []byte
	note   link.Note
	lo, hi int
	at     clock.Time
	now    clock.Time
}

// StartFlood begins offering frame to pipes (indexed as the switch's
// ports, nil for a port that is not a pipe of this Line) but pipes[skip]
// (the ingress port). carried is the note of the frame as it arrived: the
// marks earlier links left on it (link.Note.Carried) travel with every
// copy, as with SendCarrying. frame must stay unchanged until Flush.
func (l *Line) StartFlood(pipes []*Pipe, skip int, frame []byte, carried link.Note) Flood {
	f := Flood{line: l, pipes: pipes, skip: skip, frame: frame, now: l.clk.Now()}
	if !carried.IsZero() {
		f.note = link.Note{}.Merge(carried.Carried())
	}
	return f
}

// Add offers the frame to pipes[i] and reports whether it took it. When it
// did not, the pipes added before have been flushed, and the caller sends
// the frame to port i itself, so that the order of sends is kept.
func (f *Flood) Add(i int) bool {
	p := f.pipes[i]
	if p == nil || p.line != f.line || i == f.skip {
		f.Flush()
		return false
	}
	at, ok := p.fixedAt(f.now, len(f.frame))
	if !ok {
		f.Flush()
		return false
	}
	if f.hi > f.lo && (at != f.at || !(i == f.hi || f.hi == f.skip && i == f.hi+1)) {
		f.Flush()
	}
	if f.hi == f.lo {
		f.lo, f.at = i, at
	}
	f.hi = i + 1
	p.offered++
	p.offeredBytes += uint64(len(f.frame))
	p.inflight++
	p.lastAt = at
	return true
}

// Flush queues the run of pipes added since the last Flush.
func (f *Flood) Flush() {
	lo, hi := f.lo, f.hi
	if hi <= lo {
		return
	}
	f.lo, f.hi = 0, 0
	n := hi - lo
	if lo <= f.skip && f.skip < hi {
		n--
	}
	l := f.line
	first := f.pipes[lo]
	if lo == f.skip {
		first = f.pipes[lo+1]
	}
	buf := first.getBuf(f.frame)
	if n == 1 {
		l.push(f.at, held{buf: buf, note: f.note, pipe: first})
		return
	}
	var x *fan
	if k := len(l.fans); k > 0 {
		x = l.fans[k-1]
		l.fans = l.fans[:k-1]
	} else {
		x = new(fan)
	}
	*x = fan{pipes: f.pipes, lo: lo, hi: hi, skip: f.skip}
	l.push(f.at, held{buf: buf, note: f.note, fan: x})
	l.fanOuts++
}

// fixedAt returns the instant a frame of n bytes offered at now would be
// delivered, when the pipe decides it without drawing randomness or
// marking it: up, with a receiver, no impairment but a fixed delay, the
// frame within the MTU and not overtaking an earlier frame.
func (p *Pipe) fixedAt(now clock.Time, n int) (clock.Time, bool) {
	if !p.fixed || p.mtu > 0 && n-etherHeaderLen > p.mtu {
		return 0, false
	}
	at := now.Add(p.delay)
	if at < p.lastAt {
		return 0, false
	}
	return at, true
}

// warmChunk is how many members of a fan deliverFan warms up at a time.
const warmChunk = 16

// deliverFan hands a flooded frame to each member of its fan in turn,
// each a copy of its own; seq is the sequence number of the fan's slot.
//
// A flood to thousands of hosts is bound by memory latency: each member's
// pipe and receiver lie in lines of their own, far apart, and a delivery
// waits for both. So the members are taken in chunks, and for each chunk
// one loop, whose loads do not depend on one another, reads the first
// word of every receiver together with the delivery fields of the next
// chunk's pipes: the processor fetches those lines at once, and the
// deliveries find them in cache.
func (l *Line) deliverFan(e held, seq uint64) {
	x := e.fan
	var sink uintptr
	for _, p := range x.pipes[x.lo:min(x.lo+warmChunk, x.hi)] {
		sink += uintptr(p.downSeq)
	}
	for lo := x.lo; lo < x.hi; lo += warmChunk {
		hi := min(lo+warmChunk, x.hi)
		members := x.pipes[lo:hi]
		for _, p := range members {
			if p.recv != nil {
				// The data word of the interface value: a pointer to
				// the receiver (or to a copy of it), always readable.
				sink += uintptr(*(*byte)((*[2]unsafe.Pointer)(unsafe.Pointer(&p.recv))[1]))
			}
		}
		// The next chunk's pipes are fetched along with this chunk's
		// receivers, so that twice as many misses overlap.
		for _, p := range x.pipes[hi:min(hi+warmChunk, x.hi)] {
			sink += uintptr(p.downSeq)
		}
		for k, p := range members {
			if lo+k == x.skip || seq <= p.downSeq {
				// The ingress port, or a pipe that went down after the
				// frame was queued: its frames in flight were counted
				// as dropped then.
				continue
			}
			p.inflight--
			if p.recv == nil {
				p.countDrop(link.DropNoPeer)
				continue
			}
			p.delivered++
			p.deliveredBytes += uint64(len(e.buf))
			l.scratch = append(l.scratch[:0], e.buf...)
			p.recv.Receive(l.scratch, e.note)
		}
	}
	// The warming loads must not be optimised away.
	runtime.KeepAlive(sink)
	first := x.pipes[x.lo]
	if x.lo == x.skip {
		first = x.pipes[x.lo+1]
	}
	first.putBuf(e.buf)
	*x = fan{}
	l.fans = append(l.fans, x)
}

// FanOuts returns how many frames Flood has held for more than one pipe at
// once.
func (l *Line) FanOuts() uint64 { return l.fanOuts }
