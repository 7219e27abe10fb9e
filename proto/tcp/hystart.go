package tcp

import (
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// HyStart configures CUBIC's hybrid slow start as Linux's tcp_cubic module
// implements it (its parameters hystart_detect, hystart_low_window and
// hystart_ack_delta_us): slow start ends (ssthresh = cwnd) when the ACKs
// of a round trip keep arriving for more than half the minimum RTT (ACK
// train) or when the smallest of a round's first eight RTT samples
// exceeds the minimum RTT by an eighth, clamped to [4 ms, 16 ms] (delay).
// Linux's own HyStart predates RFC 9406's HyStart++ and differs from it
// (no conservative slow start phase).
type HyStart struct {
	// Detect selects the detectors: HyStartAckTrain, HyStartDelay or
	// both; 0 turns HyStart off.
	Detect int
	// LowWindow is the cwnd, in segments, below which HyStart does not
	// run (default 16).
	LowWindow int
	// AckDelta is the largest ACK spacing that continues an ACK train
	// (default 2 ms).
	AckDelta time.Duration
}

// The HyStart detectors (Linux's HYSTART_ACK_TRAIN and HYSTART_DELAY).
const (
	HyStartAckTrain = 1
	HyStartDelay    = 2
)

// Linux's HyStart constants (tcp_cubic.c).
const (
	hystartMinSamples = 8
	hystartDelayMin   = 4 * time.Millisecond
	hystartDelayMax   = 16 * time.Millisecond
)

func (h *HyStart) defaults() {
	if h.Detect == 0 {
		return
	}
	if h.LowWindow <= 0 {
		h.LowWindow = 16
	}
	if h.AckDelta <= 0 {
		h.AckDelta = 2 * time.Millisecond
	}
}

// hystartState is one connection's HyStart round (Linux's bictcp fields).
type hystartState struct {
	started             bool
	found               bool
	roundStart, lastAck clock.Time
	endSeq              seqnum
	currRTT, delayMin   time.Duration
	sampleCnt           int
	paced               bool // Config.FQPacing paces the flow
}

// delaySampler is a congestion control that takes per-ACK delay samples
// (Linux's pkts_acked hook).
type delaySampler interface {
	onDelay(s *CCState, h *HyStart, rtt time.Duration, una, nxt seqnum, now clock.Time)
}

// onDelay is Linux's cubictcp_acked with hystart_update, for an ACK that
// measured rtt; una and nxt are SND.UNA (after the ACK) and SND.NXT.
func (c *CUBIC) onDelay(s *CCState, h *HyStart, rtt time.Duration, una, nxt seqnum, now clock.Time) {
	hy := &c.hy
	// Discard delay samples right after a window reduction.
	if c.inEpoch && now.Sub(c.epoch) < time.Second {
		return
	}
	rtt = max(rtt, time.Microsecond)
	if hy.delayMin == 0 || rtt < hy.delayMin {
		hy.delayMin = rtt
	}
	// Linux 5.10 to 6.11 (commit 4e1fddc98d25 until 25c1a9ca53db)
	// call hystart_update, which starts the rounds, only from the low
	// window on, so a round starts at the first ACK there.
	if hy.found || s.Cwnd >= s.Ssthresh || s.Cwnd < h.LowWindow*s.MSS {
		return
	}
	if !hy.started || una.gt(hy.endSeq) {
		// A new round trip starts with this ACK.
		hy.started = true
		hy.roundStart, hy.lastAck = now, now
		hy.endSeq = nxt
		hy.currRTT = 1<<63 - 1
		hy.sampleCnt = 0
	}
	if h.Detect&HyStartAckTrain != 0 && now.Sub(hy.lastAck) <= h.AckDelta {
		hy.lastAck = now
		// Without pacing the train may span half the minimum RTT;
		// pacing spreads it over up to the whole (hystart_update:
		// threshold >>= 1 only for SK_PACING_NONE).
		threshold := hy.delayMin
		if !hy.paced {
			threshold /= 2
		}
		if now.Sub(hy.roundStart) > threshold {
			hy.found = true
			s.Ssthresh = s.Cwnd
		}
	}
	if h.Detect&HyStartDelay != 0 {
		hy.currRTT = min(hy.currRTT, rtt)
		if hy.sampleCnt < hystartMinSamples {
			hy.sampleCnt++
		} else if hy.currRTT > hy.delayMin+min(max(hy.delayMin/8, hystartDelayMin), hystartDelayMax) {
			hy.found = true
			s.Ssthresh = s.Cwnd
		}
	}
}

// hystartReset restarts HyStart after a timeout (Linux's cubictcp_state
// for TCP_CA_Loss): slow start may end early again.
func (c *CUBIC) hystartReset() {
	c.hy.found, c.hy.started = false, false
}

// hystartSample feeds the congestion control an ACK's delay sample when
// HyStart is configured: the round trip of the newest segment never
// retransmitted that the ACK acknowledges (Linux's ca_rtt_us), taken from
// RACK's records, else from the echoed timestamp.
func (c *Conn) hystartSample(ack seqnum, tsRTT time.Duration, now clock.Time) {
	h := &c.s.cfg.HyStart
	ds, ok := c.cc.(delaySampler)
	cub, _ := c.cc.(*CUBIC)
	pp := cub != nil && cub.pp.on && !cub.pp.done
	if (h.Detect == 0 || !ok) && !pp {
		return
	}
	rtt := tsRTT
	if c.rackOn() {
		var newest *segRec
		for i := c.rk.head; i < len(c.rk.recs) && c.rk.recs[i].end.leq(ack); i++ {
			if r := &c.rk.recs[i]; !r.rtx && !r.sacked && (newest == nil || r.order > newest.order) {
				newest = r
			}
		}
		if newest != nil {
			rtt = now.Sub(newest.xmit)
		}
	}
	if rtt <= 0 {
		return
	}
	if pp {
		cub.ppSample(&c.ccs, rtt, ack, c.sndNxt)
		return
	}
	if cub != nil {
		cub.hy.paced = c.fqPaced()
	}
	ds.onDelay(&c.ccs, h, rtt, ack, c.sndNxt, now)
}

// hystartPPOn reports whether CUBIC runs HyStart++ under cfg: asked for,
// or by default unless the linux profile or Config.HyStart selects
// Linux's HyStart.
func hystartPPOn(cfg *Config) bool {
	switch cfg.SlowStart {
	case SlowStartHyStartPP:
		return true
	case SlowStartStandard:
		return false
	}
	return cfg.Profile != ProfileLinux && cfg.HyStart.Detect == 0
}

// HyStart++ (RFC 9406) constants (section 4.3).
const (
	hsppMinRTTThresh  = 4 * time.Millisecond
	hsppMaxRTTThresh  = 16 * time.Millisecond
	hsppMinRTTDivisor = 8
	hsppNRTTSample    = 8
	hsppCSSGrowthDiv  = 4
	hsppCSSRounds     = 5
	hsppL             = 8 // segments per ACK in slow start, unpaced
	hsppInf           = time.Duration(1<<63 - 1)
)

// The slow starts Config.SlowStart selects for CUBIC.
const (
	// SlowStartHyStartPP is HyStart++ (RFC 9406), the default outside
	// the linux profile.
	SlowStartHyStartPP = "hystart++"
	// SlowStartStandard is RFC 5681's slow start.
	SlowStartStandard = "standard"
)

// hystartPP is one connection's HyStart++ state (RFC 9406 section 4.2):
// rounds end when SND.UNA passes windowEnd; a round whose minimum RTT
// exceeds the previous round's by RttThresh (an eighth of it, in [4 ms,
// 16 ms]) ends standard slow start and starts Conservative Slow Start,
// which grows a quarter as fast and returns to slow start if the RTT
// falls back below the baseline, or ends in congestion avoidance
// (ssthresh = cwnd) after five rounds.
type hystartPP struct {
	on         bool // HyStart++ runs for this connection
	done       bool // the initial slow start is over (section 4.3)
	started    bool
	css        bool
	cssRounds  int
	windowEnd  seqnum
	lastMin    time.Duration
	currMin    time.Duration
	samples    int
	cssBaseMin time.Duration
}

// ppSample is RFC 9406 section 4.2's per-ACK step for an ACK that took
// an RTT sample rtt, with una SND.UNA after it and nxt SND.NXT.
func (c *CUBIC) ppSample(s *CCState, rtt time.Duration, una, nxt seqnum) {
	h := &c.pp
	if !h.on || h.done || s.Cwnd >= s.Ssthresh {
		return
	}
	if !h.started {
		h.started = true
		h.windowEnd = nxt
		h.lastMin, h.currMin, h.samples = hsppInf, hsppInf, 0
	}
	h.currMin = min(h.currMin, rtt)
	h.samples++
	if h.samples >= hsppNRTTSample && h.currMin != hsppInf && h.lastMin != hsppInf {
		if !h.css {
			thresh := max(hsppMinRTTThresh, min(h.lastMin/hsppMinRTTDivisor, hsppMaxRTTThresh))
			if h.currMin >= h.lastMin+thresh {
				h.css, h.cssRounds, h.cssBaseMin = true, 0, h.currMin
			}
		} else if h.currMin < h.cssBaseMin {
			// The RTT increase was spurious: resume slow start.
			h.css, h.cssBaseMin = false, hsppInf
		}
	}
	if una.lt(h.windowEnd) {
		return
	}
	// The ACK of windowEnd ends the round; what was sent since is the
	// next one.
	h.lastMin, h.currMin, h.samples = h.currMin, hsppInf, 0
	h.windowEnd = nxt
	if h.css {
		h.cssRounds++
		if h.cssRounds >= hsppCSSRounds {
			// CSS ran its rounds: enter congestion avoidance.
			s.Ssthresh = s.Cwnd
			h.css, h.done = false, true
		}
	}
}

// ppIncrease is the slow-start increase for acked bytes: min(N, L*SMSS),
// a quarter of it in CSS (RFC 9406 section 4.2).
func (c *CUBIC) ppIncrease(s *CCState, acked int) int {
	if !c.pp.on || c.pp.done {
		return min(acked, s.MSS) // RFC 5681 section 3.1
	}
	inc := min(acked, hsppL*s.MSS)
	if c.pp.css {
		inc /= hsppCSSGrowthDiv
	}
	return inc
}
