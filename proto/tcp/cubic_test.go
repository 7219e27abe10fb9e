package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// RFC 9438 section 4.3: in the Reno-friendly region (W_cubic(t) < W_est)
// cwnd is set to W_est on every ACK. After a SACK recovery, one window of
// ACKs (one segment each) must grow cwnd by alpha_cubic ~ 0.53 segments;
// approaching W_est by (W_est-cwnd)/cwnd per segment, as before, trails it
// and grows only about 0.2 segments in that round.
func TestCUBICRenoFriendlyCwndIsWEst(t *testing.T) {
	t.Parallel()
	r, _ := tsConn(t, Config{})
	mss := r.conn.mss
	_, err := r.conn.Write(bytes.Repeat([]byte{'c'}, 60*mss))
	require.NoError(t, err)
	var segs []seg
	for len(r.net.Out) > 0 {
		segs = append(segs, r.take())
	}
	require.Len(t, segs, 10, "initial window")
	// Segment 0 lost, 1..4 SACKed: recovery, then a full ACK ends it.
	o := r.ts(0)
	o.SACK[0] = SACKBlock{uint32(segs[1].seq()), uint32(segs[5].seq())}
	o.NumSACK = 1
	r.ackWith(segs[0].seq(), o)
	require.True(t, r.conn.inRecovery)
	r.drain()
	r.ackWith(r.conn.sndMax, r.ts(0))
	require.False(t, r.conn.inRecovery)
	cw0 := r.conn.ccs.Cwnd
	require.Equal(t, r.conn.ccs.Ssthresh, cw0, "congestion avoidance from ssthresh")
	// One round: as many one-segment ACKs as cwnd holds segments.
	r.drain()
	una := r.conn.sndUna
	for i := 0; i < cw0/mss; i++ {
		una = una.add(mss)
		r.ackWith(una, r.ts(0))
		r.drain()
		cu := r.conn.cc.(*CUBIC)
		require.Equal(t, int(cu.wEst*float64(mss)), r.conn.ccs.Cwnd, "cwnd = W_est after ACK %d", i)
	}
	assert.GreaterOrEqual(t, r.conn.ccs.Cwnd-cw0, mss/2, "about alpha_cubic segments per round")
}
