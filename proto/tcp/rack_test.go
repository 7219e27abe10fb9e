package tcp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const rackRTT = 50 * time.Millisecond

// rttConn opens a SACK and timestamp connection whose handshake took
// rackRTT, writes n full segments and returns their sequence numbers and
// timestamps.
func rttConn(t *testing.T, cfg Config, n int) (*rig, []seg) {
	r := newRig(t, cfg)
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
		r.conn, _ = l.Accept(r.ev)
	})
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535},
		&Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: r.pTS, HasWScale: true, WScale: 4}, nil)
	sa := r.take()
	r.pNxt = r.pISS + 1
	r.advance(rackRTT)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, r.ts(sa.o.TSVal), nil)
	require.NotNil(t, r.conn)
	require.Equal(t, rackRTT, r.conn.srtt)
	_, err = r.conn.Write(bytes.Repeat([]byte{'k'}, n*r.conn.mss))
	require.NoError(t, err)
	var segs []seg
	for len(r.net.Out) > 0 {
		segs = append(segs, r.take())
	}
	require.Len(t, segs, n)
	return r, segs
}

// sackAck acknowledges up to ack with SACK blocks, echoing ecr.
func (r *rig) sackAck(ack seqnum, ecr uint32, blocks ...[2]seqnum) {
	o := r.ts(ecr)
	for _, b := range blocks {
		o.SACK[o.NumSACK] = SACKBlock{uint32(b[0]), uint32(b[1])}
		o.NumSACK++
	}
	r.ackWith(ack, o)
}

// RFC 8985 section 7: the last two segments of a flight are lost. TLP
// resends the last one two round trips after the ACK (before the RTO);
// its SACK lets RACK declare the other lost at once (section 6.2), so
// fast recovery repairs the tail with no timeout. The rfc profile waits
// for the RTO.
func TestTailLossProbe(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"linux", LinuxProfile()}, {"rfc", RFCProfile()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, segs := rttConn(t, tc.cfg, 10)
			mss := r.conn.mss
			r.advance(rackRTT)
			r.sackAck(segs[8].seq(), segs[7].o.TSVal)
			r.none()
			start := r.sched.Now()
			for len(r.net.Out) == 0 {
				require.True(t, r.sched.Step())
			}
			p := r.take()
			waited := r.sched.Now().Sub(start)
			if tc.name == "rfc" {
				assert.Equal(t, segs[8].seq(), p.seq(), "timeout resends the first hole")
				assert.GreaterOrEqual(t, waited, time.Second, "RFC 6298 minimum RTO")
				assert.Equal(t, uint64(1), r.conn.Stats().TimeoutRetransmits)
				return
			}
			assert.Equal(t, 2*rackRTT+linuxTimeoutMin, waited, "PTO = 2*SRTT + TCP_TIMEOUT_MIN (Linux)")
			assert.Equal(t, segs[9].seq(), p.seq(), "the probe resends the last segment")
			r.advance(rackRTT)
			r.sackAck(segs[8].seq(), p.o.TSVal, [2]seqnum{segs[9].seq(), segs[9].seq().add(mss)})
			rt := r.take()
			assert.Equal(t, segs[8].seq(), rt.seq(), "RACK marks the other lost: fast retransmit at once")
			st := r.conn.Stats()
			assert.Equal(t, uint64(1), st.TailLossProbes)
			assert.Equal(t, uint64(1), st.FastRetransmits)
			assert.Zero(t, st.TimeoutRetransmits)
			r.advance(rackRTT)
			r.sackAck(r.conn.sndMax, rt.o.TSVal)
			assert.False(t, r.conn.inRecovery)
			assert.Equal(t, r.conn.sndMax, r.conn.sndUna)
		})
	}
}

// RFC 8985 section 6.2: one segment is lost and only the next one is
// SACKed, too few for RFC 6675's DupThresh. RACK marks it lost when the
// reordering window (min_RTT/4) after the delivered segment's round trip
// has passed, from its reordering timer.
func TestRACKReorderTimer(t *testing.T) {
	r, segs := rttConn(t, LinuxProfile(), 4)
	mss := r.conn.mss
	r.advance(rackRTT)
	r.sackAck(segs[0].seq(), segs[1].o.TSVal, [2]seqnum{segs[1].seq(), segs[1].seq().add(mss)})
	r.none()
	assert.True(t, r.conn.rackT.Pending())
	// min_RTT/4 plus Linux's TCP_TIMEOUT_MIN slack.
	r.advance(rackRTT/4 + linuxTimeoutMin - time.Millisecond)
	r.none()
	r.advance(time.Millisecond)
	rt := r.take()
	assert.Equal(t, segs[0].seq(), rt.seq())
	assert.True(t, r.conn.inRecovery)
	assert.Zero(t, r.conn.Stats().TimeoutRetransmits)
	// Reordering: the "lost" segment arrives late after all; a
	// never-retransmitted segment delivered below RACK.fack marks
	// reordering seen (step 3).
	r2, segs2 := rttConn(t, LinuxProfile(), 4)
	r2.advance(rackRTT)
	r2.sackAck(segs2[0].seq(), segs2[1].o.TSVal, [2]seqnum{segs2[1].seq(), segs2[1].seq().add(mss)})
	r2.sackAck(segs2[2].seq(), segs2[0].o.TSVal)
	assert.True(t, r2.conn.rk.reordSeen)
	assert.False(t, r2.conn.rackT.Pending())
	r2.none()
}

// RACK must not resend more than DupThresh-based recovery on the same
// lossy path (RFC 8985 section 6.2 marks a segment lost only when one sent
// after it was delivered): with many segments leaving at the same
// virtual instant, transmission order, not the sequence number, decides
// what was sent after what, and recovery does not resend a segment whose
// retransmission is still in flight.
func TestRACKNoExtraRetransmissions(t *testing.T) {
	t.Parallel()
	rtx := map[bool]uint64{}
	for _, rack := range []bool{false, true} {
		cfg := LinuxProfile()
		cfg.RACK = rack
		p := newPair(7, cfg)
		p.na.Loss, p.nb.Loss = 0.05, 0.05
		got, cli, _ := p.transfer(t, 1<<20, time.Hour)
		require.Len(t, got, 1<<20)
		rtx[rack] = cli.Stats().Retransmits
	}
	assert.LessOrEqual(t, rtx[true], rtx[false], "retransmitted segments with RACK vs DupThresh alone")
}

// Linux's tcp_rack_advance takes RACK.rtt from the last segment an ACK
// delivers (its cumulatively acknowledged ones after its SACKed ones), not
// only from the most recently sent one (prr-ss-ack-below-snd_una-cubic.pkt):
// an ACK that covers the retransmitted head and an original segment behind
// it leaves RACK.rtt at the original's longer round trip, so a segment
// sent with the originals is not lost yet but waits for the reordering
// timer (reordering was just seen).
func TestRACKRTTFromLastDelivered(t *testing.T) {
	t.Parallel()
	r, segs := rttConn(t, LinuxProfile(), 10)
	mss := r.conn.mss
	sent := r.sched.Now()
	r.advance(rackRTT)
	r.sackAck(segs[0].seq(), segs[8].o.TSVal, block(segs, mss, 8, 8))
	for len(r.net.Out) == 0 {
		require.True(t, r.sched.Step()) // the reordering timer
	}
	rt := r.take()
	require.Equal(t, segs[0].seq(), rt.seq())
	r.none()
	r.advance(rackRTT)
	r.none()
	r.sackAck(segs[2].seq(), rt.o.TSVal, block(segs, mss, 8, 8))
	assert.Equal(t, r.sched.Now().Sub(sent), r.conn.rk.rtt, "RACK.rtt of segment 1, delivered last")
	assert.True(t, r.conn.rk.reordSeen)
	last := r.conn.rk.recs[len(r.conn.rk.recs)-1]
	require.Equal(t, segs[9].seq(), last.start)
	assert.False(t, last.lost, "segment 9 is within RACK.rtt + reo_wnd")
	assert.True(t, r.conn.rackT.Pending())
}
