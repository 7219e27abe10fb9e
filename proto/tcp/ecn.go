package tcp

import "net/netip"

// Explicit Congestion Notification for TCP (RFC 3168 section 6.1), on when
// Config.ECN is set on both ends. The SYN carries ECE and CWR, the SYN-ACK
// ECE alone (section 6.1.1); once negotiated, new data segments leave as
// ECT(0) (never retransmissions, pure ACKs or window probes: sections
// 6.1.4 to 6.1.6). A receiver that gets a CE-marked segment sets ECE on
// every ACK until a segment with CWR arrives (section 6.1.3); a sender
// that gets ECE reduces its window as for a loss, at most once per window
// of data and not during loss recovery or after a retransmission timeout
// (until SND.UNA reaches what was sent before it), holds the window until
// the reduced window is acknowledged, and sets CWR on the next new data
// segment (section 6.1.2). As Linux's, a reduction never takes the window
// below two segments (the algorithms' ssthresh floor), so section 6.1.2's
// one-segment window paced by the retransmit timer never arises. BBR (v1)
// keeps its model on ECE and only answers with CWR. The IP layer must
// implement the optional TOSSender and TOSReceiver interfaces
// (proto/stack's Host does); without them ECN is never negotiated.

// IP ECN codepoints (RFC 3168 section 5).
const (
	ecnECT0 = 0b10
	ecnCE   = 0b11
)

// TOSSender is implemented by a Network that can set the IP TOS byte
// (DSCP and ECN) of a datagram it sends.
type TOSSender interface {
	SendIPTOS(proto uint8, src, dst netip.Addr, payload []byte, tos uint8) error
}

// TOSReceiver is implemented by a Network that tells, during a
// HandleIP call, the TOS byte of the datagram being delivered.
type TOSReceiver interface {
	ReceivedTOS() uint8
}

// ecnState is a connection's ECN state.
type ecnState struct {
	ok         bool   // negotiated on the handshake
	echo       bool   // receiver: set ECE until a CWR arrives
	cwrPending bool   // sender: set CWR on the next new data segment
	high       seqnum // sender: no new reduction until SND.UNA passes it
	highSet    bool
}

// ecnCapable reports whether this stack can do ECN: configured, and an IP
// layer that sets and reports the TOS byte.
func (s *Stack) ecnCapable() bool {
	return s.cfg.ECN && s.tosTx != nil && s.tosRx != nil
}

// ecnSynFlags returns the ECN flags of our SYN or SYN-ACK (RFC 3168
// section 6.1.1): ECE and CWR on an ECN-setup SYN, ECE on the SYN-ACK of a
// negotiated connection. A retransmitted SYN goes without them (section
// 6.1.1.1: the ECN-setup SYN may be what a middlebox drops).
func (c *Conn) ecnSynFlags(retransmit bool) uint8 {
	switch {
	case c.state == StateSynSent && c.s.ecnCapable() && !retransmit:
		return FlagECE | FlagCWR
	case c.state == StateSynReceived && c.ecn.ok:
		return FlagECE
	}
	return 0
}

// ecnSyn negotiates ECN from the peer's SYN (passive: ECE and CWR both
// set) or SYN-ACK (active: ECE set, CWR clear), RFC 3168 section 6.1.1.
func (c *Conn) ecnSyn(fl uint8, passive bool) {
	want := uint8(FlagECE)
	if passive {
		want = FlagECE | FlagCWR
	}
	c.ecn = ecnState{ok: c.s.ecnCapable() && fl&(FlagECE|FlagCWR) == want}
	c.stats.ECN = c.ecn.ok
}

// ecnInput is the receiver's side for an acceptable segment with flags
// fl: CWR ends the echo, a CE mark (re)starts it (section 6.1.3: a CE
// segment carrying CWR sets ECE again) and is acknowledged at once.
func (c *Conn) ecnInput(fl uint8) {
	if !c.ecn.ok {
		return
	}
	if fl&FlagCWR != 0 {
		c.ecn.echo = false
	}
	if c.s.rxTOS&3 == ecnCE {
		c.stats.CEReceived++
		if !c.ecn.echo {
			c.ackNow = true
		}
		c.ecn.echo = true
	}
}

// ecnAck is the sender's side for an ACK with flags fl and flight bytes
// outstanding before it (section 6.1.2).
func (c *Conn) ecnAck(fl uint8, flight int) {
	if !c.ecn.ok || fl&FlagECE == 0 || fl&FlagSYN != 0 {
		return
	}
	if c.inRecovery || c.inLoss {
		// The loss's reduction answers the marks too: no second one on
		// top of recovery, nor a window raised from a timeout's one
		// segment (Linux enters CWR only from Open and Disorder,
		// tcp_enter_cwr). CWR tells the receiver to stop echoing, as
		// Linux queues it on entering Recovery or Loss.
		c.ecn.cwrPending = true
		return
	}
	if c.ecn.highSet && !c.sndUna.gt(c.ecn.high) {
		return // once per window
	}
	c.ecn.high, c.ecn.highSet = c.sndMax, true
	c.ecn.cwrPending = true
	c.stats.ECNReductions++
	if c.rate.bbr != nil {
		c.rate.bbr.onECE(flight)
		return
	}
	c.cc.OnCongestion(&c.ccs, flight, c.s.clk.Now())
}

// ecnHoldsCwnd reports whether a new acknowledgment must leave the window
// alone because an ECE reduction is under way: from the reduction until
// SND.UNA passes the data then outstanding, as Linux's CWR state, in which
// tcp_cong_control only reduces. The ACKs of that window are those that
// still carry ECE (the receiver echoes until our CWR reaches it), and the
// sender SHOULD NOT increase cwnd in response to an ECN-Echo ACK (RFC 3168
// section 6.1.2). BBR sets its own window.
func (c *Conn) ecnHoldsCwnd() bool {
	return c.ecn.ok && c.ecn.highSet && !c.sndUna.gt(c.ecn.high) && c.rate.bbr == nil
}

// ecnOut returns the flags and the TOS byte of an outgoing non-SYN
// segment with n data bytes from seq: ECE while echoing, ECT(0) and a
// pending CWR on new data only.
func (c *Conn) ecnOut(seq seqnum, n int, probe bool) (flags, tos uint8) {
	if !c.ecn.ok {
		return 0, 0
	}
	if c.ecn.echo {
		flags |= FlagECE
	}
	if n > 0 && !seq.lt(c.sndMax) && !probe {
		tos = ecnECT0
		if c.ecn.cwrPending {
			c.ecn.cwrPending = false
			flags |= FlagCWR
		}
	}
	return flags, tos
}
