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
