package tcp

import (
	"sort"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation-00),
// which BBR's model is built from. Every transmission records how much had
// been delivered when it left (and when); when it is delivered (cumulatively
// acknowledged or SACKed whole) the ACK yields a sample: the data delivered
// between the two instants over the longer of the send and the ACK
// intervals. The sampler runs only for rate-based congestion control.

// RateSample is one delivery-rate sample (the draft's section 3.1 "rs").
type RateSample struct {
	// DeliveryRate is in bytes per second; 0 when the ACK delivered no
	// sampled data or the interval was shorter than the minimum RTT
	// (section 3.3: such a sample is invalid).
	DeliveryRate float64
	// Delivered is the data (bytes) delivered over Interval.
	Delivered int64
	// Interval is max(send_elapsed, ack_elapsed).
	Interval time.Duration
	// PriorDelivered is C.delivered when the most recently sent segment
	// this ACK delivered left: BBR's round counting compares it.
	PriorDelivered int64
	// TotalDelivered is C.delivered after this ACK.
	TotalDelivered int64
	// NewlyDelivered is what this ACK delivered, in bytes.
	NewlyDelivered int
	// RTT is the round trip of the most recently sent segment this ACK
	// delivered, 0 when it was retransmitted (Karn) or there was none.
	RTT time.Duration
	// TxInFlight is the flight (bytes) when the most recently sent
	// segment this ACK delivered left, itself included (BBR's
	// RS.tx_in_flight).
	TxInFlight int
	// Lost is the data (bytes) marked lost since that segment left
	// (RS.lost).
	Lost int64
	// AppLimited tells that the sampled segment was sent while the
	// application, not the network, limited the flight.
	AppLimited bool
	// Valid tells that the ACK delivered a sampled segment.
	Valid bool
}

// rsRec is one transmission's snapshot (the draft's per-packet state).
type rsRec struct {
	start, end    seqnum
	sent          clock.Time
	firstSent     clock.Time // C.first_sent_time when it left
	deliveredTime clock.Time // C.delivered_time when it left
	delivered     int64      // C.delivered when it left
	lost          int64      // C.lost when it left
	txInFlight    int        // the flight when it left, itself included
	appLimited    bool
	rtx           bool
	sacked        bool
}

// rateSampler is the connection's delivery-rate state (the draft's "C").
type rateSampler struct {
	recs          []rsRec // outstanding transmissions in sequence order, from head on
	head          int
	delivered     int64
	lost          int64 // C.lost: bytes marked lost
	deliveredTime clock.Time
	firstSent     clock.Time
	// appLimited is C.app_limited: 0, or the delivered count after which
	// samples are no longer application-limited.
	appLimited int64
}

// onSend records a transmission of [seq, end) at now; idle tells that
// nothing was in flight before it (section 3.2: the sampling interval
// restarts), sndMax is SND.MAX before it and inFlight the flight with
// it.
func (r *rateSampler) onSend(seq, end, sndMax seqnum, now clock.Time, idle bool, inFlight int) {
	if idle {
		r.firstSent, r.deliveredTime = now, now
	}
	snap := rsRec{sent: now, firstSent: r.firstSent, deliveredTime: r.deliveredTime,
		delivered: r.delivered, lost: r.lost, txInFlight: inFlight, appLimited: r.appLimited != 0}
	if seq.lt(sndMax) {
		// A retransmission: the records it covers take the new snapshot.
		rend := seqMin(end, sndMax)
		recs := r.recs[r.head:]
		i := sort.Search(len(recs), func(k int) bool { return recs[k].end.gt(seq) })
		for ; i < len(recs) && recs[i].start.lt(rend); i++ {
			p := &recs[i]
			if p.sacked {
				continue
			}
			start, e := p.start, p.end
			*p = snap
			p.start, p.end, p.rtx = start, e, true
		}
		seq = rend
	}
	if end.gt(seq) {
		if r.head > 0 && r.head*2 >= len(r.recs) {
			r.recs = r.recs[:copy(r.recs, r.recs[r.head:])]
			r.head = 0
		}
		snap.start, snap.end = seq, end
		r.recs = append(r.recs, snap)
	}
}

// onAck delivers the records that SND.UNA (una) and the ACK's SACK blocks
// cover and returns the sample (sections 3.3 and 3.4); minRTT bounds a
// valid interval.
func (r *rateSampler) onAck(una seqnum, o *Options, now clock.Time, minRTT time.Duration) RateSample {
	var rs RateSample
	var priorTime clock.Time
	var sendElapsed time.Duration
	deliver := func(p *rsRec) {
		n := p.end.diff(p.start)
		r.delivered += int64(n)
		r.deliveredTime = now
		rs.NewlyDelivered += n
		if !rs.Valid || p.delivered > rs.PriorDelivered ||
			(p.delivered == rs.PriorDelivered && p.sent > r.firstSent) {
			rs.Valid = true
			rs.PriorDelivered = p.delivered
			priorTime = p.deliveredTime
			rs.AppLimited = p.appLimited
			rs.TxInFlight = p.txInFlight
			rs.Lost = p.lost
			sendElapsed = p.sent.Sub(p.firstSent)
			r.firstSent = p.sent
			rs.RTT = 0
			if !p.rtx {
				rs.RTT = now.Sub(p.sent)
			}
		}
	}
	for r.head < len(r.recs) && !r.recs[r.head].end.gt(una) {
		if p := &r.recs[r.head]; !p.sacked {
			deliver(p)
		}
		r.head++
	}
	if r.head == len(r.recs) {
		r.recs, r.head = r.recs[:0], 0
	}
	for i := 0; o != nil && i < o.NumSACK; i++ {
		bs, be := seqnum(o.SACK[i].Start), seqnum(o.SACK[i].End)
		recs := r.recs[r.head:]
		k := sort.Search(len(recs), func(k int) bool { return recs[k].end.gt(bs) })
		for ; k < len(recs) && recs[k].start.lt(be); k++ {
			if p := &recs[k]; !p.sacked && !p.start.lt(bs) && !p.end.gt(be) {
				p.sacked = true
				deliver(p)
			}
		}
	}
	if r.appLimited != 0 && r.delivered > r.appLimited {
		r.appLimited = 0
	}
	rs.TotalDelivered = r.delivered
	if !rs.Valid {
		return rs
	}
	rs.Lost = r.lost - rs.Lost
	rs.Delivered = r.delivered - rs.PriorDelivered
	rs.Interval = max(sendElapsed, r.deliveredTime.Sub(priorTime))
	if rs.Interval > 0 && rs.Interval >= minRTT {
		rs.DeliveryRate = float64(rs.Delivered) / rs.Interval.Seconds()
	}
	return rs
}

// markLost counts the transmissions [seq, end) covers (not SACKed) as
// lost, before their retransmission, and calls fn with each one's
// snapshot (BBR's HandleLostPacket).
func (r *rateSampler) markLost(seq, end seqnum, fn func(p *rsRec)) {
	recs := r.recs[r.head:]
	i := sort.Search(len(recs), func(k int) bool { return recs[k].end.gt(seq) })
	for ; i < len(recs) && recs[i].start.lt(end); i++ {
		if p := &recs[i]; !p.sacked {
			r.lost += int64(p.end.diff(p.start))
			fn(p)
		}
	}
}

// markAppLimited records that the application has nothing more to send
// with inFlight bytes outstanding (section 3.4).
func (r *rateSampler) markAppLimited(inFlight int) {
	r.appLimited = max(r.delivered+int64(inFlight), 1)
}
