package tcp

import (
	"io"

	"github.com/simnet-go/simnet/proto/clock"
)

// receiver is the receive half of a connection: the receive sequence
// variables (RFC 9293 section 3.3.1), the receive buffer with its
// out-of-order ranges (the SACK blocks to send, RFC 2018), the urgent
// pointer, TS.Recent (RFC 7323) and the delayed-ACK state (RFC 1122
// section 4.2.3.2). Conn embeds it, as gVisor's endpoint holds its
// receiver (rcv.go); methods that need only the receive half's state are
// declared on receiver, the others are Conn's.
type receiver struct {
	irs, rcvNxt seqnum
	rcvAdv      seqnum // right edge of the last advertised window
	rcvBuf      ring
	ooo         []seqRange
	lastOOO     seqnum
	finRcvd     bool
	rcvUp       seqnum // receive urgent pointer (RFC 9293 section 3.8.5)
	rcvUrg      bool   // urgent data not yet read
	oooFin      bool
	finRcvSeq   seqnum
	tsRecent    uint32
	lastAckSent seqnum
	ackNow      bool
	unackedSegs int
	quickAcks   int // in-order segments still to acknowledge at once
	dack        clock.Timer
	// rcvShift is our window scale (RFC 7323 section 2).
	rcvShift uint8
	rmss     int // the MSS we advertised
}

// Read copies received data into p. It returns io.EOF after the peer's FIN
// has been read, the connection's error after a reset or timeout, and
// ErrWouldBlock when nothing is available yet.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.rcvBuf.n == 0 {
		switch {
		case c.err != nil:
			return 0, c.err
		case c.finRcvd:
			return 0, io.EOF
		case c.state == StateClosed:
			return 0, ErrClosed
		}
		return 0, ErrWouldBlock
	}
	before := c.rcvWindowRight()
	n := c.rcvBuf.read(p)
	if c.rcvUrg && !c.rcvUp.gt(c.readSeq()) {
		c.rcvUrg = false // all urgent data read: urgent mode ends
	}
	if c.rcvBuf.n == 0 && c.state == StateTimeWait || c.state == StateClosed {
		c.maybeFreeBuffers()
	}
	// Send a window update when the window opens by a useful amount
	// (receiver SWS avoidance, RFC 1122 section 4.2.3.3).
	if c.synchronized() && !c.finRcvd {
		oldWnd := c.rcvAdv.diff(c.rcvNxt)
		after := c.rcvWindowRight()
		if after.diff(before) > 0 && oldWnd < c.s.cfg.RecvBuffer/2 && after.diff(c.rcvAdv) >= min(c.s.cfg.RecvBuffer/2, c.rmss) {
			c.ackNow = true
			c.output()
		}
	}
	return n, nil
}

// UrgentPending returns how many bytes of urgent data remain to be read:
// from the next byte Read returns up to the peer's urgent pointer, 0 when
// no urgent data is pending (RFC 9293 section 3.8.5, MUST-33). Urgent data
// is delivered in line, as RFC 6093 section 6 recommends; there is no
// out-of-band byte.
func (c *Conn) UrgentPending() int {
	if !c.rcvUrg {
		return 0
	}
	return max(c.rcvUp.diff(c.readSeq()), 0)
}

// readSeq returns the sequence number of the next byte Read returns.
func (r *receiver) readSeq() seqnum {
	seq := r.rcvNxt.add(-r.rcvBuf.n)
	if r.finRcvd {
		seq--
	}
	return seq
}

// urgent handles the URG bit of an acceptable segment (RFC 9293 section
// 3.10.7.4, sixth): RCV.UP becomes max(RCV.UP, SEG.SEQ+SEG.UP), the urgent
// pointer pointing at the byte after the urgent data (MUST-62), and the
// application is told when urgent mode starts or the pointer advances
// (MUST-32).
func (c *Conn) urgent(seq seqnum, up uint16) {
	p := seq.add(int(up))
	if c.rcvUrg && !p.gt(c.rcvUp) {
		return
	}
	if !p.gt(c.readSeq()) {
		return
	}
	c.rcvUp, c.rcvUrg = p, true
	c.pendEv |= evUrgent
}

// acceptable is the segment acceptance test of RFC 9293 section 3.10.7.4.
func (c *Conn) acceptable(seq seqnum, segLen int) bool {
	wnd := uint32(max(c.rcvAdv.diff(c.rcvNxt), 0))
	if free := uint32(c.s.cfg.RecvBuffer - c.rcvBuf.n); free > wnd {
		wnd = free
	}
	if segLen == 0 {
		if wnd == 0 {
			return seq == c.rcvNxt
		}
		return inWindow(seq, c.rcvNxt, wnd)
	}
	if wnd == 0 {
		// Accept the ACK (and RST) of a segment at RCV.NXT; its data is
		// trimmed (RFC 9293 section 3.10.7.4 allows ACKs and RSTs).
		return seq == c.rcvNxt
	}
	return inWindow(seq, c.rcvNxt, wnd) || inWindow(seq.add(segLen-1), c.rcvNxt, wnd)
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
		c.receiveInOrder(payload)
	case off > 0 && len(payload) > 0:
		if !c.receiveOutOfOrder(seq, end, off, payload) {
			fin = false
		}
	}
	c.receiveFIN(fin, end)
}

// receiveInOrder appends data at RCV.NXT, with the out-of-order data it
// joins, and decides whether to acknowledge at once.
func (c *Conn) receiveInOrder(payload []byte) {
	c.rcvBuf.writeAt(0, payload)
	c.rcvBuf.commit(len(payload))
	c.rcvNxt = c.rcvNxt.add(len(payload))
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
	c.ackInOrder(filled)
	if c.appClosed {
		c.rcvBuf.discard(c.rcvBuf.n)
	} else {
		c.pendEv |= evReadable
	}
}

// ackInOrder acknowledges in-order data at once when it filled a gap (RFC
// 5681 section 4.2), in quick-ack mode, or for every second segment (RFC
// 1122 section 4.2.3.2); otherwise the delayed-ACK timer runs.
func (c *Conn) ackInOrder(filled bool) {
	cfg := &c.s.cfg
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
}

// receiveOutOfOrder keeps out-of-order data in the buffer at its offset
// and records its range (the SACK blocks to send); an immediate ACK
// carries SACK (RFC 5681 section 4.2). It returns false when the range
// list is full and the data was dropped.
func (c *Conn) receiveOutOfOrder(seq, end seqnum, off int, payload []byte) bool {
	cfg := &c.s.cfg
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
	}
	c.ackNow = true
	return ok
}

// receiveFIN takes the peer's FIN at end (when fin is set) once all data
// before it arrived, or one that arrived earlier and is now in order.
func (c *Conn) receiveFIN(fin bool, end seqnum) {
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
