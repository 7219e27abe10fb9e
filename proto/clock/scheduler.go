package clock

// arity is the branching factor of the scheduler's heap: a 4-ary heap has
// half the depth of a binary heap and keeps siblings in one cache line.
const arity = 4

// Scheduler is a Clock backed by a d-ary heap of timers ordered by
// (instant, scheduling sequence number). Two timers due at the same instant
// fire in the order they were scheduled, so a run is reproducible.
//
// A Scheduler is not safe for concurrent use: exactly one goroutine, the
// driver's loop, calls it.
type Scheduler struct {
	now  Time
	seq  uint64
	heap []*Timer
}

// NewScheduler returns a Scheduler whose clock starts at start.
func NewScheduler(start Time) *Scheduler {
	return &Scheduler{now: start, heap: make([]*Timer, 0, 64)}
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
	if t.index >= 0 {
		i := int(t.index)
		s.up(i)
		s.down(int(t.index))
		return
	}
	t.index = int32(len(s.heap))
	s.heap = append(s.heap, t)
	s.up(int(t.index))
}

// Cancel disarms t if it is pending.
func (s *Scheduler) Cancel(t *Timer) {
	i := int(t.index)
	if i < 0 || i >= len(s.heap) || s.heap[i] != t {
		return
	}
	last := len(s.heap) - 1
	if i != last {
		s.swap(i, last)
	}
	s.heap[last] = nil
	s.heap = s.heap[:last]
	t.index = -1
	if i != last {
		s.up(i)
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
	t := s.heap[0]
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
	for len(s.heap) > 0 && s.heap[0].when <= limit {
		s.Step()
		n++
	}
	s.SetNow(limit)
	return n
}

func (s *Scheduler) less(i, j int) bool {
	a, b := s.heap[i], s.heap[j]
	if a.when != b.when {
		return a.when < b.when
	}
	return a.seq < b.seq
}

func (s *Scheduler) swap(i, j int) {
	h := s.heap
	h[i], h[j] = h[j], h[i]
	h[i].index = int32(i)
	h[j].index = int32(j)
}

func (s *Scheduler) up(i int) {
	for i > 0 {
		p := (i - 1) / arity
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *Scheduler) down(i int) {
	n := len(s.heap)
	for {
		first := i*arity + 1
		if first >= n {
			return
		}
		m := first
		end := first + arity
		if end > n {
			end = n
		}
		for c := first + 1; c < end; c++ {
			if s.less(c, m) {
				m = c
			}
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}
