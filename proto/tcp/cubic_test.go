package tcp

import (
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/stretchr/testify/assert"
)

// RFC 9438 section 4.3: in the Reno-friendly region the window grows by
// alpha_cubic = 3(1-beta)/(1+beta) ~ 0.53 segments per RTT until the
// estimate is back at the window of the last reduction (cwnd_prior), and
// by one segment per RTT (Reno's AIMD(1, 0.5) rate) after it.
func TestCUBICRenoFriendlyAlpha(t *testing.T) {
	t.Parallel()
	const mss = 1000
	const rtt = 10 * time.Millisecond
	cu := &CUBIC{}
	s := CCState{Cwnd: 20 * mss, Ssthresh: 1 << 30, MSS: mss, SRTT: rtt}
	cu.OnCongestion(&s, 20*mss, 0)
	now := clock.Time(0)
	// round acknowledges one window, one segment per ACK, and advances
	// the clock by an RTT; it returns the growth in segments.
	round := func() float64 {
		before := s.Cwnd
		for i := 0; i < before/mss; i++ {
			cu.OnAck(&s, mss, s.Cwnd, now)
		}
		now = now.Add(rtt)
		return float64(s.Cwnd-before) / mss
	}
	early := 0.0
	for i := 0; i < 8; i++ {
		early += round()
	}
	assert.InDelta(t, 8*0.53, early, 1, "alpha_cubic below cwnd_prior")
	for float64(s.Cwnd)/mss < 21 {
		round()
	}
	late := 0.0
	for i := 0; i < 8; i++ {
		late += round()
	}
	assert.InDelta(t, 8, late, 1.2, "alpha 1 past cwnd_prior")
}
