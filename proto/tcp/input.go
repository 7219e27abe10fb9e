package tcp

// inSeg is an arriving segment as input's steps see it. In SYN-RECEIVED
// the SYN of a simultaneous open's SYN-ACK is taken off fl, seq and segLen
// (synReceivedSYN); h keeps the segment as it came.
type inSeg struct {
	h       Header
	o       *Options
	fl      uint8
	seq     seqnum
	ack     seqnum
	payload []byte
	segLen  int // SEG.LEN: payload plus SYN and FIN
}

// newInSeg reads a segment's fields for input's steps.
func newInSeg(h Header, o *Options) inSeg {
	sg := inSeg{h: h, o: o, fl: h.Flags(), seq: seqnum(h.Seq()), ack: seqnum(h.Ack()), payload: h.Payload()}
	sg.segLen = len(sg.payload)
	if sg.fl&FlagSYN != 0 {
		sg.segLen++
	}
	if sg.fl&FlagFIN != 0 {
		sg.segLen++
	}
	return sg
}

// input processes a segment for a connection not in LISTEN: SYN-SENT has
// its own rules (RFC 9293 section 3.10.7.3, inputSynSent); the other
// states follow the steps of RFC 9293 section 3.10.7.4 in order, each a
// method that reports whether processing goes on.
func (c *Conn) input(h Header, o *Options) {
	c.stats.SegmentsReceived++
	if c.state == StateSynSent {
		c.inputSynSent(h, o)
		return
	}
	sg := newInSeg(h, o)
	if !c.synReceivedSYN(&sg) || !c.checkReopen(&sg) || !c.challengeSYN(&sg) ||
		!c.checkPAWS(&sg) || !c.checkSequence(&sg) {
		return
	}
	c.lastRecv = c.s.clk.Now()
	c.kaProbes = 0
	// Third, security (RFC 9293 section 3.10.7.4): no security
	// compartments are implemented, so there is nothing to check.
	if !c.checkRST(&sg) || !c.checkSYN(&sg) || !c.checkACK(&sg) {
		return
	}
	c.processURG(&sg)
	c.ecnInput(sg.fl) // RFC 3168 section 6.1.3: CE and CWR
	if !c.processText(&sg) {
		return
	}
	c.output()
}

// synReceivedSYN handles a SYN in SYN-RECEIVED before the sequence check.
// A retransmitted SYN means our SYN-ACK was lost: it is sent again. In a
// simultaneous open (RFC 9293 section 3.5, figure 8) the peer's SYN-ACK
// acknowledging our SYN completes the handshake; its SYN is already
// accounted for, so it is taken off the segment.
func (c *Conn) synReceivedSYN(sg *inSeg) bool {
	if c.state != StateSynReceived || sg.seq != c.irs {
		return true
	}
	switch sg.fl & (FlagSYN | FlagACK | FlagRST) {
	case FlagSYN:
		c.sendSYN()
		return false
	case FlagSYN | FlagACK:
		sg.fl &^= FlagSYN
		sg.seq++
		sg.segLen--
	}
	return true
}

// checkReopen lets a new SYN in TIME-WAIT reopen the pair (RFC 9293
// section 3.10.7.4 via RFC 1122 section 4.2.2.13, and RFC 6191).
func (c *Conn) checkReopen(sg *inSeg) bool {
	return !(c.state == StateTimeWait && sg.fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN &&
		c.reopenable(sg.seq, sg.o) && c.s.reopen(c, sg.h, sg.o))
}

// challengeSYN is the fourth step (check the SYN bit) taken first: RFC
// 5961 section 4.2 answers a SYN in a synchronized state with a challenge
// ACK (rate-limited, section 7) whatever its sequence number and
// timestamp, as Linux's tcp_validate_incoming does (syn_challenge) before
// PAWS and the window: a blind attacker's SYNs cannot make the connection
// send an ACK for each.
func (c *Conn) challengeSYN(sg *inSeg) bool {
	if sg.fl&(FlagSYN|FlagRST) != FlagSYN || !c.synchronized() || c.state == StateTimeWait {
		return true
	}
	c.challengeACK()
	return false
}

// challengeACK sends <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> unless the
// stack's challenge ACK limit is reached (RFC 5961 section 7).
func (c *Conn) challengeACK() {
	if c.s.allowChallengeACK() {
		c.ackNow = true
		c.output()
	}
}

// checkPAWS is the timestamp part of the first step (RFC 7323 sections
// 3.2 and 5.3): once timestamps are in use, a non-RST segment without them
// is dropped, and one whose timestamp is older than TS.Recent is dropped
// and acknowledged.
func (c *Conn) checkPAWS(sg *inSeg) bool {
	if !c.tsOK || sg.fl&FlagRST != 0 {
		return true
	}
	if !sg.o.HasTS {
		c.s.stats.Malformed++
		return false
	}
	if int32(sg.o.TSVal-c.tsRecent) < 0 {
		c.s.stats.PAWSDrops++
		c.ackNow = true
		c.output()
		return false
	}
	return true
}

// checkSequence is the first step (RFC 9293 section 3.10.7.4): an
// unacceptable segment is dropped and, unless it is a RST, acknowledged.
func (c *Conn) checkSequence(sg *inSeg) bool {
	if c.acceptable(sg.seq, sg.segLen) {
		return true
	}
	if c.state == StateTimeWait && sg.fl&FlagFIN != 0 {
		// A retransmitted FIN in TIME-WAIT is acknowledged and restarts
		// the 2*MSL timeout.
		c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
	}
	c.s.stats.OutOfWindow++
	if sg.fl&FlagRST == 0 {
		c.ackNow = true
		c.output()
	}
	return false
}

// checkRST is the second step (RFC 9293 section 3.10.7.4). RFC 1337: RSTs
// are ignored in TIME-WAIT (no assassination). RFC 5961 section 3.2: only
// a RST at exactly RCV.NXT resets; any other in-window RST draws a
// challenge ACK. A reset connection from a listener's queue goes away
// without telling an application that never accepted it.
func (c *Conn) checkRST(sg *inSeg) bool {
	if sg.fl&FlagRST == 0 {
		return true
	}
	switch {
	case c.state == StateTimeWait:
	case sg.seq != c.rcvNxt:
		c.challengeACK()
	case c.state == StateSynReceived && c.listener != nil:
		c.destroy(ErrConnReset, false)
	default:
		c.destroy(ErrConnReset, true)
	}
	return false
}

// checkSYN is the fourth step (RFC 9293 section 3.10.7.4): a SYN left here
// (in TIME-WAIT, or one challengeSYN did not see) draws a challenge ACK,
// whatever its sequence number (RFC 5961 section 4.2).
func (c *Conn) checkSYN(sg *inSeg) bool {
	if sg.fl&FlagSYN == 0 {
		return true
	}
	c.challengeACK()
	return false
}

// checkACK is the fifth step (RFC 9293 section 3.10.7.4): a segment
// without ACK is dropped; TS.Recent is updated (RFC 7323 section 4.3);
// the ACK completes a passive handshake and then moves the send side
// (processAck).
func (c *Conn) checkACK(sg *inSeg) bool {
	if sg.fl&FlagACK == 0 {
		return false
	}
	if c.s.cfg.Profile == ProfileLinux && c.state != StateSynReceived && sg.ack.gt(c.sndMax) {
		// Linux's tcp_ack drops an ACK of data not yet sent silently
		// (SKB_DROP_REASON_TCP_ACK_UNSENT_DATA), before it would update
		// TS.Recent, where RFC 9293 section 3.10.7.4 answers it.
		return false
	}
	// RFC 7323 section 4.3: update TS.Recent from a segment covering
	// Last.ACK.sent.
	if c.tsOK && sg.o.HasTS && sg.seq.leq(c.lastAckSent) {
		c.tsRecent = sg.o.TSVal
	}
	if c.state == StateSynReceived && !c.ackSynReceived(sg) {
		return false
	}
	ok := c.processAck(sg.h, sg.o, sg.seq, sg.ack, sg.fl)
	c.synAcked = false
	return ok && c.state != StateClosed
}

// ackSynReceived is the fifth step in SYN-RECEIVED: an acceptable ACK
// establishes the connection, any other is answered with
// <SEQ=SEG.ACK><CTL=RST>.
func (c *Conn) ackSynReceived(sg *inSeg) bool {
	ack := sg.ack
	if !ack.gt(c.sndUna) || ack.gt(c.sndMax) {
		c.s.stats.ResetsSent++
		c.s.send(c.key, Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(ack), Flags: FlagRST}, nil, nil)
		return false
	}
	c.sndWnd = uint32(sg.h.Window()) << c.sndShift
	c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
	c.sndWl1, c.sndWl2 = sg.seq, ack
	c.establish()
	c.synAcked = c.s.cfg.Profile == ProfileLinux
	return true
}

// processURG is the sixth step (RFC 9293 section 3.10.7.4): the URG bit
// counts in the states that receive data, until the peer's FIN.
func (c *Conn) processURG(sg *inSeg) {
	if sg.fl&FlagURG == 0 || c.finRcvd {
		return
	}
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		c.urgent(seqnum(sg.h.Seq()), sg.h.Urgent())
	}
}

// processText is the seventh and eighth steps (RFC 9293 section
// 3.10.7.4): segment text and FIN go to the receive side (processData) in
// the states that receive; a retransmitted FIN in TIME-WAIT is
// acknowledged and restarts 2*MSL; in the other states text and FIN are
// only acknowledged. It returns false when the segment reset the
// connection.
func (c *Conn) processText(sg *inSeg) bool {
	fin := sg.fl&FlagFIN != 0
	if len(sg.payload) == 0 && !fin {
		return true
	}
	switch c.state {
	case StateEstablished, StateFinWait1, StateFinWait2:
		if c.dataAfterClose(sg.h, sg.seq, len(sg.payload)) {
			return false
		}
		c.processData(sg.seq, sg.payload, fin)
	case StateTimeWait:
		c.ackNow = true
		c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
	default:
		c.ackNow = true
	}
	return true
}

// dataAfterClose resets the connection, in the linux profile, when new
// data arrives after the application closed it (RFC 1122 section
// 4.2.2.13: it cannot be delivered, so TCP SHOULD send a RST). As Linux's
// tcp_rcv_state_process, the segment is answered as if there were no
// connection (RFC 9293 section 3.10.7.1).
func (c *Conn) dataAfterClose(h Header, seq seqnum, n int) bool {
	if !c.appClosed || c.s.cfg.Profile != ProfileLinux || n == 0 || c.state == StateEstablished ||
		!seq.add(n).gt(c.rcvNxt) {
		return false
	}
	c.s.resetFor(c.key, h)
	c.destroy(ErrConnReset, true)
	return true
}

// processAck handles the ACK field (RFC 9293 section 3.10.7.4, fifth). It
// returns false when the segment must be dropped.
func (c *Conn) processAck(h Header, o *Options, seq, ack seqnum, fl uint8) bool {
	// RFC 5961 section 5.2: an ACK outside [SND.UNA-MAX.SND.WND, SND.NXT]
	// is answered with an ACK and dropped.
	if ack.gt(c.sndMax) || ack.lt(c.sndUna.add(-int(c.maxSndWnd))) {
		c.ackNow = true
		c.output()
		return false
	}
	una0, sacked0 := c.sndUna, 0
	if c.prrOn() {
		sacked0 = c.sackedBytes()
	}
	sackNews := c.stats.SACKedBytes
	if c.sackOK && o.NumSACK > 0 {
		c.updateScoreboard(o)
		c.detectLostRetransmit()
	}
	wnd := uint32(h.Window()) << c.sndShift
	wndChanged := c.updateSndWnd(seq, ack, wnd)
	payloadLen := len(h.Payload())
	switch {
	case ack.gt(c.sndUna):
		c.newAck(ack, o)
		if c.stats.SACKedBytes != sackNews {
			c.sackDupAck()
		}
	case ack == c.sndUna && payloadLen == 0 && fl&(FlagSYN|FlagFIN) == 0 &&
		c.sndMax != c.sndUna && (!wndChanged || o.NumSACK > 0) &&
		wnd > 0 && !c.persist:
		// RFC 5681 section 2's duplicate ACK; the answer to a zero-window
		// probe (RFC 9293 section 3.8.6.1) repeats SND.UNA because the
		// window is closed, not because a segment was lost.
		c.dupAck()
	}
	if c.rackOn() {
		c.rackOnAck(o, ack.gt(una0))
	}
	if c.inRecovery && c.prrOn() {
		c.prrAck(c.sndUna.diff(una0)+c.sackedBytes()-sacked0, c.sndUna.gt(una0))
	}
	c.ecnAck(fl, c.sndMax.diff(una0))
	c.rateAck(o)
	return true
}
