package tcp

import (
	"encoding/binary"

	"github.com/simnet-go/simnet/proto/clock"
)

// emit sends the segment whose payload (n bytes) is already in place in the
// scratch buffer after the options.
func (s *Stack) emit(k connKey, f Fields, o *Options, olen, n int) {
	b := s.outBuf()
	putHeader(b, f, olen)
	if olen > 0 {
		EncodeOptions(b[HeaderLen:], o)
	}
	total := HeaderLen + olen + n
	binary.BigEndian.PutUint16(b[16:], Checksum(k.laddr, k.raddr, b[:total]))
	s.stats.SegmentsOut++
	var err error
	if s.dfTx != nil { // icmp.go: path MTU discovery
		err = s.dfTx.SendIPDF(ProtocolNumber, k.laddr, k.raddr, b[:total], s.outTOS)
		s.outTOS = 0
	} else if s.outTOS != 0 {
		err = s.tosTx.SendIPTOS(ProtocolNumber, k.laddr, k.raddr, b[:total], s.outTOS)
		s.outTOS = 0
	} else {
		err = s.net.SendIP(ProtocolNumber, k.laddr, k.raddr, b[:total])
	}
	if err != nil {
		s.stats.SendErrors++
	}
	if s.obs != nil {
		s.observe(k)
	}
}

// fillOpts sets the options of a non-SYN segment: timestamps (RFC 7323
// section 3) and SACK blocks (RFC 2018 section 4: the first block holds the
// most recently received segment).
func (c *Conn) fillOpts(o *Options) {
	*o = Options{}
	if c.tsOK {
		o.HasTS = true
		o.TSVal = c.tsNow()
		o.TSEcr = c.tsRecent
	}
	if !c.sackOK || len(c.ooo) == 0 {
		return
	}
	limit := 4
	if c.tsOK {
		limit = 3
	}
	first := -1
	for i, r := range c.ooo {
		if c.lastOOO.geq(r.start) && c.lastOOO.lt(r.end) {
			first = i
			o.SACK[0] = SACKBlock{uint32(r.start), uint32(r.end)}
			o.NumSACK = 1
			break
		}
	}
	for i, r := range c.ooo {
		if o.NumSACK >= limit {
			break
		}
		if i != first {
			o.SACK[o.NumSACK] = SACKBlock{uint32(r.start), uint32(r.end)}
			o.NumSACK++
		}
	}
}

// sendData sends up to n bytes from seq (fewer if options leave less room),
// with FIN when fin is set and all of it fits, and returns the number of
// data bytes sent. n == 0 sends a pure ACK (or a lone FIN).
func (c *Conn) sendData(seq seqnum, n int, fin bool) int {
	s := c.s
	o := &s.sendOpts
	c.fillOpts(o)
	olen := OptionsLen(o)
	if room := c.maxSeg - olen; n > room {
		n = room
		fin = false
	}
	f := c.dataFields(seq, n, fin, olen)
	s.emit(c.key, f, o, olen, n)

	c.stats.SegmentsSent++
	c.lastAckSent = c.rcvNxt
	c.ackNow = false
	c.unackedSegs = 0
	s.clk.Cancel(&c.dack)
	l := n
	if fin {
		l++
	}
	if l == 0 {
		return 0
	}
	c.sentData(seq, n, l, o.TSVal)
	return n
}

// dataFields builds the header of a segment of n bytes from seq, copying
// the data into the scratch buffer after olen bytes of options.
func (c *Conn) dataFields(seq seqnum, n int, fin bool, olen int) Fields {
	s := c.s
	f := Fields{
		SrcPort: c.key.lport, DstPort: c.key.rport,
		Seq: uint32(seq), Ack: uint32(c.rcvNxt),
		Flags: FlagACK, Window: c.advWindow(),
	}
	if n > 0 {
		off := seq.diff(c.bufStart)
		c.sndBuf.readAt(off, s.outBuf()[HeaderLen+olen:HeaderLen+olen+n])
		if c.pushBurst || c.pushAt(seq, off, n) {
			f.Flags |= FlagPSH
		}
	}
	if fin {
		f.Flags |= FlagFIN
	}
	ecnFlags, tos := c.ecnOut(seq, n, c.persist)
	f.Flags |= ecnFlags
	s.outTOS = c.ipTOS(tos)
	if c.sndUrg && c.sndUp.gt(seq) {
		// RFC 9293 section 3.8.5: the urgent pointer is the offset from
		// SEG.SEQ of the byte after the urgent data; one beyond 16 bits
		// is sent as 65535 until a later segment can reach it (as Linux).
		f.Flags |= FlagURG
		f.Urgent = uint16(min(c.sndUp.diff(seq), 65535))
	}
	return f
}

// sentData does the sender's bookkeeping after a segment carrying l bytes
// of sequence space (n of them data) from seq left with timestamp tsVal:
// RACK and rate records, PRR, retransmission counters, RTT timing,
// SND.MAX and the timers.
func (c *Conn) sentData(seq seqnum, n, l int, tsVal uint32) {
	now := c.s.clk.Now()
	end := seq.add(l)
	if n > 0 {
		c.lastSend = now
	}
	if c.sndUna == c.sndMax && !seq.lt(c.sndMax) {
		c.progressAt = now // a flight begins
	}
	if c.rackOn() {
		c.rackSent(seq, end, tsVal)
	}
	c.rateSent(seq, end, c.sndMax, n)
	newData := !seq.lt(c.sndMax)
	if c.inRecovery {
		c.prrOut += n // RFC 6937: prr_out counts data sent in recovery
	}
	c.countSent(seq, end, l, now)
	if end.gt(c.sndMax) {
		c.sndMax = end
	}
	// RFC 6298 section 5.1: start the timer when data is sent and it is
	// not running. RFC 8985 section 7.2: new data (re)starts the probe
	// timeout when TLP may run.
	if newData && c.rackOn() && c.ptoArm(true) {
		return
	}
	if !c.rtx.Pending() || c.rk.ptoArmed {
		c.armRTO()
	}
}

// countSent counts a retransmission of sequence space [seq, end) (l
// bytes), stopping RTT timing for it (Karn's algorithm), or starts timing
// new data when timestamps do not measure RTT.
func (c *Conn) countSent(seq, end seqnum, l int, now clock.Time) {
	// Bytes only ever sent as zero-window probes were refused by the peer
	// (RFC 9293 section 3.8.6.1): repeating the probe, or sending them
	// again once the window opens, is not counted as a retransmission,
	// as capture analysers (Wireshark's zero window probe rule) do not
	// flag it either.
	probeOnly := c.zwp && !seq.lt(c.zwpFrom)
	if c.zwp && !c.persist && !end.lt(c.zwpEnd) {
		c.zwp = false
	}
	if seq.lt(c.sndMax) {
		if !probeOnly {
			c.stats.Retransmits++
			c.stats.RetransmittedBytes += uint64(min(l, c.sndMax.diff(seq)))
		}
		if c.rttTiming && seq.leq(c.rttSeq) {
			c.rttTiming = false // Karn's algorithm
		}
	} else if !c.rttTiming && !c.tsOK {
		c.rttTiming = true
		c.rttSeq = seq
		c.rttTime = now
	}
}

// retransmit resends up to n bytes from seq and returns how many it sent.
func (c *Conn) retransmit(seq seqnum, n int) int {
	dataEnd := c.bufStart.add(c.sndBuf.n)
	n = min(n, dataEnd.diff(seq))
	// RFC 9293 section 3.8.6.1: nothing beyond the peer's window but the
	// persist timer's probe, retransmissions included.
	n = min(n, c.sndUna.add(int(c.sndWnd)).diff(seq))
	if n < 0 {
		return 0
	}
	fin := c.finQueued && seq.add(n) == dataEnd && c.sndMax.gt(dataEnd)
	if n == 0 && !fin {
		return 0
	}
	sent := c.sendData(seq, n, fin)
	if fin && sent == n {
		sent++
	}
	if e := seq.add(sent); c.sndNxt.lt(e) {
		c.sndNxt = e
	}
	return sent
}

// output sends what the windows and Nagle allow, then a pending ACK.
func (c *Conn) output() {
	switch c.state {
	case StateClosed, StateSynSent, StateListen:
		return
	case StateSynReceived, StateTimeWait:
		// Only ACKs: for an unacceptable segment (RFC 9293 section
		// 3.10.7.4), PAWS (RFC 7323 section 5.3) or a challenge (RFC 5961
		// sections 3.2 and 4.2), <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
		if c.ackNow {
			c.sendData(c.sndNxt, 0, false)
		}
		return
	}
	c.gsoLeft = 0
	for !c.paceWait() {
		dataEnd := c.bufStart.add(c.sndBuf.n)
		if c.inRecovery && c.sackOK {
			// RFC 6675 section 5 step (C): send while cwnd - pipe >= 1 SMSS.
			avail := c.ccs.Cwnd - c.pipe()
			if avail < c.mss {
				break
			}
			if seq, n, ok := c.nextLost(); ok {
				sent := c.retransmit(seq, n)
				if sent == 0 {
					break
				}
				c.highRxt = seq.add(sent)
				c.rtxMark, c.rtxMarkSet = c.sndMax, true
				continue
			}
			if !c.sendNew(dataEnd, avail) {
				break
			}
			continue
		}
		if c.sndNxt.lt(c.sndMax) && len(c.sb) > 0 {
			c.skipSACKed()
		}
		cw := c.ccs.Cwnd - c.sndNxt.diff(c.sndUna) + c.sackedBelow(c.sndNxt)
		if !c.inRecovery && c.dupAcks > 0 && c.dupAcks < 3 && c.sndNxt == c.sndMax {
			// RFC 3042 limited transmit: one new segment per early
			// duplicate ACK keeps the ACK clock running.
			cw = max(cw, c.ccs.Cwnd+c.dupAcks*c.mss-c.sndNxt.diff(c.sndUna))
		}
		if !c.sendNew(dataEnd, cw) {
			break
		}
	}
	c.rateIdle()
	c.checkPersist()
	if c.ackNow {
		c.sendData(c.sndNxt, 0, false)
	}
}

// sendNew sends one segment from SND.NXT if the peer's window, cwAvail and
// Nagle's algorithm allow, and reports whether it did.
func (c *Conn) sendNew(dataEnd seqnum, cwAvail int) bool {
	avail := dataEnd.diff(c.sndNxt)
	if avail < 0 {
		return false // the FIN is already sent
	}
	wndAvail := c.sndUna.add(int(c.sndWnd)).diff(c.sndNxt)
	n := min(avail, c.mss, wndAvail, cwAvail)
	if n <= 0 {
		if avail == 0 && c.finQueued {
			c.sendData(c.sndNxt, 0, true)
			c.sndNxt++
		}
		return false
	}
	retx := c.sndNxt.lt(c.sndMax)
	if retx {
		// Resending after a timeout: stop at the next SACKed range.
		for _, r := range c.sb {
			if r.start.gt(c.sndNxt) {
				n = min(n, r.start.diff(c.sndNxt))
				break
			}
		}
	}
	fin := c.finQueued && n == avail
	if n < c.mss && !fin && !retx && c.holdShort(n, avail) {
		return false
	}
	c.pushBurst = !retx && c.linuxPush() && c.gsoEnds(avail, cwAvail, wndAvail)
	if c.persist && c.sndWnd > 0 {
		// Data the cork or SWS avoidance held leaves: the persist timer
		// gives way to the retransmission timer.
		c.persist, c.persistBackoff, c.persistBytes = false, 0, 0
		c.s.clk.Cancel(&c.rtx)
	}
	sent := c.sendData(c.sndNxt, n, fin)
	c.pushBurst = false
	if sent < c.mss && !retx {
		c.sndSml = c.sndNxt.add(sent)
	}
	if fin && sent == n {
		sent++
	}
	c.sndNxt = c.sndNxt.add(sent)
	if c.s.cfg.Profile == ProfileLinux {
		c.noteFlight()
	}
	return sent > 0
}

// holdShort reports whether a short segment of n bytes (of avail
// waiting) is held back: by the cork, by Nagle's algorithm or by sender
// SWS avoidance.
func (s *sender) holdShort(n, avail int) bool {
	if n == avail && (s.cork || s.more) {
		return true // corked: wait for a full segment
	}
	if n == avail {
		// Nagle (RFC 1122 section 4.2.3.4) in Minshall's variant, as
		// Linux does: hold a short segment only while an earlier short
		// segment is unacknowledged, so the tail of a write does not
		// wait for a delayed ACK of the full segments before it.
		return !s.noDelay && s.sndSml.gt(s.sndUna) && s.sndSml.leq(s.sndNxt)
	}
	// Sender SWS avoidance (RFC 1122 section 4.2.3.4).
	return n < int(s.maxSndWnd/2)
}

// pushAt reports whether the segment of n bytes from seq (offset off in
// the send buffer) carries PSH: in the linux profile where Linux's
// tcp_sendmsg marked it (push.go), otherwise when it ends the buffered
// data and that was not written with WriteMore (RFC 9293 section
// 3.9.1.2: PSH where the application's data ends).
func (c *Conn) pushAt(seq seqnum, off, n int) bool {
	if c.linuxPush() {
		return c.markIn(seq, seq.add(n))
	}
	return off+n == c.sndBuf.n && !c.noPush
}

// checkPersist starts the persist timer when data waits, nothing is in
// flight and the peer's window does not let it go (RFC 9293 section
// 3.8.6.1; RFC 1122 section 4.2.3.4's override timeout).
func (c *Conn) checkPersist() {
	if c.persist || c.sndNxt != c.sndUna {
		return
	}
	dataEnd := c.bufStart.add(c.sndBuf.n)
	if dataEnd.gt(c.sndNxt) {
		c.persist = true
		c.persistBackoff = 0
		c.armPersist()
	}
}
