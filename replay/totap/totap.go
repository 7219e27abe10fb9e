// Package totap sends the frames of a capture out of a tap device, as
// tcpreplay does: at the recorded pace times a multiplier, at a fixed bit or
// frame rate, or as fast as the device takes them (see Rate and Pacer),
// once or in loops, up to a frame limit or a duration, with addresses
// rewritten on the way as tcprewrite does (see Rewriter). Frames without an
// Ethernet header (raw IP, Linux cooked captures) are given one, from
// SourceMAC to the broadcast address, so the kernel on the tap accepts them.
package totap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/replay/input"
)

// SourceMAC is the source address of the Ethernet header given to frames
// captured without one.
var SourceMAC = ether.Addr{0x02, 0x73, 0x6e, 0x00, 0x00, 0x03}

// Stats counts what a replay sent.
type Stats struct {
	// Frames and Bytes count frames written to the device whole.
	Frames int   `json:"frames"`
	Bytes  int64 `json:"bytes"`
	// Errors counts frames the device refused (too long for its MTU, or a
	// write error); Skipped frames the reader could not frame.
	Errors  int `json:"errors"`
	Skipped int `json:"skipped"`
	// Passes counts the passes over the capture begun (--loop).
	Passes int `json:"passes"`
	// Duration is the wall-clock time the replay took.
	Duration time.Duration `json:"duration"`
	// MaxLate and MeanLate measure the pacing: how long after its
	// deadline a paced frame was handed to the device, at worst and on
	// average (0 at topspeed, where nothing is paced).
	MaxLate  time.Duration `json:"max_late"`
	MeanLate time.Duration `json:"mean_late"`

	lateSum time.Duration
	paced   int
}

// PPS returns the frames sent per second of Duration.
func (s Stats) PPS() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Frames) / s.Duration.Seconds()
}

// Mbps returns the megabits (10^6 bits) of frame bytes sent per second.
func (s Stats) Mbps() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Bytes) * 8 / 1e6 / s.Duration.Seconds()
}

// Options say how a replay paces, repeats, stops and rewrites.
type Options struct {
	// Rate is the pace (the zero value: the recorded pace).
	Rate Rate
	// Loop is the number of passes over the capture; 0 repeats until
	// Limit, Duration or the context ends it (tcpreplay --loop 0). Callers
	// wanting one pass set 1.
	Loop int
	// Limit, when positive, stops after this many frames sent
	// (tcpreplay --limit).
	Limit int
	// Duration, when positive, stops the replay after this much
	// wall-clock time (tcpreplay --duration).
	Duration time.Duration
	// Rewrite edits each frame before it is sent; nil sends frames as
	// recorded.
	Rewrite *Rewriter
	// StatsEvery, when positive, calls OnStats with the running totals at
	// this interval (tcpreplay --stats).
	StatsEvery time.Duration
	// OnStats receives the running totals.
	OnStats func(Stats)
}

// Source opens the capture for one pass; Replay calls it once per pass.
type Source func() (*input.Reader, error)

// Sender is where frames go: a tap endpoint, or anything else with Send.
type Sender interface {
	Send(frame []byte) link.Note
}

// replayer is the state of one Replay.
type replayer struct {
	ctx       context.Context
	out       Sender
	o         Options
	p         Pacer
	st        Stats
	start     time.Time
	nextStats time.Time
	timer     *time.Timer
	buf       []byte
}

// errStop ends a replay that reached its limit or duration.
var errStop = errors.New("stop")

// Replay sends the frames of the capture src opens to out, as o says. It
// returns the stats and nil when the passes, the limit or the duration are
// done, or the error that stopped it (a *input.TruncatedError after sending
// what came before the break, or the context's error).
func Replay(ctx context.Context, src Source, out Sender, o Options) (Stats, error) {
	if err := o.Rate.Validate(); err != nil {
		return Stats{}, fmt.Errorf("replay to tap: %w", err)
	}
	r := &replayer{ctx: ctx, out: out, o: o, p: Pacer{Rate: o.Rate}, start: time.Now()}
	r.nextStats = r.start.Add(o.StatsEvery)
	r.timer = time.NewTimer(time.Hour)
	r.timer.Stop()
	defer r.timer.Stop()
	var err error
	for pass := 0; o.Loop <= 0 || pass < o.Loop; pass++ {
		if pass > 0 {
			r.p.NextPass()
		}
		var sent int
		sent, err = r.pass(src)
		if err != nil || sent == 0 {
			break // a capture with nothing to send would loop for ever
		}
	}
	r.st.Duration = time.Since(r.start)
	if r.st.paced > 0 {
		r.st.MeanLate = r.st.lateSum / time.Duration(r.st.paced)
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	return r.st, err
}

// pass sends the capture once and returns how many frames it sent.
func (r *replayer) pass(src Source) (int, error) {
	in, err := src()
	if err != nil {
		return 0, fmt.Errorf("replay to tap: %w", err)
	}
	defer in.Close()
	r.st.Passes++
	sent := 0
	var f input.Frame
	for {
		err := in.Next(&f)
		if err == io.EOF {
			return sent, nil
		}
		var fe *input.FrameError
		if err != nil && !errors.As(err, &fe) {
			return sent, fmt.Errorf("replay to tap: %w", err)
		}
		if err != nil {
			r.st.Skipped++
			continue
		}
		frame := r.frame(&f)
		if frame == nil {
			r.st.Skipped++
			continue
		}
		if err := r.waitFor(&f, len(frame)); err != nil {
			return sent, err
		}
		r.o.Rewrite.Rewrite(frame)
		if note := r.out.Send(frame); note.Dropped() {
			r.st.Errors++
		} else {
			r.st.Frames++
			r.st.Bytes += int64(len(frame))
			sent++
		}
		if r.o.Limit > 0 && r.st.Frames >= r.o.Limit {
			return sent, errStop
		}
	}
}

// frame returns the bytes to send for f: its own Ethernet frame, or the
// network bytes behind an Ethernet header of ours; nil when the frame has
// no known network protocol. The rewriter may edit the result in place:
// it is the reader's buffer or ours, and each pass reads the file anew.
func (r *replayer) frame(f *input.Frame) []byte {
	if f.Ether != nil {
		return f.Data
	}
	if f.Proto == 0 {
		return nil
	}
	n := ether.HeaderLen + len(f.Network)
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	ether.Encode(b, ether.Broadcast, SourceMAC, f.Proto)
	copy(b[ether.HeaderLen:], f.Network)
	return b
}

// waitFor waits until the frame f of size bytes is due, reporting stats on
// the way; it returns errStop when the duration ends first, or the
// context's error.
func (r *replayer) waitFor(f *input.Frame, size int) error {
	off := r.p.Offset(f.Time, size)
	deadline := r.start.Add(off)
	end := time.Time{}
	if r.o.Duration > 0 {
		end = r.start.Add(r.o.Duration)
	}
	if r.o.Rate.Topspeed {
		// Nothing to wait for: look at the clock and the context only
		// every few frames, so they cost nothing per frame.
		if r.st.Frames&63 != 0 {
			return nil
		}
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("replay to tap: %w", err)
		}
		now := time.Now()
		r.stats(now)
		if !end.IsZero() && !now.Before(end) {
			return errStop
		}
		return nil
	}
	for {
		now := time.Now()
		r.stats(now)
		if !end.IsZero() && !now.Before(end) {
			return errStop
		}
		if !now.Before(deadline) {
			late := now.Sub(deadline)
			r.st.paced++
			r.st.lateSum += late
			r.st.MaxLate = max(r.st.MaxLate, late)
			return nil
		}
		wake := deadline
		if r.o.StatsEvery > 0 && r.nextStats.Before(wake) {
			wake = r.nextStats
		}
		if !end.IsZero() && end.Before(wake) {
			wake = end
		}
		r.timer.Reset(wake.Sub(now))
		select {
		case <-r.ctx.Done():
			r.timer.Stop()
			return fmt.Errorf("replay to tap: %w", r.ctx.Err())
		case <-r.timer.C:
		}
	}
}

// stats calls OnStats when an interval has passed.
func (r *replayer) stats(now time.Time) {
	if r.o.StatsEvery <= 0 || r.o.OnStats == nil || now.Before(r.nextStats) {
		return
	}
	st := r.st
	st.Duration = now.Sub(r.start)
	if st.paced > 0 {
		st.MeanLate = st.lateSum / time.Duration(st.paced)
	}
	r.o.OnStats(st)
	for !now.Before(r.nextStats) {
		r.nextStats = r.nextStats.Add(r.o.StatsEvery)
	}
}

// ToTap opens the existing tap device name and replays the capture at path
// out of it as o says. A missing device gives an error wrapping
// tap.ErrNotFound.
func ToTap(ctx context.Context, path, name string, o Options) (Stats, error) {
	src := func() (*input.Reader, error) { return input.Open(path) }
	// Open the capture once first, so a bad file is reported before the
	// device is touched.
	r, err := src()
	if err != nil {
		return Stats{}, fmt.Errorf("replay to tap: %w", err)
	}
	_ = r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := loop.New()
	ep, err := tap.Open(l, tap.Config{Name: name})
	if err != nil {
		return Stats{}, fmt.Errorf("replay to tap: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = l.Run(ctx)
		close(done)
	}()
	// The whole replay runs on the loop goroutine, where the endpoint's
	// Send belongs, without a hand-off per frame.
	var st Stats
	var rerr error
	callErr := l.Call(ctx, func() { st, rerr = Replay(ctx, src, ep, o) })
	cancel()
	<-done // the loop has returned: the call ran to its end or never ran
	if callErr != nil && rerr == nil {
		rerr = fmt.Errorf("replay to tap: %w", callErr)
	}
	if cerr := ep.Close(); cerr != nil && rerr == nil {
		rerr = fmt.Errorf("replay to tap: close %s: %w", name, cerr)
	}
	return st, rerr
}
