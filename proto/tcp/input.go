package tcp

// input processes a segment for a connection not in LISTEN.
func (c *Conn) input(h Header, o *Options) {
	c.stats.SegmentsReceived++
	if c.state == StateSynSent {
		c.inputSynSent(h, o)
		return
	}
	fl := h.Flags()
	seq := seqnum(h.Seq())
	payload := h.Payload()
	segLen := len(payload)
	if fl&FlagSYN != 0 {
		segLen++
	}
	if fl&FlagFIN != 0 {
		segLen++
	}
	// A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
	if c.state == StateSynReceived && fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN && seq == c.irs {
		c.sendSYN()
		return
	}
	// Simultaneous open (RFC 9293 section 3.5, figure 8): in SYN-RECEIVED
	// the peer's SYN-ACK acknowledging our SYN completes the handshake;
	// its SYN is already accounted for.
	if c.state == StateSynReceived && fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN|FlagACK && seq == c.irs {
		fl &^= FlagSYN
		seq++
		segLen--
	}
	// RFC 9293 section 3.10.7.4 (RFC 1122 section 4.2.2.13) and RFC
	// 6191: a new SYN in TIME-WAIT may reopen the pair.
	if c.state == StateTimeWait && fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN &&
		c.reopenable(seq, o) && c.s.reopen(c, h, o) {
		return
	}
	// RFC 5961 section 4.2: a SYN in a synchronized state draws a
	// challenge ACK (rate-limited, section 7) whatever its sequence number
	// and timestamp, as Linux's tcp_validate_incoming does (syn_challenge)
	// before PAWS and the window: a blind attacker's SYNs cannot make the
	// connection send an ACK for each.
	if fl&(FlagSYN|FlagRST) == FlagSYN && c.synchronized() && c.state != StateTimeWait {
		if c.s.allowChallengeACK() {
			c.ackNow = true
			c.output()
		}
		return
	}
	// RFC 7323 section 3.2: once timestamps are in use, a non-RST segment
	// without them is dropped.
	if c.tsOK && !o.HasTS && fl&FlagRST == 0 {
		c.s.stats.Malformed++
		return
	}
	// PAWS (RFC 7323 section 5.3): drop a segment whose timestamp is older
	// than TS.Recent, acknowledging it unless it is a RST.
	if c.tsOK && o.HasTS && fl&FlagRST == 0 && int32(o.TSVal-c.tsRecent) < 0 {
		c.s.stats.PAWSDrops++
		c.ackNow = true
		c.output()
		return
	}
	if !c.acceptable(seq, segLen) {
		if c.state == StateTimeWait && fl&FlagFIN != 0 {
			// RFC 9293 section 3.10.7.4: a retransmitted FIN in TIME-WAIT
			// is acknowledged and restarts the 2*MSL timeout.
			c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
		}
		c.s.stats.OutOfWindow++
		if fl&FlagRST == 0 {
			c.ackNow = true
			c.output()
		}
		return
	}
	c.lastRecv = c.s.clk.Now()
	c.kaProbes = 0
	if fl&FlagRST != 0 && c.state == StateTimeWait {
		// RFC 1337: ignore RSTs in TIME-WAIT (no assassination).
		return
	}
	if fl&FlagRST != 0 {
		// RFC 5961 section 3.2: only a RST at exactly RCV.NXT resets; any
		// other in-window RST draws a challenge ACK.
		if seq == c.rcvNxt {
			if c.state == StateSynReceived && c.listener != nil {
				c.destroy(ErrConnReset, false)
				return
			}
			c.destroy(ErrConnReset, true)
			return
		}
		if c.s.allowChallengeACK() {
			c.ackNow = true
			c.output()
		}
		return
	}
	if fl&FlagSYN != 0 {
		// RFC 5961 section 4.2: a SYN in a synchronized state draws a
		// challenge ACK, whatever its sequence number.
		if c.s.allowChallengeACK() {
			c.ackNow = true
			c.output()
		}
		return
	}
	if fl&FlagACK == 0 {
		return
	}
	if c.s.cfg.Profile == ProfileLinux && c.state != StateSynReceived && seqnum(h.Ack()).gt(c.sndMax) {
		// Linux's tcp_ack drops an ACK of data not yet sent silently
		// (SKB_DROP_REASON_TCP_ACK_UNSENT_DATA), before it would update
		// TS.Recent, where RFC 9293 section 3.10.7.4 answers it.
		return
	}
	// RFC 7323 section 4.3: update TS.Recent from a segment covering
	// Last.ACK.sent.
	if c.tsOK && o.HasTS && seq.leq(c.lastAckSent) {
		c.tsRecent = o.TSVal
	}
	ack := seqnum(h.Ack())
	if c.state == StateSynReceived {
		if !ack.gt(c.sndUna) || ack.gt(c.sndMax) {
			c.s.stats.ResetsSent++
			c.s.send(c.key, Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(ack), Flags: FlagRST}, nil, nil)
			return
		}
		c.sndWnd = uint32(h.Window()) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seq, ack
		c.establish()
		c.synAcked = c.s.cfg.Profile == ProfileLinux
	}
	ok := c.processAck(h, o, seq, ack, fl)
	c.synAcked = false
	if !ok {
		return
	}
	if c.state == StateClosed {
		return
	}
	if fl&FlagURG != 0 && !c.finRcvd {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			c.urgent(seqnum(h.Seq()), h.Urgent())
		}
	}
	c.ecnInput(fl)
	if len(payload) > 0 || fl&FlagFIN != 0 {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			if c.dataAfterClose(h, seq, len(payload)) {
				return
			}
			c.processData(seq, payload, fl&FlagFIN != 0)
		case StateTimeWait:
			// A retransmitted FIN: acknowledge and restart 2*MSL (RFC
			// 9293 section 3.10.7.4, eighth).
			c.ackNow = true
			c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
		default:
			c.ackNow = true
		}
	}
	c.output()
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
	if c.sackOK && o.NumSACK > 0 {
		c.updateScoreboard(o)
		c.detectLostRetransmit()
	}
	wnd := uint32(h.Window()) << c.sndShift
	wndChanged := false
	if c.sndWl1.lt(seq) || (c.sndWl1 == seq && c.sndWl2.leq(ack)) {
		wndChanged = wnd != c.sndWnd
		c.sndWnd = wnd
		c.sndWl1, c.sndWl2 = seq, ack
		c.maxSndWnd = max(c.maxSndWnd, wnd)
		if wnd > 0 && c.persist {
			// The window opened: probe bytes not acknowledged are sent
			// again with the data that follows them.
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
		if wndChanged && c.sndBuf.n > 0 {
			// Linux's tcp_ack_update_window: a window update with data
			// waiting restarts slow start after idle (RFC 5681 section
			// 4.1) as a write would.
			c.idleRestart()
		}
	}
	payloadLen := len(h.Payload())
	switch {
	case ack.gt(c.sndUna):
		c.newAck(ack, o)
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
