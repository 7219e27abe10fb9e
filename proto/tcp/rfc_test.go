package tcp

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connect opens an active connection to the rig's peer and returns its SYN.
func (r *rig) connect() seg {
	r.t.Helper()
	c, err := r.s.Connect(netip.AddrPortFrom(r.local, r.lport), netip.AddrPortFrom(r.peer, r.pport), r.ev)
	require.NoError(r.t, err)
	r.conn = c
	syn := r.take()
	require.True(r.t, syn.has(FlagSYN))
	require.False(r.t, syn.has(FlagACK))
	return syn
}

// RFC 9293 section 3.5 (figure 7), RFC 7323 sections 2.2 and 3.2, RFC 2018
// section 2: the SYN offers MSS, window scale, SACK and timestamps; the
// three-way handshake completes on the SYN-ACK.
func TestHandshakeActive(t *testing.T) {
	r := newRig(t, Config{})
	syn := r.connect()
	assert.Equal(t, StateSynSent, r.conn.State())
	assert.True(t, syn.o.HasMSS)
	assert.Equal(t, uint16(1460), syn.o.MSS)
	assert.True(t, syn.o.HasWScale)
	assert.Equal(t, uint8(3), syn.o.WScale) // 256 KiB buffer >> 3 fits 16 bits
	assert.True(t, syn.o.SACKPermitted)
	assert.True(t, syn.o.HasTS)
	assert.Equal(t, uint16(65535), syn.h.Window(), "window in SYN is not scaled")

	r.inject(Fields{Seq: uint32(r.pISS), Ack: uint32(syn.seq() + 1), Flags: FlagSYN | FlagACK, Window: 1000},
		&Options{HasMSS: true, MSS: 1400, HasWScale: true, WScale: 2, SACKPermitted: true, HasTS: true, TSVal: 77, TSEcr: syn.o.TSVal}, nil)
	ack := r.take()
	assert.True(t, ack.has(FlagACK))
	assert.Equal(t, syn.seq()+1, ack.seq())
	assert.Equal(t, r.pISS+1, ack.ack())
	assert.Equal(t, uint32(77), ack.o.TSEcr)
	assert.Equal(t, StateEstablished, r.conn.State())
	assert.Equal(t, []string{"established"}, r.log.Events)
	assert.Equal(t, 1400-12, r.conn.mss, "MSS from the peer's option minus timestamps")
	assert.Equal(t, uint32(1000), r.conn.sndWnd, "SYN-ACK window is not scaled")
	assert.True(t, r.conn.sackOK)
}

// RFC 9293 section 3.5: a passive open answers SYN with SYN-ACK and only
// offers options the peer offered (RFC 7323 section 1.3, RFC 2018 section 2).
func TestHandshakePassiveNoOptions(t *testing.T) {
	r := newRig(t, Config{})
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, nil)
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 8192}, plain, nil)
	sa := r.take()
	require.True(t, sa.has(FlagSYN|FlagACK))
	assert.Equal(t, r.pISS+1, sa.ack())
	assert.True(t, sa.o.HasMSS)
	assert.False(t, sa.o.HasWScale)
	assert.False(t, sa.o.SACKPermitted)
	assert.False(t, sa.o.HasTS)
}

// RFC 9293 section 3.5, figure 8: simultaneous open.
func TestSimultaneousOpen(t *testing.T) {
	r := newRig(t, Config{})
	syn := r.connect()
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, plain, nil)
	sa := r.take()
	assert.True(t, sa.has(FlagSYN|FlagACK))
	assert.Equal(t, syn.seq(), sa.seq())
	assert.Equal(t, r.pISS+1, sa.ack())
	assert.Equal(t, StateSynReceived, r.conn.State())
	r.inject(Fields{Seq: uint32(r.pISS), Ack: uint32(syn.seq() + 1), Flags: FlagSYN | FlagACK, Window: 65535}, plain, nil)
	assert.Equal(t, StateEstablished, r.conn.State())
	assert.Contains(t, r.log.Events, "established")
}

// RFC 9293 section 3.6, figure 13: simultaneous close goes through CLOSING
// to TIME-WAIT, which lasts 2*MSL.
func TestSimultaneousClose(t *testing.T) {
	r := newRig(t, Config{MSL: 10 * time.Second})
	nxt := r.established(plain)
	require.NoError(t, r.conn.Close())
	fin := r.take()
	require.True(t, fin.has(FlagFIN|FlagACK))
	assert.Equal(t, nxt, fin.seq())
	assert.Equal(t, StateFinWait1, r.conn.State())
	// The peer's FIN crosses ours: it does not acknowledge our FIN.
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagFIN | FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, StateClosing, r.conn.State())
	ack := r.take()
	assert.Equal(t, r.pNxt+1, ack.ack())
	r.inject(Fields{Seq: uint32(r.pNxt + 1), Ack: uint32(nxt + 1), Flags: FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, StateTimeWait, r.conn.State())
	assert.Equal(t, []string{"readable", "closed"}, r.log.Events, "FIN readable (EOF), then closed")
	assert.Equal(t, 1, r.s.NumConns())
	r.advance(20*time.Second - time.Millisecond)
	assert.Equal(t, 1, r.s.NumConns())
	r.advance(time.Millisecond)
	assert.Equal(t, 0, r.s.NumConns())
	assert.Equal(t, StateClosed, r.conn.State())
}

// RFC 9293 section 3.10.7.4 (eighth, TIME-WAIT): a retransmitted FIN is
// acknowledged and restarts the 2*MSL timeout.
func TestTimeWaitRestartsOnFIN(t *testing.T) {
	r := newRig(t, Config{MSL: 10 * time.Second})
	nxt := r.established(plain)
	require.NoError(t, r.conn.Close())
	r.take()
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 1), Flags: FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, StateFinWait2, r.conn.State())
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 1), Flags: FlagFIN | FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, StateTimeWait, r.conn.State())
	assert.Equal(t, r.pNxt+1, r.take().ack())
	r.advance(15 * time.Second)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 1), Flags: FlagFIN | FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, r.pNxt+1, r.take().ack(), "retransmitted FIN acknowledged")
	r.advance(15 * time.Second)
	assert.Equal(t, StateTimeWait, r.conn.State(), "2*MSL restarted")
	r.advance(5 * time.Second)
	assert.Equal(t, StateClosed, r.conn.State())
}

// RFC 5961 section 3.2: a RST exactly at RCV.NXT resets the connection.
func TestRSTAtRcvNxtResets(t *testing.T) {
	r := newRig(t, Config{})
	r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt), Flags: FlagRST}, nil, nil)
	assert.Equal(t, StateClosed, r.conn.State())
	assert.Equal(t, []string{"closed:" + ErrConnReset.Error()}, r.log.Events)
	r.none()
	_, err := r.conn.Read(make([]byte, 1))
	assert.ErrorIs(t, err, ErrConnReset)
}

// RFC 5961 section 3.2: an in-window RST not at RCV.NXT draws a challenge
// ACK and leaves the connection alone; an out-of-window RST is dropped.
func TestRSTChallengeAndOutOfWindow(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt + 100), Flags: FlagRST}, nil, nil)
	ch := r.take()
	assert.True(t, ch.has(FlagACK))
	assert.False(t, ch.has(FlagRST))
	assert.Equal(t, nxt, ch.seq())
	assert.Equal(t, r.pNxt, ch.ack())
	assert.Equal(t, StateEstablished, r.conn.State())
	assert.Equal(t, uint64(1), r.s.Stats().ChallengeACKs)

	r.inject(Fields{Seq: uint32(r.pNxt + 10_000_000), Flags: FlagRST}, nil, nil)
	r.none()
	assert.Equal(t, StateEstablished, r.conn.State())
}

// RFC 5961 section 4.2: a SYN in a synchronized state draws a challenge
// ACK, whatever its sequence number.
func TestSYNInWindowChallengeACK(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt + 5), Flags: FlagSYN, Window: 65535}, plain, nil)
	ch := r.take()
	assert.Equal(t, FlagACK, ch.h.Flags())
	assert.Equal(t, nxt, ch.seq())
	assert.Equal(t, r.pNxt, ch.ack())
	assert.Equal(t, StateEstablished, r.conn.State())
}

// RFC 5961 sections 4.2 and 7: blind SYNs, out of the window, with a
// timestamp older than TS.Recent or none at all, each draw a challenge ACK
// within the rate limit and nothing more (Linux: syn_challenge before PAWS
// and the window check).
func TestBlindSYNsChallengeACKLimited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    func(r *rig) *Options
	}{
		{name: "old timestamp", o: func(r *rig) *Options { return &Options{HasTS: true, TSVal: r.pTS - 1000} }},
		{name: "no timestamp", o: func(*rig) *Options { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{ChallengeACKLimit: 3})
			r.established(&Options{HasMSS: true, MSS: 1460, HasTS: true, TSVal: r.pTS})
			for i := 0; i < 20; i++ {
				r.inject(Fields{Seq: uint32(r.pNxt) + uint32(i)<<28, Flags: FlagSYN, Window: 65535}, tc.o(r), nil)
			}
			require.Len(t, r.net.Out, 3, "challenge ACKs within the limit")
			for range 3 {
				assert.Equal(t, FlagACK, r.take().h.Flags())
			}
			assert.Equal(t, uint64(3), r.s.Stats().ChallengeACKs)
			assert.Equal(t, StateEstablished, r.conn.State())
		})
	}
}

// RFC 5961 section 7: challenge ACKs are rate limited.
func TestChallengeACKRateLimit(t *testing.T) {
	r := newRig(t, Config{ChallengeACKLimit: 2})
	r.established(plain)
	for i := 0; i < 5; i++ {
		r.inject(Fields{Seq: uint32(r.pNxt + 100), Flags: FlagRST}, nil, nil)
	}
	assert.Len(t, r.net.Out, 2)
	r.drain()
	r.advance(time.Second)
	r.inject(Fields{Seq: uint32(r.pNxt + 100), Flags: FlagRST}, nil, nil)
	assert.Len(t, r.net.Out, 1)
}

// RFC 9293 section 3.10.7.1: a segment for no connection gets a RST.
func TestResetForClosedPort(t *testing.T) {
	r := newRig(t, Config{})
	r.inject(Fields{Seq: 500, Flags: FlagSYN, Window: 100}, nil, nil)
	rst := r.take()
	assert.Equal(t, FlagRST|FlagACK, rst.h.Flags())
	assert.Equal(t, seqnum(501), rst.ack())
	r.inject(Fields{Seq: 500, Ack: 9999, Flags: FlagACK, Window: 100}, nil, []byte("x"))
	rst = r.take()
	assert.Equal(t, FlagRST, rst.h.Flags())
	assert.Equal(t, seqnum(9999), rst.seq())
	r.inject(Fields{Seq: 500, Flags: FlagRST}, nil, nil)
	r.none()
}

// tsConn returns a rig with a timestamp- and SACK-enabled connection.
func tsConn(t *testing.T, cfg Config) (*rig, seqnum) {
	r := newRig(t, cfg)
	nxt := r.established(&Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: r.pTS})
	return r, nxt
}

// RFC 7323 section 5.3: PAWS drops a segment whose TSval is older than
// TS.Recent and acknowledges it.
func TestPAWS(t *testing.T) {
	r, _ := tsConn(t, Config{})
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK | FlagPSH, Window: 65535}, r.ts(0), []byte("new"))
	r.pNxt += 3
	require.Equal(t, 3, r.conn.Readable())
	r.drain()
	old := &Options{HasTS: true, TSVal: r.pTS - 10}
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK | FlagPSH, Window: 65535}, old, []byte("old"))
	assert.Equal(t, 3, r.conn.Readable(), "old segment not accepted")
	assert.Equal(t, uint64(1), r.s.Stats().PAWSDrops)
	ack := r.take()
	assert.Equal(t, r.pNxt, ack.ack())
}

// RFC 7323 section 4 (RTTM): the RTT comes from the echoed timestamp.
func TestRTTMFromTimestamps(t *testing.T) {
	r, nxt := tsConn(t, Config{})
	_, err := r.conn.Write([]byte("ping"))
	require.NoError(t, err)
	d := r.take()
	require.Equal(t, []byte("ping"), d.data)
	r.advance(30 * time.Millisecond)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 4), Flags: FlagACK, Window: 65535}, r.ts(d.o.TSVal), nil)
	// The handshake's ACK gave a 0 ms sample; RFC 6298 section 2.3 then
	// gives SRTT = 7/8*0 + 1/8*30 ms and RTTVAR = 3/4*0 + 1/4*30 ms.
	assert.Equal(t, 3750*time.Microsecond, r.conn.srtt)
	assert.Equal(t, 7500*time.Microsecond, r.conn.rttvar)
	assert.Equal(t, 200*time.Millisecond, r.conn.rto, "RTO floored at MinRTO")
}

// RFC 6298 sections 5.5 and 3 (Karn): the RTO doubles on each timeout and
// an ACK of retransmitted data gives no RTT sample.
func TestRTOBackoffAndKarn(t *testing.T) {
	r := newRig(t, Config{MinRTO: 10 * time.Millisecond})
	nxt := r.established(plain)
	_, err := r.conn.Write([]byte("hello"))
	require.NoError(t, err)
	first := r.take()
	require.Equal(t, nxt, first.seq())
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		r.advance(wait - time.Millisecond)
		r.none()
		r.advance(time.Millisecond)
		rt := r.take()
		assert.Equal(t, nxt, rt.seq())
		assert.Equal(t, []byte("hello"), rt.data)
	}
	assert.Equal(t, 8*time.Second, r.conn.rto)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 5), Flags: FlagACK, Window: 65535}, nil, nil)
	assert.False(t, r.conn.hasRTT, "Karn: no sample from a retransmitted segment")
	assert.Equal(t, uint64(3), r.conn.Stats().TimeoutRetransmits)

	_, err = r.conn.Write([]byte("again"))
	require.NoError(t, err)
	r.take()
	r.advance(50 * time.Millisecond)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 10), Flags: FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, 50*time.Millisecond, r.conn.srtt, "fresh segment timed")
	assert.Equal(t, 150*time.Millisecond, r.conn.rto, "SRTT + 4*RTTVAR = 50 + 4*25 ms")
}

// sendSegments writes n full segments and returns their sequence numbers.
func (r *rig) sendSegments(n int) []seqnum {
	r.t.Helper()
	mss := r.conn.mss
	_, err := r.conn.Write(bytes.Repeat([]byte{'d'}, n*mss))
	require.NoError(r.t, err)
	var seqs []seqnum
	for i := 0; i < n; i++ {
		s := r.take()
		require.Len(r.t, s.data, mss)
		seqs = append(seqs, s.seq())
	}
	r.none()
	return seqs
}

func (r *rig) ackWith(ack seqnum, o *Options) {
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(ack), Flags: FlagACK, Window: 65535}, o, nil)
}

// RFC 5681 section 3.2: the third duplicate ACK triggers a fast
// retransmit; RFC 6582 section 3.2 step 2 sets cwnd to ssthresh+3*SMSS.
func TestFastRetransmitOnThreeDupAcks(t *testing.T) {
	r := newRig(t, Config{CongestionControl: "newreno"})
	r.established(plain)
	seqs := r.sendSegments(10)
	mss := r.conn.mss
	r.ackWith(seqs[1], nil) // first segment acknowledged
	r.drain()
	r.ackWith(seqs[1], nil)
	r.ackWith(seqs[1], nil)
	r.none()
	r.ackWith(seqs[1], nil)
	rt := r.take()
	assert.Equal(t, seqs[1], rt.seq())
	assert.Len(t, rt.data, mss)
	assert.True(t, r.conn.inRecovery)
	flight := 9 * mss
	assert.Equal(t, max(flight/2, 2*mss), r.conn.ccs.Ssthresh)
	assert.Equal(t, r.conn.ccs.Ssthresh+3*mss, r.conn.ccs.Cwnd)
	assert.Equal(t, uint64(1), r.conn.Stats().FastRetransmits)
}

// RFC 6582 section 3.2 step 4: a partial ACK retransmits the next hole at
// once; the full ACK ends recovery with cwnd <= ssthresh (step 3).
func TestNewRenoPartialAck(t *testing.T) {
	r := newRig(t, Config{CongestionControl: "newreno"})
	r.established(plain)
	seqs := r.sendSegments(10)
	for i := 0; i < 3; i++ {
		r.ackWith(seqs[0], nil)
	}
	rt := r.take()
	require.Equal(t, seqs[0], rt.seq())
	r.drain()
	// Segment 0 repaired, segment 4 was lost too: a partial ACK.
	r.ackWith(seqs[4], nil)
	rt = r.take()
	assert.Equal(t, seqs[4], rt.seq(), "partial ACK retransmits the next unacknowledged segment")
	assert.True(t, r.conn.inRecovery)
	r.drain()
	r.ackWith(r.conn.sndMax, nil)
	assert.False(t, r.conn.inRecovery)
	assert.LessOrEqual(t, r.conn.ccs.Cwnd, r.conn.ccs.Ssthresh)
}

// RFC 2018 section 4: out-of-order data is acknowledged at once with SACK
// blocks, the first naming the most recent segment's block.
func TestSACKBlocksGenerated(t *testing.T) {
	r, _ := tsConn(t, Config{})
	base := r.pNxt
	data := bytes.Repeat([]byte{'x'}, 100)
	r.inject(Fields{Seq: uint32(base + 1000), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, r.ts(0), data)
	a := r.take()
	assert.Equal(t, base, a.ack())
	require.Equal(t, 1, a.o.NumSACK)
	assert.Equal(t, SACKBlock{uint32(base + 1000), uint32(base + 1100)}, a.o.SACK[0])
	r.inject(Fields{Seq: uint32(base + 2000), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, r.ts(0), data)
	a = r.take()
	require.Equal(t, 2, a.o.NumSACK)
	assert.Equal(t, SACKBlock{uint32(base + 2000), uint32(base + 2100)}, a.o.SACK[0], "most recent first")
	assert.Equal(t, SACKBlock{uint32(base + 1000), uint32(base + 1100)}, a.o.SACK[1])
	// Fill the first hole: cumulative ACK moves and one block remains.
	r.inject(Fields{Seq: uint32(base), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, r.ts(0), bytes.Repeat([]byte{'y'}, 1000))
	a = r.take()
	assert.Equal(t, base+1100, a.ack())
	require.Equal(t, 1, a.o.NumSACK)
	assert.Equal(t, SACKBlock{uint32(base + 2000), uint32(base + 2100)}, a.o.SACK[0])
	assert.Equal(t, 1100, r.conn.Readable())
}

// RFC 6675 section 5: SACK-based recovery starts when IsLost(SND.UNA) holds
// and retransmits the holes the scoreboard marks lost, limited by pipe.
func TestSACKRecovery(t *testing.T) {
	r, _ := tsConn(t, Config{})
	seqs := r.sendSegments(10)
	mss := r.conn.mss
	sack := func(blocks ...[2]seqnum) *Options {
		o := r.ts(0)
		for _, b := range blocks {
			o.SACK[o.NumSACK] = SACKBlock{uint32(b[0]), uint32(b[1])}
			o.NumSACK++
		}
		return o
	}
	// Segments 0 and 2 lost; 1 and 3..5 SACKed.
	r.ackWith(seqs[0], sack([2]seqnum{seqs[1], seqs[2]}))
	r.none()
	r.ackWith(seqs[0], sack([2]seqnum{seqs[3], seqs[4]}, [2]seqnum{seqs[1], seqs[2]}))
	r.none()
	r.ackWith(seqs[0], sack([2]seqnum{seqs[3], seqs[6]}, [2]seqnum{seqs[1], seqs[2]}))
	rt := r.take()
	assert.Equal(t, seqs[0], rt.seq(), "first hole retransmitted")
	assert.True(t, r.conn.inRecovery)
	more := r.take()
	assert.Equal(t, seqs[2], more.seq(), "second lost hole retransmitted (pipe allows)")
	assert.Len(t, more.data, mss)
	assert.Equal(t, uint64(4*mss), r.conn.Stats().SACKedBytes)
	r.drain()
	r.ackWith(r.conn.sndMax, r.ts(0))
	assert.False(t, r.conn.inRecovery)
	assert.Empty(t, r.conn.sb)
}

// RFC 7323 section 2: the window field is scaled by the negotiated shifts,
// except in SYN segments.
func TestWindowScaling(t *testing.T) {
	r := newRig(t, Config{RecvBuffer: 1 << 20})
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
		r.conn, _ = l.Accept(r.ev)
	})
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, &Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7}, nil)
	sa := r.take()
	require.True(t, sa.o.HasWScale)
	assert.Equal(t, uint8(5), sa.o.WScale, "1 MiB >> 5 fits 16 bits")
	assert.Equal(t, uint16(65535), sa.h.Window())
	r.pNxt = r.pISS + 1
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 100}, nil, nil)
	require.NotNil(t, r.conn)
	assert.Equal(t, uint32(100<<7), r.conn.sndWnd)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(sa.seq() + 1), Flags: FlagACK | FlagPSH, Window: 100}, nil, []byte("hi"))
	r.advance(time.Second)
	a := r.take()
	assert.Equal(t, uint16((1<<20-2)>>5), a.h.Window())
}

// RFC 9293 section 3.8.6.1: with a zero window the sender probes with one
// byte on a backed-off persist timer and resumes when the window opens.
func TestZeroWindowPersist(t *testing.T) {
	r := newRig(t, Config{})
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
		r.conn, _ = l.Accept(r.ev)
	})
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, plain, nil)
	sa := r.take()
	r.pNxt = r.pISS + 1
	nxt := sa.seq() + 1
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 0}, nil, nil)
	_, err = r.conn.Write([]byte("blocked data"))
	require.NoError(t, err)
	r.none()
	r.advance(time.Second)
	p := r.take()
	assert.Equal(t, nxt, p.seq())
	assert.Equal(t, []byte("b"), p.data, "one-byte probe")
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 0}, nil, nil)
	r.advance(2*time.Second - time.Millisecond)
	r.none()
	r.advance(time.Millisecond)
	p = r.take()
	assert.Equal(t, nxt, p.seq(), "probe repeated after backoff")
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 1000}, nil, nil)
	d := r.take()
	assert.Equal(t, []byte("blocked data"), d.data)
	assert.False(t, r.conn.persist)
}

// RFC 1122 section 4.2.3.2: ACKs are delayed at most the configured time
// (<= 200 ms) and sent at least for every second full-sized segment.
func TestDelayedACK(t *testing.T) {
	r := newRig(t, Config{DelayedACK: 100 * time.Millisecond})
	r.established(plain)
	r.conn.quickAcks = 0 // past the quick-ack start (TestQuickAck)
	full := bytes.Repeat([]byte{'a'}, 1460)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, full)
	r.pNxt += 1460
	r.none()
	r.advance(99 * time.Millisecond)
	r.none()
	r.advance(time.Millisecond)
	assert.Equal(t, r.pNxt, r.take().ack())
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, full)
	r.pNxt += 1460
	r.none()
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, full)
	r.pNxt += 1460
	assert.Equal(t, r.pNxt, r.take().ack(), "second full segment acknowledged at once")
	assert.Equal(t, 200*time.Millisecond, New(r.net, r.sched, nil2rand(), Config{DelayedACK: time.Second}).Config().DelayedACK, "capped at 200 ms")
}

// RFC 1122 section 4.2.3.4 (Nagle): a short segment waits while data is
// unacknowledged, unless no-delay is set.
func TestNagle(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	_, err := r.conn.Write([]byte("one"))
	require.NoError(t, err)
	assert.Equal(t, []byte("one"), r.take().data)
	_, err = r.conn.Write([]byte("two"))
	require.NoError(t, err)
	r.none()
	r.ackWith(nxt+3, nil)
	assert.Equal(t, []byte("two"), r.take().data)
	r.conn.SetNoDelay(true)
	_, err = r.conn.Write([]byte("three"))
	require.NoError(t, err)
	_, err = r.conn.Write([]byte("four"))
	require.NoError(t, err)
	assert.Equal(t, []byte("three"), r.take().data)
	assert.Equal(t, []byte("four"), r.take().data)
}

// RFC 1122 section 4.2.3.6: keep-alive probes (SEG.SEQ = SND.NXT-1, no
// data) after the idle time; unanswered, the connection is dropped.
func TestKeepAlive(t *testing.T) {
	r := newRig(t, Config{KeepAliveIdle: 10 * time.Second, KeepAliveInterval: time.Second, KeepAliveCount: 3})
	nxt := r.established(plain)
	r.conn.SetKeepAlive(true)
	r.advance(10 * time.Second)
	p := r.take()
	assert.Equal(t, nxt-1, p.seq())
	assert.Empty(t, p.data)
	// An answer resets the idle clock.
	r.ackWith(nxt, nil)
	r.advance(9 * time.Second)
	r.none()
	r.advance(time.Second)
	r.take()
	for i := 0; i < 2; i++ {
		r.advance(time.Second)
		assert.Equal(t, nxt-1, r.take().seq())
	}
	r.advance(time.Second)
	rst := r.take()
	assert.True(t, rst.has(FlagRST))
	assert.Equal(t, StateClosed, r.conn.State())
	assert.ErrorIs(t, r.conn.Err(), ErrTimeout)
}

// The out-of-order queue is bounded in ranges (and by the receive buffer in
// bytes): a segment that would need one more range is dropped and counted.
func TestOOOQueueBound(t *testing.T) {
	r := newRig(t, Config{MaxOOORanges: 2})
	r.established(plain)
	data := []byte("zz")
	for i := 1; i <= 3; i++ {
		r.inject(Fields{Seq: uint32(r.pNxt.add(i * 100)), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, data)
	}
	assert.Len(t, r.conn.ooo, 2)
	assert.Equal(t, uint64(1), r.s.Stats().OOODrops)
	// Data beyond the receive window is trimmed away, never buffered.
	r.inject(Fields{Seq: uint32(r.pNxt.add(1 << 20)), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, data)
	assert.Len(t, r.conn.ooo, 2)
	// Filling the start delivers the contiguous prefix.
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, bytes.Repeat([]byte{'a'}, 100))
	assert.Equal(t, 102, r.conn.Readable())
	assert.Len(t, r.conn.ooo, 1)
}

// The listen backlog bounds connections in SYN-RECEIVED or waiting for
// Accept; with SYN cookies off, further SYNs are dropped and counted.
func TestBacklogLimit(t *testing.T) {
	r := newRig(t, Config{})
	r.s.SetSYNCookies(false)
	l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 2, nil)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		r.pport = uint16(40000 + i)
		r.inject(Fields{Seq: 100, Flags: FlagSYN, Window: 65535}, plain, nil)
	}
	assert.Len(t, r.net.Out, 2)
	assert.Equal(t, uint64(1), r.s.Stats().BacklogDrops)
	// Completing one handshake keeps it counted until accepted.
	sa := r.take()
	r.pport = 40000
	r.inject(Fields{Seq: 101, Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, nil, nil)
	assert.Equal(t, 1, l.Ready())
	r.pport = 40005
	r.inject(Fields{Seq: 100, Flags: FlagSYN, Window: 65535}, plain, nil)
	assert.Equal(t, uint64(2), r.s.Stats().BacklogDrops)
	c, err := l.Accept(r.ev)
	require.NoError(t, err)
	assert.Equal(t, uint16(40000), c.RemoteAddr().Port())
	r.inject(Fields{Seq: 100, Flags: FlagSYN, Window: 65535}, plain, nil)
	assert.Len(t, r.net.Out, 2, "room again after Accept")
}

// RFC 1122 section 4.2.2.13: closing with unread data resets.
func TestCloseWithUnreadDataResets(t *testing.T) {
	r := newRig(t, Config{})
	r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, []byte("unread"))
	r.drain()
	require.NoError(t, r.conn.Close())
	assert.True(t, r.take().has(FlagRST))
	assert.Equal(t, StateClosed, r.conn.State())
}

// Data and FIN received are readable in order and then io.EOF.
func TestReadThenEOF(t *testing.T) {
	r := newRig(t, Config{})
	r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK | FlagFIN, Window: 65535}, nil, []byte("bye"))
	assert.Equal(t, StateCloseWait, r.conn.State())
	b := make([]byte, 10)
	n, err := r.conn.Read(b)
	require.NoError(t, err)
	assert.Equal(t, "bye", string(b[:n]))
	_, err = r.conn.Read(b)
	assert.ErrorIs(t, err, io.EOF)
}

// RFC 1337: a RST does not cut TIME-WAIT short.
func TestTimeWaitIgnoresRST(t *testing.T) {
	r := newRig(t, Config{MSL: 10 * time.Second})
	nxt := r.established(plain)
	require.NoError(t, r.conn.Close())
	r.take()
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt + 1), Flags: FlagFIN | FlagACK, Window: 65535}, nil, nil)
	require.Equal(t, StateTimeWait, r.conn.State())
	r.inject(Fields{Seq: uint32(r.pNxt + 1), Flags: FlagRST}, nil, nil)
	assert.Equal(t, StateTimeWait, r.conn.State())
}

// RFC 7323 section 3.2: with timestamps negotiated, a non-RST segment
// without the option is dropped.
func TestSegmentWithoutTimestampDropped(t *testing.T) {
	r, _ := tsConn(t, Config{})
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, []byte("no ts"))
	assert.Zero(t, r.conn.Readable())
	r.none()
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, r.ts(0), []byte("ts"))
	assert.Equal(t, 2, r.conn.Readable())
}

// After the handshake and after out-of-order data the receiver
// acknowledges every segment at once for a while (quick-ack mode), so a
// sender with a small window is not stalled by delayed ACKs.
func TestQuickAck(t *testing.T) {
	r := newRig(t, Config{})
	r.established(plain)
	seg := bytes.Repeat([]byte{'q'}, 100)
	send := func() {
		r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, seg)
		r.pNxt += 100
	}
	for i := 0; i < quickAckSegments; i++ {
		send()
		assert.Equal(t, r.pNxt, r.take().ack(), "segment %d acknowledged at once", i)
	}
	send()
	r.none()
	send()
	r.take()
	// A gap restarts quick-ack mode.
	r.inject(Fields{Seq: uint32(r.pNxt + 500), Ack: uint32(r.conn.sndNxt), Flags: FlagACK, Window: 65535}, nil, seg)
	r.take()
	send()
	r.take()
	send()
	assert.Equal(t, r.pNxt, r.take().ack())
}

// RFC 1122 section 4.2.3.10: segments to or from non-unicast addresses are
// ignored, never answered with RST.
func TestNonUnicastIgnored(t *testing.T) {
	r := newRig(t, Config{})
	b := make([]byte, 64)
	for _, pair := range [][2]netip.Addr{
		{r.peer, netip.MustParseAddr("255.255.255.255")},
		{r.peer, netip.MustParseAddr("224.0.0.1")},
		{netip.MustParseAddr("0.0.0.0"), r.local},
	} {
		n, err := Encode(b, Fields{SrcPort: 1, DstPort: 2, Seq: 1, Flags: FlagSYN}, nil, nil, pair[0], pair[1])
		require.NoError(t, err)
		r.s.HandleIP(pair[0], pair[1], b[:n])
	}
	r.none()
	assert.Equal(t, uint64(3), r.s.Stats().Malformed)
}

// A resent SYN or SYN-ACK is a retransmitted segment (RFC 6298 section 5
// applies to it as to data, RFC 9293 section 3.8.1): ConnStats.Retransmits
// counts it, as a capture analyser flags it, and the first SYN is not one.
func TestSYNRetransmissionsCounted(t *testing.T) {
	t.Run("SYN", func(t *testing.T) {
		r := newRig(t, Config{})
		syn := r.connect()
		assert.Zero(t, r.conn.Stats().Retransmits, "the first SYN")
		r.advance(time.Second)
		again := r.take()
		require.True(t, again.has(FlagSYN))
		assert.Equal(t, syn.seq(), again.seq())
		st := r.conn.Stats()
		assert.Equal(t, uint64(1), st.Retransmits)
		assert.Equal(t, uint64(1), st.RetransmittedBytes, "a SYN occupies one sequence number")
		assert.Equal(t, uint64(1), st.TimeoutRetransmits)
		assert.Equal(t, uint64(2), st.SegmentsSent)
	})
	t.Run("SYN-ACK/duplicate-SYN", func(t *testing.T) {
		r := newRig(t, Config{})
		var conns []*Conn
		_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
			if c, err := l.Accept(r.ev); err == nil {
				conns = append(conns, c)
			}
		})
		require.NoError(t, err)
		r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, plain, nil)
		sa := r.take()
		// The peer resends its SYN: our SYN-ACK was lost.
		r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, plain, nil)
		sa2 := r.take()
		require.True(t, sa2.has(FlagSYN|FlagACK))
		assert.Equal(t, sa.seq(), sa2.seq())
		r.inject(Fields{Seq: uint32(r.pISS + 1), Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, nil, nil)
		require.Len(t, conns, 1)
		st := conns[0].Stats()
		assert.Equal(t, uint64(1), st.Retransmits)
		assert.Zero(t, st.TimeoutRetransmits)
	})
}

// Zero-window probes resend a byte the peer refused, not one it could have
// taken (RFC 9293 section 3.8.6.1): neither a repeated probe nor the first
// send of the probe byte once the window opens counts in
// ConnStats.Retransmits, while a later timeout retransmission does.
func TestZeroWindowProbesAreNotRetransmissions(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 0}, nil, nil)
	_, err := r.conn.Write([]byte("blocked data"))
	require.NoError(t, err)
	r.none()
	r.advance(time.Second)
	p := r.take()
	require.Equal(t, []byte("b"), p.data, "first probe")
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 0}, nil, nil)
	r.advance(2 * time.Second)
	p = r.take()
	require.Equal(t, nxt, p.seq(), "probe repeated")
	assert.Zero(t, r.conn.Stats().Retransmits, "a repeated probe")
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 1000}, nil, nil)
	d := r.take()
	require.Equal(t, nxt, d.seq())
	require.Equal(t, []byte("blocked data"), d.data)
	assert.Zero(t, r.conn.Stats().Retransmits, "the refused probe byte sent again with the data after it")
	// The data is lost: its timeout retransmission counts.
	r.advance(r.conn.rto)
	rt := r.take()
	require.Equal(t, nxt, rt.seq())
	st := r.conn.Stats()
	assert.Equal(t, uint64(1), st.Retransmits)
	assert.Equal(t, uint64(len("blocked data")), st.RetransmittedBytes)
	assert.Equal(t, uint64(1), st.TimeoutRetransmits)
}
