package clock

import "math/bits"

// arity is the branching factor of the scheduler's heap: a 4-ary heap has
// half the depth of a binary heap and keeps siblings in one cache line.
const arity = 4

// entry is a pending timer in the scheduler's heap, with its ordering key
// copied inline so that comparisons do not chase the timer pointer.
type entry struct {
	when Time
	seq  uint64
	t    *Timer
}

func (a *entry) less(b *entry) bool {
	return a.when < b.when || a.when == b.when && a.seq < b.seq
}

// The scheduler's timing wheel: wheelBuckets buckets of 2^wheelShift ns
// (1.024 µs), so timers due within about 16.8 ms of the earliest one in the
// wheel are kept there, and later ones in the heap.
const (
	wheelShift   = 10
	wheelBuckets = 1 << 14
	wheelMask    = wheelBuckets - 1
	wheelWords   = wheelBuckets / 64
)

// Scheduler is a Clock that fires timers in (instant, scheduling sequence
// number) order. Two timers due at the same instant fire in the order they
// were scheduled, so a run is reproducible.
//
// Timers due in the near future sit in a timing wheel of fine buckets, each
// a doubly linked list sorted by (instant, sequence) and found through an
// occupancy bitmap, so arming, moving and firing them costs the same
// whatever the number of pending timers; timers beyond the wheel's horizon
// sit in a d-ary heap. The earliest timer is the smaller of the wheel's and
// the heap's.
//
// A Scheduler is not safe for concurrent use: exactly one goroutine, the
// driver's loop, calls it.
type Scheduler struct {
	now  Time
	seq  uint64
	heap []entry

	// cur and hi are absolute bucket numbers (instant >> wheelShift) at or
	// before the earliest timer in the wheel and at or after the latest;
	// hi-cur < wheelBuckets, so a bucket index names one bucket.
	cur, hi int64
	inWh    int
	head    []*Timer // by bucket index
	tail    []*Timer
	occ     []uint64 // bit i set when bucket i is not empty
}

// NewScheduler returns a Scheduler whose clock starts at start.
func NewScheduler(start Time) *Scheduler {
	return &Scheduler{now: start, heap: make([]entry, 0, 64)}
}

// Now returns the scheduler's current instant.
func (s *Scheduler) Now() Time { return s.now }

// SetNow moves the clock to t without firing anything. Live and replay
// drivers use it to follow their own timeline; t before Now is ignored, so
// time never runs backwards.
func (s *Scheduler) SetNow(t Time) {
	if t > s.now {
		s.now = t
	}
}

// Len returns the number of pending timers.
func (s *Scheduler) Len() int { return len(s.heap) + s.inWh }

// Schedule arms t for instant at, moving it if it is already pending.
func (s *Scheduler) Schedule(t *Timer, at Time) {
	if t.h == nil {
		panic("clock: Schedule of a Timer without Init")
	}
	if at < s.now {
		at = s.now
	}
	s.seq++
	if t.index == inWheel {
		s.unlink(t)
	} else if i := int(t.index); i >= 0 && i < len(s.heap) && s.heap[i].t == t {
		t.when, t.seq = at, s.seq
		if s.link(t) {
			s.removeAt(i)
			return
		}
		// Moved within the heap, in place. The new seq is larger than
		// every other: at an equal or later instant t only moves down.
		e := &s.heap[i]
		earlier := at < e.when
		e.when, e.seq = at, s.seq
		if earlier {
			s.up(i)
		} else {
			s.down(i)
		}
		return
	}
	t.when = at
	t.seq = s.seq
	if s.link(t) {
		return
	}
	s.heap = append(s.heap, entry{when: at, seq: s.seq, t: t})
	s.up(len(s.heap) - 1)
}

// maxWalk bounds how many timers due after a new one link walks past.
const maxWalk = 2

// wheelMin is the number of timers in the heap from which the wheel takes
// new ones: a small heap is faster than the wheel.
const wheelMin = 64

// link puts t in its wheel bucket, after every timer due at or before it
// (t's sequence number is the largest), and reports whether it did: t is
// left to the heap while the heap is small and the wheel empty, when it is
// beyond the wheel's horizon, or when it would go before more than maxWalk
// timers of its bucket.
func (s *Scheduler) link(t *Timer) bool {
	b := int64(t.when) >> wheelShift
	switch {
	case s.inWh == 0 && len(s.heap) < wheelMin:
		return false
	case s.inWh == 0:
		s.cur, s.hi = b, b
	case b < s.cur && s.hi-b < wheelBuckets:
		s.cur = b
	case b < s.cur || b-s.cur >= wheelBuckets:
		return false
	case b > s.hi:
		s.hi = b
	}
	if s.head == nil {
		s.head = make([]*Timer, wheelBuckets)
		s.tail = make([]*Timer, wheelBuckets)
		s.occ = make([]uint64, wheelWords)
	}
	i := b & wheelMask
	p := s.tail[i]
	for n := 0; p != nil && p.when > t.when; n++ {
		if n == maxWalk {
			// A dense bucket armed out of order: the heap sorts better.
			return false
		}
		p = p.prev
	}
	s.inWh++
	t.index = inWheel
	t.prev = p
	if p == nil {
		t.next = s.head[i]
		s.head[i] = t
		s.occ[i>>6] |= 1 << (i & 63)
	} else {
		t.next = p.next
		p.next = t
	}
	if t.next == nil {
		s.tail[i] = t
	} else {
		t.next.prev = t
	}
	return true
}

// unlink takes t out of its wheel bucket.
func (s *Scheduler) unlink(t *Timer) {
	i := int64(t.when) >> wheelShift & wheelMask
	if t.prev == nil {
		s.head[i] = t.next
	} else {
		t.prev.next = t.next
	}
	if t.next == nil {
		s.tail[i] = t.prev
	} else {
		t.next.prev = t.prev
	}
	if s.head[i] == nil {
		s.occ[i>>6] &^= 1 << (i & 63)
	}
	t.prev, t.next = nil, nil
	t.index = idle
	s.inWh--
}

// wheelFirst returns the earliest timer in the wheel, which must not be
// empty, and moves cur to its bucket.
func (s *Scheduler) wheelFirst() *Timer {
	i := int(s.cur & wheelMask)
	w := i >> 6
	m := s.occ[w] &^ (1<<(i&63) - 1)
	for m == 0 {
		w = (w + 1) & (wheelWords - 1)
		m = s.occ[w]
	}
	j := w<<6 + bits.TrailingZeros64(m)
	s.cur += int64((j - i) & wheelMask)
	return s.head[j]
}

// first returns the earliest pending timer, or nil.
func (s *Scheduler) first() *Timer {
	if s.inWh == 0 {
		if len(s.heap) == 0 {
			return nil
		}
		return s.heap[0].t
	}
	t := s.wheelFirst()
	if len(s.heap) > 0 {
		if h := &s.heap[0]; h.when < t.when || h.when == t.when && h.seq < t.seq {
			return h.t
		}
	}
	return t
}

// Cancel disarms t if it is pending.
func (s *Scheduler) Cancel(t *Timer) {
	if t.index == inWheel {
		s.unlink(t)
		return
	}
	i := int(t.index)
	if i < 0 || i >= len(s.heap) || s.heap[i].t != t {
		return
	}
	s.remove(i)
}

// remove takes the entry at i out of the heap.
func (s *Scheduler) remove(i int) {
	s.heap[i].t.index = idle
	s.removeAt(i)
}

// removeAt deletes the entry at i from the heap, leaving its timer's index
// alone.
func (s *Scheduler) removeAt(i int) {
	h := s.heap
	last := len(h) - 1
	x := h[last]
	h[last] = entry{}
	s.heap = h[:last]
	if i == last {
		return
	}
	s.heap[i] = x
	x.t.index = int32(i)
	if i > 0 && x.less(&s.heap[(i-1)/arity]) {
		s.up(i)
	} else {
		s.down(i)
	}
}

// Next returns the instant of the earliest pending timer.
func (s *Scheduler) Next() (Time, bool) {
	t := s.first()
	if t == nil {
		return 0, false
	}
	return t.when, true
}

// Step fires the earliest pending timer, first moving the clock to its
// instant. It returns false when no timer is pending.
func (s *Scheduler) Step() bool {
	t := s.first()
	if t == nil {
		return false
	}
	s.Cancel(t)
	if t.when > s.now {
		s.now = t.when
	}
	t.h.OnTimer(s.now)
	return true
}

// RunUntil fires, in order, every timer due at or before limit (including
// timers armed by those handlers), then moves the clock to limit. It
// returns the number of timers fired.
func (s *Scheduler) RunUntil(limit Time) int {
	n := 0
	for {
		t := s.first()
		if t == nil || t.when > limit {
			break
		}
		s.Step()
		n++
	}
	s.SetNow(limit)
	return n
}

// up moves the entry at i towards the root to its place.
func (s *Scheduler) up(i int) {
	h := s.heap
	x := h[i]
	for i > 0 {
		p := (i - 1) / arity
		if !x.less(&h[p]) {
			break
		}
		h[i] = h[p]
		h[i].t.index = int32(i)
		i = p
	}
	h[i] = x
	x.t.index = int32(i)
}

// down moves the entry at i towards the leaves to its place.
func (s *Scheduler) down(i int) {
	h := s.heap
	n := len(h)
	x := h[i]
	for {
		first := i*arity + 1
		if first >= n {
			break
		}
		m := first
		end := min(first+arity, n)
		for c := first + 1; c < end; c++ {
			if h[c].less(&h[m]) {
				m = c
			}
		}
		if !h[m].less(&x) {
			break
		}
		h[i] = h[m]
		h[i].t.index = int32(i)
		i = m
	}
	h[i] = x
	x.t.index = int32(i)
}
