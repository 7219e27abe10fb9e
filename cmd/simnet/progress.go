package main

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progressDelay is how long a run goes before its progress line appears,
// and progressEvery how often the line is redrawn.
const (
	progressDelay = time.Second
	progressEvery = 250 * time.Millisecond
)

// isTerminal reports whether w is a terminal (a character device), where a
// progress line redrawn in place makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine draws "simulated 12.3s / 60s (20%), 1.2M events/s, 35x real
// time" on one line of w, redrawn in place, once the run has taken longer
// than progressDelay of wall time. The world calls it from the goroutine
// running it; it reads the wall clock (the world does not).
type progressLine struct {
	w             io.Writer
	start, last   time.Time
	lastEvents    uint64
	lastSimulated time.Duration
	drawn         bool
	now           func() time.Time
}

// newProgressLine returns a progress line on w, or nil when w is not a
// terminal or quiet is set (the run then pays nothing for it).
func newProgressLine(w io.Writer, quiet bool) *progressLine {
	if quiet || !isTerminal(w) {
		return nil
	}
	return &progressLine{w: w, now: time.Now}
}

// update is scenario.Options.Progress.
func (p *progressLine) update(elapsed, duration time.Duration, events uint64) {
	now := p.now()
	if p.start.IsZero() {
		p.start, p.last = now, now
		return
	}
	if now.Sub(p.start) < progressDelay || now.Sub(p.last) < progressEvery {
		return
	}
	wall := now.Sub(p.last)
	rate := float64(events-p.lastEvents) / wall.Seconds()
	speed := (elapsed - p.lastSimulated).Seconds() / wall.Seconds()
	pct := 0.0
	if duration > 0 {
		pct = 100 * float64(elapsed) / float64(duration)
	}
	fmt.Fprintf(p.w, "\r\033[Ksimulated %v / %v (%.0f%%), %s events/s, %.3gx real time",
		elapsed.Round(time.Millisecond), duration, pct, si(rate), speed)
	p.drawn = true
	p.last, p.lastEvents, p.lastSimulated = now, events, elapsed
}

// done clears the line, if it was drawn.
func (p *progressLine) done() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// si renders v with a k or M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
