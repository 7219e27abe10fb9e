package clock

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

// Scheduler is a Clock backed by a d-ary heap of timers ordered by
// (instant, scheduling sequence number). Two timers due at the same instant
// fire in the order they were scheduled, so a run is reproducible.
//
// A Scheduler is not safe for concurrent use: exactly one goroutine, the
// driver's loop, calls it.
type Scheduler struct {
	now  Time
	seq  uint64
	heap []entry
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
func (s *Scheduler) Len() int { return len(s.heap) }

// Schedule arms t for instant at, moving it if it is already pending.
func (s *Scheduler) Schedule(t *Timer, at Time) {
	if t.h == nil {
		panic("clock: Schedule of a Timer without Init")
	}
	if at < s.now {
		at = s.now
	}
	s.seq++
	t.when = at
	t.seq = s.seq
	if i := int(t.index); i >= 0 && i < len(s.heap) && s.heap[i].t == t {
		e := &s.heap[i]
		// The new seq is larger than every other: at an equal or later
		// instant the timer can only move down.
		earlier := at < e.when
		e.when, e.seq = at, s.seq
		if earlier {
			s.up(i)
		} else {
			s.down(i)
		}
		return
	}
	s.heap = append(s.heap, entry{when: at, seq: s.seq, t: t})
	s.up(len(s.heap) - 1)
}

// Cancel disarms t if it is pending.
func (s *Scheduler) Cancel(t *Timer) {
	i := int(t.index)
	if i < 0 || i >= len(s.heap) || s.heap[i].t != t {
		return
	}
	s.remove(i)
}

// remove takes the entry at i out of the heap.
func (s *Scheduler) remove(i int) {
	h := s.heap
	h[i].t.index = -1
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
	if len(s.heap) == 0 {
		return 0, false
	}
	return s.heap[0].when, true
}

// Step fires the earliest pending timer, first moving the clock to its
// instant. It returns false when no timer is pending.
func (s *Scheduler) Step() bool {
	if len(s.heap) == 0 {
		return false
	}
	e := s.heap[0]
	s.remove(0)
	if e.when > s.now {
		s.now = e.when
	}
	e.t.h.OnTimer(s.now)
	return true
}

// RunUntil fires, in order, every timer due at or before limit (including
// timers armed by those handlers), then moves the clock to limit. It
// returns the number of timers fired.
func (s *Scheduler) RunUntil(limit Time) int {
	n := 0
	for len(s.heap) > 0 && s.heap[0].when <= limit {
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
