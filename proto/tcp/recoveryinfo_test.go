package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// block returns the SACK block of segments i..j of segs (inclusive).
func block(segs []seg, mss, i, j int) [2]seqnum {
	return [2]seqnum{segs[i].seq(), segs[j].seq().add(mss)}
}

// Ten segments out, the eighth SACKed: Disorder until the RACK reordering
// timer marks the seven before it lost (RFC 8985 section 6.2). Recovery
// then sends the fast retransmission only, as Linux's tcp_rack_reo_timeout
// (PRR counting the timer as one delivered segment), where cwnd = ssthresh
// alone would resend four holes at once. Info counts segments as
// tcp_info does: lost ones stay lost through their retransmission until
// SACKed; reordering grows when a SACK fills in more than three segments
// below the highest SACKed one (Linux's tcp_check_sack_reordering).
func TestInfoRACKRecovery(t *testing.T) {
	t.Parallel()
	r, segs := rttConn(t, LinuxProfile(), 10)
	mss := r.conn.mss
	assert.Equal(t, RecoveryInfo{CAState: CAOpen, Unacked: 10, Reordering: 3}, r.conn.RecoveryInfo())

	r.advance(rackRTT)
	r.sackAck(segs[0].seq(), segs[7].o.TSVal, block(segs, mss, 7, 7))
	r.none()
	assert.Equal(t, RecoveryInfo{CAState: CADisorder, Unacked: 10, Sacked: 1, Reordering: 3}, r.conn.RecoveryInfo())

	for len(r.net.Out) == 0 {
		require.True(t, r.sched.Step())
	}
	rt := r.take()
	assert.Equal(t, segs[0].seq(), rt.seq(), "the fast retransmission")
	r.none()
	assert.Equal(t, 3*mss, r.conn.ccs.Cwnd, "PRR: pipe (two unSACKed, one resent) + one segment")
	assert.Equal(t, RecoveryInfo{CAState: CARecovery, Unacked: 10, Sacked: 1, Lost: 7, Retrans: 1, Reordering: 3}, r.conn.RecoveryInfo())

	// 5001:6001 in the script's numbers: three segments below the highest
	// SACKed byte, not more than the reordering degree 3.
	r.sackAck(segs[0].seq(), segs[5].o.TSVal, block(segs, mss, 5, 5), block(segs, mss, 7, 7))
	assert.Equal(t, segs[1].seq(), r.take().seq())
	assert.Equal(t, RecoveryInfo{CAState: CARecovery, Unacked: 10, Sacked: 2, Lost: 6, Retrans: 2, Reordering: 3}, r.conn.RecoveryInfo())

	// A SACK six segments below: reordering 6.
	r.sackAck(segs[0].seq(), segs[2].o.TSVal, block(segs, mss, 2, 2), block(segs, mss, 5, 5), block(segs, mss, 7, 7))
	assert.Equal(t, 6, r.conn.RecoveryInfo().Reordering)
	assert.Equal(t, 5, r.conn.RecoveryInfo().Lost)

	r.drain()
	r.sackAck(r.conn.sndMax, rt.o.TSVal)
	assert.Equal(t, RecoveryInfo{CAState: CAOpen, Reordering: 6}, r.conn.RecoveryInfo())
}

// A retransmission timeout enters Loss (every outstanding segment counts
// lost) until everything sent before it is acknowledged; a cumulative ACK
// below that point leaves it in Loss.
func TestInfoLossState(t *testing.T) {
	t.Parallel()
	r, segs := rttConn(t, LinuxProfile(), 4)
	for r.conn.Stats().TimeoutRetransmits == 0 {
		require.True(t, r.sched.Step())
	}
	r.drain()
	// The tail loss probe resent the last segment, the timeout the first.
	assert.Equal(t, RecoveryInfo{CAState: CALoss, Unacked: 4, Lost: 4, Retrans: 2, Reordering: 3}, r.conn.RecoveryInfo())
	r.sackAck(segs[1].seq(), r.conn.tsNow())
	assert.Equal(t, CALoss, r.conn.RecoveryInfo().CAState)
	r.sackAck(r.conn.sndMax, r.conn.tsNow())
	assert.Equal(t, CAOpen, r.conn.RecoveryInfo().CAState)
}

func TestCAStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[CAState]string{CAOpen: "Open", CADisorder: "Disorder", CACWR: "CWR", CARecovery: "Recovery", CALoss: "Loss", 9: "CAState(9)"} {
		assert.Equal(t, want, s.String())
	}
}

// Linux's scoreboard is per segment: in the linux profile a SACK block
// covering only part of a segment marks nothing, and one spanning whole
// segments and a part marks the whole ones (fr-4pkt-fack-last-byte.pkt);
// the rfc profile keeps RFC 6675's byte ranges.
func TestPartialSegmentSACK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   Config
		linux bool
	}{{"linux", LinuxProfile(), true}, {"rfc", RFCProfile(), false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, segs := rttConn(t, tc.cfg, 4)
			mss := r.conn.mss
			end := segs[3].seq().add(mss)
			// The last byte of the last segment.
			r.sackAck(segs[0].seq(), segs[3].o.TSVal, [2]seqnum{end.add(-1), end})
			wantLast, wantMixed := 1, 1+mss+1
			if tc.linux {
				wantLast, wantMixed = 0, mss
			}
			assert.Equal(t, wantLast, r.conn.sackedBytes())
			// The second segment and one byte of the third.
			r.sackAck(segs[0].seq(), segs[3].o.TSVal, [2]seqnum{segs[1].seq(), segs[2].seq().add(1)})
			assert.Equal(t, wantMixed, r.conn.sackedBytes())
		})
	}
}
