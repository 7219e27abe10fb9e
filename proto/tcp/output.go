package tcp

import (
	"encoding/binary"
	"sort"
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

// rcvWindowRight returns the right edge the receive buffer allows now.
func (c *Conn) rcvWindowRight() seqnum {
	return c.rcvNxt.add(c.s.cfg.RecvBuffer - c.rcvBuf.n)
}

// advWindow returns the window field to send and records the advertised
// right edge.
func (c *Conn) advWindow() uint16 {
	cfg := &c.s.cfg
	right := c.rcvWindowRight()
	// Receiver SWS avoidance (RFC 1122 section 4.2.3.3): move the right
	// edge only by at least min(RCV.BUFF/2, MSS).
	if c.rcvAdv.geq(c.rcvNxt) && right.geq(c.rcvAdv) && right.diff(c.rcvAdv) < min(cfg.RecvBuffer/2, c.rmss) {
		right = c.rcvAdv
	}
	wnd := max(right.diff(c.rcvNxt), 0)
	f := min(wnd>>c.rcvShift, 65535)
	c.rcvAdv = c.rcvNxt.add(f << c.rcvShift)
	return uint16(f)
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
	f := Fields{
		SrcPort: c.key.lport, DstPort: c.key.rport,
		Seq: uint32(seq), Ack: uint32(c.rcvNxt),
		Flags: FlagACK, Window: c.advWindow(),
	}
	if n > 0 {
		off := seq.diff(c.bufStart)
		c.sndBuf.readAt(off, s.outBuf()[HeaderLen+olen:HeaderLen+olen+n])
		if off+n == c.sndBuf.n && !c.noPush || c.pushBurst {
			f.Flags |= FlagPSH
		}
	}
	if fin {
		f.Flags |= FlagFIN
	}
	ecnFlags, tos := c.ecnOut(seq, n, c.persist)
	f.Flags |= ecnFlags
	s.outTOS = tos
	if c.sndUrg && c.sndUp.gt(seq) {
		// RFC 9293 section 3.8.5: the urgent pointer is the offset from
		// SEG.SEQ of the byte after the urgent data; one beyond 16 bits
		// is sent as 65535 until a later segment can reach it (as Linux).
		f.Flags |= FlagURG
		f.Urgent = uint16(min(c.sndUp.diff(seq), 65535))
	}
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
	end := seq.add(l)
	if n > 0 {
		c.lastSend = s.clk.Now()
	}
	if c.sndUna == c.sndMax && !seq.lt(c.sndMax) {
		c.progressAt = s.clk.Now() // a flight begins
	}
	if c.rackOn() {
		c.rackSent(seq, end, o.TSVal)
	}
	c.rateSent(seq, end, c.sndMax, n)
	newData := !seq.lt(c.sndMax)
	if c.inRecovery {
		c.prrOut += n // RFC 6937: prr_out counts data sent in recovery
	}
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
		c.rttTime = s.clk.Now()
	}
	if end.gt(c.sndMax) {
		c.sndMax = end
	}
	// RFC 6298 section 5.1: start the timer when data is sent and it is
	// not running. RFC 8985 section 7.2: new data (re)starts the probe
	// timeout when TLP may run.
	if newData && c.rackOn() && c.ptoArm(true) {
		return n
	}
	if !c.rtx.Pending() || c.rk.ptoArmed {
		c.armRTO()
	}
	return n
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
	c.burstSegs = 0
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
	if n < c.mss && !fin && !retx {
		if n == avail && (c.cork || c.more) {
			return false // corked: wait for a full segment
		}
		if n == avail {
			// Nagle (RFC 1122 section 4.2.3.4) in Minshall's variant, as
			// Linux does: hold a short segment only while an earlier short
			// segment is unacknowledged, so the tail of a write does not
			// wait for a delayed ACK of the full segments before it.
			if !c.noDelay && c.sndSml.gt(c.sndUna) && c.sndSml.leq(c.sndNxt) {
				return false
			}
		} else if n < int(c.maxSndWnd/2) {
			// Sender SWS avoidance (RFC 1122 section 4.2.3.4).
			return false
		}
	}
	// Linux pushes the last segment of a burst the congestion or the
	// peer's window ends (tcp_push/forced_push marks the skb a
	// cwnd-limited tcp_write_xmit stops at), not only the end of a write.
	// A lone segment (limited transmit, one per ACK in recovery) is not
	// pushed: only a burst of two or more new segments ends with PSH.
	// Linux also sends a burst as TSO packets of at most half the window
	// (tcp_cwnd_test: at least two in flight), each ending with PSH.
	half := max(c.ccs.Cwnd/max(c.mss, 1)/2, 1)
	c.pushBurst = c.s.cfg.Profile == ProfileLinux && !retx && n < avail &&
		c.burstSegs > 0 &&
		(cwAvail-n < c.mss || wndAvail-n < c.mss || (c.burstSegs+1)%half == 0)
	if c.persist && c.sndWnd > 0 {
		// Data the cork or SWS avoidance held leaves: the persist timer
		// gives way to the retransmission timer.
		c.persist, c.persistBackoff, c.persistBytes = false, 0, 0
		c.s.clk.Cancel(&c.rtx)
	}
	sent := c.sendData(c.sndNxt, n, fin)
	c.pushBurst = false
	if !retx {
		c.burstSegs++
	}
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

// updateScoreboard records the SACK blocks of an ACK (RFC 6675 section 5).
func (c *Conn) updateScoreboard(o *Options) {
	if c.sb == nil {
		c.sb = make([]seqRange, 0, maxScoreboard)
	}
	priorFack, haveFack := c.sndUna, len(c.sb) > 0
	if haveFack {
		priorFack = c.sb[len(c.sb)-1].end
	}
	reord, reordSet := seqnum(0), false
	for i := 0; i < o.NumSACK; i++ {
		r := seqRange{seqnum(o.SACK[i].Start), seqnum(o.SACK[i].End)}
		if !r.start.lt(r.end) {
			continue
		}
		r.start = seqMax(r.start, c.sndUna)
		r.end = seqMin(r.end, c.sndMax)
		if c.s.cfg.Profile == ProfileLinux && c.rackOn() {
			r = c.wholeSegments(r)
		}
		if !r.start.lt(r.end) {
			continue
		}
		if s, ok := firstUncovered(c.sb, r); ok && haveFack && s.lt(priorFack) && !c.retransmitted(s) && (!reordSet || s.lt(reord)) {
			reord, reordSet = s, true
		}
		var added int
		var ok bool
		if c.sb, added, ok = insertRange(c.sb, r, maxScoreboard); ok {
			c.stats.SACKedBytes += uint64(added)
		}
	}
	if reordSet && len(c.sb) > 0 {
		// Linux's tcp_check_sack_reordering: data never retransmitted,
		// newly SACKed below the highest SACKed byte, arrived out of
		// order; the reordering degree is the distance in segments.
		if metric := c.sb[len(c.sb)-1].end.diff(reord); metric > c.reorderingDegree()*c.mss {
			c.reordering = min((metric+c.mss-1)/c.mss, linuxMaxReordering)
		}
	}
}

// wholeSegments trims a SACK block to the transmitted segments it covers
// whole: Linux's scoreboard is per segment (tcp_sacktag_walk), and a
// block covering part of a single-MSS segment marks nothing
// (fr-4pkt-fack-last-byte.pkt).
func (c *Conn) wholeSegments(r seqRange) seqRange {
	recs := c.rk.recs[c.rk.head:]
	i := sort.Search(len(recs), func(k int) bool { return !recs[k].start.lt(r.start) })
	if i == len(recs) {
		return seqRange{r.start, r.start}
	}
	out := seqRange{recs[i].start, recs[i].start}
	for ; i < len(recs) && recs[i].end.leq(r.end); i++ {
		out.end = recs[i].end
	}
	return out
}

// linuxMaxReordering is Linux's tcp_max_reordering default.
const linuxMaxReordering = 300

// firstUncovered returns the first byte of r that no range of the sorted
// list sb covers.
func firstUncovered(sb []seqRange, r seqRange) (seqnum, bool) {
	s := r.start
	for _, b := range sb {
		if b.start.gt(s) {
			break
		}
		if b.end.gt(s) {
			s = b.end
		}
	}
	return s, s.lt(r.end)
}

// retransmitted reports whether the byte at seq was sent more than once
// (by RACK's records, else by RFC 6675's HighRxt).
func (c *Conn) retransmitted(seq seqnum) bool {
	if !c.rackOn() {
		return seq.lt(c.highRxt)
	}
	for i := c.rk.head; i < len(c.rk.recs); i++ {
		if r := &c.rk.recs[i]; !seq.lt(r.start) && seq.lt(r.end) {
			return r.rtx
		}
	}
	return false
}

const maxScoreboard = 32

// detectLostRetransmit restarts hole retransmission during SACK recovery
// when data first sent after the latest retransmission is SACKed while
// holes below HighRxt remain: those retransmissions were lost too (the
// lost-retransmission detection Linux does; RFC 6675 leaves it to the
// timer).
func (c *Conn) detectLostRetransmit() {
	if !c.inRecovery || !c.rtxMarkSet {
		return
	}
	for _, r := range c.sb {
		if r.end.gt(c.rtxMark) {
			c.rtxMarkSet = false
			if c.highRxt.gt(c.sndUna) {
				c.highRxt = c.sndUna
				c.stats.LostRetransmits++
			}
			return
		}
	}
}

// pruneScoreboard drops SACK information below SND.UNA.
func (c *Conn) pruneScoreboard() {
	i := 0
	for i < len(c.sb) && c.sb[i].end.leq(c.sndUna) {
		i++
	}
	if i > 0 {
		c.sb = c.sb[:copy(c.sb, c.sb[i:])]
	}
	if len(c.sb) > 0 && c.sb[0].start.lt(c.sndUna) {
		c.sb[0].start = c.sndUna
	}
}

// skipSACKed moves SND.NXT past a SACKed range it points into, during the
// go-back-N resend after a timeout.
func (c *Conn) skipSACKed() {
	for _, r := range c.sb {
		if c.sndNxt.geq(r.start) && c.sndNxt.lt(r.end) {
			c.sndNxt = r.end
		}
	}
}

// sackedBelow returns the SACKed bytes below seq.
func (c *Conn) sackedBelow(seq seqnum) int {
	n := 0
	for _, r := range c.sb {
		if r.start.geq(seq) {
			break
		}
		n += seqMin(r.end, seq).diff(r.start)
	}
	return n
}

func (c *Conn) sackedBytes() int {
	n := 0
	for _, r := range c.sb {
		n += r.len()
	}
	return n
}

// lostAbove reports whether sacked bytes above a hole mark it lost: RFC
// 6675 section 4's IsLost with DupThresh 3, more than (DupThresh-1)*SMSS
// bytes sacked above.
func (c *Conn) lostAbove(sackedAbove int) bool { return sackedAbove > 2*c.mss }

// isLost is RFC 6675's IsLost(seq).
func (c *Conn) isLost(seq seqnum) bool {
	above := 0
	for _, r := range c.sb {
		if r.start.gt(seq) {
			above += r.len()
		}
	}
	return c.lostAbove(above)
}

// pipe is RFC 6675's SetPipe: bytes believed in flight.
func (c *Conn) pipe() int {
	if c.rackOn() {
		// RFC 8985 section 6 with RFC 6675's definition: segments neither
		// SACKed nor marked lost (a retransmission clears the mark).
		n := 0
		for i := c.rk.head; i < len(c.rk.recs); i++ {
			if r := &c.rk.recs[i]; !r.sacked && !r.lost {
				n += r.end.diff(r.start)
			}
		}
		return n
	}
	above := c.sackedBytes()
	pipe := 0
	prev := c.sndUna
	for _, r := range c.sb {
		if hole := r.start.diff(prev); hole > 0 {
			if !c.lostAbove(above) {
				pipe += hole
			}
			if rx := seqMin(c.highRxt, r.start).diff(prev); rx > 0 {
				pipe += rx
			}
		}
		above -= r.len()
		prev = r.end
	}
	if tail := c.sndNxt.diff(prev); tail > 0 {
		pipe += tail
	}
	return pipe
}

// nextLost is rule (1) of RFC 6675's NextSeg: the first lost, not yet
// retransmitted byte range (by RACK's marks when it runs).
func (c *Conn) nextLost() (seqnum, int, bool) {
	if c.rackOn() {
		// RFC 8985: RACK's marks replace DupThresh's (its reordering
		// window is 0 in recovery), and pipe counts from the same marks.
		return c.rackNextLost()
	}
	above := c.sackedBytes()
	prev := c.sndUna
	for _, r := range c.sb {
		if r.start.gt(prev) && c.lostAbove(above) {
			s := seqMax(prev, c.highRxt)
			if s.lt(r.start) {
				return s, min(c.mss, r.start.diff(s)), true
			}
		}
		above -= r.len()
		prev = r.end
	}
	return 0, 0, false
}

// insertRange adds r to the sorted disjoint list rs, merging overlapping
// and adjacent ranges, and returns the list and the number of bytes newly
// covered. It refuses (ok false) when that would need more than limit
// ranges.
func insertRange(rs []seqRange, r seqRange, limit int) ([]seqRange, int, bool) {
	i := 0
	for i < len(rs) && rs[i].end.lt(r.start) {
		i++
	}
	j := i
	covered := 0
	m := r
	for j < len(rs) && rs[j].start.leq(r.end) {
		covered += rs[j].len()
		m.start = seqMin(m.start, rs[j].start)
		m.end = seqMax(m.end, rs[j].end)
		j++
	}
	added := m.len() - covered
	if i == j {
		if len(rs) >= limit {
			return rs, 0, false
		}
		rs = append(rs, seqRange{})
		copy(rs[i+1:], rs[i:])
		rs[i] = m
		return rs, added, true
	}
	rs[i] = m
	rs = append(rs[:i+1], rs[j:]...)
	return rs, added, true
}

// processData accepts segment text and FIN (RFC 9293 section 3.10.7.4,
// seventh and eighth) into the receive buffer, queueing out-of-order data
// in place.
func (c *Conn) processData(seq seqnum, payload []byte, fin bool) {
	cfg := &c.s.cfg
	if seq.lt(c.rcvNxt) {
		d := c.rcvNxt.diff(seq)
		if d > len(payload) {
			payload, fin = nil, false
		} else {
			payload = payload[d:]
		}
		seq = c.rcvNxt
		c.ackNow = true
	}
	if c.finRcvd {
		c.ackNow = true
		return
	}
	free := cfg.RecvBuffer - c.rcvBuf.n
	off := seq.diff(c.rcvNxt)
	if off+len(payload) > free {
		payload = payload[:max(free-off, 0)]
		fin = false
		c.ackNow = true
	}
	if len(payload) > 0 {
		c.rcvBuf.reserve(c.rcvBuf.n+off+len(payload), cfg.RecvBuffer)
	}
	end := seq.add(len(payload))
	switch {
	case off == 0 && len(payload) > 0:
		c.rcvBuf.writeAt(0, payload)
		c.rcvBuf.commit(len(payload))
		c.rcvNxt = end
		c.stats.BytesReceived += uint64(len(payload))
		filled := false
		for len(c.ooo) > 0 && c.ooo[0].start.leq(c.rcvNxt) {
			if k := c.ooo[0].end.diff(c.rcvNxt); k > 0 {
				c.rcvBuf.commit(k)
				c.stats.BytesReceived += uint64(k)
				c.rcvNxt = c.ooo[0].end
			}
			c.ooo = c.ooo[:copy(c.ooo, c.ooo[1:])]
			filled = true
		}
		// RFC 5681 section 4.2: ACK at once when a gap is filled, else at
		// least every second segment (RFC 1122 section 4.2.3.2).
		c.unackedSegs++
		if filled {
			c.quickAcks = c.quickAckCount()
		}
		quick := c.quickAcks > 0
		if quick {
			c.quickAcks--
		}
		if filled || quick || c.unackedSegs >= 2 || cfg.DelayedACK < 0 {
			c.ackNow = true
		} else if !c.dack.Pending() {
			c.s.clk.Schedule(&c.dack, c.s.clk.Now().Add(cfg.DelayedACK))
		}
		if c.appClosed {
			c.rcvBuf.discard(c.rcvBuf.n)
		} else {
			c.pendEv |= evReadable
		}
	case off > 0 && len(payload) > 0:
		// Out-of-order data: kept in the buffer at its offset, its range
		// recorded; an immediate ACK carries SACK (RFC 5681 section 4.2).
		if c.ooo == nil {
			c.ooo = make([]seqRange, 0, cfg.MaxOOORanges)
		}
		var ok bool
		c.ooo, _, ok = insertRange(c.ooo, seqRange{seq, end}, cfg.MaxOOORanges)
		c.quickAcks = c.quickAckCount()
		if ok {
			c.rcvBuf.writeAt(off, payload)
			c.lastOOO = seq
			c.stats.OOOSegments++
		} else {
			c.s.stats.OOODrops++
			fin = false
		}
		c.ackNow = true
	}
	if fin {
		if end == c.rcvNxt {
			c.consumeFIN()
		} else {
			c.oooFin = true
			c.finRcvSeq = end
			c.ackNow = true
		}
	} else if c.oooFin && c.finRcvSeq == c.rcvNxt {
		c.consumeFIN()
	}
}

// consumeFIN processes the peer's FIN once all data before it arrived.
func (c *Conn) consumeFIN() {
	c.rcvNxt++
	c.finRcvd = true
	c.oooFin = false
	c.ackNow = true
	c.pendEv |= evReadable
	switch c.state {
	case StateEstablished:
		c.state = StateCloseWait
	case StateFinWait1:
		if c.finAcked {
			c.enterTimeWait()
		} else {
			c.state = StateClosing // simultaneous close
		}
	case StateFinWait2:
		c.enterTimeWait()
	}
}
