package loop

import (
	"context"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// NewOn returns a Loop that drives sched, a scheduler it shares with other
// code (a sim.World's), on the clock now. Use it only while nothing else
// drives sched: from then on, sched belongs to the loop goroutine.
func NewOn(sched *clock.Scheduler, now func() time.Time) *Loop {
	return &Loop{sched: sched, now: now, wake: make(chan struct{}, 1)}
}

// Scheduler returns the loop's scheduler. It must be used only from the
// loop goroutine.
func (l *Loop) Scheduler() *clock.Scheduler { return l.sched }

// RunVirtual is Run for a loop whose clock is a testing/synctest bubble's
// (now is time.Now inside the bubble), where timers fire only once every
// goroutine of the bubble is blocked: the loop's next timer and the test's
// own sleeps and deadlines then fire in time order, on one clock. With no
// timer pending the loop waits without one, so that a deadlocked test is
// reported by synctest instead of sleeping on.
//
// Each turn runs the timers due, then the functions posted, in the order
// they were posted. The loop never waits for the rest of the bubble before
// it runs posted work (as a synctest.Wait barrier would): a goroutine
// blocked on a mutex is not durably blocked, and one that holds the mutex
// while it waits for the loop would deadlock such a barrier.
func (l *Loop) RunVirtual(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var batch []func()
	for {
		l.sched.SetNow(clock.FromTime(l.now()))
		ran := l.sched.RunUntil(l.sched.Now())

		l.mu.Lock()
		batch, l.pending = l.pending, batch[:0]
		l.mu.Unlock()
		for i, fn := range batch {
			fn()
			batch[i] = nil
		}
		if len(batch) > 0 || ran > 0 {
			continue
		}
		var fire <-chan time.Time
		if next, ok := l.sched.Next(); ok {
			wait := next.Sub(clock.FromTime(l.now()))
			if wait <= 0 {
				continue
			}
			timer.Reset(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		case <-fire:
		}
		timer.Stop()
	}
}
