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
	if hy.found || s.Cwnd >= s.Ssthresh {
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
	if s.Cwnd < h.LowWindow*s.MSS {
		return
	}
	if h.Detect&HyStartAckTrain != 0 && now.Sub(hy.lastAck) <= h.AckDelta {
		hy.lastAck = now
		// Without pacing the train may span half the minimum RTT.
		if now.Sub(hy.roundStart) > hy.delayMin/2 {
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
	if h.Detect == 0 || !ok {
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
	ds.onDelay(&c.ccs, h, rtt, ack, c.sndNxt, now)
}
