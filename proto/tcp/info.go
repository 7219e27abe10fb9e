package tcp

import "time"

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
