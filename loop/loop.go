// Package loop is the live driver's event loop: one goroutine that runs all
// of a stack's code, fires its timers on the wall clock and executes work
// posted from other goroutines (a tap reader, net.Conn adapters).
//
// The simulator does not use it: it drives a clock.Scheduler on virtual time
// directly. Both run the same protocol code through the clock.Clock contract.
package loop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// Loop runs posted functions and due timers on a single goroutine.
type Loop struct {
	sched *clock.Scheduler
	now   func() time.Time

	mu      sync.Mutex
	pending []func()
	wake    chan struct{}
}

// New returns a Loop whose clock follows the wall clock.
func New() *Loop {
	return NewWithClock(time.Now)
}

// NewWithClock returns a Loop whose clock follows now (tests use a fake).
func NewWithClock(now func() time.Time) *Loop {
	return &Loop{
		sched: clock.NewScheduler(clock.FromTime(now())),
		now:   now,
		wake:  make(chan struct{}, 1),
	}
}

// Clock returns the loop's clock, for protocol code run on this loop. It
// must be used only from the loop goroutine.
func (l *Loop) Clock() clock.Clock { return l.sched }

// Post queues fn to run on the loop goroutine. It is safe for concurrent use
// and never blocks.
func (l *Loop) Post(fn func()) {
	l.mu.Lock()
	l.pending = append(l.pending, fn)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Call states of a posted function.
const (
	callQueued int32 = iota
	callRunning
	callWithdrawn
)

// Call runs fn on the loop goroutine and waits for it to return. When ctx
// ends first, fn is withdrawn if it has not started (it will never run) and
// Call returns ctx.Err(); if fn has already started, Call waits for it to
// finish and returns nil. So when Call returns, fn has either run to the end
// or will never run: it cannot write into the caller's memory afterwards.
// Call must not be called from the loop goroutine itself.
func (l *Loop) Call(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	var state atomic.Int32
	l.Post(func() {
		if !state.CompareAndSwap(callQueued, callRunning) {
			return // withdrawn
		}
		fn()
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		if state.CompareAndSwap(callQueued, callWithdrawn) {
			return ctx.Err()
		}
		<-done
		return nil
	}
}

// Run executes posted functions and due timers until ctx ends.
func (l *Loop) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []func()
	for {
		l.sched.SetNow(clock.FromTime(l.now()))
		l.sched.RunUntil(l.sched.Now())

		l.mu.Lock()
		batch, l.pending = l.pending, batch[:0]
		l.mu.Unlock()
		for i, fn := range batch {
			fn()
			batch[i] = nil
		}
		if len(batch) > 0 {
			continue
		}

		wait := time.Hour
		if next, ok := l.sched.Next(); ok {
			wait = next.Sub(clock.FromTime(l.now()))
			if wait <= 0 {
				continue
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		case <-timer.C:
		}
	}
}
