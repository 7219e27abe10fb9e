package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 6675 section 5.1: after a retransmission timeout no new recovery
// phase starts until SND.UNA reaches the RecoveryPoint the timeout set (as
// Linux stays in its Loss state). The SACKs that arrive for the window the
// timeout resends neither start fast recovery again (ssthresh taken from
// the whole flight once more, cwnd back from one segment to it, a burst
// that resent SACKed data and SND.UNA a second time) nor send anything
// the SACKs cover; the holes go out one by one as slow start allows.
func TestNoFastRecoveryAfterTimeout(t *testing.T) {
	t.Parallel()
	for _, cc := range []string{"cubic", "newreno"} {
		t.Run(cc, func(t *testing.T) {
			t.Parallel()
			r, _ := tsConn(t, Config{CongestionControl: cc})
			mss := r.conn.mss
			seqs := r.sendSegments(10)
			r.advance(r.conn.rto)
			rt := r.take()
			require.Equal(t, seqs[0], rt.seq(), "the timeout resends SND.UNA")
			r.none()
			require.Equal(t, mss, r.conn.ccs.Cwnd, "loss window")
			ssthresh := r.conn.ccs.Ssthresh

			// Segments 0 and 1 were lost, 2..9 arrived: the ACKs of the
			// original window come back SACKing them.
			sack := r.ts(0)
			sack.SACK[0] = SACKBlock{uint32(seqs[2]), uint32(r.conn.sndMax)}
			sack.NumSACK = 1
			for i := 0; i < 3; i++ {
				r.ackWith(seqs[0], sack)
				assert.Zero(t, len(r.net.Out), "nothing sent on SACK %d (a second fast retransmission)", i)
			}
			st := r.conn.Stats()
			assert.Zero(t, st.FastRetransmits, "no fast recovery inside the timeout's episode")
			assert.Equal(t, mss, r.conn.ccs.Cwnd)
			assert.Equal(t, ssthresh, r.conn.ccs.Ssthresh)

			// The retransmission of segment 0 arrives: slow start sends
			// the other hole and nothing SACKed.
			sack = r.ts(0)
			sack.SACK[0] = SACKBlock{uint32(seqs[2]), uint32(r.conn.sndMax)}
			sack.NumSACK = 1
			r.ackWith(seqs[1], sack)
			rt = r.take()
			assert.Equal(t, seqs[1], rt.seq())
			assert.Len(t, rt.data, mss)
			assert.Zero(t, len(r.net.Out), "no SACKed data resent")

			r.ackWith(r.conn.sndMax, r.ts(0))
			assert.False(t, r.conn.inLoss, "RecoveryPoint reached")
			assert.Equal(t, uint64(2), r.conn.Stats().Retransmits)
		})
	}
}
