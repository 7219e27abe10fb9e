package tcp

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6675 section 5: an ACK with new SACK information is a duplicate ACK
// (section 2) "regardless of its status as a cumulative acknowledgment",
// so one that advances SND.UNA while SACKing DupThresh segments above the
// new SND.UNA starts recovery by step (2), IsLost(HighACK + 1), as Linux's
// tcp_time_to_recover does (packetdrill's sack-route-refresh-ip-tos.pkt).
// With RACK (RFC 8985 section 6.2) the hole filled by the cumulative ACK
// is no reordering: it is compared with the highest SACKed sequence before
// this ACK (Linux's prior_fack), so the reordering window stays zero and
// RACK marks the holes lost at once.
func TestCumulativeACKWithSACKStartsRecovery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"rfc6675", Config{}},
		{"rack", Config{RACK: true}},
		{"linux", LinuxProfile()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, segs := rttConn(t, tc.cfg, 10)
			end := r.conn.sndMax
			r.advance(rackRTT)
			// Segment 0 is acknowledged; 1 and 3 are lost; 2 and 4..9
			// (seven segments, more than DupThresh) are SACKed.
			r.sackAck(segs[1].seq(), segs[9].o.TSVal,
				[2]seqnum{segs[4].seq(), end}, [2]seqnum{segs[2].seq(), segs[3].seq()})

			require.True(t, r.conn.inRecovery, "recovery started by the cumulative ACK")
			assert.False(t, r.conn.rk.reordSeen, "no reordering seen")
			rt := r.take()
			assert.Equal(t, segs[1].seq(), rt.seq(), "first hole retransmitted")
			assert.Equal(t, uint64(1), r.conn.Stats().FastRetransmits)
		})
	}
}

// A cumulative ACK whose SACK blocks prove no loss (fewer than DupThresh
// segments above SND.UNA) leaves the connection out of recovery.
func TestCumulativeACKWithFewSACKsNoRecovery(t *testing.T) {
	t.Parallel()
	r, segs := rttConn(t, Config{}, 10)
	r.advance(rackRTT)
	r.sackAck(segs[1].seq(), segs[9].o.TSVal, [2]seqnum{segs[2].seq(), segs[4].seq()})
	assert.False(t, r.conn.inRecovery)
	assert.Equal(t, uint64(0), r.conn.Stats().FastRetransmits)
}

// RFC 8985 section 6.2 step 3: in-order deliveries are no reordering,
// wherever the sequence space starts. RACK.fack used to start at zero,
// which lies "above" every sequence number in the upper half of the
// space, so for those connections every delivery set reordering_seen.
func TestRACKInOrderDeliveryNotReordered(t *testing.T) {
	t.Parallel()
	for _, start := range []seqnum{0x10, 0x7fffff00, 0x90000000, 0xffffff00} {
		t.Run(fmt.Sprintf("%#x", uint32(start)), func(t *testing.T) {
			t.Parallel()
			r, _ := rttConn(t, Config{RACK: true}, 1)
			c := r.conn
			c.rk = rackState{}
			now := r.sched.Now()
			for i := 0; i < 3; i++ {
				s := start.add(i * 1000)
				c.rackDelivered(&segRec{start: s, end: s.add(1000), order: uint64(i + 1), xmit: now}, &Options{}, now)
			}
			assert.False(t, c.rk.reordSeen)
			assert.Equal(t, start.add(3000), c.rk.fack)
		})
	}
}
