package tcp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ecnNet is the rig's network with the TOS byte: it records the TOS of
// every segment sent and reports rx as the TOS of every segment received.
type ecnNet struct {
	*tcptest.Net
	tos []uint8
	rx  uint8
}

func (n *ecnNet) SendIP(proto uint8, src, dst netip.Addr, p []byte) error {
	return n.SendIPTOS(proto, src, dst, p, 0)
}

func (n *ecnNet) SendIPTOS(proto uint8, src, dst netip.Addr, p []byte, tos uint8) error {
	n.tos = append(n.tos, tos)
	return n.Net.SendIP(proto, src, dst, p)
}

func (n *ecnNet) ReceivedTOS() uint8 { return n.rx }

// newECNRig is newRig on an ecnNet.
func newECNRig(t *testing.T, cfg Config) (*rig, *ecnNet) {
	r := newRig(t, cfg)
	n := &ecnNet{Net: r.net}
	r.s = New(n, r.sched, rng.New(9, "rig"), cfg)
	return r, n
}

// takeTOS pops the oldest segment and its TOS byte.
func (n *ecnNet) takeTOS(r *rig) (seg, uint8) {
	r.t.Helper()
	require.NotEmpty(r.t, n.tos)
	tos := n.tos[0]
	n.tos = n.tos[1:]
	return r.take(), tos
}

// ecnPassive opens a passive connection from a SYN with synFlags added
// and returns the SYN-ACK.
func ecnPassive(t *testing.T, r *rig, n *ecnNet, synFlags uint8) seg {
	t.Helper()
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
		c, err := l.Accept(r.ev)
		require.NoError(t, err)
		r.conn = c
	})
	require.NoError(t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN | synFlags, Window: 65535}, plain, nil)
	sa, tos := n.takeTOS(r)
	require.True(t, sa.has(FlagSYN|FlagACK))
	assert.Zero(t, tos&3, "SYN-ACK is not ECN-capable (RFC 3168 section 6.1.1)")
	r.pNxt = r.pISS + 1
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, nil, nil)
	require.Equal(t, StateEstablished, r.conn.State())
	return sa
}

// RFC 3168 section 6.1.1: an ECN-setup SYN carries ECE and CWR, an
// ECN-setup SYN-ACK ECE alone; anything else leaves ECN off, and a host
// without ECN answers an ECN-setup SYN with a plain SYN-ACK.
func TestECNNegotiation(t *testing.T) {
	t.Parallel()
	t.Run("passive", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name     string
			ecn      bool
			synFlags uint8
			want     bool
		}{
			{"ecn-setup SYN", true, FlagECE | FlagCWR, true},
			{"plain SYN", true, 0, false},
			{"ECE alone", true, FlagECE, false},
			{"ecn off here", false, FlagECE | FlagCWR, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r, n := newECNRig(t, Config{ECN: tc.ecn})
				sa := ecnPassive(t, r, n, tc.synFlags)
				assert.Equal(t, tc.want, sa.has(FlagECE), "SYN-ACK ECE")
				assert.False(t, sa.has(FlagCWR), "SYN-ACK CWR")
				assert.Equal(t, tc.want, r.conn.Stats().ECN)
			})
		}
	})
	t.Run("active", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name        string
			synAckFlags uint8
			want        bool
		}{
			{"ecn-setup SYN-ACK", FlagECE, true},
			{"plain SYN-ACK (peer without ECN)", 0, false},
			{"ECE and CWR on the SYN-ACK", FlagECE | FlagCWR, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r, n := newECNRig(t, Config{ECN: true})
				syn := r.connect()
				n.tos = n.tos[1:]
				assert.True(t, syn.has(FlagECE|FlagCWR), "ECN-setup SYN")
				r.inject(Fields{Seq: uint32(r.pISS), Ack: uint32(syn.seq() + 1), Flags: FlagSYN | FlagACK | tc.synAckFlags, Window: 65535}, plain, nil)
				require.Equal(t, StateEstablished, r.conn.State())
				assert.Equal(t, tc.want, r.conn.Stats().ECN)
				r.drain()
				n.tos = nil
				_, err := r.conn.Write([]byte("hello"))
				require.NoError(t, err)
				d, tos := n.takeTOS(r)
				require.Equal(t, "hello", string(d.data))
				if tc.want {
					assert.Equal(t, uint8(ecnECT0), tos&3, "data is ECT(0)")
				} else {
					assert.Zero(t, tos&3, "data is Not-ECT without ECN")
				}
			})
		}
	})
	t.Run("retransmitted SYN", func(t *testing.T) {
		t.Parallel()
		// Section 6.1.1.1: the SYN is resent without ECE and CWR.
		r, _ := newECNRig(t, Config{ECN: true})
		syn := r.connect()
		require.True(t, syn.has(FlagECE|FlagCWR))
		r.advance(1100 * time.Millisecond)
		again := r.take()
		require.True(t, again.has(FlagSYN))
		assert.False(t, again.has(FlagECE) || again.has(FlagCWR))
	})
	t.Run("no TOS in the IP layer", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{ECN: true})
		syn := r.connect()
		assert.False(t, syn.has(FlagECE) || syn.has(FlagCWR), "no ECN without TOSSender/TOSReceiver")
	})
}

// RFC 3168 sections 6.1.2 and 6.1.4-6.1.5: new data is ECT(0); pure ACKs
// and retransmissions are not ECN-capable.
func TestECNCodepoints(t *testing.T) {
	t.Parallel()
	r, n := newECNRig(t, Config{ECN: true, CongestionControl: "newreno"})
	ecnPassive(t, r, n, FlagECE|FlagCWR)
	_, err := r.conn.Write(bytes.Repeat([]byte{'x'}, 3*r.conn.mss))
	require.NoError(t, err)
	var first seqnum
	for i := 0; i < 3; i++ {
		s, tos := n.takeTOS(r)
		require.Len(t, s.data, r.conn.mss)
		assert.Equal(t, uint8(ecnECT0), tos&3, "segment %d", i)
		if i == 0 {
			first = s.seq()
		}
	}
	// The retransmission timeout resends the first segment: Not-ECT.
	r.advance(1100 * time.Millisecond)
	s, tos := n.takeTOS(r)
	require.Equal(t, first, s.seq())
	assert.Zero(t, tos&3, "retransmission")
	// A pure ACK is Not-ECT.
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndMax), Flags: FlagACK, Window: 65535}, nil, []byte("ab"))
	r.advance(time.Second)
	for len(r.net.Out) > 0 {
		s, tos := n.takeTOS(r)
		if len(s.data) == 0 {
			assert.Zero(t, tos&3, "pure ACK")
		}
	}
}

// RFC 3168 section 6.1.3: after a CE-marked segment the receiver sets ECE
// on every ACK (the first at once) until a segment with CWR arrives; a CE
// mark on the CWR segment itself starts the echo again.
func TestECNReceiverEcho(t *testing.T) {
	t.Parallel()
	r, n := newECNRig(t, Config{ECN: true, DelayedACK: -1})
	ecnPassive(t, r, n, FlagECE|FlagCWR)
	send := func(flags uint8, tos uint8) seg {
		t.Helper()
		n.rx = tos
		r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndNxt), Flags: FlagACK | flags, Window: 65535}, nil, []byte("data"))
		n.rx = 0
		r.pNxt = r.pNxt.add(4)
		a := r.take()
		require.Equal(t, r.pNxt, a.ack())
		return a
	}
	assert.False(t, send(0, ecnECT0).has(FlagECE), "no CE yet")
	assert.True(t, send(0, ecnCE).has(FlagECE), "CE echoed")
	assert.True(t, send(0, ecnECT0).has(FlagECE), "echo until CWR")
	assert.False(t, send(FlagCWR, ecnECT0).has(FlagECE), "CWR ends the echo")
	assert.True(t, send(FlagCWR, ecnCE).has(FlagECE), "CE with CWR echoes again")
	assert.EqualValues(t, 2, r.conn.Stats().CEReceived)
}

// RFC 3168 section 6.1.2: ECE halves the window (NewReno) once per window
// of data, and the next new data segment carries CWR; a later ECE in the
// same window changes nothing, one after the window was acknowledged
// reduces again.
func TestECNSenderReduction(t *testing.T) {
	t.Parallel()
	r, n := newECNRig(t, Config{ECN: true, CongestionControl: "newreno"})
	ecnPassive(t, r, n, FlagECE|FlagCWR)
	mss := r.conn.mss
	_, err := r.conn.Write(bytes.Repeat([]byte{'x'}, 40*mss))
	require.NoError(t, err)
	var seqs []seqnum
	for len(r.net.Out) > 0 {
		s, _ := n.takeTOS(r)
		seqs = append(seqs, s.seq())
	}
	require.Len(t, seqs, 10, "initial window")
	ece := func(ack seqnum) {
		r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(ack), Flags: FlagACK | FlagECE, Window: 65535}, nil, nil)
	}
	ece(seqs[1])
	st := r.conn.Stats()
	assert.EqualValues(t, 1, st.ECNReductions)
	assert.Equal(t, 10*mss/2, st.Ssthresh, "halved flight")
	assert.Equal(t, st.Ssthresh, st.Cwnd)
	r.none() // the window is full until more is acknowledged
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(seqs[6]), Flags: FlagACK, Window: 65535}, nil, nil)
	cwrSeen := 0
	for len(r.net.Out) > 0 {
		s, tos := n.takeTOS(r)
		if s.has(FlagCWR) {
			cwrSeen++
			assert.Equal(t, uint8(ecnECT0), tos&3)
		}
	}
	assert.Equal(t, 1, cwrSeen, "one CWR, on the next new data")
	cwnd := r.conn.ccs.Cwnd
	ece(seqs[7])
	assert.EqualValues(t, 1, r.conn.Stats().ECNReductions, "once per window")
	assert.GreaterOrEqual(t, r.conn.ccs.Cwnd, cwnd)
	r.drain()
	n.tos = nil
	ece(r.conn.sndMax)
	assert.EqualValues(t, 2, r.conn.Stats().ECNReductions, "the next window reduces again")
}

// A SYN cookie keeps ECN as Linux's does (cookie_init_timestamp's
// TS_OPT_ECN, cookie_ecn_ok): the cookie SYN-ACK of an ECN-setup SYN with
// timestamps carries ECE (RFC 3168 section 6.1.1) and the connection the
// cookie's ACK makes sends ECT(0) data. Without timestamps there is no room
// for the bit, and the SYN-ACK says no ECN.
func TestSYNCookieECN(t *testing.T) {
	t.Parallel()
	tsSYN := &Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 5000}
	for _, tc := range []struct {
		name     string
		ecn      bool
		synFlags uint8
		syn      *Options
		want     bool
	}{
		{"ecn-setup SYN with timestamps", true, FlagECE | FlagCWR, tsSYN, true},
		{"ecn-setup SYN without timestamps", true, FlagECE | FlagCWR, plain, false},
		{"plain SYN", true, 0, tsSYN, false},
		{"ecn off here", false, FlagECE | FlagCWR, tsSYN, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, n := newECNRig(t, Config{ECN: tc.ecn})
			l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 2, nil)
			require.NoError(t, err)
			r.flood(3)
			n.tos = nil
			require.EqualValues(t, 1, r.s.Stats().SYNCookiesSent)

			r.pport = 61000
			r.inject(Fields{Seq: 1000, Flags: FlagSYN | tc.synFlags, Window: 65535}, tc.syn, nil)
			sa, tos := n.takeTOS(r)
			require.True(t, sa.has(FlagSYN|FlagACK), "cookie SYN-ACK")
			require.EqualValues(t, 2, r.s.Stats().SYNCookiesSent)
			assert.Equal(t, tc.want, sa.has(FlagECE), "SYN-ACK ECE")
			assert.False(t, sa.has(FlagCWR), "SYN-ACK CWR")
			assert.Zero(t, tos&3, "SYN-ACK is not ECN-capable")
			var ao *Options
			if tc.syn.HasTS {
				ao = &Options{HasTS: true, TSVal: 5001, TSEcr: sa.o.TSVal}
			}
			r.inject(Fields{Seq: 1001, Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, ao, nil)
			require.Equal(t, 1, l.Ready(), "the cookie's ACK made a connection")
			c, err := l.Accept(r.ev)
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Stats().ECN)
			_, err = c.Write([]byte("hello"))
			require.NoError(t, err)
			c.flush()
			d, tos := n.takeTOS(r)
			require.Equal(t, "hello", string(d.data))
			if tc.want {
				assert.Equal(t, uint8(ecnECT0), tos&3, "data is ECT(0)")
			} else {
				assert.Zero(t, tos&3, "data is Not-ECT without ECN")
			}
		})
	}
}

// RFC 3168 section 6.1.2: the sender SHOULD NOT increase cwnd in response
// to an ECN-Echo ACK. After a reduction the receiver echoes ECE on every
// ACK until our CWR reaches it, so the window stays at the reduced value
// until SND.UNA passes the data outstanding at the reduction, as in
// Linux's CWR state; only the ACKs after that grow it again.
func TestECNHoldsCwndDuringReduction(t *testing.T) {
	t.Parallel()
	for _, cc := range []string{"newreno", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			t.Parallel()
			r, n := newECNRig(t, Config{ECN: true, CongestionControl: cc})
			ecnPassive(t, r, n, FlagECE|FlagCWR)
			mss := r.conn.mss
			_, err := r.conn.Write(bytes.Repeat([]byte{'x'}, 60*mss))
			require.NoError(t, err)
			var seqs []seqnum
			for len(r.net.Out) > 0 {
				s, _ := n.takeTOS(r)
				seqs = append(seqs, s.seq())
			}
			require.Len(t, seqs, 10, "initial window")
			high := r.conn.sndMax
			ack := func(a seqnum, flags uint8) {
				r.advance(10 * time.Millisecond)
				r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(a), Flags: FlagACK | flags, Window: 65535}, nil, nil)
				r.drain()
				n.tos = nil
			}
			ack(seqs[1], FlagECE)
			require.EqualValues(t, 1, r.conn.Stats().ECNReductions)
			reduced := r.conn.ccs.Cwnd
			require.Equal(t, r.conn.ccs.Ssthresh, reduced)
			// The rest of the window, every ACK still echoing ECE.
			for i := 2; i < len(seqs); i++ {
				ack(seqs[i], FlagECE)
				assert.Equal(t, reduced, r.conn.ccs.Cwnd, "ACK of segment %d inside the reduction's window", i)
			}
			ack(high, FlagECE)
			assert.Equal(t, reduced, r.conn.ccs.Cwnd, "ACK up to the reduction's SND.MAX")
			assert.EqualValues(t, 1, r.conn.Stats().ECNReductions)
			// The receiver saw CWR: later ACKs carry no ECE and grow it.
			for i := 0; i < 8; i++ {
				ack(r.conn.sndMax, 0)
			}
			assert.Greater(t, r.conn.ccs.Cwnd, reduced, "growth after the reduction's window")
			assert.EqualValues(t, 1, r.conn.Stats().ECNReductions)
		})
	}
}

// An ECE that arrives after a retransmission timeout, while the sender
// restarts from one segment (RFC 5681 section 3.1's loss window), is
// answered by that reduction: no second one, which would set cwnd back up
// to a fraction of the flight and send a burst (Linux enters CWR only from
// its Open and Disorder states). The next new data still carries CWR, so
// the receiver stops echoing (as Linux's tcp_enter_loss queues it).
func TestECNAfterTimeout(t *testing.T) {
	t.Parallel()
	r, n := newECNRig(t, Config{ECN: true, CongestionControl: "cubic"})
	ecnPassive(t, r, n, FlagECE|FlagCWR)
	mss := r.conn.mss
	_, err := r.conn.Write(bytes.Repeat([]byte{'x'}, 12*mss))
	require.NoError(t, err)
	var seqs []seqnum
	for len(r.net.Out) > 0 {
		s, _ := n.takeTOS(r)
		seqs = append(seqs, s.seq())
	}
	require.Len(t, seqs, 10, "initial window")
	r.advance(r.conn.rto)
	rt, _ := n.takeTOS(r)
	require.Equal(t, seqs[0], rt.seq(), "the timeout resends SND.UNA")
	require.Equal(t, mss, r.conn.ccs.Cwnd)
	ssthresh := r.conn.ccs.Ssthresh

	// A duplicate ACK echoing a CE mark on the original window.
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(seqs[0]), Flags: FlagACK | FlagECE, Window: 65535}, nil, nil)
	assert.Zero(t, len(r.net.Out), "no burst")
	assert.Equal(t, mss, r.conn.ccs.Cwnd, "still the loss window")
	assert.Equal(t, ssthresh, r.conn.ccs.Ssthresh)
	assert.Zero(t, r.conn.Stats().ECNReductions)

	// Everything arrived: the new data after the timeout's episode
	// carries CWR, once.
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndMax), Flags: FlagACK, Window: 65535}, nil, nil)
	cwr := 0
	sent := 0
	for len(r.net.Out) > 0 {
		s, tos := n.takeTOS(r)
		sent++
		assert.Equal(t, uint8(ecnECT0), tos&3, "new data is ECT(0)")
		if s.has(FlagCWR) {
			cwr++
		}
	}
	assert.Equal(t, 2, sent, "the last two segments")
	assert.Equal(t, 1, cwr, "CWR on the first new data segment")
}

// A reduction never takes the window below two segments, as Linux's
// ssthresh hooks floor it (RFC 3168 section 6.1.2 allows one segment, then
// paced by the retransmit timer; Linux never goes there): with two
// segments in flight, each window's ECE leaves the window at two.
func TestECNFloorTwoSegments(t *testing.T) {
	t.Parallel()
	for _, cc := range []string{"newreno", "cubic"} {
		t.Run(cc, func(t *testing.T) {
			t.Parallel()
			r, n := newECNRig(t, Config{ECN: true, CongestionControl: cc, InitialCwndSegments: 2})
			ecnPassive(t, r, n, FlagECE|FlagCWR)
			mss := r.conn.mss
			_, err := r.conn.Write(bytes.Repeat([]byte{'x'}, 40*mss))
			require.NoError(t, err)
			for round := 1; round <= 3; round++ {
				r.drain()
				n.tos = nil
				r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndMax), Flags: FlagACK | FlagECE, Window: 65535}, nil, nil)
				require.EqualValues(t, round, r.conn.Stats().ECNReductions)
				assert.Equal(t, 2*mss, r.conn.ccs.Ssthresh, "round %d", round)
				assert.Equal(t, 2*mss, r.conn.ccs.Cwnd, "round %d", round)
			}
		})
	}
}
