package tcp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests for the bugs of issue 10, each built from crafted
// segments.

// toTimeWait closes the rig's established connection actively: our FIN,
// the peer's FIN+ACK, our ACK. opts, if not nil, gives the peer's options
// for its FIN given our FIN.
func (r *rig) toTimeWait(opts func(fin seg) *Options) {
	r.t.Helper()
	require.NoError(r.t, r.conn.Close())
	fin := r.take()
	require.True(r.t, fin.has(FlagFIN))
	var o *Options
	if opts != nil {
		o = opts(fin)
	}
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(fin.seq() + 1), Flags: FlagFIN | FlagACK, Window: 65535}, o, nil)
	require.Equal(r.t, StateTimeWait, r.conn.State())
	r.pNxt++
	ack := r.take()
	require.Equal(r.t, r.pNxt, ack.ack())
}

// pump writes n bytes and acknowledges everything the stack sends until all
// of it is acknowledged.
func (r *rig) pump(n int) {
	r.t.Helper()
	data := bytes.Repeat([]byte{'p'}, n)
	for len(data) > 0 {
		k, err := r.conn.Write(data)
		if err != nil {
			require.ErrorIs(r.t, err, ErrWouldBlock)
		}
		data = data[k:]
		for r.conn.sndUna != r.conn.sndMax {
			r.drain()
			r.ackWith(r.conn.sndMax, nil)
		}
	}
	r.drain()
}

// Bug 1. RFC 9293 section 3.8.6.1 and RFC 5681 section 2 (a duplicate ACK
// has outstanding data to acknowledge and the window unchanged): the
// replies to zero-window probes are not duplicate ACKs, so they neither
// start fast recovery nor send anything beyond the one-byte probe into
// the closed window.
func TestZeroWindowProbeRepliesAreNotDupAcks(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 0}, nil, nil)
	_, err := r.conn.Write(bytes.Repeat([]byte{'z'}, 5000))
	require.NoError(t, err)
	r.none()
	cwnd := r.conn.ccs.Cwnd
	for i := 0; i < 6; i++ {
		r.advance(time.Minute)
		require.NotEmpty(t, r.net.Out, "probe %d", i)
		for len(r.net.Out) > 0 {
			p := r.take()
			assert.Equal(t, nxt, p.seq(), "probe %d", i)
			assert.LessOrEqual(t, len(p.data), 1, "probe %d: nothing beyond one byte goes into a zero window", i)
		}
		r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 0}, nil, nil)
		r.none()
	}
	st := r.conn.Stats()
	assert.Zero(t, st.FastRetransmits)
	assert.False(t, r.conn.inRecovery)
	assert.Equal(t, cwnd, r.conn.ccs.Cwnd, "no loss, no window reduction")
	// The window opens: the data follows.
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 65535}, nil, nil)
	d := r.take()
	assert.Equal(t, nxt, d.seq())
	assert.Len(t, d.data, r.conn.mss)
}

// Bug 1, second half: a retransmission in recovery respects the peer's
// window (RFC 9293 section 3.8.6.1: nothing beyond the window but a probe).
func TestRecoveryRetransmitRespectsWindow(t *testing.T) {
	r := newRig(t, Config{CongestionControl: "newreno"})
	r.established(plain)
	seqs := r.sendSegments(6)
	mss := r.conn.mss
	// Three duplicate ACKs that shrink the usable window to 100 bytes
	// past SND.UNA (the window field may shrink, RFC 9293 section 3.8.6).
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(seqs[0]), Flags: FlagACK, Window: 100}, nil, nil)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(seqs[0]), Flags: FlagACK, Window: 100}, nil, nil)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(seqs[0]), Flags: FlagACK, Window: 100}, nil, nil)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(seqs[0]), Flags: FlagACK, Window: 100}, nil, nil)
	for len(r.net.Out) > 0 {
		s := r.take()
		assert.LessOrEqual(t, s.seq().add(len(s.data)).diff(seqs[0]), 100, "segment [%d,+%d) beyond the window (mss %d)", s.seq(), len(s.data), mss)
	}
}

// Bug 2. RFC 2018 section 8 and RFC 6675 section 5.1: after a timeout the
// SACK scoreboard is cleared, so data the receiver SACKed and then
// discarded (reneging) is sent again instead of skipped for ever.
func TestSACKRenegingAfterRTO(t *testing.T) {
	r, _ := tsConn(t, Config{})
	seqs := r.sendSegments(8)
	o := r.ts(0)
	o.SACK[0] = SACKBlock{uint32(seqs[1]), uint32(r.conn.sndMax)}
	o.NumSACK = 1
	r.ackWith(seqs[0], o)
	rt := r.take()
	require.Equal(t, seqs[0], rt.seq(), "recovery resends the hole")
	r.drain()
	// The receiver took the hole and dropped what it had SACKed.
	r.ackWith(seqs[1], r.ts(0))
	r.drain()
	r.advance(r.conn.rto)
	require.NotEmpty(t, r.net.Out, "the timeout resends something")
	rt = r.take()
	assert.Equal(t, seqs[1], rt.seq(), "reneged data resent after the timeout")
	assert.Empty(t, r.conn.sb, "scoreboard cleared")
	// Everything acknowledged in the end.
	r.drain()
	for r.conn.sndUna != r.conn.sndMax || r.conn.Unsent() > 0 {
		r.ackWith(r.conn.sndMax, r.ts(0))
		r.drain()
	}
	assert.Equal(t, StateEstablished, r.conn.State())
}

// Bug 3. RFC 9293 section 3.8.3 (R2) and RFC 1122 section 4.2.3.5: when
// retransmission gives up the application is told (OnClosed with
// ErrTimeout), as it is when keep-alive gives up (RFC 1122 section
// 4.2.3.6).
func TestGiveUpNotifiesApplication(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		run  func(r *rig)
	}{
		{"retransmission", Config{MaxRetries: 3}, func(r *rig) {
			_, err := r.conn.Write([]byte("lost"))
			require.NoError(r.t, err)
			r.advance(time.Hour)
		}},
		{"keep-alive", Config{KeepAliveIdle: 10 * time.Second, KeepAliveInterval: time.Second, KeepAliveCount: 3}, func(r *rig) {
			r.conn.SetKeepAlive(true)
			r.advance(time.Hour)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			r.established(plain)
			r.log.Events = nil
			tc.run(r)
			assert.Equal(t, StateClosed, r.conn.State())
			assert.Equal(t, []string{"closed:" + ErrTimeout.Error()}, r.log.Events)
			_, err := r.conn.Read(make([]byte, 1))
			assert.ErrorIs(t, err, ErrTimeout)
			_, err = r.conn.Write([]byte("x"))
			assert.ErrorIs(t, err, ErrTimeout)
			var rst int
			for len(r.net.Out) > 0 {
				if r.take().has(FlagRST) {
					rst++
				}
			}
			assert.Equal(t, 1, rst, "one RST tells the peer")
		})
	}
}

// Bug 4. RFC 9293 section 3.10.7.4 (via RFC 1122 section 4.2.2.13) and
// RFC 6191: a connection reopened from TIME-WAIT starts its sequence
// numbers above everything the old incarnation used, however fast it sent.
func TestTimeWaitReopenISSAboveOldSpace(t *testing.T) {
	r := newRig(t, Config{})
	r.established(plain)
	r.pump(200_000)
	r.advance(10 * time.Millisecond) // 2,500 ticks of the 4 us ISN clock
	r.toTimeWait(nil)
	old := r.conn.sndMax
	r.inject(Fields{Seq: uint32(r.pNxt + 100_000), Flags: FlagSYN, Window: 65535}, plain, nil)
	sa := r.take()
	require.True(t, sa.has(FlagSYN|FlagACK))
	assert.True(t, sa.seq().gt(old), "new ISS %d above the old SND.MAX %d", sa.seq(), old)
	assert.Greater(t, sa.seq().diff(old), 65535, "and beyond any window of old segments")
}

// Bug 5. RFC 6191 section 2: with timestamps on the old incarnation, the
// timestamp of a SYN decides whether it may reopen TIME-WAIT; a higher
// sequence number with an older timestamp does not.
func TestTimeWaitReopenTimestampDecides(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dseq   int
		dts    int32
		reopen bool
	}{
		{"higher-seq-older-ts", 100_000, -10, false},
		{"higher-seq-same-ts", 100_000, 0, false},
		{"lower-seq-newer-ts", -100_000, 10, true},
		{"higher-seq-newer-ts", 100_000, 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := tsConn(t, Config{})
			r.toTimeWait(func(fin seg) *Options { return r.ts(fin.o.TSVal) })
			recent := r.conn.tsRecent
			o := &Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: uint32(int32(recent) + tc.dts)}
			r.inject(Fields{Seq: uint32(r.pNxt.add(tc.dseq)), Flags: FlagSYN, Window: 65535}, o, nil)
			var synack bool
			for len(r.net.Out) > 0 {
				if r.take().has(FlagSYN | FlagACK) {
					synack = true
				}
			}
			assert.Equal(t, tc.reopen, synack, "SYN-ACK sent")
			if !tc.reopen {
				assert.Equal(t, StateTimeWait, r.conn.State())
			}
		})
	}
}

// Bug 6. RFC 1122 section 4.2.2.13: a SYN that reopened TIME-WAIT and
// turns out to be an old duplicate (the peer resets our SYN-ACK, or never
// completes the handshake) returns the pair to TIME-WAIT.
func TestTimeWaitReopenOldDuplicateReturnsToTimeWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(r *rig, sa seg)
	}{
		{"reset", func(r *rig, sa seg) {
			r.inject(Fields{Seq: uint32(r.pNxt + 100_001), Flags: FlagRST}, nil, nil)
		}},
		{"handshake-timeout", func(r *rig, sa seg) {
			r.advance(10 * time.Second)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{MSL: time.Minute, SynRetries: 2})
			r.established(plain)
			r.toTimeWait(nil)
			tw := r.conn
			r.inject(Fields{Seq: uint32(r.pNxt + 100_000), Flags: FlagSYN, Window: 65535}, plain, nil)
			sa := r.take()
			require.True(t, sa.has(FlagSYN|FlagACK))
			tc.end(r, sa)
			r.drain()
			k := connKey{laddr: r.local, raddr: r.peer, lport: r.lport, rport: r.pport}
			require.Equal(t, 1, r.s.NumConns())
			assert.Same(t, tw, r.s.conns[k], "the TIME-WAIT connection is back")
			assert.Equal(t, StateTimeWait, tw.State())
			// It still acknowledges a retransmitted FIN, and expires.
			r.inject(Fields{Seq: uint32(r.pNxt - 1), Ack: uint32(tw.sndNxt), Flags: FlagFIN | FlagACK, Window: 65535}, nil, nil)
			assert.Equal(t, r.pNxt, r.take().ack())
			r.advance(3 * time.Minute)
			assert.Zero(t, r.s.NumConns())
		})
	}
	t.Run("completed", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{MSL: time.Minute})
		r.established(plain)
		r.toTimeWait(nil)
		tw := r.conn
		r.inject(Fields{Seq: uint32(r.pNxt + 100_000), Flags: FlagSYN, Window: 65535}, plain, nil)
		sa := r.take()
		r.inject(Fields{Seq: uint32(r.pNxt + 100_001), Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, nil, nil)
		require.NotSame(t, tw, r.conn)
		assert.Equal(t, StateEstablished, r.conn.State())
		assert.Equal(t, StateClosed, tw.State(), "TIME-WAIT ends once the new handshake completes")
		assert.Equal(t, 1, r.s.NumConns())
	})
}

// Bug 7. RFC 5961 section 3.2: in SYN-RECEIVED too, an in-window RST not
// at RCV.NXT draws a challenge ACK and leaves the connection alone.
func TestSynReceivedRSTChallengeACK(t *testing.T) {
	r := newRig(t, Config{})
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, nil)
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, plain, nil)
	sa := r.take()
	r.inject(Fields{Seq: uint32(r.pISS + 1 + 100), Flags: FlagRST}, nil, nil)
	ch := r.take()
	assert.Equal(t, FlagACK, ch.h.Flags())
	assert.Equal(t, sa.seq()+1, ch.seq())
	assert.Equal(t, r.pISS+1, ch.ack())
	assert.Equal(t, 1, r.s.NumConns())
	// The exact RST still resets.
	r.inject(Fields{Seq: uint32(r.pISS + 1), Flags: FlagRST}, nil, nil)
	r.none()
	assert.Zero(t, r.s.NumConns())
}

// Bug 9. Minshall's variant of Nagle's algorithm (RFC 1122 section
// 4.2.3.4 as refined by Minshall, and as Linux does): a short segment is
// held only while an earlier short segment is unacknowledged, so the tail
// of a write goes out at once behind full segments.
func TestNagleMinshall(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	mss := r.conn.mss
	_, err := r.conn.Write(bytes.Repeat([]byte{'m'}, 2*mss+10))
	require.NoError(t, err)
	assert.Len(t, r.take().data, mss)
	assert.Len(t, r.take().data, mss)
	tail := r.take()
	assert.Len(t, tail.data, 10, "the short tail is not held behind full segments")
	// A second short write waits for the first short segment's ACK.
	_, err = r.conn.Write([]byte("more"))
	require.NoError(t, err)
	r.none()
	r.ackWith(nxt.add(2*mss), nil)
	r.none()
	r.ackWith(nxt.add(2*mss+10), nil)
	assert.Equal(t, []byte("more"), r.take().data)
}

// Bug 10. RFC 7323 section 4.2 and RFC 6298 section 3 (Karn): a
// timestamp echoed from before the latest timeout retransmission measures
// the backoff, not the path, and gives no RTT sample; the echo of the
// retransmission itself does.
func TestRTTSampleAfterBackoff(t *testing.T) {
	r, nxt := tsConn(t, Config{})
	_, err := r.conn.Write([]byte("hello"))
	require.NoError(t, err)
	first := r.take()
	for i := 0; i < 4; i++ {
		r.advance(r.conn.rto)
		require.Equal(t, nxt, r.take().seq())
	}
	srtt := r.conn.srtt
	// An ACK for the data echoing the first transmission's timestamp.
	r.advance(10 * time.Millisecond)
	r.ackWith(nxt+5, r.ts(first.o.TSVal))
	assert.Equal(t, srtt, r.conn.srtt, "no sample from an echo older than the retransmission")
	assert.Less(t, r.conn.rto, 20*time.Second)

	_, err = r.conn.Write([]byte("again"))
	require.NoError(t, err)
	d := r.take()
	r.advance(30 * time.Millisecond)
	r.ackWith(nxt+10, r.ts(d.o.TSVal))
	assert.Less(t, r.conn.srtt, time.Second, "fresh echoes give samples")
	assert.Equal(t, r.s.cfg.MinRTO, r.conn.rto)
}

// Bug 8. RFC 9293 section 3.8.5: the receiver keeps RCV.UP (the urgent
// pointer points at the byte after the urgent data, MUST-62), tells the
// application when urgent mode starts and when the pointer advances
// (MUST-32) and says how much urgent data remains to be read (MUST-33);
// the data itself is delivered in line.
func TestUrgentReceive(t *testing.T) {
	r := newRig(t, Config{})
	r.established(plain)
	r.log.Events = nil
	send := func(data string, up uint16) {
		fl := FlagACK
		if up > 0 {
			fl |= FlagURG
		}
		r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: fl, Window: 65535, Urgent: up}, nil, []byte(data))
		r.pNxt = r.pNxt.add(len(data))
	}
	send("abcdef", 3)
	assert.Equal(t, []string{"urgent", "readable"}, r.log.Events)
	assert.Equal(t, 3, r.conn.UrgentPending())
	b := make([]byte, 2)
	n, err := r.conn.Read(b)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(b[:n]), "urgent data in line")
	assert.Equal(t, 1, r.conn.UrgentPending())
	r.log.Events = nil
	send("gh", 0)
	assert.NotContains(t, r.log.Events, "urgent")
	assert.Equal(t, 1, r.conn.UrgentPending())
	// The pointer advances: told again.
	send("ijkl", 4)
	assert.Contains(t, r.log.Events, "urgent")
	assert.Equal(t, 10, r.conn.UrgentPending(), "from c to the end of ijkl")
	all := make([]byte, 64)
	n, err = r.conn.Read(all)
	require.NoError(t, err)
	assert.Equal(t, "cdefghijkl", string(all[:n]))
	assert.Zero(t, r.conn.UrgentPending(), "urgent mode ends once it is read")
	// An urgent pointer at the read point starts nothing.
	r.log.Events = nil
	send("mn", 0)
	_, err = r.conn.Read(all)
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK | FlagURG, Window: 65535, Urgent: 0}, nil, []byte("op"))
	assert.Contains(t, r.log.Events, "readable")
	assert.NotContains(t, r.log.Events, "urgent")
	assert.Zero(t, r.conn.UrgentPending())
}

// Bug 8, sending side: segments starting before the send urgent pointer
// carry URG and the pointer as an offset from their sequence number (as
// Linux), until the urgent data is acknowledged.
func TestUrgentSend(t *testing.T) {
	r := newRig(t, Config{})
	nxt := r.established(plain)
	_, err := r.conn.WriteUrgent([]byte("!!!"))
	require.NoError(t, err)
	s := r.take()
	assert.True(t, s.has(FlagURG))
	assert.Equal(t, uint16(3), s.h.Urgent())
	assert.Equal(t, []byte("!!!"), s.data)
	// Its retransmission carries the pointer too.
	r.advance(r.conn.rto)
	s = r.take()
	assert.True(t, s.has(FlagURG))
	assert.Equal(t, uint16(3), s.h.Urgent())
	r.ackWith(nxt+3, nil)
	_, err = r.conn.Write([]byte("plain"))
	require.NoError(t, err)
	s = r.take()
	assert.False(t, s.has(FlagURG), "urgent mode ended with its ACK")
	assert.Zero(t, s.h.Urgent())
}
