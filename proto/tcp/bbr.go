package tcp

import (
	"math"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// BBR v3 as draft-ietf-ccwg-bbr-06 specifies it (sections cited below as
// "draft section N"). BBR models the path by its maximum recent delivery
// rate (max_bw, a max filter over the last two ProbeBW cycles) and its
// minimum round-trip time (min_rtt, a 10 s min filter), paces at
// pacing_gain x bw and caps the flight at cwnd_gain x BDP. It moves
// through Startup (pacing gain 2.77, cwnd gain 2) until the bandwidth
// stops growing by 25% for three rounds or the loss rate of a round in
// recovery exceeds 2%, Drain (pacing gain 0.5) until the flight is one
// BDP, then cycles ProbeBW_DOWN (0.9), ProbeBW_CRUISE (1.0),
// ProbeBW_REFILL (1.0, one round) and ProbeBW_UP (1.25, cwnd gain 2.25),
// and enters ProbeRTT (cwnd 0.5 x BDP for 200 ms and a round) when the
// minimum RTT has not been refreshed for 5 s.
//
// Loss and ECN shape two bounds (draft section 5.5.10): a long-term
// inflight_longterm, set when a bandwidth probe (REFILL, UP, Startup)
// meets a loss rate above BBRLossThresh (2%) and raised again by probing,
// and short-term bw_shortterm and inflight_shortterm, lowered by
// BBRBeta (0.7) towards the latest round's delivery on each round with
// loss while not probing, and reset when the next probe starts. Random
// loss below the threshold costs at most one such round per loss round,
// so the rate recovers in the next REFILL.
//
// Deviations, and where the connection supplies the draft's inputs: a
// segment counts as lost when the connection retransmits it (fast
// recovery, RACK or a timeout's go-back-N, and a tail loss probe), not
// when a scoreboard marks it; C.is_cwnd_limited is estimated from the
// flight before the ACK; the send quantum only sizes the offload budget
// (each segment is paced on its own); spurious-recovery undo (draft
// section 5.5.11) is not implemented, as the connection has no
// spurious-recovery detection; an ECN-Echo (RFC 3168, one per window)
// counts as a loss of the round (draft section 3.7: CE marks are
// congestion), and as a loss rate above the threshold while probing.

// BBR's constants (draft sections 2.5 to 2.16).
const (
	bbrStartupPacingGain   = 2.77 // 4 ln 2
	bbrDrainPacingGain     = 0.5
	bbrDefaultCwndGain     = 2.0
	bbrProbeUpCwndGain     = 2.25
	bbrPacingMarginPercent = 1
	bbrLossThresh          = 0.02
	bbrBeta                = 0.7
	bbrHeadroom            = 0.15
	bbrMinPipeSegs         = 4
	bbrMaxBwFilterLen      = 2  // ProbeBW cycles
	bbrExtraAckedFilterLen = 10 // rounds
	bbrMinRTTFilterLen     = 10 * time.Second
	bbrProbeRTTCwndGain    = 0.5
	bbrProbeRTTDuration    = 200 * time.Millisecond
	bbrProbeRTTInterval    = 5 * time.Second
	bbrFullBwThresh        = 1.25
	bbrFullBwCount         = 3
	bbrStartupFullLossCnt  = 6
	bbrInf                 = math.MaxInt
)

// BBRMode is the state of BBR's state machine (draft section 5.1).
type BBRMode uint8

// BBR's states.
const (
	BBRStartup BBRMode = iota
	BBRDrain
	BBRProbeBWDown
	BBRProbeBWCruise
	BBRProbeBWRefill
	BBRProbeBWUp
	BBRProbeRTT
)

func (m BBRMode) String() string {
	return [...]string{"startup", "drain", "probe_bw_down", "probe_bw_cruise", "probe_bw_refill",
		"probe_bw_up", "probe_rtt"}[m]
}

// IsProbeBW reports whether m is one of the four ProbeBW states.
func (m BBRMode) IsProbeBW() bool { return m >= BBRProbeBWDown && m <= BBRProbeBWUp }

// bbrAckPhase is BBR.ack_phase (draft section 2.14).
type bbrAckPhase uint8

const (
	bbrAcksInit bbrAckPhase = iota
	bbrAcksRefilling
	bbrAcksProbeStarting
	bbrAcksProbeFeedback
	bbrAcksProbeStopping
)

// winMax is a windowed maximum over a virtual time (rounds or ProbeBW
// cycles) of at most ten units: the largest value of each unit, kept for
// the window's length (the draft's UpdateWindowedMaxFilter).
type winMax struct {
	at  [10]uint64
	val [10]float64
	set [10]bool
}

// update records v at time t and returns the maximum over (t-win, t].
func (f *winMax) update(v float64, t, win uint64) float64 {
	i := t % uint64(len(f.at))
	if !f.set[i] || f.at[i] != t {
		f.at[i], f.val[i], f.set[i] = t, v, true
	} else {
		f.val[i] = math.Max(f.val[i], v)
	}
	return f.get(t, win)
}

// get returns the maximum over (t-win, t].
func (f *winMax) get(t, win uint64) float64 {
	m := 0.0
	for k := range f.at {
		if f.set[k] && f.at[k] <= t && t-f.at[k] < win {
			m = math.Max(m, f.val[k])
		}
	}
	return m
}

// BBR is the BBR v3 congestion control. Its zero value is ready; the
// connection feeds it rate samples through Update and lost segments
// through onLost.
type BBR struct {
	state      BBRMode
	inited     bool
	mss        int
	initCwnd   int
	cwnd       int
	priorCwnd  int
	pacingRate float64 // bytes per second
	pacingGain float64
	cwndGain   float64
	sackOK     bool // C.has_selective_acks
	seenRTT    bool // the pacing rate was set from an RTT sample
	delivered  int64

	// Model (draft section 2.9).
	maxBwFilter    winMax
	cycleCount     uint64
	maxBw          float64
	bwShort        float64 // +Inf when unset
	bw             float64
	minRTT         time.Duration // 0 before the first sample
	minRTTStamp    clock.Time
	probeRTTMin    time.Duration
	probeRTTStamp  clock.Time
	probeRTTExpire bool
	extraFilter    winMax
	extraAcked     float64
	extraStart     clock.Time
	extraDelivered float64
	inflightLong   int // bbrInf when unset
	inflightShort  int // bbrInf when unset
	bwLatest       float64
	inflightLatest int

	// Rounds (draft section 5.5.1) and loss rounds (section 5.5.10.3).
	roundCount         uint64
	nextRoundDelivered int64
	roundStart         bool
	roundsSinceProbeUp int
	lossRoundDelivered int64
	lossRoundStart     bool
	lossInRound        bool
	// Startup's loss exit (section 5.3.1.3): the round's lost bytes and
	// discontiguous lost ranges, and the round recovery started in.
	roundLost      int64
	roundLostRuns  int
	lastLostEnd    seqnum
	roundDelivered int64
	prevLost       int64 // the previous round's roundLost,
	prevLostRuns   int   // roundLostRuns
	prevDelivered  int64 // and roundDelivered
	recoveryRound  uint64

	// Startup (draft section 2.13).
	fullBwReached bool
	fullBwNow     bool
	fullBw        float64
	fullBwCount   int
	drainStart    uint64

	// ProbeBW (draft section 2.14).
	ackPhase           bbrAckPhase
	isBwProbeSample    bool
	bwProbeUpAcked     int
	probeUpAckedPerInc int
	bwProbeUpRounds    int
	bwProbeWait        time.Duration
	cycleStamp         clock.Time
	prevProbeTooHigh   bool
	prevProbePrecaut   bool

	// ProbeRTT (draft section 2.16).
	probeRTTDone      clock.Time
	probeRTTDoneSet   bool
	probeRTTRoundDone bool
	idleRestart       bool

	recovering bool
	now        clock.Time // of the event being handled

	// appLimitedNow asks the connection to mark the rate sampler
	// application-limited (ProbeRTT, draft section 5.3.4.3).
	appLimitedNow bool
	// rnd returns a random integer in [0, n) (PickProbeWait).
	rnd func(n int) int
}

// Name returns "bbr".
func (*BBR) Name() string { return "bbr" }

// Mode returns the state BBR is in.
func (b *BBR) Mode() BBRMode { return b.state }

// MaxBw returns the bandwidth estimate max_bw in bytes per second.
func (b *BBR) MaxBw() float64 { return b.maxBw }

// MinRTT returns the round-trip propagation time estimate min_rtt.
func (b *BBR) MinRTT() time.Duration { return b.minRTT }

// PacingRate returns the pacing rate in bytes per second (0 before the
// first ACK).
func (b *BBR) PacingRate() float64 { return b.pacingRate }

// OnAck does nothing: BBR sets the window from rate samples (Update).
func (*BBR) OnAck(*CCState, int, int, clock.Time) {}

// OnCongestion is OnEnterFastRecovery (draft section 5.6.4.4): the window
// is saved to be restored when recovery ends; losses shape the model as
// the connection marks segments lost (onLost).
func (b *BBR) OnCongestion(s *CCState, _ int, now clock.Time) {
	b.setup(s, now)
	b.saveCwnd()
	b.recovering = true
	b.recoveryRound = b.roundCount
	s.Cwnd = b.cwnd
}

// OnTimeout is OnEnterRTO (draft section 5.6.4.4): the connection resends
// from SND.UNA with nothing counted in flight, so the window allows one
// segment, and grows by what is delivered.
func (b *BBR) OnTimeout(s *CCState, _ int, now clock.Time) {
	b.setup(s, now)
	b.saveCwnd()
	b.recovering = true
	b.recoveryRound = b.roundCount
	b.cwnd = s.MSS
	s.Cwnd = b.cwnd
}

// setup is OnInit (draft section 5.2.1), from the connection's first
// window.
func (b *BBR) setup(s *CCState, now clock.Time) {
	if b.inited {
		return
	}
	b.inited = true
	b.mss = s.MSS
	b.initCwnd = s.Cwnd
	b.cwnd = s.Cwnd
	b.minRTT, b.minRTTStamp = s.SRTT, now
	b.probeRTTMin, b.probeRTTStamp = s.SRTT, now
	b.extraStart = now
	b.inflightLong = bbrInf
	b.probeUpAckedPerInc = bbrInf
	b.resetCongestionSignals()
	b.resetShortTermModel()
	b.enterStartup()
	b.initPacingRate(s.SRTT)
}

// initPacingRate is section 5.6.2's InitPacingRate: the initial window
// over SRTT (1 ms before any RTT sample; as Linux's bbr_set_pacing_rate,
// it is redone at the first sample).
func (b *BBR) initPacingRate(srtt time.Duration) {
	b.seenRTT = srtt > 0
	if srtt <= 0 {
		srtt = time.Millisecond
	}
	b.pacingRate = bbrStartupPacingGain * float64(b.initCwnd) / srtt.Seconds()
}

// saveCwnd and restoreCwnd are section 5.6.4.4's.
func (b *BBR) saveCwnd() {
	if !b.recovering && b.state != BBRProbeRTT {
		b.priorCwnd = b.cwnd
	} else {
		b.priorCwnd = max(b.priorCwnd, b.cwnd)
	}
}

func (b *BBR) restoreCwnd() { b.cwnd = max(b.cwnd, b.priorCwnd) }

func (b *BBR) enterStartup() {
	b.state = BBRStartup
	b.pacingGain, b.cwndGain = bbrStartupPacingGain, bbrDefaultCwndGain
}

// Update runs BBR's per-ACK steps (draft section 5.2.3: UpdateOnACK) for
// the rate sample rs, with inFlight bytes outstanding after the ACK,
// recovering set while loss recovery (fast recovery or after an RTO) is
// under way and cwndLimited when the window limited the flight; it sets
// s.Cwnd.
func (b *BBR) Update(s *CCState, rs *RateSample, inFlight int, recovering, cwndLimited bool, now clock.Time) {
	b.setup(s, now)
	b.mss = s.MSS
	b.now = now
	if !b.seenRTT && s.SRTT > 0 {
		b.initPacingRate(s.SRTT)
	}
	if b.recovering && !recovering {
		// Section 5.6.4.4: leaving recovery restores the saved window.
		b.restoreCwnd()
	}
	b.recovering = recovering
	b.delivered = rs.TotalDelivered
	// UpdateModelAndState (section 5.2.3).
	b.updateLatestDeliverySignals(rs)
	b.updateCongestionSignals(rs)
	b.updateACKAggregation(rs, now)
	b.checkFullBWReached(rs)
	b.checkStartupDone()
	b.checkDrainDone(inFlight, now)
	b.updateProbeBWCyclePhase(rs, inFlight, cwndLimited, now)
	b.updateMinRTT(rs, now)
	b.checkProbeRTT(rs, inFlight, now)
	b.advanceLatestDeliverySignals(rs)
	b.bw = math.Min(b.maxBw, b.bwShort) // BoundBWForModel
	// UpdateControlParameters.
	b.setPacingRateWithGain(b.pacingGain)
	b.setCwnd(rs)
	s.Cwnd = b.cwnd
}

// updateRound is section 5.5.1's UpdateRound for an ACK that delivered
// data.
func (b *BBR) updateRound(rs *RateSample) {
	b.roundStart = false
	if rs.Valid && rs.PriorDelivered >= b.nextRoundDelivered {
		b.startRound()
		b.roundCount++
		b.roundsSinceProbeUp++
		b.roundStart = true
		b.prevLost, b.prevLostRuns, b.prevDelivered = b.roundLost, b.roundLostRuns, b.roundDelivered
		b.roundLost, b.roundLostRuns, b.roundDelivered = 0, 0, 0
	}
	b.roundDelivered += int64(rs.NewlyDelivered)
}

func (b *BBR) startRound() { b.nextRoundDelivered = b.delivered }

// updateMaxBw is section 5.5.5.
func (b *BBR) updateMaxBw(rs *RateSample) {
	b.updateRound(rs)
	if rs.DeliveryRate > 0 && (rs.DeliveryRate >= b.maxBw || !rs.AppLimited) {
		b.maxBw = b.maxBwFilter.update(rs.DeliveryRate, b.cycleCount, bbrMaxBwFilterLen)
	}
}

// advanceMaxBwFilter is section 5.5.6.
func (b *BBR) advanceMaxBwFilter() {
	b.cycleCount++
	b.maxBw = b.maxBwFilter.get(b.cycleCount, bbrMaxBwFilterLen)
}

// updateLatestDeliverySignals and the functions below are section
// 5.5.10.3's.
func (b *BBR) updateLatestDeliverySignals(rs *RateSample) {
	b.lossRoundStart = false
	b.bwLatest = math.Max(b.bwLatest, rs.DeliveryRate)
	b.inflightLatest = max(b.inflightLatest, int(rs.Delivered))
	if rs.Valid && rs.PriorDelivered >= b.lossRoundDelivered {
		b.lossRoundDelivered = b.delivered
		b.lossRoundStart = true
	}
}

func (b *BBR) advanceLatestDeliverySignals(rs *RateSample) {
	if b.lossRoundStart {
		b.bwLatest = rs.DeliveryRate
		b.inflightLatest = int(rs.Delivered)
	}
}

func (b *BBR) resetCongestionSignals() {
	b.lossInRound = false
	b.bwLatest = 0
	b.inflightLatest = 0
}

func (b *BBR) updateCongestionSignals(rs *RateSample) {
	b.updateMaxBw(rs)
	if !b.lossRoundStart {
		return
	}
	b.adaptLowerBoundsFromCongestion()
	b.lossInRound = false
}

func (b *BBR) isProbingBW() bool {
	return b.state == BBRStartup || b.state == BBRProbeBWRefill || b.state == BBRProbeBWUp
}

func (b *BBR) adaptLowerBoundsFromCongestion() {
	if b.isProbingBW() || !b.lossInRound {
		return
	}
	// InitLowerBounds, then LossLowerBounds.
	if math.IsInf(b.bwShort, 1) {
		b.bwShort = b.maxBw
	}
	if b.inflightShort == bbrInf {
		b.inflightShort = b.cwnd
	}
	b.bwShort = math.Max(b.bwLatest, bbrBeta*b.bwShort)
	b.inflightShort = max(b.inflightLatest, int(bbrBeta*float64(b.inflightShort)))
}

func (b *BBR) resetShortTermModel() {
	b.bwShort = math.Inf(1)
	b.inflightShort = bbrInf
}

// onLost is HandleLostPacket (section 5.5.10.2) for a segment of size
// bytes sent with txInFlight bytes in flight, lost bytes lost since it
// left (itself included), and appLimited; start and end delimit it, to
// count the round's discontiguous lost ranges for Startup's loss exit.
func (b *BBR) onLost(start, end seqnum, size int, txInFlight int, lost int64, appLimited bool) {
	b.roundLost += int64(size)
	if b.roundLostRuns == 0 || start != b.lastLostEnd {
		b.roundLostRuns++
	}
	b.lastLostEnd = end
	b.noteLoss()
	if !b.isBwProbeSample {
		return
	}
	if b.inflightTooHigh(lost, txInFlight) {
		b.handleInflightTooHigh(b.inflightAtLoss(size, txInFlight, lost), appLimited)
	}
}

func (b *BBR) noteLoss() {
	if !b.lossInRound {
		b.lossRoundDelivered = b.delivered
	}
	b.lossInRound = true
}

// inflightTooHigh is IsInflightTooHigh.
func (b *BBR) inflightTooHigh(lost int64, txInFlight int) bool {
	return float64(lost) > float64(txInFlight)*bbrLossThresh || (lost > 0 && !b.sackOK)
}

// inflightAtLoss is InflightAtLoss: the flight at which the loss rate
// crossed BBRLossThresh within the lost segment.
func (b *BBR) inflightAtLoss(size, txInFlight int, lost int64) int {
	prev := float64(txInFlight - size)
	lostPrev := float64(lost) - float64(size)
	prefix := (bbrLossThresh*prev - lostPrev) / (1 - bbrLossThresh)
	return max(int(prev+prefix), 0)
}

// handleInflightTooHigh is HandleInflightTooHigh.
func (b *BBR) handleInflightTooHigh(txInFlight int, appLimited bool) {
	b.prevProbeTooHigh = true
	b.isBwProbeSample = false // react once per probe
	if !appLimited {
		b.inflightLong = max(txInFlight, int(b.targetInflight()*bbrBeta))
	}
	if b.state == BBRProbeBWUp {
		b.startProbeBWDown()
	}
}

// onECE takes an ECN-Echo (RFC 3168) as congestion (section 3.7): a loss
// for the round and, while probing, a probe that went too high with
// inFlight bytes in flight.
func (b *BBR) onECE(inFlight int) {
	if !b.inited {
		return
	}
	b.noteLoss()
	if b.isBwProbeSample {
		b.handleInflightTooHigh(inFlight, false)
	}
}

// updateACKAggregation is section 5.5.9.
func (b *BBR) updateACKAggregation(rs *RateSample, now clock.Time) {
	interval := now.Sub(b.extraStart).Seconds()
	expected := b.bw * interval
	if b.bw == 0 || math.IsInf(b.bw, 1) {
		expected = 0
	}
	if b.extraDelivered <= expected {
		b.extraDelivered = 0
		b.extraStart = now
		expected = 0
	}
	b.extraDelivered += float64(rs.NewlyDelivered)
	extra := math.Min(b.extraDelivered-expected, float64(b.cwnd))
	win := uint64(1)
	if b.fullBwReached {
		win = bbrExtraAckedFilterLen
	}
	b.extraAcked = b.extraFilter.update(extra, b.roundCount, win)
}

// checkFullBWReached is section 5.3.1.2.
func (b *BBR) checkFullBWReached(rs *RateSample) {
	if b.fullBwNow || !b.roundStart || rs.AppLimited {
		return
	}
	if rs.DeliveryRate >= b.fullBw*bbrFullBwThresh {
		b.resetFullBW()
		b.fullBw = rs.DeliveryRate
		return
	}
	b.fullBwCount++
	b.fullBwNow = b.fullBwCount >= bbrFullBwCount
	if b.fullBwNow {
		b.fullBwReached = true
	}
}

func (b *BBR) resetFullBW() { b.fullBw, b.fullBwCount, b.fullBwNow = 0, 0, false }

// checkStartupDone is section 5.3.1's, with CheckStartupHighLoss
// (section 5.3.1.3).
func (b *BBR) checkStartupDone() {
	b.checkStartupHighLoss()
	if b.state == BBRStartup && b.fullBwReached {
		b.enterDrain()
	}
}

// checkStartupHighLoss leaves Startup at the end of a round in fast
// recovery (for at least a full round) whose loss rate exceeded
// BBRLossThresh over at least six discontiguous lost ranges, or, without
// SACK, at any loss in recovery.
func (b *BBR) checkStartupHighLoss() {
	if b.state != BBRStartup || !b.recovering || !b.roundStart || b.roundCount <= b.recoveryRound+1 {
		if b.state == BBRStartup && b.recovering && !b.sackOK && b.roundLost > 0 {
			b.startupLossExit()
		}
		return
	}
	// The round that just ended: its lost and delivered bytes.
	if b.prevLostRuns >= bbrStartupFullLossCnt &&
		float64(b.prevLost) > bbrLossThresh*float64(b.prevLost+b.prevDelivered) {
		b.startupLossExit()
	}
}

func (b *BBR) startupLossExit() {
	b.fullBwReached = true
	b.inflightLong = max(int(b.bdpMultiple(1)), b.inflightLatest)
	b.enterDrain()
}

func (b *BBR) enterDrain() {
	b.state = BBRDrain
	b.pacingGain, b.cwndGain = bbrDrainPacingGain, bbrDefaultCwndGain
	b.drainStart = b.roundCount
}

// checkDrainDone is section 5.3.2.
func (b *BBR) checkDrainDone(inFlight int, now clock.Time) {
	if b.state == BBRDrain && (inFlight <= b.inflight(1) || b.roundCount > b.drainStart+3) {
		b.enterProbeBW(now)
	}
}

// enterProbeBW and the ProbeBW functions below are section 5.3.3.9's.
func (b *BBR) enterProbeBW(now clock.Time) {
	b.now = now
	b.cwndGain = bbrDefaultCwndGain
	b.startProbeBWDown()
}

func (b *BBR) startProbeBWDown() {
	b.resetCongestionSignals()
	b.probeUpAckedPerInc = bbrInf
	b.pickProbeWait()
	b.cycleStamp = b.now
	b.ackPhase = bbrAcksProbeStopping
	b.startRound()
	b.state = BBRProbeBWDown
	b.pacingGain, b.cwndGain = 0.9, bbrDefaultCwndGain
}

func (b *BBR) startProbeBWCruise() {
	b.state = BBRProbeBWCruise
	b.pacingGain, b.cwndGain = 1, bbrDefaultCwndGain
}

func (b *BBR) startProbeBWRefill() {
	b.resetShortTermModel()
	b.bwProbeUpRounds = 0
	b.bwProbeUpAcked = 0
	b.prevProbePrecaut = false
	b.ackPhase = bbrAcksRefilling
	b.startRound()
	b.state = BBRProbeBWRefill
	b.pacingGain, b.cwndGain = 1, bbrDefaultCwndGain
}

func (b *BBR) startProbeBWUp(rs *RateSample) {
	b.ackPhase = bbrAcksProbeStarting
	b.startRound()
	b.resetFullBW()
	b.fullBw = rs.DeliveryRate
	b.state = BBRProbeBWUp
	b.pacingGain, b.cwndGain = 1.25, bbrProbeUpCwndGain
	b.raiseInflightLongtermSlope()
}

// updateProbeBWCyclePhase advances the ProbeBW state machine on an ACK.
func (b *BBR) updateProbeBWCyclePhase(rs *RateSample, inFlight int, cwndLimited bool, now clock.Time) {
	if !b.fullBwReached {
		return
	}
	if b.adaptLongTermModel(rs, cwndLimited) || !b.state.IsProbeBW() {
		return
	}
	switch b.state {
	case BBRProbeBWDown:
		if b.isTimeToProbeBW(now) {
			return
		}
		if b.isTimeToCruise(inFlight) {
			b.startProbeBWCruise()
		}
	case BBRProbeBWCruise:
		b.isTimeToProbeBW(now)
	case BBRProbeBWRefill:
		// After one round of REFILL, start UP.
		if b.roundStart {
			b.isBwProbeSample = true
			b.startProbeBWUp(rs)
		}
	case BBRProbeBWUp:
		if b.isTimeToGoDown(rs, inFlight, cwndLimited) {
			b.prevProbeTooHigh = false
			b.startProbeBWDown()
		}
	}
}

func (b *BBR) isTimeToCruise(inFlight int) bool {
	return inFlight <= b.inflightWithHeadroom() && inFlight <= b.inflight(1)
}

// isTimeToGoDown is IsTimeToGoDown, with precautionary bandwidth probing
// (section 5.3.3.6).
func (b *BBR) isTimeToGoDown(rs *RateSample, inFlight int, cwndLimited bool) bool {
	if b.prevProbeTooHigh && b.inflightLong != bbrInf && inFlight >= b.inflightLong {
		b.prevProbePrecaut = true
		return true
	}
	if cwndLimited && b.inflightLong != bbrInf && b.cwnd >= b.inflightLong {
		b.resetFullBW() // bw is limited by inflight_longterm
		b.fullBw = rs.DeliveryRate
	} else if b.fullBwNow {
		return true
	}
	return false
}

// inflightWithHeadroom leaves BBRHeadroom of inflight_longterm free.
func (b *BBR) inflightWithHeadroom() int {
	if b.inflightLong == bbrInf {
		return bbrInf
	}
	headroom := max(b.mss, int(bbrHeadroom*float64(b.inflightLong)))
	return max(b.inflightLong-headroom, bbrMinPipeSegs*b.mss)
}

func (b *BBR) raiseInflightLongtermSlope() {
	growth := 1 << b.bwProbeUpRounds
	b.bwProbeUpRounds = min(b.bwProbeUpRounds+1, 30)
	b.probeUpAckedPerInc = max(b.cwnd/growth, b.mss)
}

func (b *BBR) probeInflightLongtermUpward(rs *RateSample, cwndLimited bool) {
	if !cwndLimited || b.inflightLong == bbrInf || b.cwnd < b.inflightLong {
		return // not fully using inflight_longterm
	}
	b.bwProbeUpAcked += rs.NewlyDelivered
	if b.bwProbeUpAcked >= b.probeUpAckedPerInc {
		delta := b.bwProbeUpAcked / b.probeUpAckedPerInc
		b.bwProbeUpAcked -= delta * b.probeUpAckedPerInc
		b.inflightLong += delta * b.mss
	}
	if b.roundStart {
		b.raiseInflightLongtermSlope()
	}
}

// adaptLongTermModel tracks the ACK phase, advances the max_bw filter
// and raises inflight_longterm; it reports whether it decided a state
// transition.
func (b *BBR) adaptLongTermModel(rs *RateSample, cwndLimited bool) bool {
	if b.ackPhase == bbrAcksProbeStarting && b.roundStart {
		b.ackPhase = bbrAcksProbeFeedback // getting probe feedback
	}
	if b.ackPhase == bbrAcksProbeStopping && b.roundStart {
		// The end of samples from the probing phase.
		b.isBwProbeSample = false
		b.ackPhase = bbrAcksInit
		if b.state.IsProbeBW() && !rs.AppLimited {
			b.advanceMaxBwFilter()
		}
		// Precautionary bandwidth probing: acceleration.
		if b.state.IsProbeBW() && b.prevProbePrecaut && !b.prevProbeTooHigh {
			b.startProbeBWRefill()
			return true
		}
	}
	if b.inflightTooHigh(rs.Lost, rs.TxInFlight) || b.inflightLong == bbrInf {
		return false
	}
	if rs.TxInFlight > b.inflightLong {
		b.inflightLong = rs.TxInFlight
	}
	if b.state == BBRProbeBWUp {
		b.probeInflightLongtermUpward(rs, cwndLimited)
	}
	return false
}

// isTimeToProbeBW moves DOWN or CRUISE to REFILL after the randomised
// wait or the Reno coexistence rounds (section 5.3.3.8.3).
func (b *BBR) isTimeToProbeBW(now clock.Time) bool {
	if now.Sub(b.cycleStamp) > b.bwProbeWait || b.isRenoCoexistenceProbeTime() {
		b.startProbeBWRefill()
		return true
	}
	return false
}

// pickProbeWait draws 0 or 1 rounds and 2 to 3 s.
func (b *BBR) pickProbeWait() {
	b.roundsSinceProbeUp = b.random(2)
	b.bwProbeWait = 2*time.Second + time.Duration(b.random(1000))*time.Millisecond
}

func (b *BBR) random(n int) int {
	if b.rnd == nil {
		return 0
	}
	return b.rnd(n)
}

func (b *BBR) isRenoCoexistenceProbeTime() bool {
	renoRounds := int(b.targetInflight()) / max(b.mss, 1)
	return b.roundsSinceProbeUp >= min(renoRounds, 63)
}

// targetInflight is the BDP, unless congestion cut the window.
func (b *BBR) targetInflight() float64 {
	return math.Min(b.bdpMultiple(1), float64(b.cwnd))
}

// updateMinRTT is section 5.3.4.3's.
func (b *BBR) updateMinRTT(rs *RateSample, now clock.Time) {
	b.probeRTTExpire = now.Sub(b.probeRTTStamp) > bbrProbeRTTInterval
	if rs.RTT > 0 && (b.probeRTTMin == 0 || rs.RTT < b.probeRTTMin || b.probeRTTExpire) {
		b.probeRTTMin, b.probeRTTStamp = rs.RTT, now
	}
	expired := now.Sub(b.minRTTStamp) > bbrMinRTTFilterLen
	if b.probeRTTMin > 0 && (b.minRTT == 0 || b.probeRTTMin < b.minRTT || expired) {
		b.minRTT, b.minRTTStamp = b.probeRTTMin, b.probeRTTStamp
	}
}

// checkProbeRTT is section 5.3.4.3's.
func (b *BBR) checkProbeRTT(rs *RateSample, inFlight int, now clock.Time) {
	if b.state != BBRProbeRTT && b.probeRTTExpire && !b.idleRestart {
		b.state = BBRProbeRTT
		b.pacingGain, b.cwndGain = 1, bbrProbeRTTCwndGain
		b.saveCwnd()
		b.probeRTTDoneSet = false
		b.ackPhase = bbrAcksProbeStopping
		b.startRound()
	}
	if b.state == BBRProbeRTT {
		b.handleProbeRTT(inFlight, now)
	}
	if rs.NewlyDelivered > 0 {
		b.idleRestart = false
	}
}

func (b *BBR) handleProbeRTT(inFlight int, now clock.Time) {
	b.appLimitedNow = true // ignore low rate samples during ProbeRTT
	switch {
	case !b.probeRTTDoneSet && inFlight <= b.probeRTTCwnd():
		// Wait for ProbeRTTDuration and for a round.
		b.probeRTTDone, b.probeRTTDoneSet = now.Add(bbrProbeRTTDuration), true
		b.probeRTTRoundDone = false
		b.startRound()
	case b.probeRTTDoneSet:
		if b.roundStart {
			b.probeRTTRoundDone = true
		}
		if b.probeRTTRoundDone {
			b.checkProbeRTTDone(now)
		}
	}
}

func (b *BBR) checkProbeRTTDone(now clock.Time) {
	if b.probeRTTDoneSet && now.After(b.probeRTTDone) {
		b.probeRTTStamp = now // schedule the next ProbeRTT
		b.restoreCwnd()
		// ExitProbeRTT (section 5.3.4.4).
		b.resetShortTermModel()
		if b.fullBwReached {
			b.now = now
			b.startProbeBWDown()
			b.startProbeBWCruise()
		} else {
			b.enterStartup()
		}
	}
}

func (b *BBR) probeRTTCwnd() int {
	return max(int(b.bdpMultiple(bbrProbeRTTCwndGain)), bbrMinPipeSegs*b.mss)
}

// onTransmit is HandleRestartFromIdle (section 5.4.1) before a segment
// leaves with nothing in flight while application-limited.
func (b *BBR) onTransmit(idleAppLimited bool, now clock.Time) {
	if !b.inited || !idleAppLimited {
		return
	}
	b.idleRestart = true
	b.extraStart = now
	if b.state.IsProbeBW() {
		b.setPacingRateWithGain(1)
	} else if b.state == BBRProbeRTT {
		b.checkProbeRTTDone(now)
	}
}

// setPacingRateWithGain is section 5.6.2's: never lowered before the
// pipe is full.
func (b *BBR) setPacingRateWithGain(gain float64) {
	if b.bw == 0 || math.IsInf(b.bw, 1) {
		return
	}
	r := gain * b.bw * (100 - bbrPacingMarginPercent) / 100
	if b.fullBwReached || r > b.pacingRate {
		b.pacingRate = r
	}
}

// sendQuantum is section 5.6.3's: 1 ms at the pacing rate, in [2 MSS,
// 64 kB].
func (b *BBR) sendQuantum() int {
	return max(min(int(b.pacingRate/1000), 64<<10), 2*b.mss)
}

// bdpMultiple is section 5.6.4.2's BDPMultiple.
func (b *BBR) bdpMultiple(gain float64) float64 {
	if b.minRTT == 0 || b.bw == 0 || math.IsInf(b.bw, 1) {
		return float64(b.initCwnd)
	}
	return gain * b.bw * b.minRTT.Seconds()
}

// quantizationBudget adds the offload budget (three send quanta, section
// 5.5.8.1), the minimum pipe and ProbeBW_UP's two segments.
func (b *BBR) quantizationBudget(c float64) int {
	n := max(int(c), 3*b.sendQuantum(), bbrMinPipeSegs*b.mss)
	if b.state == BBRProbeBWUp {
		n += 2 * b.mss
	}
	return n
}

// inflight is Inflight(gain).
func (b *BBR) inflight(gain float64) int { return b.quantizationBudget(b.bdpMultiple(gain)) }

// maxInflight is UpdateMaxInflight's BBR.max_inflight. As Linux's
// bbr_ack_aggregation_cwnd, the aggregation allowance only applies once
// the pipe is full and is capped at 100 ms at bw: in Startup the
// bandwidth estimate lags the growing ACK rate, and the allowance would
// let the window grow without bound.
func (b *BBR) maxInflight() int {
	aggr := 0.0
	if b.fullBwReached {
		aggr = math.Min(b.extraAcked, b.bw*0.1)
	}
	return b.quantizationBudget(b.bdpMultiple(b.cwndGain) + aggr)
}

// setCwnd is section 5.6.4.6, with BoundCwndForProbeRTT and
// BoundCwndForModel (section 5.6.4.7).
func (b *BBR) setCwnd(rs *RateSample) {
	maxIn := b.maxInflight()
	acked := rs.NewlyDelivered
	switch {
	case b.fullBwReached:
		b.cwnd = min(b.cwnd+acked, maxIn)
	case b.cwnd < maxIn || b.delivered < int64(b.initCwnd):
		b.cwnd += acked
	}
	b.cwnd = max(b.cwnd, bbrMinPipeSegs*b.mss)
	if b.state == BBRProbeRTT {
		b.cwnd = min(b.cwnd, b.probeRTTCwnd())
	}
	capacity := bbrInf
	switch {
	case b.state.IsProbeBW() && b.state != BBRProbeBWCruise:
		capacity = b.inflightLong
	case b.state == BBRProbeRTT || b.state == BBRProbeBWCruise:
		capacity = b.inflightWithHeadroom()
	}
	capacity = max(min(capacity, b.inflightShort), bbrMinPipeSegs*b.mss)
	b.cwnd = min(b.cwnd, capacity)
}
