package impair

import (
	"math/bits"
	"unsafe"
)

// warmChunkLine is how many frames the Line delivers between two warming
// passes, and how many frames each stage of a pass warms.
const warmChunkLine = 8

// cursor walks the frames of the delay line's wheel in delivery order
// without taking them out.
type cursor struct {
	d *delayLine
	b int64 // absolute bucket of s
	s int32 // current slot, or nilSlot at the end
}

// ahead returns a cursor at the earliest frame in the wheel; the frames
// in the overflow heap are not walked.
func (d *delayLine) ahead() cursor {
	if d.inWh == 0 {
		return cursor{d: d, s: nilSlot}
	}
	j := d.wheelTop()
	return cursor{d: d, b: d.cur, s: d.head[j]}
}

// next moves c to the following frame and reports whether there is one.
func (c *cursor) next() bool {
	d := c.d
	if c.s = d.entries[c.s].next; c.s != nilSlot {
		return true
	}
	if c.b = d.nextBucket(c.b); c.b < 0 {
		return false
	}
	c.s = d.head[c.b&wheelMask]
	return true
}

// nextBucket returns the absolute number of the first occupied bucket
// after b, or -1 when there is none up to hi.
func (d *delayLine) nextBucket(b int64) int64 {
	for b < d.hi {
		b++
		i := b & wheelMask
		if m := d.occ[i>>6] >> (i & 63); m != 0 {
			if b += int64(bits.TrailingZeros64(m)); b > d.hi {
				return -1
			}
			return b
		}
		b += 63 - i&63 // the last bucket of this word
	}
	return -1
}

// warmAhead reads, without using them, the first lines of what frames
// soon to be delivered will touch: for frames [warmChunkLine,
// 2*warmChunkLine) in delivery order, the receiver of their pipe (whose
// line the previous pass loaded); for frames [2*warmChunkLine,
// 3*warmChunkLine), their pipe and their buffer. In a world of many hosts
// each of those lies in a line of its own, far from the others, and a
// delivery waits for it; these loads do not depend on one another, so the
// processor fetches them together and the deliveries find them in cache.
// Nothing is changed: the order and the outcome of the run are the same
// without it.
func (d *delayLine) warmAhead() uintptr {
	var sink uintptr
	c := d.ahead()
	for n := 0; c.s != nilSlot && n < 3*warmChunkLine; n++ {
		if n >= warmChunkLine {
			e := &d.slots[c.s]
			if p := e.pipe; p != nil && n < 2*warmChunkLine {
				if p.recv != nil {
					// The data word of the interface value: a pointer
					// to the receiver, always readable.
					sink += uintptr(*(*byte)((*[2]unsafe.Pointer)(unsafe.Pointer(&p.recv))[1]))
				}
			} else if p != nil {
				sink += uintptr(p.downSeq)
				if len(e.buf) > 0 {
					sink += uintptr(e.buf[0])
				}
			}
		}
		if !c.next() {
			break
		}
	}
	return sink
}
