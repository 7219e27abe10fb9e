package tcp

import (
	"sort"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// RACK-TLP loss detection (RFC 8985), on when Config.RACK is set and SACK
// was negotiated. RACK keeps the send time of every outstanding segment
// and declares a segment lost once a segment sent after it has been
// delivered (acknowledged or SACKed) and a reordering window has passed;
// TLP sends a probe two round trips after the last transmission so that a
// lost tail is repaired by RACK or fast recovery instead of a timeout.
//
// Deviations: "sent after" is decided by a transmission counter rather
// than by (RACK.xmit_ts, RACK.end_seq): on a virtual clock many segments
// leave at the same instant, and a retransmission may leave after new data
// with a higher sequence number. The reordering window does not adapt to D-SACK (this stack
// neither sends nor parses D-SACK; RACK.reo_wnd_mult stays 1), a TLP
// retransmission that is acknowledged is taken as a repaired loss (no
// D-SACK can say the original arrived too), and a segment counts as
// SACKed only when one SACK block covers it whole.

// segRec is one transmitted segment (RFC 8985 section 5.2: its end
// sequence number, transmission time and whether it was retransmitted).
type segRec struct {
	start, end seqnum
	xmit       clock.Time
	order      uint64 // transmission counter at its last sending
	tsval      uint32 // the TSval it was last sent with
	rtx        bool   // retransmitted
	sacked     bool
	lost       bool // marked lost, not yet retransmitted
	// marked is set with lost and kept through the retransmission, until
	// the segment is SACKed or acknowledged: Linux's TCPCB_LOST, what
	// tcpi_lost counts.
	marked bool
}

// rackState is RACK's and TLP's per-connection state (RFC 8985 sections
// 6.1 and 7).
type rackState struct {
	recs []segRec // outstanding segments in sequence order, from head on
	head int

	nsent     uint64        // transmissions so far
	ok        bool          // a segment was delivered: xmit, end and rtt are set
	xmit      clock.Time    // RACK.xmit_ts
	order     uint64        // its transmission counter
	end       seqnum        // RACK.end_seq
	rtt       time.Duration // RACK.rtt
	fack      seqnum        // RACK.fack: highest end delivered
	fackSet   bool          // fack is set (a segment was delivered)
	reordSeen bool          // RACK.reordering_seen

	ptoArmed bool   // the retransmission timer is the TLP probe timeout
	tlpOn    bool   // a probe is outstanding (TLP.end_seq is set)
	tlpEnd   seqnum // TLP.end_seq
	tlpRtx   bool   // TLP.is_retrans
}

type rackTimer Conn

func (t *rackTimer) OnTimer(clock.Time) {
	c := (*Conn)(t)
	if !c.rackOn() || !c.synchronized() || c.state == StateTimeWait {
		return
	}
	if c.rackDetect() {
		was := c.inRecovery
		c.rackEnterRecovery()
		if !was && c.inRecovery && c.prrOn() && c.s.cfg.Profile == ProfileLinux {
			// Linux's tcp_rack_reo_timeout reduces the window as for an
			// ACK that delivered one segment (tcp_cwnd_reduction(sk, 1,
			// 0)): PRR allows the fast retransmission and no more.
			c.prrAck(c.mss, false)
		}
	}
	c.output()
	c.flush()
}

// rackOn reports whether RACK-TLP runs on this connection.
func (c *Conn) rackOn() bool { return c.s.cfg.RACK && c.sackOK }

// rackSent records a transmission of [seq, end) (RFC 8985 section 6.1).
func (c *Conn) rackSent(seq, end seqnum, tsval uint32) {
	now := c.s.clk.Now()
	rk := &c.rk
	rk.nsent++
	if seq.lt(c.sndMax) {
		rend := seqMin(end, c.sndMax)
		recs := rk.recs[rk.head:]
		i := sort.Search(len(recs), func(k int) bool { return recs[k].end.gt(seq) })
		for ; i < len(recs) && recs[i].start.lt(rend); i++ {
			r := &recs[i]
			r.xmit, r.order, r.tsval, r.rtx, r.lost = now, rk.nsent, tsval, true, false
		}
		seq = rend
	}
	if end.gt(seq) {
		if rk.head > 0 && rk.head*2 >= len(rk.recs) {
			rk.recs = rk.recs[:copy(rk.recs, rk.recs[rk.head:])]
			rk.head = 0
		}
		rk.recs = append(rk.recs, segRec{start: seq, end: end, xmit: now, order: rk.nsent, tsval: tsval})
	}
}

// rackDelivered is RFC 8985 section 6.2 steps 2 and 3 for a segment newly
// acknowledged or SACKed.
func (c *Conn) rackDelivered(r *segRec, o *Options, now clock.Time) {
	rk := &c.rk
	if r.rtx {
		// Step 2: the ACK may be for the original transmission; skip it
		// when the echoed timestamp predates the retransmission or the
		// round trip would be shorter than any seen.
		if c.tsOK && o.HasTS && o.TSEcr != 0 && int32(o.TSEcr-r.tsval) < 0 {
			return
		}
		if now.Sub(r.xmit) < c.ccs.MinRTT {
			return
		}
	}
	if !rk.ok || r.order > rk.order {
		rk.ok, rk.xmit, rk.order, rk.end, rk.rtt = true, r.xmit, r.order, r.end, now.Sub(r.xmit)
	} else if c.s.cfg.Profile == ProfileLinux {
		// Linux's tcp_rack_advance takes RACK.rtt from every segment it
		// is called for, the last one processed (the cumulatively
		// acknowledged ones come after the SACKed ones), where RFC 8985
		// takes it with RACK.xmit_ts from the most recently sent.
		rk.rtt = now.Sub(r.xmit)
	}
	// Step 3: a never retransmitted segment delivered below the highest
	// delivered one was reordered. RACK.fack starts at the first delivered
	// segment: compared in sequence space, an unset zero would lie above
	// half of all sequence numbers and make every delivery look reordered.
	if !rk.fackSet {
		rk.fack, rk.fackSet = r.end, true
	}
	if !r.rtx && r.end.lt(rk.fack) {
		rk.reordSeen = true
	}
	if r.end.gt(rk.fack) {
		rk.fack = r.end
	}
}

// rackOnAck runs RACK and TLP for an ACK (RFC 8985 sections 6.2 and 7.4)
// after the scoreboard and SND.UNA were updated; advanced says whether the
// ACK moved SND.UNA.
func (c *Conn) rackOnAck(o *Options, advanced bool) {
	now := c.s.clk.Now()
	rk := &c.rk
	if c.s.cfg.Profile == ProfileLinux {
		c.rackLinuxDeliver(o, now)
	} else {
		c.rackDeliverAcked(o, now)
		c.rackMarkSACKed(o, now)
	}
	// TLP (section 7.4): the episode ends once the probe is acknowledged.
	if rk.tlpOn && c.sndUna.geq(rk.tlpEnd) {
		rk.tlpOn = false
		if rk.tlpRtx && advanced && !c.inRecovery {
			// The probe retransmission repaired a loss: the congestion
			// control responds as to any loss (section 7.4.2).
			c.cc.OnCongestion(&c.ccs, c.lossBase(), now)
		}
	}
	if c.rackDetect() {
		c.rackEnterRecovery()
	}
}

// rackDeliverAcked runs steps 2 and 3 for the segments SND.UNA passed and
// drops their records.
func (c *Conn) rackDeliverAcked(o *Options, now clock.Time) {
	rk := &c.rk
	for rk.head < len(rk.recs) && rk.recs[rk.head].end.leq(c.sndUna) {
		if r := &rk.recs[rk.head]; !r.sacked {
			c.rackDelivered(r, o, now)
		}
		rk.head++
	}
	if rk.head == len(rk.recs) {
		rk.recs, rk.head = rk.recs[:0], 0
	}
}

// rackLinuxDeliver delivers in Linux's order: SACKed segments are tagged
// before the acknowledged ones are cleaned (tcp_ack: tcp_sacktag_write_queue,
// then tcp_clean_rtx_queue). A hole the cumulative ACK fills is reordering
// only below prior_fack, the highest sequence SACKed before this ACK
// (tcp_clean_rtx_queue's tcp_check_sack_reordering), not below what the same
// ACK SACKs.
func (c *Conn) rackLinuxDeliver(o *Options, now clock.Time) {
	rk := &c.rk
	prior, priorSet := rk.fack, rk.fackSet
	c.rackMarkSACKed(o, now)
	fack, set := rk.fack, rk.fackSet
	rk.fack, rk.fackSet = prior, priorSet
	c.rackDeliverAcked(o, now)
	if set && (!rk.fackSet || fack.gt(rk.fack)) {
		rk.fack, rk.fackSet = fack, true
	}
}

// rackEnterRecovery starts fast recovery for losses RACK detected. Like a
// loss RFC 6675's IsLost proves, SACKed data sent later is evidence enough
// even before the latest recovery point (RFC 6582 section 3.2 step 1
// guards against duplicate ACKs alone); not while the go-back-N resend
// after a timeout is under way.
func (c *Conn) rackEnterRecovery() {
	if !c.inRecovery && c.sndNxt == c.sndMax {
		c.rk.tlpOn = false
		c.enterRecovery()
	}
}

// rackMarkSACKed marks the records the scoreboard covers.
func (c *Conn) rackMarkSACKed(o *Options, now clock.Time) {
	if len(c.sb) == 0 {
		return
	}
	recs := c.rk.recs[c.rk.head:]
	i := sort.Search(len(recs), func(k int) bool { return !recs[k].start.lt(c.sb[0].start) })
	for j := 0; i < len(recs) && j < len(c.sb); {
		r, b := &recs[i], c.sb[j]
		if r.start.geq(b.end) {
			j++
			continue
		}
		if !r.sacked && r.start.geq(b.start) && r.end.leq(b.end) {
			r.sacked, r.lost, r.marked = true, false, false
			c.rackDelivered(r, o, now)
		}
		i++
	}
}

// rackReoWnd is RFC 8985 section 6.2 step 4 with reo_wnd_mult 1.
func (c *Conn) rackReoWnd() time.Duration {
	if !c.rk.reordSeen && (c.inRecovery || c.sackedBytes() >= 3*c.mss) {
		return 0
	}
	return min(c.ccs.MinRTT/4, c.srtt)
}

// rackDetect is RFC 8985 section 6.2 step 5: it marks lost the segments
// sent before the most recently delivered one whose time is up, arms the
// reordering timer for the others, and reports whether it marked any.
func (c *Conn) rackDetect() bool {
	rk := &c.rk
	if !rk.ok {
		return false
	}
	now := c.s.clk.Now()
	reo := c.rackReoWnd()
	var wait time.Duration
	lost := false
	for i := rk.head; i < len(rk.recs); i++ {
		r := &rk.recs[i]
		if r.sacked || r.lost {
			continue
		}
		if r.order >= rk.order { // not sent before the delivered segment
			if !r.rtx {
				// Later segments never retransmitted were sent later
				// still, and retransmitted ones even later.
				break
			}
			continue
		}
		if left := r.xmit.Add(rk.rtt + reo).Sub(now); left > 0 {
			wait = max(wait, left)
			continue
		}
		r.lost, r.marked = true, true
		lost = true
	}
	if wait > 0 {
		if c.s.cfg.Profile == ProfileLinux {
			// Linux's tcp_rack_mark_lost adds TCP_TIMEOUT_MIN (2 ms) to
			// the reordering timer.
			wait += linuxTimeoutMin
		}
		c.s.clk.Schedule(&c.rackT, now.Add(wait))
	} else {
		c.s.clk.Cancel(&c.rackT)
	}
	return lost
}

// rackMarkHeadLost marks SND.UNA's segment lost when recovery starts
// without a RACK mark (DupThresh, RFC 6675), unless it was resent already.
func (c *Conn) rackMarkHeadLost() {
	rk := &c.rk
	for i := rk.head; i < len(rk.recs); i++ {
		if rk.recs[i].lost {
			return
		}
	}
	if rk.head < len(rk.recs) {
		if r := &rk.recs[rk.head]; !r.rtx && !r.sacked {
			r.lost, r.marked = true, true
		}
	}
}

// rackNextLost returns the first segment RACK marked lost, up to one MSS.
func (c *Conn) rackNextLost() (seqnum, int, bool) {
	for i := c.rk.head; i < len(c.rk.recs); i++ {
		if r := &c.rk.recs[i]; r.lost && !r.sacked {
			return r.start, min(c.mss, r.end.diff(r.start)), true
		}
	}
	return 0, 0, false
}

// rackOnRTO forgets SACK and loss marks after a retransmission timeout:
// the go-back-N resend covers everything from SND.UNA. Every outstanding
// segment counts as lost (Linux's tcp_timeout_mark_lost), for TCPInfo.
func (c *Conn) rackOnRTO() {
	for i := c.rk.head; i < len(c.rk.recs); i++ {
		r := &c.rk.recs[i]
		r.sacked, r.lost, r.marked = false, false, true
	}
	c.rk.tlpOn, c.rk.ptoArmed = false, false
	c.s.clk.Cancel(&c.rackT)
}

// armRTOorPTO arms the retransmission timer, as a TLP probe timeout when
// RFC 8985 section 7.2's conditions hold.
func (c *Conn) armRTOorPTO() {
	if !c.ptoArm(false) {
		c.armRTO()
	}
}

// ptoArm arms the retransmission timer as a TLP probe timeout and reports
// true when RFC 8985 section 7.2's conditions hold: SACK, not in recovery
// or after a timeout, no probe outstanding, data in flight and none
// waiting to be resent (sendingNew: called as new data leaves, before
// SND.NXT moves past it).
// linuxTimeoutMin is Linux's TCP_TIMEOUT_MIN (2 jiffies at HZ=1000), the
// slack it adds to the RACK and TLP timers.
const linuxTimeoutMin = 2 * time.Millisecond

func (c *Conn) ptoArm(sendingNew bool) bool {
	rk := &c.rk
	if !c.rackOn() || c.inRecovery || c.retries > 0 || rk.tlpOn || c.persist ||
		(c.sndNxt != c.sndMax && !sendingNew) || c.sndUna == c.sndMax ||
		!c.synchronized() || c.state == StateTimeWait {
		return false
	}
	// PTO = 2*SRTT, plus the worst-case delayed ACK when one segment is in
	// flight, at most the RTO; 1 s before any sample.
	pto := time.Second
	if c.hasRTT && c.s.cfg.Profile == ProfileLinux {
		// Linux's tcp_schedule_loss_probe: 2*SRTT plus TCP_RTO_MIN with
		// one segment out (its delayed ACK), else plus TCP_TIMEOUT_MIN.
		pto = 2*c.srtt + linuxTimeoutMin
		if c.sndMax.diff(c.sndUna) <= c.mss {
			pto = 2*c.srtt + 200*time.Millisecond
		}
	} else if c.hasRTT {
		pto = 2 * c.srtt
		if c.sndMax.diff(c.sndUna) <= c.mss {
			pto += 200 * time.Millisecond // WCDelAckT
		}
		pto = max(pto, 10*time.Millisecond)
	}
	pto = min(pto, c.rto)
	c.s.clk.Schedule(&c.rtx, c.s.clk.Now().Add(pto))
	rk.ptoArmed = true
	return true
}

// sendProbe sends a tail loss probe (RFC 8985 section 7.3): a new segment
// if the peer's window allows one, else the last segment again; then the
// RTO is armed.
func (c *Conn) sendProbe() {
	rk := &c.rk
	rk.ptoArmed = false
	dataEnd := c.bufStart.add(c.sndBuf.n)
	avail := dataEnd.diff(c.sndNxt)
	wnd := c.sndUna.add(int(c.sndWnd)).diff(c.sndNxt)
	if n := min(avail, c.mss, wnd); n > 0 {
		fin := c.finQueued && n == avail
		sent := c.sendData(c.sndNxt, n, fin)
		if fin && sent == n {
			sent++
		}
		c.sndNxt = c.sndNxt.add(sent)
		rk.tlpRtx = false
	} else {
		seq := seqMax(c.sndUna, c.sndMax.add(-c.mss))
		if rk.head < len(rk.recs) {
			seq = seqMax(c.sndUna, rk.recs[len(rk.recs)-1].start)
		}
		if c.retransmit(seq, c.sndMax.diff(seq)) == 0 {
			c.armRTO()
			return
		}
		rk.tlpRtx = true
	}
	c.stats.TailLossProbes++
	rk.tlpOn, rk.tlpEnd = true, c.sndMax
	c.armRTO()
}
