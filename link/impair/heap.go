package impair

import (
	"math/bits"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// The delay line's timing wheel: wheelBuckets buckets of 2^wheelShift ns
// (1.024 µs), so frames due within about 16.8 ms of the earliest frame in
// flight are kept in the wheel, and later ones in the overflow heap.
const (
	wheelShift   = 10
	wheelBuckets = 1 << 14
	wheelMask    = wheelBuckets - 1
	wheelWords   = wheelBuckets / 64
)

// nilSlot ends a bucket's list.
const nilSlot = -1

// key orders the delay line: delivery instant, then sequence number.
type key struct {
	at   clock.Time
	seq  uint64
	slot int32
}

func (a key) less(b key) bool { return a.at < b.at || a.at == b.at && a.seq < b.seq }

// held is a frame in the delay line, with the pipe delivering it, or the
// run of pipes a flooded frame goes to (fan). A pipe that went down after
// the frame was queued (Pipe.downSeq) discards it.
type held struct {
	buf  []byte
	note link.Note
	pipe *Pipe
	fan  *fan
}

// wheelEntry is the ordering part of a frame in a wheel bucket, kept apart
// from the frame so that walking a bucket touches only small entries.
type wheelEntry struct {
	at   clock.Time
	seq  uint64
	next int32 // next slot in the same bucket, or nilSlot
}

// delayLine holds frames until their delivery instant, in (instant,
// sequence) order. Frames due in the near future sit in a timing wheel of
// fine buckets, each a list sorted by (instant, sequence): with a constant
// delay a push appends to its bucket's tail, and a pop takes the head of
// the first occupied bucket, found through an occupancy bitmap, so the
// cost does not grow with the number of frames in flight and memory is
// touched in time order. Frames beyond the wheel's horizon go to a binary
// min-heap of small keys. The earliest frame is the smaller of the wheel's
// and the heap's. Slots are recycled; nothing is allocated once the line
// has grown to its working size.
type delayLine struct {
	slots   []held
	entries []wheelEntry // by slot, for frames in the wheel
	free    []int32

	// cur and hi are absolute bucket numbers (instant >> wheelShift) at or
	// before the earliest frame in the wheel and at or after the latest;
	// hi-cur < wheelBuckets, so a bucket index names one bucket.
	cur    int64
	hi     int64
	inWh   int
	head   []int32 // by bucket index, nilSlot when empty
	tail   []int32
	occ    []uint64 // bit i set when bucket i is not empty
	heap   []key    // frames beyond the wheel's horizon
	topKey key      // cached earliest frame, valid when topOK
	topOK  bool
}

func (d *delayLine) len() int { return d.inWh + len(d.heap) }

// alloc returns a free slot holding e.
func (d *delayLine) alloc(e held) int32 {
	var s int32
	if n := len(d.free); n > 0 {
		s = d.free[n-1]
		d.free = d.free[:n-1]
	} else {
		s = int32(len(d.slots))
		d.slots = append(d.slots, held{})
		d.entries = append(d.entries, wheelEntry{})
	}
	d.slots[s] = e
	return s
}

// push adds a frame due at at with sequence number seq, which must be
// larger than that of every frame pushed before.
func (d *delayLine) push(at clock.Time, seq uint64, e held) {
	s := d.alloc(e)
	k := key{at: at, seq: seq, slot: s}
	if d.topOK && k.less(d.topKey) {
		d.topKey = k
	}
	b := int64(at) >> wheelShift
	switch {
	case d.inWh == 0:
		d.cur, d.hi = b, b
	case b < d.cur && d.hi-b < wheelBuckets:
		d.cur = b
	case b < d.cur || b-d.cur >= wheelBuckets:
		d.heapPush(k)
		return
	case b > d.hi:
		d.hi = b
	}
	if d.head == nil {
		d.head = make([]int32, wheelBuckets)
		d.tail = make([]int32, wheelBuckets)
		d.occ = make([]uint64, wheelWords)
	}
	d.inWh++
	i := int32(b & wheelMask)
	en := &d.entries[s]
	en.at, en.seq, en.next = at, seq, nilSlot
	if d.occ[i>>6]&(1<<(i&63)) == 0 {
		d.occ[i>>6] |= 1 << (i & 63)
		d.head[i], d.tail[i] = s, s
		return
	}
	// seq is the largest so far: the frame goes after every frame due at
	// or before at.
	if t := d.tail[i]; d.entries[t].at <= at {
		d.entries[t].next = s
		d.tail[i] = s
		return
	}
	h := d.head[i]
	if at < d.entries[h].at {
		en.next = h
		d.head[i] = s
		return
	}
	p := h
	for {
		n := d.entries[p].next
		if d.entries[n].at > at {
			en.next = n
			d.entries[p].next = s
			return
		}
		p = n
	}
}

// wheelTop returns the bucket index of the earliest frame in the wheel,
// which must not be empty, and moves cur to that bucket.
func (d *delayLine) wheelTop() int32 {
	i := int(d.cur & wheelMask)
	w := i >> 6
	m := d.occ[w] &^ (1<<(i&63) - 1)
	for m == 0 {
		w = (w + 1) & (wheelWords - 1)
		m = d.occ[w]
	}
	j := int32(w<<6 + bits.TrailingZeros64(m))
	d.cur += int64((int(j) - i) & wheelMask)
	return j
}

// top returns the earliest key; the line must not be empty.
func (d *delayLine) top() key {
	if d.topOK {
		return d.topKey
	}
	var k key
	if d.inWh > 0 {
		s := d.head[d.wheelTop()]
		e := &d.entries[s]
		k = key{at: e.at, seq: e.seq, slot: s}
		if len(d.heap) > 0 && d.heap[0].less(k) {
			k = d.heap[0]
		}
	} else {
		k = d.heap[0]
	}
	d.topKey, d.topOK = k, true
	return k
}

// pop removes the earliest frame and returns it; the line must not be
// empty.
func (d *delayLine) pop() held {
	k := d.top()
	d.topOK = false
	s := k.slot
	if len(d.heap) > 0 && d.heap[0].slot == s {
		d.heapPop()
	} else {
		// The earliest frame in the wheel heads its bucket.
		i := int32(int64(k.at) >> wheelShift & wheelMask)
		d.inWh--
		if n := d.entries[s].next; n != nilSlot {
			d.head[i] = n
		} else {
			d.occ[i>>6] &^= 1 << (i & 63)
		}
	}
	e := d.slots[s]
	d.slots[s] = held{}
	d.free = append(d.free, s)
	return e
}

// heapPush adds k to the overflow heap.
func (d *delayLine) heapPush(k key) {
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

// heapPop removes the overflow heap's root. It moves the hole at the root
// down to a leaf along the smaller children, then lifts the last key from
// there (Floyd's bottom-up deletion): about one comparison per level.
func (d *delayLine) heapPop() {
	h := d.heap
	last := len(h) - 1
	x := h[last]
	h = h[:last]
	d.heap = h
	if last == 0 {
		return
	}
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
