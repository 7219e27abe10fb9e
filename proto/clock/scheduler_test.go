package clock

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recorder struct {
	id  int
	log *[]int
}

func (r *recorder) OnTimer(Time) { *r.log = append(*r.log, r.id) }

func newTimers(n int, log *[]int) []*Timer {
	ts := make([]*Timer, n)
	for i := range ts {
		ts[i] = new(Timer)
		ts[i].Init(&recorder{id: i, log: log})
	}
	return ts
}

func TestSchedulerOrder(t *testing.T) {
	tests := []struct {
		name string
		at   []Time // instant per timer, scheduled in index order
		want []int
	}{
		{"by time", []Time{30, 10, 20}, []int{1, 2, 0}},
		{"ties in scheduling order", []Time{5, 5, 5, 1}, []int{3, 0, 1, 2}},
		{"past instants clamp to now", []Time{-5, 0, 1}, []int{0, 1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log []int
			s := NewScheduler(0)
			ts := newTimers(len(tc.at), &log)
			for i, at := range tc.at {
				s.Schedule(ts[i], at)
			}
			for s.Step() {
			}
			assert.Equal(t, tc.want, log)
		})
	}
}

func TestSchedulerRearmAndCancel(t *testing.T) {
	var log []int
	s := NewScheduler(100)
	ts := newTimers(3, &log)
	s.Schedule(ts[0], 110)
	s.Schedule(ts[1], 120)
	s.Schedule(ts[2], 130)
	s.Schedule(ts[0], 140) // moved, not duplicated
	s.Cancel(ts[1])
	s.Cancel(ts[1]) // idempotent
	assert.Equal(t, 2, s.Len())
	assert.False(t, ts[1].Pending())
	assert.True(t, ts[0].Pending())
	assert.Equal(t, Time(140), ts[0].When())

	n := s.RunUntil(135)
	assert.Equal(t, 1, n)
	assert.Equal(t, Time(135), s.Now())
	assert.Equal(t, []int{2}, log)
	s.RunUntil(1000)
	assert.Equal(t, []int{2, 0}, log)
	assert.Equal(t, Time(1000), s.Now())
	_, ok := s.Next()
	assert.False(t, ok)
}

// TestSchedulerRandomised checks the heap against a sorted reference under
// random schedule, move and cancel operations.
func TestSchedulerRandomised(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var log []int
	s := NewScheduler(0)
	ts := newTimers(200, &log)
	type ref struct {
		at  Time
		seq int
		id  int
	}
	live := map[int]ref{}
	seq := 0
	for i := 0; i < 5000; i++ {
		id := r.IntN(len(ts))
		if r.IntN(4) == 0 {
			s.Cancel(ts[id])
			delete(live, id)
			continue
		}
		at := Time(r.IntN(50))
		seq++
		s.Schedule(ts[id], at)
		live[id] = ref{at, seq, id}
	}
	want := make([]ref, 0, len(live))
	for _, v := range live {
		want = append(want, v)
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].at != want[j].at {
			return want[i].at < want[j].at
		}
		return want[i].seq < want[j].seq
	})
	require.Equal(t, len(want), s.Len())
	for s.Step() {
	}
	ids := make([]int, len(want))
	for i, w := range want {
		ids[i] = w.id
	}
	assert.Equal(t, ids, log)
}

type rearm struct {
	s *Scheduler
	t Timer
	n int
}

func (r *rearm) OnTimer(now Time) {
	r.n++
	r.s.Schedule(&r.t, now+Time(1+r.n%7))
}

// BenchmarkSchedulerRearm measures firing and re-arming timers in a heap of
// 10,000 pending timers, the simulator's steady state.
func BenchmarkSchedulerRearm(b *testing.B) {
	s := NewScheduler(0)
	rs := make([]*rearm, 10000)
	for i := range rs {
		rs[i] = &rearm{s: s, n: i}
		rs[i].t.Init(rs[i])
		s.Schedule(&rs[i].t, Time(i%100))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestSchedulerWheelAndHeap checks firing order against a sorted reference
// while the clock advances, with instants spread from the same nanosecond
// to far beyond the wheel's horizon, so timers move between the wheel and
// the heap, and handlers re-arm and cancel timers as they fire.
func TestSchedulerWheelAndHeap(t *testing.T) {
	horizon := Time(wheelBuckets << wheelShift)
	spreads := []struct {
		name string
		at   func(r *rand.Rand, now Time) Time
	}{
		{"near", func(r *rand.Rand, now Time) Time { return now + Time(r.IntN(3000)) }},
		{"around the horizon", func(r *rand.Rand, now Time) Time { return now + horizon - 2000 + Time(r.IntN(4000)) }},
		{"near and far", func(r *rand.Rand, now Time) Time {
			if r.IntN(3) == 0 {
				return now + Time(r.Int64N(int64(20*horizon)))
			}
			return now + Time(r.IntN(5000))
		}},
	}
	t.Parallel()
	for _, sp := range spreads {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(3, 4))
			s := NewScheduler(1 << 40)
			type arm struct {
				at  Time
				seq int
			}
			live := map[int]arm{}
			seq := 0
			var fired []int
			var want []int
			ts := make([]*Timer, 300)
			for i := range ts {
				id := i
				ts[i] = new(Timer)
				ts[i].Init(HandlerFunc(func(now Time) {
					fired = append(fired, id)
					require.Equal(t, live[id].at, now, "timer %d fires at its instant", id)
					delete(live, id)
					if r.IntN(2) == 0 {
						seq++
						at := sp.at(r, now)
						s.Schedule(ts[id], at)
						live[id] = arm{max(at, now), seq}
					}
				}))
			}
			next := func() int {
				best := -1
				for id, a := range live {
					if b, ok := live[best]; best < 0 || !ok || a.at < b.at || a.at == b.at && a.seq < b.seq {
						best = id
					}
				}
				return best
			}
			for round := 0; round < 3000; round++ {
				id := r.IntN(len(ts))
				switch r.IntN(5) {
				case 0:
					s.Cancel(ts[id])
					delete(live, id)
				case 1, 2:
					seq++
					at := sp.at(r, s.Now())
					s.Schedule(ts[id], at)
					live[id] = arm{at, seq}
				default:
					if len(live) > 0 {
						want = append(want, next())
						require.True(t, s.Step())
						// One step fires one timer: the earliest.
						require.Len(t, fired, len(want))
						require.Equal(t, want[len(want)-1], fired[len(fired)-1])
					}
				}
				require.Equal(t, len(live), s.Len())
				for id, tm := range ts {
					if _, ok := live[id]; ok != tm.Pending() {
						t.Fatalf("round %d: timer %d pending %v, want %v", round, id, tm.Pending(), ok)
					}
				}
			}
			for len(live) > 0 {
				want = append(want, next())
				require.True(t, s.Step())
			}
			assert.Equal(t, want, fired)
			assert.False(t, s.Step())
		})
	}
}
