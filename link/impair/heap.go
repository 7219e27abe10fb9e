package impair

import (
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// key orders the delay line: delivery instant, then sequence number.
type key struct {
	at   clock.Time
	seq  uint64
	slot int32
}

func (a key) less(b key) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// held is a frame in the delay line, with the pipe delivering it and the
// pipe's generation when it was queued (a pipe that went down since has
// moved on, and the frame is discarded).
type held struct {
	buf  []byte
	note link.Note
	pipe *Pipe
	gen  uint32
}

// delayLine holds frames until their delivery instant: a binary min-heap of
// small keys over a slab of frames, so reordering the heap moves 24-byte
// keys, not frames. Slots are recycled; nothing is allocated once the line
// has grown to its working size.
type delayLine struct {
	heap  []key
	slots []held
	free  []int32
}

func (d *delayLine) len() int { return len(d.heap) }

// top returns the earliest key; the line must not be empty.
func (d *delayLine) top() key { return d.heap[0] }

// push adds a frame.
func (d *delayLine) push(at clock.Time, seq uint64, e held) {
	var s int32
	if n := len(d.free); n > 0 {
		s = d.free[n-1]
		d.free = d.free[:n-1]
	} else {
		s = int32(len(d.slots))
		d.slots = append(d.slots, held{})
	}
	d.slots[s] = e
	k := key{at: at, seq: seq, slot: s}
	h := append(d.heap, k)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !k.less(h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = k
	d.heap = h
}

// pop removes the earliest frame and returns it; the line must not be
// empty. It moves the hole at the root down to a leaf along the smaller
// children, then lifts the last key from there (Floyd's bottom-up
// deletion): about one comparison per level.
func (d *delayLine) pop() held {
	h := d.heap
	s := h[0].slot
	last := len(h) - 1
	x := h[last]
	h = h[:last]
	d.heap = h
	if last > 0 {
		i := 0
		for {
			c := 2*i + 1
			if c >= last {
				break
			}
			if c+1 < last && h[c+1].less(h[c]) {
				c++
			}
			h[i] = h[c]
			i = c
		}
		for i > 0 {
			p := (i - 1) / 2
			if !x.less(h[p]) {
				break
			}
			h[i] = h[p]
			i = p
		}
		h[i] = x
	}
	e := d.slots[s]
	d.slots[s] = held{}
	d.free = append(d.free, s)
	return e
}
