package tcp

import "time"

// activeOpen sends a SYN (RFC 9293 section 3.10.1).
func (c *Conn) activeOpen() {
	c.state = StateSynSent
	c.iss = c.s.isnFor(c.key)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	c.bufStart = c.iss + 1
	c.recover = c.iss
	c.sndSml = c.iss
	c.sendSYN()
	c.armRTO()
}

// passiveOpen answers a SYN received by a listener with a SYN-ACK.
func (c *Conn) passiveOpen(h Header, o *Options) {
	c.state = StateSynReceived
	c.irs = seqnum(h.Seq())
	c.rcvNxt = c.irs + 1
	c.negotiate(o)
	c.ecnSyn(h.Flags(), true)
	c.sndWnd = uint32(h.Window())
	c.maxSndWnd = c.sndWnd
	c.sndWl1 = c.irs
	c.iss = c.s.isnFor(c.key)
	if c.tw != nil {
		// Reopening from TIME-WAIT (RFC 9293 section 3.10.7.4 via RFC
		// 1122 section 4.2.2.13, condition 1; RFC 6191): the new ISS is
		// above the old incarnation's sequence space and a window beyond
		// it, whatever the ISN clock says (as Linux: tw_snd_nxt+65537).
		c.iss = c.tw.sndMax.add(65535 + 2)
	}
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	c.bufStart = c.iss + 1
	c.sndWl2 = c.iss
	c.recover = c.iss
	c.sndSml = c.iss
	if o.HasTS && c.tsOK {
		c.tsRecent = o.TSVal
	}
	c.lastRecv = c.s.clk.Now()
	c.sendSYN()
	c.armRTO()
}

// negotiate records the options of the peer's SYN: an option is used when
// both SYNs carry it (RFC 7323 sections 2.2 and 3.2, RFC 2018 section 2).
func (c *Conn) negotiate(o *Options) {
	cfg := &c.s.cfg
	peerMSS := 536 // RFC 9293 section 3.7.1 default
	if !c.key.raddr.Is4() {
		peerMSS = 1220
	}
	if o.HasMSS && o.MSS > 0 {
		peerMSS = int(o.MSS)
	}
	c.maxSeg = max(min(peerMSS, c.rmss), 64)
	c.wsOK = o.HasWScale && !cfg.DisableWindowScale
	if c.wsOK {
		c.sndShift = o.WScale
	} else {
		c.sndShift, c.rcvShift = 0, 0
	}
	c.sackOK = o.SACKPermitted && !cfg.DisableSACK
	c.tsOK = o.HasTS && !cfg.DisableTimestamps
	c.mss = c.maxSeg
	if c.tsOK {
		c.mss -= 12
	}
	c.ccs.MSS = c.mss
	// RFC 6928 initial window, capped as in its section 2.
	c.ccs.Cwnd = c.s.cfg.InitialCwndSegments * c.mss
	c.ccs.Ssthresh = 1 << 30
}

func (c *Conn) sendSYN() {
	cfg := &c.s.cfg
	o := &c.s.sendOpts
	*o = Options{HasMSS: true, MSS: uint16(c.rmss)}
	if !cfg.DisableWindowScale && (c.state == StateSynSent || c.wsOK) {
		o.HasWScale = true
		o.WScale = c.rcvShift
	}
	if !cfg.DisableSACK && (c.state == StateSynSent || c.sackOK) {
		o.SACKPermitted = true
	}
	if !cfg.DisableTimestamps && (c.state == StateSynSent || c.tsOK) {
		o.HasTS = true
		o.TSVal = c.tsNow()
		o.TSEcr = c.tsRecent
	}
	f := Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(c.iss), Flags: FlagSYN}
	f.Flags |= c.ecnSynFlags(c.stats.SegmentsSent > 0)
	// RFC 7323 section 2.2: the window in a SYN is never scaled.
	f.Window = uint16(min(c.s.cfg.RecvBuffer, 65535))
	if c.state == StateSynReceived {
		f.Flags |= FlagACK
		f.Ack = uint32(c.rcvNxt)
		c.rcvAdv = c.rcvNxt.add(int(f.Window))
		// RFC 7323 section 4.3: Last.ACK.sent is the ACK field last
		// sent, the SYN-ACK's included, so the handshake's ACK updates
		// TS.Recent.
		c.lastAckSent = c.rcvNxt
		if c.s.cfg.Profile == ProfileLinux && !c.tsOK {
			// Linux times the SYN-ACK (tcp_synack_rtt_meas) and RFC 6298
			// section 2 allows that first sample: the handshake's ACK
			// measures it unless the SYN-ACK was retransmitted (Karn).
			c.rttTiming = c.stats.SegmentsSent == 0
			c.rttSeq, c.rttTime = c.iss, c.s.clk.Now()
		}
	}
	// Every segment sent before this one was a SYN with the same ISS (a
	// SYN-ACK after simultaneous open resends it too), so this one is a
	// retransmission in sequence space, as a capture shows it.
	if c.stats.SegmentsSent > 0 {
		c.stats.Retransmits++
		c.stats.RetransmittedBytes++
	}
	c.stats.SegmentsSent++
	c.s.outTOS = c.ipTOS(0) // SYNs are not ECN-capable (RFC 3168 section 6.1.1)
	c.s.send(c.key, f, o, nil)
}

// inputSynSent handles a segment in SYN-SENT (RFC 9293 section 3.10.7.3):
// first the ACK bit, second the RST bit, fourth the SYN bit (the third,
// security, does not apply).
func (c *Conn) inputSynSent(h Header, o *Options) {
	fl := h.Flags()
	ack := seqnum(h.Ack())
	ackOK, ok := c.synSentACK(fl, ack)
	if !ok {
		return
	}
	if fl&FlagRST != 0 {
		if ackOK {
			c.destroy(ErrConnRefused, true)
		}
		return
	}
	if fl&FlagSYN == 0 {
		return
	}
	c.irs = seqnum(h.Seq())
	c.rcvNxt = c.irs + 1
	c.negotiate(o)
	c.ecnSyn(fl, false)
	if o.HasTS && c.tsOK {
		c.tsRecent = o.TSVal
	}
	c.lastRecv = c.s.clk.Now()
	if ackOK {
		c.sndUna = ack
		c.synRTT(o)
	}
	// RFC 7323 section 2.2: the window of a SYN is not scaled.
	c.sndWnd = uint32(h.Window())
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = c.irs, ack
	if c.sndUna.gt(c.iss) {
		c.establish()
		c.ackNow = true
		c.output()
		return
	}
	// Simultaneous open (RFC 9293 section 3.5, figure 8).
	c.state = StateSynReceived
	c.retries = 0
	c.sendSYN()
	c.armRTO()
}

// synSentACK is the first check in SYN-SENT (RFC 9293 section 3.10.7.3):
// an ACK that does not acknowledge our SYN is answered with
// <SEQ=SEG.ACK><CTL=RST> (unless it is a RST) and the segment dropped
// (ok false); ackOK tells that the segment acknowledges the SYN.
func (c *Conn) synSentACK(fl uint8, ack seqnum) (ackOK, ok bool) {
	if fl&FlagACK == 0 {
		return false, true
	}
	if ack.leq(c.iss) || ack.gt(c.sndMax) {
		if fl&FlagRST == 0 {
			c.s.stats.ResetsSent++
			c.s.send(c.key, Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(ack), Flags: FlagRST}, nil, nil)
		}
		return false, false
	}
	return true, true
}

// synRTT takes the handshake's RTT sample from the SYN-ACK: the echoed
// timestamp (RFC 7323 section 4, not one from before a timeout), else the
// time since the SYN if it was not retransmitted (RFC 6298 section 3).
func (c *Conn) synRTT(o *Options) {
	if c.tsOK && o.HasTS && o.TSEcr != 0 {
		if c.echoAfterTimeout(o.TSEcr) {
			c.rttSample(time.Duration(c.tsNow()-o.TSEcr) * time.Millisecond)
		}
	} else if c.retries == 0 {
		c.rttSample(c.s.clk.Now().Sub(c.stats.Start))
	}
}

func (c *Conn) establish() {
	if tw := c.tw; tw != nil {
		c.tw = nil
		tw.destroy(nil, false)
	}
	c.state = StateEstablished
	c.quickAcks = c.quickAckCount()
	c.retries = 0
	c.s.clk.Cancel(&c.rtx)
	if c.sndUna == c.sndMax {
		c.backoffReset()
	}
	if c.finQueued {
		c.state = StateFinWait1
	}
	c.pendEv |= evEstablished
	if c.listener != nil {
		c.listener.established(c)
	}
	c.armKeepAlive()
}

// reopenable reports whether a SYN may reopen TIME-WAIT. RFC 6191 section
// 2: when the old incarnation used timestamps and the SYN carries one, the
// timestamp alone decides (it must be newer than TS.Recent); otherwise the
// sequence number must be above RCV.NXT (RFC 1122 section 4.2.2.13).
func (c *Conn) reopenable(seq seqnum, o *Options) bool {
	if c.tsOK && o.HasTS && !c.s.cfg.DisableTimestamps {
		return int32(o.TSVal-c.tsRecent) > 0
	}
	return seq.gt(c.rcvNxt)
}
