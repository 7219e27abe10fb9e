// Package totap sends the frames of a capture out of a tap device at their
// recorded pace, as tcpreplay does: frame i leaves at
// start + (t_i - t_0) / speed of wall-clock time, or back to back when speed
// is 0. Frames without an Ethernet header (raw IP, Linux cooked captures)
// are given one, from SourceMAC to the broadcast address, so the kernel on
// the tap accepts them.
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
	// Duration is the wall-clock time the replay took.
	Duration time.Duration `json:"duration"`
}

// Pacer computes when each frame is due: frame times are offsets from the
// first frame, divided by Speed, added to the wall-clock start.
type Pacer struct {
	// Speed multiplies the recorded pace; 0 sends as fast as possible.
	Speed float64
	first time.Time
	start time.Time
	begun bool
}

// Due returns how long to wait, at wall-clock instant now, before sending
// a frame recorded at t. Timestamps that go backwards are due at once.
func (p *Pacer) Due(t, now time.Time) time.Duration {
	if !p.begun {
		p.first, p.start, p.begun = t, now, true
		return 0
	}
	if p.Speed <= 0 {
		return 0
	}
	off := t.Sub(p.first)
	if off <= 0 {
		return 0
	}
	at := p.start.Add(time.Duration(float64(off) / p.Speed))
	if d := at.Sub(now); d > 0 {
		return d
	}
	return 0
}

// Sender is where frames go: a tap endpoint, or anything else with Send.
type Sender interface {
	Send(frame []byte) link.Note
}

// Replay sends every frame of r to out at the pace p sets, sleeping with
// sleep (time.Sleep in production; ctx cancels). It returns the stats and
// nil at the end of the capture, or the error that stopped it (a
// *input.TruncatedError after sending what came before the break).
func Replay(ctx context.Context, r *input.Reader, out Sender, p *Pacer) (Stats, error) {
	var st Stats
	begin := time.Now()
	var f input.Frame
	var buf []byte
	for {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		var fe *input.FrameError
		if err != nil && !errors.As(err, &fe) {
			st.Duration = time.Since(begin)
			return st, fmt.Errorf("replay to tap: %w", err)
		}
		if err != nil {
			st.Skipped++
			continue
		}
		if d := p.Due(f.Time, time.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				st.Duration = time.Since(begin)
				return st, fmt.Errorf("replay to tap: %w", ctx.Err())
			case <-t.C:
			}
		}
		frame := f.Data
		if f.Ether == nil {
			if f.Proto == 0 {
				st.Skipped++
				continue
			}
			if n := ether.HeaderLen + len(f.Network); cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:ether.HeaderLen+len(f.Network)]
			ether.Encode(buf, ether.Broadcast, SourceMAC, f.Proto)
			copy(buf[ether.HeaderLen:], f.Network)
			frame = buf
		}
		if note := out.Send(frame); note.Dropped() {
			st.Errors++
			continue
		}
		st.Frames++
		st.Bytes += int64(len(frame))
	}
	st.Duration = time.Since(begin)
	return st, nil
}

// loopSender sends on a tap endpoint from its loop goroutine.
type loopSender struct {
	ctx context.Context
	l   *loop.Loop
	ep  *tap.Endpoint
}

// Send hands the frame to the loop and waits for the write.
func (s *loopSender) Send(frame []byte) link.Note {
	var note link.Note
	if err := s.l.Call(s.ctx, func() { note = s.ep.Send(frame) }); err != nil {
		return link.Note{Drop: link.DropError}
	}
	return note
}

// ErrOpen is wrapped by ToTap's error when the capture or the device could
// not be opened, so nothing was sent.
var ErrOpen = errors.New("cannot start")

// ToTap opens the existing tap device name and replays the capture at path
// out of it at speed. When the capture or the device cannot be opened, the
// error wraps ErrOpen (and the cause).
func ToTap(ctx context.Context, path, name string, speed float64) (Stats, error) {
	r, err := input.Open(path)
	if err != nil {
		return Stats{}, &openError{fmt.Errorf("replay to tap: %w", err)}
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := loop.New()
	ep, err := tap.Open(l, tap.Config{Name: name})
	if err != nil {
		return Stats{}, &openError{fmt.Errorf("replay to tap: %w", err)}
	}
	done := make(chan struct{})
	go func() {
		_ = l.Run(ctx)
		close(done)
	}()
	st, rerr := Replay(ctx, r, &loopSender{ctx: ctx, l: l, ep: ep}, &Pacer{Speed: speed})
	cancel()
	<-done
	if cerr := ep.Close(); cerr != nil && rerr == nil {
		rerr = fmt.Errorf("replay to tap: close %s: %w", name, cerr)
	}
	return st, rerr
}

// openError marks an error that kept ToTap from starting; it reads as the
// wrapped error alone and matches ErrOpen.
type openError struct{ err error }

func (e *openError) Error() string        { return e.err.Error() }
func (e *openError) Unwrap() error        { return e.err }
func (e *openError) Is(target error) bool { return target == ErrOpen }
