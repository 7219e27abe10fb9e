package tcp

import (
	"math"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// CCState is the congestion state a CongestionControl updates, in bytes.
type CCState struct {
	// Cwnd is the congestion window.
	Cwnd int
	// Ssthresh is the slow-start threshold.
	Ssthresh int
	// MSS is the sender's maximum segment size.
	MSS int
	// SRTT is the smoothed round-trip time (0 before the first sample).
	SRTT time.Duration
	// MinRTT is the smallest round-trip sample seen.
	MinRTT time.Duration
}

// CongestionControl is a congestion control algorithm. The connection does
// loss detection and recovery (RFC 6675, RFC 6582) and asks the algorithm
// only how the window grows and shrinks.
type CongestionControl interface {
	// Name returns the algorithm's name ("newreno", "cubic").
	Name() string
	// OnAck grows the window for acked newly acknowledged bytes outside
	// loss recovery.
	OnAck(s *CCState, acked int, inFlight int, now clock.Time)
	// OnCongestion sets Ssthresh and Cwnd when loss recovery starts.
	OnCongestion(s *CCState, inFlight int, now clock.Time)
	// OnTimeout sets Ssthresh and Cwnd after a retransmission timeout.
	OnTimeout(s *CCState, inFlight int, now clock.Time)
}

// NewReno is the standard TCP congestion control (RFC 5681 section 3.1):
// slow start, then congestion avoidance with one MSS per RTT.
type NewReno struct {
	bytesAcked int
}

// Name returns "newreno".
func (*NewReno) Name() string { return "newreno" }

// OnAck grows the window: by acked bytes (capped at one MSS, RFC 5681 with
// RFC 3465 L=1) in slow start and by MSS*MSS/cwnd per ACK (appropriate byte
// counting) in congestion avoidance.
func (r *NewReno) OnAck(s *CCState, acked int, _ int, _ clock.Time) {
	if s.Cwnd < s.Ssthresh {
		s.Cwnd += min(acked, s.MSS)
		return
	}
	r.bytesAcked += acked
	if r.bytesAcked >= s.Cwnd {
		r.bytesAcked -= s.Cwnd
		s.Cwnd += s.MSS
	}
}

// OnCongestion halves the window (RFC 5681 equation 4).
func (r *NewReno) OnCongestion(s *CCState, inFlight int, _ clock.Time) {
	s.Ssthresh = max(inFlight/2, 2*s.MSS)
	s.Cwnd = s.Ssthresh
	r.bytesAcked = 0
}

// OnTimeout sets ssthresh as OnCongestion and the window to one segment
// (RFC 5681 section 3.1, loss window).
func (r *NewReno) OnTimeout(s *CCState, inFlight int, _ clock.Time) {
	s.Ssthresh = max(inFlight/2, 2*s.MSS)
	s.Cwnd = s.MSS
	r.bytesAcked = 0
}

// CUBIC is the CUBIC congestion control of RFC 9438, with its Reno-friendly
// region and fast convergence.
type CUBIC struct {
	wMax       float64 // window before the last reduction, in segments
	k          float64 // seconds to reach wMax
	epoch      clock.Time
	inEpoch    bool
	cwndEpoch  float64 // window at the epoch start, segments
	wEst       float64 // Reno-friendly estimate, segments
	cwndPrior  float64 // window when ssthresh was last set, segments
	ackedAccum int
	// linuxFriendly approaches the Reno-friendly estimate as Linux's
	// tcp_friendliness does, by (W_est-cwnd)/cwnd per segment acked,
	// instead of setting cwnd to W_est (the linux profile).
	linuxFriendly bool
	hy            hystartState // Config.HyStart's round (hystart.go)
	pp            hystartPP    // HyStart++ (hystart.go)
}

// CUBIC constants (RFC 9438 section 4.1).
const (
	cubicBeta = 0.7
	cubicC    = 0.4
)

// Name returns "cubic".
func (*CUBIC) Name() string { return "cubic" }

// OnAck grows the window along the cubic curve W(t) = C*(t-K)^3 + Wmax
// (RFC 9438 section 4.2), never below the Reno-friendly estimate (section
// 4.3), and by slow start below ssthresh (HyStart++'s, RFC 9406, when on).
func (c *CUBIC) OnAck(s *CCState, acked int, _ int, now clock.Time) {
	if s.Cwnd < s.Ssthresh {
		s.Cwnd += c.ppIncrease(s, acked)
		return
	}
	mss := float64(s.MSS)
	cwnd := float64(s.Cwnd) / mss
	if !c.inEpoch {
		c.inEpoch = true
		c.epoch = now
		c.cwndEpoch = cwnd
		c.wEst = cwnd
		if c.wMax < cwnd {
			c.k = 0
			c.wMax = cwnd
		} else {
			c.k = math.Cbrt((c.wMax - cwnd) / cubicC) // RFC 9438 eq. 2
		}
	}
	t := now.Sub(c.epoch).Seconds()
	wCubic := cubicC*math.Pow(t-c.k, 3) + c.wMax // W_cubic(t), eq. 1
	// Section 4.2: the target is W_cubic(t+RTT) clamped to
	// [cwnd, 1.5*cwnd].
	target := cubicC*math.Pow(t+s.SRTT.Seconds()-c.k, 3) + c.wMax
	target = math.Max(cwnd, math.Min(target, 1.5*cwnd))
	// Section 4.3: Reno-friendly estimate, alpha = 3(1-beta)/(1+beta)
	// until the estimate is back at the window of the last reduction
	// (cwnd_prior), then 1, Reno's own increase.
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	if c.cwndPrior > 0 && c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst += alpha * float64(acked) / mss / cwnd
	switch {
	case c.linuxFriendly:
		target = math.Max(target, c.wEst)
	case wCubic < c.wEst:
		// Section 4.3: in the Reno-friendly region (W_cubic(t) < W_est)
		// cwnd SHOULD be set to W_est on each ACK; approaching it by
		// (W_est-cwnd)/cwnd per segment would trail it by about alpha.
		s.Cwnd = max(s.Cwnd, int(c.wEst*mss))
		c.ackedAccum = 0
		return
	}
	// Grow by (target-cwnd)/cwnd segments per segment acked.
	c.ackedAccum += acked
	inc := (target - cwnd) / cwnd * float64(c.ackedAccum) / mss
	if inc >= 1.0/mss {
		grow := int(inc * mss)
		if grow > 0 {
			s.Cwnd += grow
			c.ackedAccum = 0
		}
	}
}

// OnCongestion multiplies the window by beta (RFC 9438 section 4.6) and
// applies fast convergence (section 4.7).
func (c *CUBIC) OnCongestion(s *CCState, inFlight int, _ clock.Time) {
	c.reduce(s, inFlight)
	s.Cwnd = s.Ssthresh
}

// OnTimeout reduces as OnCongestion and restarts from one segment (RFC 9438
// section 4.8).
func (c *CUBIC) OnTimeout(s *CCState, inFlight int, _ clock.Time) {
	c.reduce(s, inFlight)
	s.Cwnd = s.MSS
	c.hystartReset()
}

func (c *CUBIC) reduce(s *CCState, inFlight int) {
	// RFC 9406 section 4.3: HyStart++ runs for the initial slow start
	// only; a loss or ECN mark in it or in CSS ends it.
	c.pp.done, c.pp.css = true, false
	cwnd := float64(s.Cwnd) / float64(s.MSS)
	c.cwndPrior = cwnd
	if cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = cwnd
	}
	c.inEpoch = false
	c.ackedAccum = 0
	// RFC 9438 section 4.6: ssthresh = flight_size * beta (using cwnd
	// would collapse it after back-to-back timeouts).
	s.Ssthresh = max(int(float64(inFlight)*cubicBeta), 2*s.MSS)
}
