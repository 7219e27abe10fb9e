package totap

import (
	"fmt"
	"time"
)

// Rate says how fast frames leave, in tcpreplay's vocabulary. At most one
// of Multiplier, Mbps, PPS and Topspeed is set (Validate checks); all zero
// sends at the recorded pace.
type Rate struct {
	// Multiplier scales the recorded pace: 2 sends twice as fast
	// (tcpreplay --multiplier). 0 means 1.
	Multiplier float64
	// Mbps sends at this many megabits (10^6 bits) per second of frame
	// bytes, whatever the timestamps say (tcpreplay --mbps).
	Mbps float64
	// PPS sends this many frames per second (tcpreplay --pps).
	PPS float64
	// Topspeed sends back to back, as fast as the device takes them
	// (tcpreplay --topspeed).
	Topspeed bool
}

// Validate returns an error when the rate is negative or names more than
// one way of pacing.
func (r Rate) Validate() error {
	n := 0
	for _, v := range []struct {
		name string
		v    float64
	}{{"multiplier", r.Multiplier}, {"mbps", r.Mbps}, {"pps", r.PPS}} {
		if v.v < 0 {
			return fmt.Errorf("--%s must be positive, not %v", v.name, v.v)
		}
		if v.v > 0 {
			n++
		}
	}
	if r.Topspeed {
		n++
	}
	if n > 1 {
		return fmt.Errorf("--multiplier, --mbps, --pps and --topspeed exclude each other")
	}
	return nil
}

// String describes the rate for the summary.
func (r Rate) String() string {
	switch {
	case r.Topspeed:
		return "topspeed"
	case r.Mbps > 0:
		return fmt.Sprintf("%g Mbps", r.Mbps)
	case r.PPS > 0:
		return fmt.Sprintf("%g pps", r.PPS)
	case r.Multiplier > 0 && r.Multiplier != 1:
		return fmt.Sprintf("recorded pace x%g", r.Multiplier)
	}
	return "recorded pace"
}

// Pacer gives every frame an absolute deadline, an offset from the
// wall-clock start of the replay, so that late wake-ups never accumulate
// into drift: a frame sent late makes the next wait shorter, not the whole
// schedule later.
//
//   - recorded pace: deadline = base + (t - t_first) / Multiplier, where
//     base is where the current loop began (timestamps that go backwards
//     are due with the frame before);
//   - Mbps: deadline = (bits of all earlier frames) / rate;
//   - PPS: deadline = (number of earlier frames) / rate;
//   - Topspeed: every frame is due at once.
type Pacer struct {
	// Rate is the pace; its zero value is the recorded pace.
	Rate Rate

	begun   bool
	newPass bool
	first   time.Time     // timestamp of the current pass's first frame
	base    time.Duration // offset of the current pass's first frame
	last    time.Duration // the latest deadline given
	bits    float64       // bits of the frames scheduled so far
	frames  float64       // frames scheduled so far
}

// NextPass tells the pacer that the capture starts again (--loop): in
// recorded-pace mode the next pass's first frame is due right after the
// last frame of the pass before.
func (p *Pacer) NextPass() { p.newPass = true }

// Offset returns the deadline of the next frame, recorded at t and size
// bytes long, as an offset from the start of the replay. Call it once per
// frame, in order.
func (p *Pacer) Offset(t time.Time, size int) time.Duration {
	var off time.Duration
	switch r := p.Rate; {
	case r.Topspeed:
		off = 0
	case r.Mbps > 0:
		// bits / (Mbps * 10^6) seconds = bits * 1000 / Mbps nanoseconds.
		off = time.Duration(p.bits * 1e3 / r.Mbps)
	case r.PPS > 0:
		off = time.Duration(p.frames * 1e9 / r.PPS)
	default:
		m := r.Multiplier
		if m <= 0 {
			m = 1
		}
		if !p.begun || p.newPass {
			p.first, p.base = t, p.last
		}
		off = p.base + time.Duration(float64(t.Sub(p.first))/m)
		if off < p.last {
			off = p.last
		}
	}
	p.begun, p.newPass = true, false
	p.bits += float64(size) * 8
	p.frames++
	p.last = off
	return off
}

// Due returns how long to wait, at wall-clock instant now, before sending
// the next frame (recorded at t, size bytes long) of a replay that started
// at start; 0 when it is due or late.
func (p *Pacer) Due(t time.Time, size int, start, now time.Time) time.Duration {
	if d := start.Add(p.Offset(t, size)).Sub(now); d > 0 {
		return d
	}
	return 0
}
