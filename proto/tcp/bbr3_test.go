package tcp

import (
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bbrDriver feeds BBR crafted ACKs (rate samples) of a path with a fixed
// bottleneck rate and RTT: each round trip delivers the flight in ACKs
// of two segments, the first of which starts BBR's next round (its
// segment left after the previous round began, draft section 5.5.1).
type bbrDriver struct {
	t         *testing.T
	b         *BBR
	s         CCState
	now       clock.Time
	delivered int64
	lost      int64
	rate      float64 // bytes per second
	rtt       time.Duration
	recover   bool
}

const bbrTestMSS = 1000

func newBBRDriver(t *testing.T, rate float64, rtt time.Duration) *bbrDriver {
	d := &bbrDriver{t: t, b: &BBR{sackOK: true}, now: clock.Time(1_000_000_000), rate: rate, rtt: rtt}
	d.s = CCState{Cwnd: 10 * bbrTestMSS, Ssthresh: 1 << 30, MSS: bbrTestMSS, SRTT: rtt, MinRTT: rtt}
	d.b.setup(&d.s, d.now)
	return d
}

// bdp is the path's bandwidth-delay product in bytes.
func (d *bbrDriver) bdp() int { return int(d.rate * d.rtt.Seconds()) }

// ack delivers one ACK of n bytes whose segment left with txInFlight in
// flight; first makes it the first ACK of a round. inFlight is the flight
// after it.
func (d *bbrDriver) ack(n int, first bool, txInFlight, inFlight int, rate float64, rtt time.Duration) {
	prior := d.b.nextRoundDelivered - 1
	if first {
		prior = d.b.nextRoundDelivered
	}
	d.delivered += int64(n)
	rs := RateSample{DeliveryRate: rate, Delivered: int64(rate * d.rtt.Seconds()), Interval: d.rtt,
		PriorDelivered: prior, TotalDelivered: d.delivered, NewlyDelivered: n, RTT: rtt,
		TxInFlight: txInFlight, Valid: true}
	cwndLimited := inFlight+n+d.s.MSS > d.b.cwnd
	d.b.Update(&d.s, &rs, inFlight, d.recover, cwndLimited, d.now)
}

// round runs one round trip at the given delivery rate and RTT. The
// flight is the window in Startup (a queue builds) and pacing_gain x BDP
// otherwise (paced), capped by the window; it returns the flight.
func (d *bbrDriver) round(rate float64, rtt time.Duration) int {
	flight := d.b.cwnd
	if d.b.state != BBRStartup {
		flight = min(flight, int(d.b.pacingGain*float64(d.bdp())))
	}
	if d.b.state == BBRProbeBWDown {
		flight = min(flight, d.b.inflightWithHeadroom()) // DOWN drains to the headroom
	}
	flight = max(flight, 2*bbrTestMSS)
	k := max(flight/(2*bbrTestMSS), 1)
	step := rtt / time.Duration(k)
	for i := range k {
		d.now = d.now.Add(step)
		d.ack(2*bbrTestMSS, i == 0, flight, min(d.b.cwnd, flight), rate, rtt)
	}
	return flight
}

// rounds runs n rounds at the path's rate and RTT.
func (d *bbrDriver) rounds(n int) {
	for range n {
		d.round(d.rate, d.rtt)
	}
}

// until runs rounds until BBR is in mode m, at most limit rounds.
func (d *bbrDriver) until(m BBRMode, limit int) {
	d.t.Helper()
	for i := 0; i < limit && d.b.state != m; i++ {
		d.round(d.rate, d.rtt)
	}
	require.Equal(d.t, m, d.b.state, "BBR reaches %v within %d rounds", m, limit)
}

// lose tells BBR that the connection resent n bytes at seq, sent with
// txInFlight in flight.
func (d *bbrDriver) lose(seq seqnum, n, txInFlight int) {
	d.lost += int64(n)
	d.b.onLost(seq, seq.add(n), n, txInFlight, int64(n), false)
}

// TestBBRv3StartupExits checks both ways out of Startup (draft section
// 5.3.1): three rounds without 25% bandwidth growth, and a round in
// recovery whose loss rate exceeds 2% over at least six discontiguous
// lost ranges, which also sets inflight_longterm; five ranges or a loss
// rate of 2% do not end Startup.
func TestBBRv3StartupExits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		runs      int // discontiguous lost ranges in the recovery round
		each      int // bytes per range
		wantDrain bool
		wantLong  bool
	}{
		{"plateau", 0, 0, true, false},
		{"six ranges above 2%", 6, 2 * bbrTestMSS, true, true},
		{"five ranges", 5, 3 * bbrTestMSS, false, false},
		{"six ranges at 1%", 6, 40, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newBBRDriver(t, 1.25e6, 40*time.Millisecond) // 10 Mbit/s, BDP 50 kB
			assert.Equal(t, BBRStartup, d.b.state)
			assert.InDelta(t, 2.77, d.b.pacingGain, 1e-9, "Startup pacing gain")
			assert.InDelta(t, 2.0, d.b.cwndGain, 1e-9, "Startup cwnd gain")
			if tc.runs == 0 {
				// The delivery rate doubles for a while, then stays.
				for r := 1; r <= 4; r++ {
					d.round(d.rate/float64(int(1)<<(4-r)), d.rtt)
				}
				assert.Equal(t, BBRStartup, d.b.state, "bandwidth still growing")
				d.rounds(3)
				assert.Equal(t, BBRDrain, d.b.state, "three rounds without growth")
				assert.True(t, d.b.fullBwReached)
				assert.InDelta(t, 0.5, d.b.pacingGain, 1e-9, "Drain pacing gain")
				assert.Equal(t, bbrInf, d.b.inflightLong)
				return
			}
			// Growing bandwidth (no plateau), then a round in recovery with
			// losses, then the round that ends it.
			d.round(d.rate/8, d.rtt)
			d.round(d.rate/4, d.rtt)
			d.recover = true
			d.b.OnCongestion(&d.s, d.b.cwnd, d.now)
			d.round(d.rate/2, d.rtt)
			for i := range tc.runs {
				d.lose(seqnum(1000+10000*i), tc.each, d.b.cwnd)
			}
			d.round(d.rate, d.rtt)
			d.round(d.rate, d.rtt) // the lossy round ends here
			if !tc.wantDrain {
				assert.Equal(t, BBRStartup, d.b.state, "prev round lost %d of %d in %d ranges", d.b.prevLost, d.b.prevDelivered, d.b.prevLostRuns)
				return
			}
			assert.Contains(t, []BBRMode{BBRDrain, BBRProbeBWDown, BBRProbeBWCruise}, d.b.state, "left Startup")
			assert.True(t, d.b.fullBwReached)
			assert.Less(t, d.b.inflightLong, bbrInf, "inflight_longterm set")
			assert.GreaterOrEqual(t, d.b.inflightLong, int(d.b.bdpMultiple(1)), "inflight_longterm >= BDP")
		})
	}
}

// TestBBRv3ProbeBWCycle walks the ProbeBW cycle (draft section 5.3.3):
// Drain ends at one BDP in flight into DOWN (pacing gain 0.9), DOWN
// cruises once the flight is at most the BDP (1.0), CRUISE refills after
// the Reno-coexistence rounds or the 2-3 s wait with the short-term model
// reset, REFILL lasts one round, UP paces at 1.25 with cwnd gain 2.25 and
// ends at a bandwidth plateau, back in DOWN.
func TestBBRv3ProbeBWCycle(t *testing.T) {
	t.Parallel()
	d := newBBRDriver(t, 1.25e6, 40*time.Millisecond)
	d.until(BBRDrain, 20)
	// Drain: the flight is still two BDPs, then drops to one.
	d.ack(2*bbrTestMSS, false, 2*d.bdp(), 2*d.bdp(), d.rate, d.rtt)
	assert.Equal(t, BBRDrain, d.b.state, "Drain holds while the flight is above the BDP")
	d.ack(2*bbrTestMSS, false, 2*d.bdp(), d.bdp()/2, d.rate, d.rtt)
	require.True(t, d.b.state.IsProbeBW(), "Drain ends at one BDP")
	// With the flight at the BDP, DOWN cruises at once.
	assert.Equal(t, BBRProbeBWCruise, d.b.state)
	assert.InDelta(t, 1.0, d.b.pacingGain, 1e-9)
	// Make the short-term model finite to see REFILL reset it.
	d.b.bwShort, d.b.inflightShort = d.rate, 40*bbrTestMSS
	seen := map[BBRMode]bool{}
	var upPacing, upCwnd float64
	for i := 0; i < 200 && !(seen[BBRProbeBWUp] && d.b.state == BBRProbeBWDown); i++ {
		d.round(d.rate, d.rtt)
		seen[d.b.state] = true
		switch d.b.state {
		case BBRProbeBWRefill:
			assert.Equal(t, bbrInf, d.b.inflightShort, "REFILL resets inflight_shortterm")
			assert.InDelta(t, 1.0, d.b.pacingGain, 1e-9)
		case BBRProbeBWUp:
			upPacing, upCwnd = d.b.pacingGain, d.b.cwndGain
		}
	}
	assert.True(t, seen[BBRProbeBWRefill], "REFILL")
	assert.True(t, seen[BBRProbeBWUp], "UP")
	assert.Equal(t, BBRProbeBWDown, d.b.state, "UP ends at the bandwidth plateau")
	assert.InDelta(t, 1.25, upPacing, 1e-9, "UP pacing gain")
	assert.InDelta(t, 2.25, upCwnd, 1e-9, "UP cwnd gain")
	assert.InDelta(t, 0.9, d.b.pacingGain, 1e-9, "DOWN pacing gain")
	// The max_bw filter advanced by a ProbeBW cycle.
	assert.Positive(t, d.b.cycleCount)
	assert.InEpsilon(t, d.rate, d.b.MaxBw(), 0.01)
}

// probeBWDriver is a driver in ProbeBW_UP with the bandwidth estimated
// and the loss bounds unset.
func probeBWDriver(t *testing.T) *bbrDriver {
	d := newBBRDriver(t, 1.25e6, 40*time.Millisecond)
	d.until(BBRDrain, 20)
	d.ack(2*bbrTestMSS, false, d.bdp(), d.bdp()/2, d.rate, d.rtt)
	d.until(BBRProbeBWUp, 200)
	require.True(t, d.b.isBwProbeSample)
	return d
}

// TestBBRv3InflightTooHigh checks the long-term bound (draft section
// 5.5.10.2): in ProbeBW_UP, losses above BBRLossThresh (2%) of the flight
// the lost segment left with set inflight_longterm to the flight at
// which the loss rate crossed 2% (at least beta x the target), record
// that the probe went too high and go DOWN; 2% or less does nothing.
func TestBBRv3InflightTooHigh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		lostPct float64
		tooHigh bool
	}{
		{"1%", 0.01, false},
		{"2%", 0.02, false},
		{"5%", 0.05, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := probeBWDriver(t)
			tx := 100 * bbrTestMSS
			lost := int(tc.lostPct * float64(tx))
			d.b.onLost(1000, seqnum(1000+lost), lost, tx, int64(lost), false)
			if !tc.tooHigh {
				assert.True(t, d.b.lossInRound, "the round saw loss")
				assert.Equal(t, BBRProbeBWUp, d.b.state)
				assert.Equal(t, bbrInf, d.b.inflightLong)
				return
			}
			assert.Equal(t, BBRProbeBWDown, d.b.state)
			assert.True(t, d.b.prevProbeTooHigh)
			assert.False(t, d.b.isBwProbeSample, "one reaction per probe")
			// InflightAtLoss: (0.02 x prev - (lost - size)) / 0.98 + prev,
			// with prev = tx - size: the flight where the rate hit 2%.
			prev := float64(tx - lost)
			want := max(int(prev+(0.02*prev)/0.98), int(0.7*d.b.targetInflight()))
			assert.InDelta(t, want, d.b.inflightLong, 2)
			// The bound caps the window in DOWN, and CRUISE leaves 15% of
			// it free (section 5.3.3.1, BBRHeadroom).
			d.round(d.rate, d.rtt)
			assert.LessOrEqual(t, d.b.cwnd, max(d.b.inflightLong, bbrMinPipeSegs*bbrTestMSS))
			d.until(BBRProbeBWCruise, 50)
			assert.LessOrEqual(t, d.b.cwnd, d.b.inflightLong-int(0.15*float64(d.b.inflightLong)))
		})
	}
}

// TestBBRv3PrecautionaryProbe checks section 5.3.3.6: after a probe went
// too high, the next ProbeBW_UP goes DOWN as soon as the flight reaches
// inflight_longterm.
func TestBBRv3PrecautionaryProbe(t *testing.T) {
	t.Parallel()
	d := probeBWDriver(t)
	tx := 60 * bbrTestMSS
	d.b.onLost(1000, 1000+5*bbrTestMSS, 5*bbrTestMSS, tx, 5*bbrTestMSS, false)
	require.Equal(t, BBRProbeBWDown, d.b.state)
	long := d.b.inflightLong
	d.until(BBRProbeBWUp, 200)
	d.ack(2*bbrTestMSS, false, long, long, d.rate, d.rtt)
	assert.Equal(t, BBRProbeBWDown, d.b.state, "UP stops at inflight_longterm")
	assert.True(t, d.b.prevProbePrecaut)
}

// TestBBRv3ShortTermBounds checks section 5.5.10.3: outside a probe, the
// end of a round with loss lowers bw_shortterm and inflight_shortterm to
// max(latest, 0.7 x bound), which cap the pacing rate and the window.
func TestBBRv3ShortTermBounds(t *testing.T) {
	t.Parallel()
	d := newBBRDriver(t, 1.25e6, 40*time.Millisecond)
	d.until(BBRDrain, 20)
	d.ack(2*bbrTestMSS, false, d.bdp(), d.bdp()/2, d.rate, d.rtt)
	require.Equal(t, BBRProbeBWCruise, d.b.state)
	cwnd := d.b.cwnd
	// A lossy round delivering at half the rate.
	d.lose(5000, bbrTestMSS, d.bdp())
	d.round(d.rate/2, d.rtt)
	d.round(d.rate/2, d.rtt)
	require.Less(t, d.b.bwShort, d.rate, "bw_shortterm lowered")
	assert.InEpsilon(t, 0.7*d.rate, d.b.bwShort, 0.01, "bw_shortterm = max(bw_latest, 0.7 x max_bw)")
	assert.InEpsilon(t, int(0.7*float64(cwnd)), d.b.inflightShort, 0.05, "inflight_shortterm = 0.7 x cwnd")
	assert.InEpsilon(t, d.b.bwShort, d.b.bw, 1e-9, "bw = min(max_bw, bw_shortterm)")
	assert.LessOrEqual(t, d.b.cwnd, d.b.inflightShort, "the window obeys inflight_shortterm")
	assert.InEpsilon(t, 0.99*d.b.bwShort, d.b.pacingRate, 0.01, "paced at bw_shortterm")
	// A round without loss leaves them; REFILL resets them.
	bs := d.b.bwShort
	d.round(d.rate, d.rtt)
	assert.InDelta(t, bs, d.b.bwShort, 1e-6)
	d.until(BBRProbeBWRefill, 200)
	assert.Equal(t, bbrInf, d.b.inflightShort)
}

// TestBBRv3ProbeRTT checks section 5.3.4: without a lower RTT sample for
// 5 s, BBR enters ProbeRTT with cwnd max(BDP/2, 4 segments), stays 200 ms
// and a round, then restores the window and cruises.
func TestBBRv3ProbeRTT(t *testing.T) {
	t.Parallel()
	d := newBBRDriver(t, 1.25e6, 40*time.Millisecond)
	d.until(BBRDrain, 20)
	d.ack(2*bbrTestMSS, false, d.bdp(), d.bdp()/2, d.rate, d.rtt)
	entered := d.now
	for i := 0; i < 400 && d.b.state != BBRProbeRTT; i++ {
		d.round(d.rate, d.rtt+time.Millisecond) // never a lower RTT
	}
	require.Equal(t, BBRProbeRTT, d.b.state)
	assert.InDelta(t, 5*time.Second, d.now.Sub(entered), float64(300*time.Millisecond), "5 s after the last min RTT")
	assert.InDelta(t, 0.5, d.b.cwndGain, 1e-9)
	prior := d.b.priorCwnd
	start := d.now
	for i := 0; i < 50 && d.b.state == BBRProbeRTT; i++ {
		d.round(d.rate, d.rtt)
		if d.b.state == BBRProbeRTT {
			assert.LessOrEqual(t, d.b.cwnd, max(d.bdp()/2, bbrMinPipeSegs*bbrTestMSS)+bbrTestMSS)
		}
	}
	assert.Equal(t, BBRProbeBWCruise, d.b.state, "ProbeRTT exits to CRUISE")
	assert.GreaterOrEqual(t, d.now.Sub(start), bbrProbeRTTDuration-d.rtt, "ProbeRTT lasts 200 ms")
	assert.GreaterOrEqual(t, d.b.cwnd, min(prior, d.b.maxInflight()), "window restored")
}

// TestBBRv3ECN checks that an ECN-Echo is congestion (draft section 3.7):
// in ProbeBW_UP it ends the probe with inflight_longterm set; in CRUISE
// it lowers the short-term bounds at the end of the round.
func TestBBRv3ECN(t *testing.T) {
	t.Parallel()
	d := probeBWDriver(t)
	d.b.onECE(50 * bbrTestMSS)
	assert.Equal(t, BBRProbeBWDown, d.b.state)
	assert.Equal(t, int(max(50*bbrTestMSS, int(0.7*d.b.targetInflight()))), d.b.inflightLong)
	d.until(BBRProbeBWCruise, 50)
	d.b.onECE(40 * bbrTestMSS)
	d.rounds(2)
	assert.Less(t, d.b.bwShort, d.rate+1, "bw_shortterm set")
	assert.Less(t, d.b.inflightShort, bbrInf, "inflight_shortterm set")
}

// TestBBRv3LossFromRetransmissions checks the connection's loss signal
// with crafted segments: on a 10 Mbit/s, 20 ms path, dropping a tenth of
// the segments a ProbeBW_UP phase sends makes the connection resend
// them, which BBR takes as losses above 2% of the flight: the probe ends
// with inflight_longterm set below the flight it reached.
func TestBBRv3LossFromRetransmissions(t *testing.T) {
	t.Parallel()
	p, c := newBBRPath(t, "bbr", 10e6/8, 10*time.Millisecond, 16<<20)
	b := c.cc.(*BBR)
	start := p.sched.Now()
	for b.state != BBRProbeBWUp && p.sched.Now().Sub(start) < 5*time.Second {
		p.sched.RunUntil(p.sched.Now().Add(time.Millisecond))
	}
	require.Equal(t, BBRProbeBWUp, b.state)
	require.Equal(t, bbrInf, b.inflightLong, "no loss yet")
	k := 0
	p.lose = func(seq seqnum, n int) bool {
		if seq.lt(c.sndMax) {
			return false // retransmissions arrive
		}
		k++
		return k%10 == 0
	}
	flight := 0
	for i := 0; i < 200 && b.inflightLong == bbrInf; i++ {
		flight = max(flight, c.sndMax.diff(c.sndUna))
		p.sched.RunUntil(p.sched.Now().Add(time.Millisecond))
	}
	assert.Less(t, b.inflightLong, bbrInf, "inflight_longterm set")
	assert.LessOrEqual(t, b.inflightLong, flight, "below the flight reached")
	assert.True(t, b.prevProbeTooHigh)
	assert.NotEqual(t, BBRProbeBWUp, b.state, "the probe ended")
	assert.Positive(t, c.rate.rs.lost, "lost bytes counted")
}
