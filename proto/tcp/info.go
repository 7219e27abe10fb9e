package tcp

import (
	"strconv"
	"time"
)

// Info is a snapshot of one connection's sender and receiver state, in the
// spirit of Linux's struct tcp_info: what a time-series sampler records.
// Taking it reads the connection and changes nothing.
type Info struct {
	// Cwnd and Ssthresh are the congestion window and slow-start
	// threshold in bytes (RFC 5681 section 2).
	Cwnd, Ssthresh int
	// SRTT, RTTVar and RTO are the smoothed round-trip time, its
	// variation and the retransmission timeout (RFC 6298 section 2);
	// SRTT and RTTVar are zero before the first sample.
	SRTT, RTTVar, RTO time.Duration
	// BytesInFlight is RFC 6675's pipe: the bytes sent and believed
	// still in the network.
	BytesInFlight int
	// SndUna and SndNxt are SND.UNA and SND.NXT relative to the initial
	// send sequence number (RFC 9293 section 3.3.1), so the SYN is 0 and
	// the first data byte 1.
	SndUna, SndNxt uint32
	// RcvWnd is the receive window the connection offers now, in bytes.
	RcvWnd int
	// Retransmits counts retransmitted segments (ConnStats.Retransmits).
	Retransmits uint64
	// DeliveredBytes counts data bytes the peer has cumulatively
	// acknowledged; ReceivedBytes data bytes received in order.
	DeliveredBytes, ReceivedBytes uint64
}

// Info returns a snapshot of the connection's state.
func (c *Conn) Info() Info {
	return Info{
		Cwnd: c.ccs.Cwnd, Ssthresh: c.ccs.Ssthresh,
		SRTT: c.srtt, RTTVar: c.rttvar, RTO: c.rto,
		BytesInFlight: c.pipe(),
		SndUna:        uint32(c.sndUna - c.iss), SndNxt: uint32(c.sndNxt - c.iss),
		RcvWnd:         max(c.rcvWindowRight().diff(c.rcvNxt), 0),
		Retransmits:    c.stats.Retransmits,
		DeliveredBytes: c.stats.BytesSent, ReceivedBytes: c.stats.BytesReceived,
	}
}

// Observer is called with a connection each time the connection handled a
// segment or sent one, on the loop, while the connection is in the table.
// It may read the connection (Info, Stats, addresses) and must not change
// it.
type Observer func(c *Conn)

// SetObserver installs o (nil removes it). With none installed the hook
// costs one comparison per segment.
func (s *Stack) SetObserver(o Observer) { s.obs = o }

// observe tells the observer about the connection of k, if it is in the
// table.
func (s *Stack) observe(k connKey) {
	if c := s.conns[k]; c != nil {
		s.obs(c)
	}
}

// CAState is the sender's congestion state, numbered as Linux's TCP_CA_*
// values that tcp_info's tcpi_ca_state reports.
type CAState uint8

// The congestion states.
const (
	// CAOpen is normal operation: no loss suspected.
	CAOpen CAState = iota
	// CADisorder: duplicate ACKs or SACKs arrived, or segments are marked
	// lost, but recovery has not started.
	CADisorder
	// CACWR: the window was reduced for an ECN congestion signal (not
	// reported: the stack has no ECN).
	CACWR
	// CARecovery is fast recovery (RFC 5681, 6582, 6675, 6937).
	CARecovery
	// CALoss follows a retransmission timeout until everything sent
	// before it is acknowledged.
	CALoss
)

// String returns Linux's name of the state without its TCP_CA_ prefix.
func (s CAState) String() string {
	switch s {
	case CAOpen:
		return "Open"
	case CADisorder:
		return "Disorder"
	case CACWR:
		return "CWR"
	case CARecovery:
		return "Recovery"
	case CALoss:
		return "Loss"
	}
	return "CAState(" + strconv.Itoa(int(s)) + ")"
}

// RecoveryInfo is the loss-recovery state of a connection, after Linux's tcp_info:
// counts are in segments as RACK tracks them (RFC 8985). Without RACK,
// Unacked and Sacked count full segments (Sacked the duplicate ACKs
// without SACK, as Linux does) and Lost and Retrans are zero.
type RecoveryInfo struct {
	// CAState is the congestion state (tcpi_ca_state).
	CAState CAState
	// Unacked counts the segments sent and not cumulatively acknowledged
	// (tcpi_unacked).
	Unacked int
	// Sacked counts the outstanding segments SACKed (tcpi_sacked).
	Sacked int
	// Lost counts the outstanding segments marked lost, retransmitted or
	// not, and not SACKed since (tcpi_lost).
	Lost int
	// Retrans counts the retransmitted segments outstanding, neither
	// SACKed nor marked lost again (tcpi_retrans; after a timeout Linux
	// forgets earlier retransmissions, this count keeps them).
	Retrans int
	// Reordering is the largest reordering seen, in segments, at least 3
	// (tcpi_reordering). It is reported only: the duplicate-ACK threshold
	// stays 3.
	Reordering int
}

// RecoveryInfo returns the connection's loss-recovery state.
func (c *Conn) RecoveryInfo() RecoveryInfo {
	in := RecoveryInfo{CAState: c.caState(), Reordering: c.reorderingDegree()}
	if !c.rackOn() {
		if c.mss > 0 {
			in.Unacked = (c.sndMax.diff(c.sndUna) + c.mss - 1) / c.mss
			for _, r := range c.sb {
				in.Sacked += (r.len() + c.mss - 1) / c.mss
			}
		}
		if !c.sackOK {
			in.Sacked = c.dupAcks // as Linux's NewReno emulation of SACK
		}
		return in
	}
	for i := c.rk.head; i < len(c.rk.recs); i++ {
		r := &c.rk.recs[i]
		in.Unacked++
		switch {
		case r.sacked:
			in.Sacked++
		case r.marked:
			in.Lost++
		}
		if r.rtx && !r.sacked && !r.lost {
			in.Retrans++
		}
	}
	return in
}

// reorderingDegree returns the reordering seen, at least Linux's initial
// tcp_reordering of 3.
func (c *Conn) reorderingDegree() int { return max(c.reordering, 3) }

// caState derives the congestion state as Linux's tcp_fastretrans_alert
// and tcp_try_keep_open set it.
func (c *Conn) caState() CAState {
	switch {
	case c.inLoss:
		return CALoss
	case c.inRecovery:
		return CARecovery
	case c.dupAcks > 0 || len(c.sb) > 0:
		return CADisorder
	}
	if c.rackOn() {
		for i := c.rk.head; i < len(c.rk.recs); i++ {
			if r := &c.rk.recs[i]; r.marked || r.rtx {
				return CADisorder
			}
		}
	}
	return CAOpen
}
