package tcp

import (
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// sender is the send half of a connection: the send sequence variables
// (RFC 9293 section 3.3.1), the send buffer, the retransmission and
// persist timers with the RTT estimator (RFC 6298), congestion control and
// loss recovery (RFC 5681, 6582, 6675, 6937, 8985). Conn embeds it, as
// gVisor's endpoint holds its sender (snd.go). Methods that need only the
// send half's state are declared on sender (and promoted to Conn); those
// that also need the stack, the clock or the negotiated options are
// Conn's. This file holds the ACK processing and the timers; output.go
// the transmission, sack.go the SACK scoreboard.
type sender struct {
	// The send buffer holds the bytes from bufStart on; the SYN precedes
	// bufStart and the FIN follows the buffered data.
	iss, sndUna, sndNxt, sndMax seqnum
	sndWnd, maxSndWnd           uint32
	sndWl1, sndWl2              seqnum
	bufStart                    seqnum
	sndSml                      seqnum // end of the latest short segment (Minshall)
	sndBuf                      ring
	finQueued                   bool
	sndUp                       seqnum // send urgent pointer (RFC 9293 section 3.8.5)
	sndUrg                      bool   // urgent data not yet acknowledged
	finAcked                    bool
	noDelay                     bool
	// cork holds a partial last segment (TCP_CORK); more does so for
	// the WriteMore call under way (MSG_MORE); noPush marks that the
	// buffer ends with MSG_MORE data, so its end is no push point.
	cork, more, noPush bool
	// pushBurst asks sendData to set PSH on the segment it sends: the
	// last one of a burst the linux profile's windows allow.
	pushBurst bool
	// pushState is the linux profile's PSH model (push.go).
	pushState
	// synAcked marks the handshake's ACK while it is processed: in the
	// linux profile it does not grow cwnd.
	synAcked bool
	// maxFlight is the largest flight (bytes) sent since SND.UNA passed
	// cwndUsageSeq, as Linux's max_packets_out and cwnd_usage_seq.
	maxFlight    int
	cwndUsageSeq seqnum
	// tsOffset is added to the timestamp clock (RFC 7323 section 5.4).
	tsOffset uint32
	// sndShift is the peer's window scale (RFC 7323 section 2).
	sndShift uint8
	maxSeg   int // largest TCP payload+options
	mss      int // payload of a full segment with timestamps (SMSS)

	// RTT and timers (RFC 6298).
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	rttTiming         bool
	rttSeq            seqnum
	rttTime           clock.Time
	retries           int
	persist           bool
	persistBackoff    int
	persistBytes      int
	// zwp is set from the first zero-window probe that sent a byte never
	// sent before (at zwpFrom) until the bytes up to zwpEnd are sent
	// again, or acknowledged, after the window opened: sends from zwpFrom
	// on are then not counted as retransmissions.
	zwp             bool
	zwpFrom, zwpEnd seqnum
	// rtoTS is the timestamp clock at the latest timeout retransmission
	// (rtoTSSet once there was one): earlier echoes give no RTT sample.
	rtoTS    uint32
	rtoTSSet bool
	rtx      clock.Timer
	// lastSend is when a segment carrying data last left (Linux's
	// lsndtime), for Config.SlowStartAfterIdle.
	lastSend clock.Time
	// progressAt is when the oldest data in flight started waiting for
	// its ACK: when the flight began or SND.UNA last advanced (RFC 5482).
	progressAt clock.Time

	// Congestion control and loss recovery (RFC 5681, 6582, 6675).
	cc         CongestionControl
	ccs        CCState
	dupAcks    int
	inRecovery bool
	// inLoss is set from a retransmission timeout until everything sent
	// before it is acknowledged (Linux's TCP_CA_Loss).
	inLoss  bool
	recover seqnum
	// reordering is the reordering degree seen, in segments (Linux's
	// tp->reordering; 0 until it passes 3), reported by Info.
	reordering int
	highRxt    seqnum
	rtxMark    seqnum // SND.MAX when the latest recovery retransmission left
	rtxMarkSet bool
	sb         []seqRange
	// Proportional Rate Reduction state (RFC 6937 section 3).
	prrDelivered, prrOut, recoverFS int
	// prrEntry is what the fast retransmission that starts recovery
	// sent, until that ACK's PRR step.
	prrEntry int
	// RACK-TLP (RFC 8985) state and its reordering timer.
	rk    rackState
	rackT clock.Timer
	// rate is BBR's delivery-rate sampler and pacing (bbr.go).
	rate rateState
}

// userTimedOut reports whether data has waited for an acknowledgment for
// the user timeout.
func (c *Conn) userTimedOut(now clock.Time) bool {
	return c.userTimeout > 0 && c.sndMax != c.sndUna && now.Sub(c.progressAt) >= c.userTimeout
}

// Write queues p for sending and returns how much fit in the send buffer,
// or ErrWouldBlock when none did.
func (c *Conn) Write(p []byte) (int, error) { return c.write(p, false) }

// WriteUrgent is Write for urgent data (RFC 9293 section 3.8.5): the urgent
// pointer moves to the end of what was queued and every segment sent
// before it carries URG, until the peer acknowledges it. The data itself
// travels in line. RFC 9293 (SHLD-13) advises new applications not to use
// it; it exists for the applications and tests that do.
func (c *Conn) WriteUrgent(p []byte) (int, error) { return c.write(p, true) }

func (c *Conn) write(p []byte, urgent bool) (int, error) {
	switch {
	case c.err != nil:
		return 0, c.err
	case c.finQueued:
		return 0, ErrWriteShutdown
	case c.state == StateClosed:
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.sndBuf.reserve(c.sndBuf.n+len(p), c.s.cfg.SendBuffer)
	c.idleRestart()
	var n int
	if c.linuxPush() {
		n = c.writeLinux(p)
	} else {
		if c.sndLimit > 0 {
			p = p[:min(len(p), max(c.sndLimit-c.sndBuf.n, 0))]
		}
		n = c.sndBuf.append(p)
	}
	if n == 0 {
		return 0, ErrWouldBlock
	}
	if urgent {
		c.sndUp, c.sndUrg = c.bufStart.add(c.sndBuf.n), true
	}
	c.noPush = c.more
	c.output()
	return n, nil
}

// idleRestart applies Config.SlowStartAfterIdle before new data leaves:
// RFC 5681 section 4.1 sets cwnd to no more than the restart window
// RW = min(IW, cwnd) after an idle period longer than the RTO; as Linux's
// tcp_cwnd_restart (RFC 2861), cwnd is halved once per RTO idle, not
// below RW, and ssthresh keeps three quarters of the old window
// (tcp_current_ssthresh).
func (c *Conn) idleRestart() {
	if !c.s.cfg.SlowStartAfterIdle || c.sndMax != c.sndUna || c.lastSend == 0 ||
		c.inRecovery || c.inLoss || !c.synchronized() {
		return
	}
	switch c.cc.(type) {
	case *CUBIC, *NewReno:
	default:
		return // the algorithm controls the window itself (BBR)
	}
	idle := c.s.clk.Now().Sub(c.lastSend)
	if idle <= c.rto {
		return
	}
	s := &c.ccs
	if segs := s.Cwnd / max(c.mss, 1); s.Ssthresh < (segs>>1+segs>>2)*c.mss {
		s.Ssthresh = (segs>>1 + segs>>2) * c.mss
	}
	rw := min(c.s.cfg.InitialCwndSegments*c.mss, s.Cwnd)
	cwnd := s.Cwnd
	for idle -= c.rto; idle > 0 && cwnd > rw; idle -= c.rto {
		cwnd >>= 1
	}
	s.Cwnd = max(cwnd, rw)
	c.maxFlight = 0
}

func (c *Conn) backoffReset() {
	if c.hasRTT {
		c.computeRTO()
	}
}

// prrOn reports whether Proportional Rate Reduction sets the window in
// recovery: configured, and SACK recovery (RFC 6937 builds on RFC 6675's
// pipe).
func (c *Conn) prrOn() bool { return c.s.cfg.PRR && c.sackOK }

// prrAck is RFC 6937 section 3's per-ACK step: delivered is DeliveredData
// (the change in SND.UNA plus the change in SACKed bytes). The window
// becomes pipe + sndcnt so that RFC 6675's transmission rule sends sndcnt
// bytes; PRR-SSRB bounds the catch-up once pipe is below ssthresh.
func (c *Conn) prrAck(delivered int, unaAdvanced bool) {
	c.prrDelivered += delivered
	pipe := c.pipe()
	ssthresh := c.ccs.Ssthresh
	var sndcnt int
	if pipe > ssthresh {
		// Proportional rate reduction: CEIL(prr_delivered * ssthresh /
		// RecoverFS) - prr_out.
		fs := max(c.recoverFS, 1)
		sndcnt = (c.prrDelivered*ssthresh+fs-1)/fs - c.prrOut
	} else if c.s.cfg.Profile == ProfileLinux {
		// Linux's tcp_cwnd_reduction runs before the fast retransmission
		// of the ACK that starts recovery (prrEntry bytes), so it sees
		// the flight and prr_out without it, and adds PRR-SSRB's extra
		// segment only when SND.UNA advanced.
		e := c.prrEntry
		limit := max(c.prrDelivered-(c.prrOut-e), delivered)
		if unaAdvanced {
			limit += c.mss
		}
		pipe -= e
		sndcnt = min(ssthresh-pipe, limit)
	} else {
		limit := max(c.prrDelivered-c.prrOut, delivered) + c.mss
		sndcnt = min(ssthresh-pipe, limit)
	}
	c.prrEntry = 0
	c.ccs.Cwnd = pipe + max(sndcnt, 0)
}

// newAck handles an ACK that advances SND.UNA (RFC 9293 section
// 3.10.7.4, fifth: SND.UNA < SEG.ACK =< SND.NXT).
func (c *Conn) newAck(ack seqnum, o *Options) {
	now := c.s.clk.Now()
	acked := ack.diff(c.sndUna)
	// Linux counts delivery when a segment is SACKed, so an ACK covering
	// SACKed bytes delivers only the rest (tcp_ack's acked_sacked).
	delivered := acked - c.sackedBelow(ack)
	if c.zwp && !ack.lt(c.zwpEnd) {
		c.zwp = false
	}
	tsRTT := c.ackRTT(ack, o, now)
	c.hystartSample(ack, tsRTT, now)
	c.ackBuffer(ack)
	flight := c.sndMax.diff(c.sndUna)
	c.sndUna = ack
	c.progressAt = now
	if c.sndUrg && !c.sndUp.gt(ack) {
		c.sndUrg = false
	}
	if c.sndNxt.lt(ack) {
		c.sndNxt = ack
	}
	c.retries = 0
	c.pruneScoreboard()
	if c.inLoss && ack.geq(c.recover) {
		c.inLoss = false
	}
	if c.inRecovery {
		c.ackInRecovery(ack, acked)
	} else {
		c.ackOpen(acked, delivered, flight, now)
	}
	c.ackTimers()
	if c.finAcked {
		c.ackFIN(now)
	}
}

// ackRTT takes an RTT sample from an ACK of new data and returns the one
// from the echoed timestamp (0 if none): RTTM from the echoed timestamp
// (RFC 7323 section 4), else one timed segment at a time, never a
// retransmitted one (Karn's algorithm, RFC 6298 section 3).
func (c *Conn) ackRTT(ack seqnum, o *Options, now clock.Time) time.Duration {
	var tsRTT time.Duration
	if c.tsOK && o.HasTS && o.TSEcr != 0 {
		if d := int32(c.tsNow() - o.TSEcr); d >= 0 && c.echoAfterTimeout(o.TSEcr) {
			tsRTT = time.Duration(d) * time.Millisecond
			c.rttSample(tsRTT)
		}
	} else if c.rttTiming && ack.gt(c.rttSeq) {
		c.rttTiming = false
		c.rttSample(now.Sub(c.rttTime))
	}
	return tsRTT
}

// ackBuffer frees the acknowledged bytes of the send buffer and notes an
// acknowledged FIN.
func (c *Conn) ackBuffer(ack seqnum) {
	dataEnd := c.bufStart.add(c.sndBuf.n)
	if upto := seqMin(ack, dataEnd); upto.gt(c.bufStart) {
		k := upto.diff(c.bufStart)
		c.sndBuf.discard(k)
		c.bufStart = upto
		c.stats.BytesSent += uint64(k)
		c.pendEv |= evWritable
	}
	if c.finQueued && ack.gt(dataEnd) {
		c.finAcked = true
	}
}

// ackInRecovery handles an ACK of new data during fast recovery.
func (c *Conn) ackInRecovery(ack seqnum, acked int) {
	switch {
	case ack.geq(c.recover):
		// Full acknowledgment (RFC 6582 section 3.2 step 3; RFC 6675
		// section 5 step (A)).
		c.inRecovery = false
		c.dupAcks = 0
		c.ccs.Cwnd = min(c.ccs.Ssthresh, max(c.sndMax.diff(c.sndUna), c.mss)+c.mss)
		if c.sackOK {
			c.ccs.Cwnd = c.ccs.Ssthresh
		}
	case !c.sackOK:
		// Partial acknowledgment (RFC 6582 section 3.2 step 4):
		// retransmit the first unacknowledged segment and deflate.
		c.retransmit(c.sndUna, c.mss)
		c.ccs.Cwnd = max(c.ccs.Cwnd-acked, c.mss)
		if acked >= c.mss {
			c.ccs.Cwnd += c.mss
		}
		c.armRTO()
	case c.highRxt.lt(c.sndUna):
		c.highRxt = c.sndUna
	}
}

// ackOpen handles an ACK of new data outside recovery: the congestion
// window grows.
func (c *Conn) ackOpen(acked, delivered, flight int, now clock.Time) {
	c.dupAcks = 0
	// Grow only when the window was used (RFC 7661 spirit): an
	// application-limited sender does not inflate cwnd.
	// Linux does not count the SYN's acknowledgment as delivered
	// data (tcp_ack of the handshake ACK is not cwnd-limited).
	switch {
	case c.synAcked:
	case c.ecnHoldsCwnd():
		// An ECN reduction's window (RFC 3168 section 6.1.2; ecn.go).
	case c.s.cfg.Profile == ProfileLinux:
		c.linuxCongAvoid(delivered, flight, now)
	case flight+c.mss >= c.ccs.Cwnd || c.ccs.Cwnd < c.ccs.Ssthresh:
		c.cc.OnAck(&c.ccs, acked, flight, now)
	}
}

// ackTimers restarts or stops the retransmission timer after an ACK of
// new data (RFC 6298 sections 5.2 and 5.3); the persist timer keeps
// running.
func (c *Conn) ackTimers() {
	switch {
	case c.persist:
	case c.sndUna == c.sndMax:
		c.s.clk.Cancel(&c.rtx)
		c.rk.ptoArmed = false
	default:
		c.armRTOorPTO()
	}
}

// ackFIN moves the state machine on when our FIN is acknowledged (RFC 9293
// section 3.10.7.4, fifth, in FIN-WAIT-1, CLOSING and LAST-ACK).
func (c *Conn) ackFIN(now clock.Time) {
	switch c.state {
	case StateFinWait1:
		c.state = StateFinWait2
		if c.appClosed {
			c.s.clk.Schedule(&c.misc, now.Add(c.s.cfg.FinWait2Timeout))
		}
	case StateClosing:
		c.enterTimeWait()
	case StateLastAck:
		c.destroy(nil, true)
	}
}

// dupAck handles a duplicate acknowledgment (RFC 5681 section 2).
func (c *Conn) dupAck() {
	c.dupAcks++
	if c.inRecovery {
		if !c.sackOK {
			// RFC 6582 section 3.2 step 4 (RFC 5681 step 4): inflate.
			c.ccs.Cwnd += c.mss
		}
		return
	}
	sackLost := c.sackOK && c.isLost(c.sndUna)
	thresh := 3
	// RFC 5827 (early retransmit): with fewer than four segments out and
	// nothing new to send, the threshold is one less than the segments
	// outstanding.
	if oseg := (c.sndMax.diff(c.sndUna) + c.mss - 1) / c.mss; oseg < 4 && oseg >= 2 &&
		c.bufStart.add(c.sndBuf.n).diff(c.sndMax) <= 0 {
		thresh = oseg - 1
	}
	lost := c.dupAcks >= thresh || sackLost
	// RFC 6582 section 3.2 step 1: no new recovery for losses from before
	// the last one, unless the SACK scoreboard proves a loss (RFC 6675
	// IsLost); none at all inside a timeout's episode (RFC 6675 section
	// 5.1: not until SND.UNA reaches the RecoveryPoint the timeout set).
	if !lost || c.inLoss || (c.sndUna.lt(c.recover) && !sackLost) {
		return
	}
	c.enterRecovery()
}

// sackDupAck handles an ACK that advanced SND.UNA and carried new SACK
// information. RFC 6675 section 5 counts it as a duplicate ACK (section 2's
// SACK definition) "regardless of its status as a cumulative
// acknowledgment": DupAcks, just reset by the cumulative ACK, becomes one,
// and step (2) starts loss recovery when IsLost(HighACK + 1) holds, as
// Linux's tcp_time_to_recover does once the scoreboard proves a loss.
// DupThresh itself cannot be reached by one ACK, so only IsLost decides.
// With RACK-TLP, RACK's marks decide instead (RFC 8985 section 6.2; Linux's
// tcp_time_to_recover skips the DupThresh rule when RACK runs).
func (c *Conn) sackDupAck() {
	if c.rackOn() || c.inRecovery || c.inLoss || !c.synchronized() || c.sndUna == c.sndMax {
		return
	}
	c.dupAcks = 1
	if c.isLost(c.sndUna) {
		c.enterRecovery()
	}
}

// lossBase is the window a loss reduces from: FlightSize (RFC 5681
// equation 4, RFC 9438 section 4.6), or cwnd in the linux profile, as
// Linux's ssthresh hooks (tcp_reno_ssthresh, bictcp_recalc_ssthresh)
// take it.
func (c *Conn) lossBase() int {
	if c.linuxWindowCC() {
		return c.ccs.Cwnd
	}
	return c.sndMax.diff(c.sndUna)
}

// linuxWindowCC reports whether the linux profile's rules for window-based
// congestion control (Linux's ssthresh hooks, tcp_cwnd_restart) apply:
// the linux profile with CUBIC or NewReno. Linux skips them for an
// algorithm that controls the window itself (cong_control, as BBR).
func (c *Conn) linuxWindowCC() bool {
	if c.s.cfg.Profile != ProfileLinux {
		return false
	}
	switch c.cc.(type) {
	case *CUBIC, *NewReno:
		return true
	}
	return false
}

func (c *Conn) enterRecovery() {
	flight := c.sndMax.diff(c.sndUna)
	c.cc.OnCongestion(&c.ccs, c.lossBase(), c.s.clk.Now())
	c.inRecovery = true
	c.recover = c.sndMax
	// RFC 6937 section 3: initialization at the start of recovery.
	c.prrDelivered, c.prrOut, c.recoverFS, c.prrEntry = 0, 0, flight, 0
	c.stats.FastRetransmits++
	if c.rackOn() {
		// The fast retransmission is the first segment RACK marked lost,
		// or SND.UNA's when DupThresh started recovery, unless it was
		// already resent (RFC 8985 section 6.2: resending it now would
		// be spurious and its ACK would mark everything sent before the
		// copy lost).
		c.rackMarkHeadLost()
		if seq, n, ok := c.rackNextLost(); ok {
			c.prrEntry = c.retransmit(seq, n)
		}
		c.rtxMark, c.rtxMarkSet = c.sndMax, true
		return
	}
	n := c.mss
	if len(c.sb) > 0 {
		n = min(n, c.sb[0].start.diff(c.sndUna))
	}
	c.retransmit(c.sndUna, n)
	c.highRxt = c.sndUna.add(n)
	c.rtxMark, c.rtxMarkSet = c.sndMax, true
	if !c.sackOK {
		c.ccs.Cwnd = c.ccs.Ssthresh + 3*c.mss
	}
}

// onRTX handles the retransmission (or persist) timer.
func (c *Conn) onRTX(now clock.Time) {
	switch c.state {
	case StateClosed, StateTimeWait:
		return
	case StateSynSent, StateSynReceived:
		c.synTimeout()
		return
	}
	if c.persist {
		c.persistProbe()
		return
	}
	if c.sndUna == c.sndMax {
		return
	}
	if c.rk.ptoArmed {
		c.sendProbe() // RFC 8985 section 7.3
		return
	}
	c.retries++
	if c.retries > c.s.cfg.MaxRetries || c.userTimedOut(now) {
		c.giveUp(c.timeoutErr())
		return
	}
	c.retransmitTimeout(now)
}

// synTimeout resends the SYN (or SYN-ACK) with the timer backed off, or
// gives up after Config.SynRetries (RFC 9293 section 3.8.3, R2 for SYNs).
func (c *Conn) synTimeout() {
	cfg := &c.s.cfg
	c.retries++
	if c.retries > cfg.SynRetries {
		c.destroy(c.timeoutErr(), c.listener == nil)
		return
	}
	c.rto = min(c.rto*2, cfg.MaxRTO)
	c.markTimeout()
	c.stats.TimeoutRetransmits++
	c.sendSYN()
	c.armRTO()
}

// retransmitTimeout is the retransmission timeout of RFC 6298 sections 5.4-5.6:
// back off, collapse the window, resend from SND.UNA.
func (c *Conn) retransmitTimeout(now clock.Time) {
	if c.linuxWindowCC() && (c.inRecovery || c.inLoss) {
		// Linux's tcp_enter_loss sets ssthresh once per loss episode:
		// a timeout in recovery or after a timeout only collapses
		// the window.
		c.ccs.Cwnd = c.mss
	} else {
		c.cc.OnTimeout(&c.ccs, c.lossBase(), now)
	}
	c.markTimeout()
	c.stats.TimeoutRetransmits++
	c.rto = min(c.rto*2, c.s.cfg.MaxRTO)
	c.rttTiming = false
	c.inRecovery = false
	c.inLoss = true
	c.dupAcks = 0
	c.recover = c.sndMax
	// RFC 2018 section 8 and RFC 6675 section 5.1: the receiver may have
	// discarded what it SACKed (reneging), so the timeout clears the
	// scoreboard and the go-back-N resend covers everything from SND.UNA.
	c.sb = c.sb[:0]
	if c.rackOn() {
		c.rackOnRTO()
	}
	c.highRxt = c.sndUna
	c.rtxMarkSet = false
	c.sndNxt = c.sndUna
	c.armRTO()
	c.output()
}

// persistProbe sends one byte into a zero window (RFC 9293 section
// 3.8.6.1) and backs the persist timer off.
func (c *Conn) persistProbe() {
	dataEnd := c.bufStart.add(c.sndBuf.n)
	avail := dataEnd.diff(c.sndUna)
	if avail <= 0 {
		c.persist = false
		c.persistBackoff = 0
		c.output()
		return
	}
	if c.sndWnd == 0 && c.s.cfg.Profile == ProfileLinux && c.sndUna == c.sndMax {
		// Linux's tcp_write_wakeup probes a zero window with
		// tcp_xmit_probe_skb: no data, SEG.SEQ = SND.UNA-1, which the
		// peer must acknowledge (RFC 9293 section 3.8.6.1 lets the
		// probe be any segment that elicits an ACK with the window).
		c.sendData(c.sndUna.add(-1), 0, false)
		c.persistBackoff++
		c.armPersist()
		return
	}
	n := 1
	if c.sndWnd > 0 {
		// Data held by the cork or sender SWS avoidance: send what the
		// window allows, pushed (Linux's tcp_write_wakeup).
		n = min(int(c.sndWnd), c.mss, avail)
		c.pushBurst = c.s.cfg.Profile == ProfileLinux
	} else if !c.zwp && c.sndUna == c.sndMax {
		c.zwp, c.zwpFrom = true, c.sndMax
	}
	sent := c.sendData(c.sndUna, n, false)
	c.pushBurst = false
	if c.zwp {
		c.zwpEnd = c.sndMax
	}
	if e := c.sndUna.add(sent); c.sndNxt.lt(e) {
		c.sndNxt = e
	}
	c.persistBytes = max(c.persistBytes, sent)
	c.persistBackoff++
	c.armPersist()
}

func (c *Conn) armPersist() {
	d := c.rto << min(c.persistBackoff, 10)
	d = min(max(d, c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
	c.rk.ptoArmed = false
	c.s.clk.Schedule(&c.rtx, c.s.clk.Now().Add(d))
}

func (c *Conn) armRTO() {
	c.rk.ptoArmed = false
	now := c.s.clk.Now()
	d := c.rto
	if c.userTimeout > 0 && c.synchronized() && c.sndMax != c.sndUna {
		// RFC 5482 as Linux's tcp_clamp_rto_to_user_timeout: fire no
		// later than the user timeout's expiry.
		d = max(min(d, c.progressAt.Add(c.userTimeout).Sub(now)), time.Millisecond)
	}
	c.s.clk.Schedule(&c.rtx, now.Add(d))
}

// markTimeout records the timestamp clock at a timeout retransmission.
func (c *Conn) markTimeout() {
	c.rtoTS, c.rtoTSSet = c.tsNow(), true
}

// echoAfterTimeout reports whether an echoed timestamp may give an RTT
// sample: not when it predates the latest timeout retransmission. Such an
// echo (a stale TS.Recent at the peer, RFC 7323 section 4.2, or an ACK of
// the original transmission) measures the backoff, not the path, and
// feeding it to RFC 6298's estimator inflates SRTT and RTO without bound;
// this is Karn's rule (RFC 6298 section 3) applied to timestamps. The
// echo of the retransmission itself, or of later data, is a valid sample.
func (s *sender) echoAfterTimeout(ecr uint32) bool {
	return !s.rtoTSSet || int32(ecr-s.rtoTS) >= 0
}

// rttSample updates SRTT, RTTVAR and RTO (RFC 6298 section 2).
func (c *Conn) rttSample(r time.Duration) {
	if r < 0 {
		return
	}
	if !c.hasRTT {
		c.hasRTT = true
		c.srtt = r
		c.rttvar = r / 2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.ccs.SRTT = c.srtt
	if c.ccs.MinRTT == 0 || r < c.ccs.MinRTT {
		c.ccs.MinRTT = r
	}
	c.computeRTO()
}

func (c *Conn) computeRTO() {
	const g = time.Millisecond // clock granularity G
	if c.s.cfg.Profile == ProfileLinux {
		// Linux's __tcp_set_rto: the minimum RTO bounds the variance
		// term (tcp_rtt_estimator keeps rttvar_us >= tcp_rto_min), so
		// RTO = SRTT + max(4*RTTVAR, MinRTO), not max(SRTT+4*RTTVAR,
		// MinRTO) as RFC 6298 section 2.4.
		c.rto = min(c.srtt+max(4*c.rttvar, c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
		return
	}
	c.rto = c.srtt + max(g, 4*c.rttvar)
	c.rto = min(max(c.rto, c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
}

// linuxCongAvoid is Linux's tcp_cong_avoid for an ACK of acked bytes: the
// window grows only while the flow is cwnd-limited (tcp_is_cwnd_limited:
// the flight filled cwnd, or in slow start cwnd is below twice the largest
// recent flight), and slow start adds every acknowledged byte up to
// ssthresh (tcp_slow_start, RFC 3465 without the L limit), handing the
// rest to the algorithm's congestion avoidance.
func (s *sender) linuxCongAvoid(acked, flight int, now clock.Time) {
	cs := &s.ccs
	slowStart := cs.Cwnd < cs.Ssthresh
	if !(flight+s.mss > cs.Cwnd || slowStart && cs.Cwnd < 2*s.maxFlight) {
		return
	}
	if slowStart {
		grow := min(acked, cs.Ssthresh-cs.Cwnd)
		cs.Cwnd += grow
		acked -= grow
		if acked <= 0 {
			return
		}
	}
	s.cc.OnAck(cs, acked, flight, now)
}

// noteFlight records the flight after a transmission of new data for
// linuxCongAvoid (Linux's tcp_cwnd_validate).
func (s *sender) noteFlight() {
	fl := s.sndNxt.diff(s.sndUna)
	if !s.sndUna.lt(s.cwndUsageSeq) || fl > s.maxFlight {
		s.maxFlight = fl
		s.cwndUsageSeq = s.sndNxt
	}
}

// updateSndWnd takes the peer's window from a segment that is not older
// than the one it last came from (RFC 9293 section 3.10.7.4, fifth: SND.WL1
// and SND.WL2), and reports whether it changed.
func (c *Conn) updateSndWnd(seq, ack seqnum, wnd uint32) bool {
	if !(c.sndWl1.lt(seq) || (c.sndWl1 == seq && c.sndWl2.leq(ack))) {
		return false
	}
	wndChanged := wnd != c.sndWnd
	c.sndWnd = wnd
	c.sndWl1, c.sndWl2 = seq, ack
	c.maxSndWnd = max(c.maxSndWnd, wnd)
	if wnd > 0 && c.persist {
		c.exitPersist(ack)
	}
	if wndChanged && c.sndBuf.n > 0 {
		// Linux's tcp_ack_update_window: a window update with data
		// waiting restarts slow start after idle (RFC 5681 section
		// 4.1) as a write would.
		c.idleRestart()
	}
	return wndChanged
}

// exitPersist leaves the persist state when the window opened: probe
// bytes not acknowledged are sent again with the data that follows them.
func (c *Conn) exitPersist(ack seqnum) {
	c.persist = false
	c.persistBackoff = 0
	c.s.clk.Cancel(&c.rtx)
	if ack.gt(c.sndNxt) {
		c.sndNxt = ack
	}
	if c.sndNxt.gt(ack) && c.sndNxt.diff(ack) <= c.persistBytes {
		c.sndNxt = ack
	}
	c.persistBytes = 0
}
