package impair

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

func TestSharedLine(t *testing.T) {
	sched := clock.NewScheduler(epoch)
	line := NewLine(sched)
	pool := link.NewBufPool(DefaultBufSize)
	var got []string
	pipes := make([]*Pipe, 2)
	for i, name := range []string{"x", "y"} {
		p, err := NewOn(line, rng.New(1, name), Config{Delay: time.Millisecond}, pool)
		require.NoError(t, err)
		p.SetReceiver(link.ReceiverFunc(func(f []byte, _ link.Note) {
			got = append(got, name+string(rune('0'+binary.BigEndian.Uint64(f[14:22]))))
		}))
		pipes[i] = p
	}
	// Interleaved offers at one instant are delivered in offer order, across
	// pipes, by one timer.
	for i := uint64(0); i < 3; i++ {
		pipes[0].Send(frame(64, i, epoch))
		pipes[1].Send(frame(64, i, epoch))
	}
	assert.Equal(t, 6, line.Len())
	assert.Equal(t, 1, sched.Len(), "one scheduler entry for the whole line")
	assert.Equal(t, 3, pipes[1].Pending())

	// Taking y down loses its frames only.
	pipes[1].SetUp(false)
	assert.Zero(t, pipes[1].Pending())
	assert.Equal(t, 3, pipes[0].Pending())
	sched.RunUntil(epoch.Add(time.Second))
	assert.Equal(t, []string{"x0", "x1", "x2"}, got)
	assert.Zero(t, line.Len())
	assert.Equal(t, uint64(3), pipes[1].Counters().DroppedLinkDown)
	assert.Equal(t, uint64(0), pipes[1].Counters().Delivered)

	// Back up, y delivers again; the frames discarded earlier did not leak
	// into the new generation.
	pipes[1].SetUp(true)
	pipes[1].Send(frame(64, 7, sched.Now()))
	for sched.Step() {
	}
	assert.Equal(t, []string{"x0", "x1", "x2", "y7"}, got)
	assert.Equal(t, uint64(1), pipes[1].Counters().Delivered)

	_, err := NewOn(nil, rng.New(1, "z"), Config{}, nil)
	assert.Error(t, err)
	_, err = New(nil, rng.New(1, "z"), Config{}, nil)
	assert.Error(t, err)
	_, err = NewOn(line, nil, Config{}, nil)
	assert.Error(t, err)
}

func TestDownDuringFlightAndBackUpBeforeDue(t *testing.T) {
	// A frame in flight when the pipe goes down is lost even if the pipe is
	// up again before the frame's instant.
	r := newRig(t, Config{Delay: 10 * time.Millisecond}, 1)
	r.pipe.Send(frame(64, 1, epoch))
	r.pipe.SetUp(false)
	r.pipe.SetUp(true)
	r.pipe.Send(frame(64, 2, epoch))
	for r.sched.Step() {
	}
	require.Len(t, r.got, 1)
	assert.Equal(t, uint64(2), r.got[0].seq)
}

// TestSmallAndLargeFrames checks frames on both sides of the small-buffer
// size arrive intact, and that once both pools are warm, alternating sizes
// allocate nothing.
func TestSmallAndLargeFrames(t *testing.T) {
	r := newRig(t, Config{Delay: time.Millisecond, Jitter: 100 * time.Microsecond}, 3)
	r.keep = true
	sizes := []int{60, smallBufSize, smallBufSize + 1, 1514}
	var sent [][]byte
	for i := 0; i < 40; i++ {
		f := frame(sizes[i%len(sizes)], uint64(i), r.sched.Now())
		sent = append(sent, f)
		r.pipe.Send(f)
		r.sched.RunUntil(r.sched.Now().Add(10 * time.Microsecond))
	}
	for r.sched.Step() {
	}
	require.Len(t, r.got, len(sent))
	for _, a := range r.got {
		assert.Equal(t, sent[a.seq], a.frame)
	}
	r.keep = false
	r.got = make([]arrival, 0, 20000)
	small, large := frame(100, 1, epoch), frame(1000, 2, epoch)
	step := func() {
		r.pipe.Send(small)
		r.pipe.Send(large)
		r.sched.RunUntil(r.sched.Now().Add(10 * time.Microsecond))
	}
	for i := 0; i < 1000; i++ {
		step()
	}
	assert.Zero(t, testing.AllocsPerRun(1000, step))
}
