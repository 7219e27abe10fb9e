package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ppRound feeds CUBIC's HyStart++ one round of n ACKs with the given RTT
// samples (cycled), each acknowledging acked bytes: SND.UNA passes the
// round's windowEnd on the first ACK.
type ppRig struct {
	c    *CUBIC
	s    CCState
	una  seqnum
	sent seqnum // SND.NXT: the window is always full
}

func newPPRig() *ppRig {
	r := &ppRig{c: &CUBIC{pp: hystartPP{on: true}}, una: 1000}
	r.s = CCState{Cwnd: 10 * 1000, Ssthresh: 1 << 30, MSS: 1000}
	r.sent = r.una.add(r.s.Cwnd)
	return r
}

// ack acknowledges n more bytes with an RTT sample, then fills the
// window.
func (r *ppRig) ack(n int, rtt time.Duration) {
	r.una = r.una.add(n)
	r.c.ppSample(&r.s, rtt, r.una, r.sent)
	if r.s.Cwnd < r.s.Ssthresh {
		r.c.OnAck(&r.s, n, r.s.Cwnd, 0)
	}
	r.sent = seqMax(r.sent, r.una.add(r.s.Cwnd))
}

// round runs one round trip: the ACKs (two segments each) up to the
// round's windowEnd (SND.NXT when the last round ended), carrying the RTT
// samples in turn.
func (r *ppRig) round(rtts ...time.Duration) {
	end := r.sent
	if r.c.pp.started {
		end = r.c.pp.windowEnd
	}
	for i := 0; r.una.lt(end); i++ {
		r.ack(min(2*r.s.MSS, end.diff(r.una)), rtts[i%len(rtts)])
	}
}

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// TestHyStartPPRules checks RFC 9406 section 4.2 rule by rule with
// crafted RTT samples: slow start grows by min(N, L*SMSS) with L = 8; a
// round whose minimum RTT (over at least eight samples) is RttThresh =
// clamp(lastRoundMinRTT/8, 4 ms, 16 ms) above the last round's enters
// CSS, which grows by a quarter; fewer than eight samples or a smaller
// increase do not; a round in CSS whose minimum falls below the CSS
// baseline resumes slow start; five CSS rounds end in congestion
// avoidance with ssthresh = cwnd.
func TestHyStartPPRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rounds  [][]time.Duration
		wantCSS bool
		wantCA  bool
	}{
		{"flat RTT", [][]time.Duration{{ms(20)}, {ms(20)}, {ms(21)}}, false, false},
		// lastRoundMinRTT 20 ms: RttThresh is the 4 ms floor.
		{"4 ms floor", [][]time.Duration{{ms(20)}, {ms(24)}}, true, false},
		{"below the floor", [][]time.Duration{{ms(20)}, {ms(23.9)}}, false, false},
		// 80 ms: RttThresh is 80/8 = 10 ms.
		{"an eighth", [][]time.Duration{{ms(80)}, {ms(90)}}, true, false},
		{"below an eighth", [][]time.Duration{{ms(80)}, {ms(89.9)}}, false, false},
		// 400 ms: RttThresh is the 16 ms ceiling.
		{"16 ms ceiling", [][]time.Duration{{ms(400)}, {ms(416)}}, true, false},
		{"below the ceiling", [][]time.Duration{{ms(400)}, {ms(415.9)}}, false, false},
		// The round minimum counts: one low sample among the high ones.
		{"round minimum", [][]time.Duration{{ms(20)}, {ms(20), ms(30), ms(30), ms(30), ms(30), ms(30), ms(30), ms(30), ms(30), ms(30)}}, false, false},
		{"CSS then spurious", [][]time.Duration{{ms(20)}, {ms(30)}, {ms(25)}}, false, false},
		{"CSS four rounds", [][]time.Duration{{ms(20)}, {ms(30)}, {ms(30)}, {ms(30)}, {ms(30)}}, true, false},
		{"CSS five rounds", [][]time.Duration{{ms(20)}, {ms(30)}, {ms(30)}, {ms(30)}, {ms(30)}, {ms(30)}}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newPPRig()
			for _, rtts := range tc.rounds {
				r.round(rtts...)
			}
			assert.Equal(t, tc.wantCSS, r.c.pp.css, "in CSS")
			if tc.wantCA {
				assert.Equal(t, r.s.Cwnd, r.s.Ssthresh, "CSS_ROUNDS end in congestion avoidance")
				assert.True(t, r.c.pp.done)
			} else {
				assert.Equal(t, 1<<30, r.s.Ssthresh, "still in slow start")
			}
		})
	}
}

// TestHyStartPPSamples checks that CSS needs N_RTT_SAMPLE (8) samples in
// the round: seven high samples do not end slow start, the eighth does.
func TestHyStartPPSamples(t *testing.T) {
	t.Parallel()
	r := newPPRig()
	r.s.Cwnd = 40 * r.s.MSS
	r.round(ms(20))
	for k := 1; k <= 8; k++ {
		r.ack(r.s.MSS, ms(30))
		require.Equal(t, k == 8, r.c.pp.css, "sample %d", k)
	}
	assert.Equal(t, ms(30), r.c.pp.cssBaseMin, "cssBaselineMinRtt")
}

// TestHyStartPPGrowth checks the increase per ACK: min(N, 8 SMSS) in slow
// start, a quarter of it in CSS, and RFC 5681's min(N, SMSS) once a loss
// ended the initial slow start (section 4.3).
func TestHyStartPPGrowth(t *testing.T) {
	t.Parallel()
	r := newPPRig()
	mss := r.s.MSS
	cw := r.s.Cwnd
	r.c.OnAck(&r.s, 10*mss, cw, 0)
	assert.Equal(t, cw+8*mss, r.s.Cwnd, "L = 8")
	r.c.pp.css = true
	cw = r.s.Cwnd
	r.c.OnAck(&r.s, 4*mss, cw, 0)
	assert.Equal(t, cw+mss, r.s.Cwnd, "CSS_GROWTH_DIVISOR = 4")
	r.c.OnCongestion(&r.s, r.s.Cwnd, 0)
	assert.True(t, r.c.pp.done)
	assert.False(t, r.c.pp.css)
	r.s.Ssthresh = 1 << 30
	cw = r.s.Cwnd
	r.c.OnAck(&r.s, 4*mss, cw, 0)
	assert.Equal(t, cw+mss, r.s.Cwnd, "standard slow start after the loss")
	r.c.ppSample(&r.s, ms(500), r.una, r.sent)
	assert.False(t, r.c.pp.css, "HyStart++ is over")
}

// TestHyStartPPConfig checks which connections run HyStart++: CUBIC by
// default and in the rfc profile; not the linux profile (Linux's HyStart)
// unless asked; not with SlowStart "standard".
func TestHyStartPPConfig(t *testing.T) {
	t.Parallel()
	withSS := func(c Config, ss string) Config { c.SlowStart = ss; return c }
	for _, tc := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"zero", Config{}, true},
		{"rfc", RFCProfile(), true},
		{"linux", LinuxProfile(), false},
		{"linux hystart++", withSS(LinuxProfile(), SlowStartHyStartPP), true},
		{"standard", withSS(Config{}, SlowStartStandard), false},
		{"linux hystart", Config{HyStart: HyStart{Detect: HyStartDelay}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			c, ok := newCongestionControl(&Conn{s: r.s}).(*CUBIC)
			require.True(t, ok)
			assert.Equal(t, tc.want, c.pp.on)
		})
	}
}

// TestHyStartPPSegments runs HyStart++ on a connection of the rfc profile
// with crafted segments: a round at 50 ms, then a round 10 ms slower
// enters CSS at its eighth ACK (its RTT samples from the echoed
// timestamps), where each ACK of a segment grows the window by a quarter
// segment.
func TestHyStartPPSegments(t *testing.T) {
	t.Parallel()
	r, segs := rttConn(t, RFCProfile(), 10)
	mss := r.conn.mss
	_, err := r.conn.Write(make([]byte, 200*mss))
	require.NoError(t, err)
	cub, ok := r.conn.cc.(*CUBIC)
	require.True(t, ok)
	require.True(t, cub.pp.on)
	r.advance(rackRTT)
	for _, s := range segs {
		r.sackAck(s.seq().add(mss), s.o.TSVal)
	}
	var round []seg
	for len(r.net.Out) > 0 {
		round = append(round, r.take())
	}
	require.Greater(t, len(round), 10)
	r.advance(rackRTT + 10*time.Millisecond)
	for k, s := range round {
		cwnd := r.conn.ccs.Cwnd
		r.sackAck(s.seq().add(mss), s.o.TSVal)
		r.drain()
		if k+1 < 8 {
			require.False(t, cub.pp.css, "ACK %d", k+1)
			continue
		}
		require.True(t, cub.pp.css, "ACK %d", k+1)
		if k+1 > 8 {
			assert.Equal(t, cwnd+mss/4, r.conn.ccs.Cwnd, "CSS growth, ACK %d", k+1)
		}
		if k+1 == 10 {
			break
		}
	}
	assert.Equal(t, 1<<30, r.conn.ccs.Ssthresh, "CSS is still slow start")
}
