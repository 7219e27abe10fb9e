// Package replay drives the frames of a capture on the capture's own
// timeline: a clock.Scheduler whose time follows the frame timestamps, so
// that timers armed by the code consuming the frames (reassembly expiry
// today, a host's retransmission timers in host-role replay) fire at the
// right place between frames, exactly as they would under the simulator or
// a live tap.
//
// Input (replay/input) and analysis (replay/analyze) live in sub-packages.
package replay

import (
	"errors"
	"io"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/replay/input"
)

// Timeline delivers frames from a Reader in file order, advancing its clock
// to each frame's timestamp first and firing every timer due at or before
// it. Timestamps that go backwards (common when a pcapng interleaves
// interfaces) do not move the clock back: the frame is delivered at the
// current instant.
//
// The clock is a count of nanoseconds (clock.Time), which holds the years
// 1678 to 2262 only, while a pcapng timestamp reaches far beyond. The
// timeline therefore measures every frame from the first one: its clock
// starts at the first frame's timestamp when that is representable (so
// times written from it match the capture), and at 0 otherwise; Std maps a
// clock reading back to the capture's own time in both cases.
type Timeline struct {
	r       *input.Reader
	sched   *clock.Scheduler
	started bool
	origin  time.Time  // the first frame's timestamp
	base    clock.Time // the clock reading at origin
}

// Representable bounds of clock.Time as calendar times, with a margin.
var (
	minClockTime = time.Date(1680, 1, 1, 0, 0, 0, 0, time.UTC)
	maxClockTime = time.Date(2260, 1, 1, 0, 0, 0, 0, time.UTC)
)

// at returns the clock reading of capture time ts.
func (t *Timeline) at(ts time.Time) clock.Time {
	return t.base + clock.Time(ts.Sub(t.origin))
}

// Std returns the capture time of the clock reading c (exact for any year
// the capture holds).
func (t *Timeline) Std(c clock.Time) time.Time {
	return t.origin.Add(time.Duration(c - t.base))
}

// NewTimeline returns a Timeline over r. Its clock starts at the first
// frame's timestamp.
func NewTimeline(r *input.Reader) *Timeline {
	return &Timeline{r: r, sched: clock.NewScheduler(0)}
}

// Clock returns the timeline's clock, for the consumers of the frames to
// read the time and arm timers.
func (t *Timeline) Clock() clock.Clock { return t.sched }

// Next reads the next frame into f, then fires the timers due up to its
// timestamp and moves the clock there. It returns what Reader.Next returns:
// nil or a *input.FrameError with a frame in f, io.EOF at the end (after
// firing nothing further), or a *input.TruncatedError.
func (t *Timeline) Next(f *input.Frame) error {
	err := t.r.Next(f)
	if err != nil && !isFrameError(err) {
		return err
	}
	if !t.started {
		t.started = true
		t.origin = f.Time
		if f.Time.After(minClockTime) && f.Time.Before(maxClockTime) {
			t.base = clock.FromTime(f.Time)
		}
		t.sched.SetNow(t.base)
	}
	at := t.at(f.Time)
	t.sched.RunUntil(at)
	return err
}

// Run calls fn for every frame (with the *input.FrameError Next returned
// for it, or nil) and returns nil at the end of the file or the error that
// ended it (a *input.TruncatedError for a cut-off file).
func (t *Timeline) Run(fn func(f *input.Frame, err error)) error {
	var f input.Frame
	for {
		err := t.Next(&f)
		if err == io.EOF {
			return nil
		}
		if err != nil && !isFrameError(err) {
			return err
		}
		fn(&f, err)
	}
}

// isFrameError reports whether err is a *input.FrameError; a separate
// function so that the target of errors.As is not allocated per frame.
func isFrameError(err error) bool {
	var fe *input.FrameError
	return errors.As(err, &fe)
}

// Advance fires every timer due up to to and moves the clock there: a
// replay calls it after the last frame so that its timers (delayed ACKs,
// retransmissions) still run.
func (t *Timeline) Advance(to clock.Time) {
	if to > t.sched.Now() {
		t.sched.RunUntil(to)
	}
}
