package loop

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
)

// In a synctest bubble, RunVirtual fires a shared scheduler's timers on the
// bubble's clock, at their exact instants, interleaved with the test's own
// sleeps, and runs posted calls.
func TestRunVirtualSharesTheBubbleClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		sched := clock.NewScheduler(clock.FromTime(start))
		l := NewOn(sched, time.Now)
		require.Same(t, sched, l.Scheduler())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- l.RunVirtual(ctx) }()

		fired := make(chan time.Duration, 1)
		var tm clock.Timer
		tm.Init(clock.HandlerFunc(func(now clock.Time) { fired <- now.Sub(clock.FromTime(start)) }))
		require.NoError(t, l.Call(context.Background(), func() { sched.Schedule(&tm, sched.Now().Add(time.Hour)) }))

		time.Sleep(59 * time.Minute)
		select {
		case <-fired:
			t.Fatal("fired early")
		default:
		}
		assert.Equal(t, time.Hour, <-fired)
		assert.Equal(t, time.Hour, time.Since(start))

		// Nothing pending: the loop is durably blocked (synctest.Wait
		// returns) and stops when its context ends.
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		assert.Equal(t, time.Hour, time.Since(start))
	})
}
