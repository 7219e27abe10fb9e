package tcp

import (
	"fmt"
	"math"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00; Cardwell et al.,
// "BBR: Congestion-Based Congestion Control", ACM Queue 2016). BBR models
// the path by its bottleneck bandwidth (BtlBw, a windowed maximum of
// delivery-rate samples over 10 round trips) and its round-trip
// propagation time (RTprop, a windowed minimum of RTT samples over 10 s),
// paces at pacing_gain x BtlBw and caps the flight at cwnd_gain x BDP. It
// moves through Startup (gain 2/ln 2 until the bandwidth stops growing by
// 25% for three rounds), Drain (the inverse gain until the flight is one
// BDP), ProbeBW (an eight-phase gain cycle 5/4, 3/4, 1 x 6, one RTprop
// each) and ProbeRTT (four segments for at least 200 ms and a round when
// RTprop has not been refreshed for 10 s).
//
// Random loss is not congestion to BBR: a loss only holds the flight to
// packet conservation for one round of recovery (section 4.2.3.4), and the
// window comes back to its model afterwards; an RTO restarts from one
// segment and restores the window when the loss is repaired.
//
// Pacing runs on the connection's clock (the virtual clock under the
// simulator): each data segment leaves no earlier than the previous one's
// departure plus its size over the pacing rate.
//
// Deviations: the window is not lowered by the bytes newly marked lost
// (section 4.2.3.4's cwnd - losses), the connection's SACK recovery
// decides what is retransmitted, and the send quantum is fixed at three
// segments in the target window.

// BBR constants (section 4).
const (
	bbrHighGain       = 2.885 // 2/ln(2)
	bbrBtlBwFilterLen = 10    // rounds
	bbrRTpropFilter   = 10 * time.Second
	bbrProbeRTTTime   = 200 * time.Millisecond
	bbrMinPipeSegs    = 4
	bbrFullBwThresh   = 1.25
	bbrFullBwCount    = 3
	bbrCycleLen       = 8
)

// bbrPacingGains is ProbeBW's gain cycle (section 4.3.4.3).
var bbrPacingGains = [bbrCycleLen]float64{5.0 / 4, 3.0 / 4, 1, 1, 1, 1, 1, 1}

// BBRMode is the state of BBR's state machine.
type BBRMode uint8

// BBR's states (section 4.3).
const (
	BBRStartup BBRMode = iota
	BBRDrain
	BBRProbeBW
	BBRProbeRTT
)

func (m BBRMode) String() string {
	return [...]string{"startup", "drain", "probe_bw", "probe_rtt"}[m]
}

// BBR is the BBR v1 congestion control. Its zero value is ready; the
// connection feeds it rate samples through Update.
type BBR struct {
	mode       BBRMode
	inited     bool
	mss        int
	initCwnd   int
	cwnd       int
	priorCwnd  int
	pacingRate float64 // bytes per second
	pacingGain float64
	cwndGain   float64

	// BtlBw filter: the largest sample of each of the last rounds.
	bwRound [bbrBtlBwFilterLen]uint64
	bwMax   [bbrBtlBwFilterLen]float64
	btlBw   float64

	rtProp        time.Duration
	rtPropStamp   clock.Time
	rtPropExpired bool

	roundCount         uint64
	nextRoundDelivered int64
	roundStart         bool

	filledPipe  bool
	fullBw      float64
	fullBwCount int

	cycleIndex int
	cycleStamp clock.Time

	probeRTTDone      clock.Time
	probeRTTDoneSet   bool
	probeRTTRoundDone bool

	recovering   bool
	conservation bool
	consRound    uint64

	// appLimitedNow asks the connection to mark the rate sampler
	// application-limited (ProbeRTT's section 4.3.5).
	appLimitedNow bool
	// cycleStart picks ProbeBW's first phase from [0, n).
	cycleStart func(n int) int
}

// Name returns "bbr".
func (*BBR) Name() string { return "bbr" }

// Mode returns the state BBR is in.
func (b *BBR) Mode() BBRMode { return b.mode }

// BtlBw returns the bottleneck bandwidth estimate in bytes per second.
func (b *BBR) BtlBw() float64 { return b.btlBw }

// RTprop returns the round-trip propagation time estimate.
func (b *BBR) RTprop() time.Duration { return b.rtProp }

// PacingRate returns the pacing rate in bytes per second (0 before the
// first ACK).
func (b *BBR) PacingRate() float64 { return b.pacingRate }

// OnAck does nothing: BBR sets the window from rate samples (Update).
func (*BBR) OnAck(*CCState, int, int, clock.Time) {}

// OnCongestion starts packet conservation for a round of fast recovery
// (section 4.2.3.4): the window becomes the flight plus one segment, and
// the window before it is saved to be restored when recovery ends.
func (b *BBR) OnCongestion(s *CCState, inFlight int, now clock.Time) {
	b.setup(s, now)
	b.saveCwnd()
	b.recovering = true
	b.conservation, b.consRound = true, b.roundCount
	b.cwnd = inFlight + s.MSS
	s.Cwnd = b.cwnd
}

// OnTimeout restarts from one segment after a retransmission timeout
// (section 4.2.3.4); the saved window comes back once the loss is
// repaired.
func (b *BBR) OnTimeout(s *CCState, _ int, now clock.Time) {
	b.setup(s, now)
	b.saveCwnd()
	b.recovering = true
	b.conservation, b.consRound = true, b.roundCount
	b.cwnd = s.MSS
	s.Cwnd = b.cwnd
}

// setup initialises the model from the connection's first window
// (section 4.3.1: BBROnConnectionInit).
func (b *BBR) setup(s *CCState, now clock.Time) {
	if b.inited {
		return
	}
	b.inited = true
	b.mss = s.MSS
	b.initCwnd = s.Cwnd
	b.cwnd = s.Cwnd
	b.rtProp, b.rtPropStamp = s.MinRTT, now
	b.enterStartup()
	// Section 4.2.1: the initial pacing rate is high_gain x cwnd / SRTT
	// (1 ms before any RTT sample).
	rtt := s.SRTT
	if rtt <= 0 {
		rtt = time.Millisecond
	}
	b.pacingRate = bbrHighGain * float64(s.Cwnd) / rtt.Seconds()
}

func (b *BBR) saveCwnd() {
	if !b.recovering && b.mode != BBRProbeRTT {
		b.priorCwnd = b.cwnd
	} else {
		b.priorCwnd = max(b.priorCwnd, b.cwnd)
	}
}

func (b *BBR) enterStartup() {
	b.mode = BBRStartup
	b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
}

// Update runs BBR's per-ACK steps (section 4.3: BBRUpdateOnACK) for the
// rate sample rs, with inFlight bytes outstanding after the ACK and
// recovering set while loss recovery (fast recovery or after an RTO) is
// under way, and sets s.Cwnd.
func (b *BBR) Update(s *CCState, rs *RateSample, inFlight int, recovering bool, now clock.Time) {
	b.setup(s, now)
	b.mss = s.MSS
	if b.recovering && !recovering {
		// Section 4.2.3.4: leaving recovery restores the saved window.
		b.cwnd = max(b.cwnd, b.priorCwnd)
		b.conservation = false
	}
	b.recovering = recovering
	priorInFlight := inFlight + rs.NewlyDelivered
	b.updateRound(rs)
	b.updateBtlBw(rs)
	b.checkCyclePhase(priorInFlight, now)
	b.checkFullPipe(rs)
	b.checkDrain(inFlight, now)
	b.updateRTprop(rs.RTT, now)
	b.checkProbeRTT(inFlight, rs, now)
	b.setPacingRate()
	b.setCwnd(rs, inFlight)
	s.Cwnd = b.cwnd
}

// updateRound counts round trips by delivered data (section 4.1.1.3).
func (b *BBR) updateRound(rs *RateSample) {
	b.roundStart = false
	if rs.Valid && rs.PriorDelivered >= b.nextRoundDelivered {
		b.nextRoundDelivered = rs.TotalDelivered
		b.roundCount++
		b.roundStart = true
	}
}

// updateBtlBw feeds the max filter (section 4.1.1.5): application-limited
// samples only when they raise it.
func (b *BBR) updateBtlBw(rs *RateSample) {
	if rs.DeliveryRate <= 0 || (rs.AppLimited && rs.DeliveryRate < b.btlBw) {
		return
	}
	i := b.roundCount % bbrBtlBwFilterLen
	if b.bwRound[i] != b.roundCount {
		b.bwRound[i], b.bwMax[i] = b.roundCount, 0
	}
	b.bwMax[i] = math.Max(b.bwMax[i], rs.DeliveryRate)
	b.btlBw = 0
	for k := range b.bwMax {
		if b.roundCount-b.bwRound[k] < bbrBtlBwFilterLen {
			b.btlBw = math.Max(b.btlBw, b.bwMax[k])
		}
	}
}

// updateRTprop is the min filter of section 4.1.2.3.
func (b *BBR) updateRTprop(rtt time.Duration, now clock.Time) {
	b.rtPropExpired = now.Sub(b.rtPropStamp) > bbrRTpropFilter
	if rtt > 0 && (b.rtProp == 0 || rtt <= b.rtProp || b.rtPropExpired) {
		b.rtProp, b.rtPropStamp = rtt, now
	}
}

// bdpWindow is BBRInflight(gain) (section 4.2.3.2): gain x BtlBw x RTprop
// plus three segments for the send quantum and delayed ACKs; the initial
// window before the model has samples.
func (b *BBR) bdpWindow(gain float64) int {
	if b.btlBw == 0 || b.rtProp == 0 {
		return b.initCwnd
	}
	bdp := b.btlBw * b.rtProp.Seconds()
	return int(gain*bdp) + 3*b.mss
}

// checkFullPipe leaves Startup once three rounds in a row raised the
// bandwidth by less than 25% (section 4.3.2.2).
func (b *BBR) checkFullPipe(rs *RateSample) {
	if b.filledPipe || !b.roundStart || rs.AppLimited {
		return
	}
	if b.btlBw >= b.fullBw*bbrFullBwThresh {
		b.fullBw, b.fullBwCount = b.btlBw, 0
		return
	}
	b.fullBwCount++
	if b.fullBwCount >= bbrFullBwCount {
		b.filledPipe = true
	}
}

// checkDrain moves Startup to Drain once the pipe is full, and Drain to
// ProbeBW once the flight is down to one BDP (section 4.3.3).
func (b *BBR) checkDrain(inFlight int, now clock.Time) {
	if b.mode == BBRStartup && b.filledPipe {
		b.mode = BBRDrain
		b.pacingGain, b.cwndGain = 1/bbrHighGain, bbrHighGain
	}
	if b.mode == BBRDrain && inFlight <= b.bdpWindow(1) {
		b.enterProbeBW(now)
	}
}

// enterProbeBW starts the gain cycle at a phase other than the 3/4 one
// (section 4.3.4.4).
func (b *BBR) enterProbeBW(now clock.Time) {
	b.mode = BBRProbeBW
	b.cwndGain = 2
	start := 0
	if b.cycleStart != nil {
		start = b.cycleStart(bbrCycleLen - 1)
	}
	b.cycleIndex = bbrCycleLen - 1 - start
	b.advanceCycle(now)
}

func (b *BBR) advanceCycle(now clock.Time) {
	b.cycleStamp = now
	b.cycleIndex = (b.cycleIndex + 1) % bbrCycleLen
	b.pacingGain = bbrPacingGains[b.cycleIndex]
}

// checkCyclePhase advances ProbeBW's cycle (section 4.3.4.3): each phase
// lasts one RTprop; the 5/4 phase also waits until the flight reached
// 5/4 BDP (or a loss), and the 3/4 phase ends early once the flight is
// down to one BDP.
func (b *BBR) checkCyclePhase(priorInFlight int, now clock.Time) {
	if b.mode != BBRProbeBW {
		return
	}
	full := now.Sub(b.cycleStamp) > b.rtProp
	next := full
	switch {
	case b.pacingGain > 1:
		next = full && (b.recovering || priorInFlight >= b.bdpWindow(b.pacingGain))
	case b.pacingGain < 1:
		next = full || priorInFlight <= b.bdpWindow(1)
	}
	if next {
		b.advanceCycle(now)
	}
}

// checkProbeRTT enters ProbeRTT when RTprop has not been refreshed for
// 10 s, and leaves it after 200 ms and a round at four segments (section
// 4.3.5).
func (b *BBR) checkProbeRTT(inFlight int, rs *RateSample, now clock.Time) {
	if b.mode != BBRProbeRTT && b.rtPropExpired {
		b.mode = BBRProbeRTT
		b.pacingGain, b.cwndGain = 1, 1
		b.saveCwnd()
		b.probeRTTDoneSet = false
	}
	if b.mode != BBRProbeRTT {
		return
	}
	b.appLimitedNow = true
	switch {
	case !b.probeRTTDoneSet && inFlight <= bbrMinPipeSegs*b.mss:
		b.probeRTTDone, b.probeRTTDoneSet = now.Add(bbrProbeRTTTime), true
		b.probeRTTRoundDone = false
		b.nextRoundDelivered = rs.TotalDelivered
	case b.probeRTTDoneSet:
		if b.roundStart {
			b.probeRTTRoundDone = true
		}
		if b.probeRTTRoundDone && !now.Before(b.probeRTTDone) {
			b.rtPropStamp = now
			b.cwnd = max(b.cwnd, b.priorCwnd)
			if b.filledPipe {
				b.enterProbeBW(now)
			} else {
				b.enterStartup()
			}
		}
	}
}

// setPacingRate is section 4.2.1: gain x BtlBw, never lowered before the
// pipe is full.
func (b *BBR) setPacingRate() {
	if b.btlBw == 0 {
		return
	}
	r := b.pacingGain * b.btlBw
	if b.filledPipe || r > b.pacingRate {
		b.pacingRate = r
	}
}

// setCwnd is section 4.2.3.
func (b *BBR) setCwnd(rs *RateSample, inFlight int) {
	target := b.bdpWindow(b.cwndGain)
	if b.conservation && b.roundCount > b.consRound {
		b.conservation = false
	}
	delivered := rs.NewlyDelivered
	if b.conservation {
		b.cwnd = max(b.cwnd, inFlight+delivered)
	} else {
		switch {
		case b.filledPipe:
			b.cwnd = min(b.cwnd+delivered, target)
		case b.cwnd < target || rs.TotalDelivered < int64(b.initCwnd):
			b.cwnd += delivered
		}
		b.cwnd = max(b.cwnd, bbrMinPipeSegs*b.mss)
	}
	if b.mode == BBRProbeRTT {
		b.cwnd = min(b.cwnd, bbrMinPipeSegs*b.mss)
	}
}

// CongestionControls are the names Config.CongestionControl and
// Conn.SetCongestionControl accept.
var CongestionControls = []string{"cubic", "newreno", "bbr"}

// SetCongestionControl switches the connection to the named algorithm
// ("cubic", "newreno" or "bbr"), as Linux's TCP_CONGESTION socket option:
// best before data flows (after Connect, or on Accept); the new algorithm
// starts from the current window. An unknown name is ErrInvalidArgument.
func (c *Conn) SetCongestionControl(name string) error {
	switch name {
	case "cubic", "newreno", "bbr":
	default:
		return fmt.Errorf("tcp: congestion control %q: %w", name, ErrInvalidArgument)
	}
	if c.cc.Name() == name {
		return nil
	}
	c.cc = newCongestionControlNamed(c, name)
	c.rate.bbr = nil
	c.rateInit()
	return nil
}

// newCongestionControl returns the algorithm the stack's Config names.
func newCongestionControl(c *Conn) CongestionControl {
	return newCongestionControlNamed(c, c.s.cfg.CongestionControl)
}

func newCongestionControlNamed(c *Conn, name string) CongestionControl {
	switch name {
	case "newreno":
		return &NewReno{}
	case "bbr":
		rnd := c.s.rnd
		return &BBR{cycleStart: func(n int) int { return rnd.IntN(n) }}
	}
	return &CUBIC{}
}

// rateState is a connection's state for a rate-based congestion control
// (BBR): the delivery-rate sampler and the pacing timer.
type rateState struct {
	bbr      *BBR
	rs       rateSampler
	paceNext clock.Time
	paceT    clock.Timer
	paceInit bool // paceT is initialised
}

type paceTimer Conn

func (t *paceTimer) OnTimer(clock.Time) {
	c := (*Conn)(t)
	if c.state == StateClosed {
		return
	}
	c.output()
	c.flush()
}

// rateInit sets up BBR's sampler and pacing when the configuration asks
// for it.
func (c *Conn) rateInit() {
	if b, ok := c.cc.(*BBR); ok {
		c.rate.bbr = b
		c.rate.rs = rateSampler{}
		if !c.rate.paceInit {
			c.rate.paceInit = true
			c.rate.paceT.Init((*paceTimer)(c))
		}
	}
}

// rateSent records a transmission of n data bytes at [seq, end) for the
// rate sampler and moves the pacing horizon by its time on the wire at the
// pacing rate (sndMax is SND.MAX before it).
func (c *Conn) rateSent(seq, end, sndMax seqnum, n int) {
	r := &c.rate
	if r.bbr == nil {
		return
	}
	now := c.s.clk.Now()
	r.rs.onSend(seq, end, sndMax, now, c.sndUna == sndMax)
	if rate := r.bbr.PacingRate(); rate > 0 && n > 0 {
		if r.paceNext.Before(now) {
			r.paceNext = now
		}
		wire := n + HeaderLen + 32 // with options, IP header and framing as a rough quantum
		r.paceNext = r.paceNext.Add(time.Duration(float64(wire) / rate * float64(time.Second)))
	}
}

// rateAck takes a rate sample from an acceptable ACK and lets BBR set the
// window.
func (c *Conn) rateAck(o *Options) {
	r := &c.rate
	if r.bbr == nil || c.state == StateClosed {
		return
	}
	now := c.s.clk.Now()
	rs := r.rs.onAck(c.sndUna, o, now, c.ccs.MinRTT)
	inFlight := c.sndMax.diff(c.sndUna)
	if c.sackOK {
		inFlight = c.pipe()
	}
	r.bbr.Update(&c.ccs, &rs, inFlight, c.inRecovery || c.sndUna.lt(c.recover), now)
	if r.bbr.appLimitedNow {
		r.bbr.appLimitedNow = false
		r.rs.markAppLimited(inFlight)
	}
}

// paceWait reports whether pacing holds the next data segment back, and
// arms the pacing timer for when it may leave.
func (c *Conn) paceWait() bool {
	r := &c.rate
	if r.bbr == nil || !c.s.clk.Now().Before(r.paceNext) {
		return false
	}
	if !r.paceT.Pending() || r.paceT.When() != r.paceNext {
		c.s.clk.Schedule(&r.paceT, r.paceNext)
	}
	return true
}

// rateIdle marks the sampler application-limited when the send buffer is
// empty and the window is not full (draft-cheng-iccrg-delivery-rate-
// estimation section 3.4).
func (c *Conn) rateIdle() {
	r := &c.rate
	if r.bbr == nil || c.bufStart.add(c.sndBuf.n) != c.sndNxt {
		return
	}
	if fl := c.sndMax.diff(c.sndUna); fl < c.ccs.Cwnd {
		r.rs.markAppLimited(fl)
	}
}
