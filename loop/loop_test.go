package loop

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
)

func TestLoopRunsPostedWorkInOrderAndFiresTimers(t *testing.T) {
	l := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()

	var order []int
	for i := 0; i < 100; i++ {
		l.Post(func() { order = append(order, i) })
	}
	var got []int
	require.NoError(t, l.Call(ctx, func() { got = append(got, order...) }))
	want := make([]int, 100)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, got)

	fired := make(chan clock.Time, 1)
	var tm clock.Timer
	var armedAt clock.Time
	tm.Init(clock.HandlerFunc(func(now clock.Time) { fired <- now }))
	require.NoError(t, l.Call(ctx, func() {
		armedAt = l.Clock().Now()
		l.Clock().Schedule(&tm, armedAt.Add(20*time.Millisecond))
	}))
	select {
	case now := <-fired:
		assert.GreaterOrEqual(t, now.Sub(armedAt), 20*time.Millisecond)
	case <-time.After(10 * time.Second):
		t.Fatal("timer never fired")
	}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestCallHonoursContext(t *testing.T) {
	l := New() // never run: the call cannot complete
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, l.Call(ctx, func() {}), context.Canceled)
}

// TestCallNeverReturnsBeforeWithdrawOrRun is finding 13 of issue 11: when
// its context ends, Call returns only once fn has been withdrawn (it then
// never runs) or has run to the end, so fn cannot write into the caller's
// buffer after Call returned. Run under -race, the race detector also
// catches a late write.
func TestCallNeverReturnsBeforeWithdrawOrRun(t *testing.T) {
	t.Parallel()
	t.Run("queued fn is withdrawn", func(t *testing.T) {
		t.Parallel()
		l := New()
		gate := make(chan struct{})
		l.Post(func() { <-gate }) // keeps the loop busy: the call stays queued
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = l.Run(ctx) }()

		buf := []byte("before")
		callCtx, callCancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- l.Call(callCtx, func() { copy(buf, "AFTER!") }) }()
		callCancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		buf[0] = 'B' // the caller owns its buffer again
		close(gate)
		require.NoError(t, l.Call(ctx, func() {})) // everything queued before has run
		assert.Equal(t, "Before", string(buf), "a withdrawn function must never run")
	})
	t.Run("running fn is waited for", func(t *testing.T) {
		t.Parallel()
		l := New()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { _ = l.Run(ctx) }()

		buf := []byte("before")
		started, release := make(chan struct{}), make(chan struct{})
		callCtx, callCancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- l.Call(callCtx, func() {
				close(started)
				<-release
				copy(buf, "AFTER!")
			})
		}()
		<-started
		callCancel()
		select {
		case err := <-errc:
			t.Fatalf("Call returned (%v) while its function was still running", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		require.NoError(t, <-errc, "the function ran: its result is valid")
		assert.Equal(t, "AFTER!", string(buf))
	})
}
