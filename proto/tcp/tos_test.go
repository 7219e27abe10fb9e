package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SetTOS sets the TOS byte of the segments sent afterwards, as Linux's
// IP_TOS; the ECN field stays ECN's (RFC 3168 section 5).
func TestSetTOS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		ecn     bool
		set     uint8
		wantTOS uint8 // TOS() after SetTOS
		wantNew uint8 // TOS byte of a new data segment
		wantAck uint8 // TOS byte of a pure ACK
	}{
		{"dscp", false, 0x28, 0x28, 0x28, 0x28},
		{"ecn-bits-ignored", false, 0x2b, 0x28, 0x28, 0x28},
		{"with-ecn", true, 0x2b, 0x28, 0x28 | ecnECT0, 0x28},
		{"zero", true, 0, 0, ecnECT0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, n := newECNRig(t, Config{ECN: tc.ecn, DelayedACK: -1})
			var synFlags uint8
			if tc.ecn {
				synFlags = FlagECE | FlagCWR
			}
			ecnPassive(t, r, n, synFlags)
			r.conn.SetTOS(tc.set)
			assert.Equal(t, tc.wantTOS, r.conn.TOS())
			_, err := r.conn.Write([]byte("hello"))
			require.NoError(t, err)
			s, tos := n.takeTOS(r)
			require.Equal(t, "hello", string(s.data))
			assert.Equal(t, tc.wantNew, tos, "new data")
			r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(r.conn.sndMax), Flags: FlagACK, Window: 65535}, nil, []byte("ab"))
			s, tos = n.takeTOS(r)
			require.Empty(t, s.data)
			assert.Equal(t, tc.wantAck, tos, "pure ACK")
		})
	}
}

// Without a TOSSender, SetTOS is remembered but the segments go out as
// before.
func TestSetTOSWithoutTOSSender(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	snd := r.established(plain)
	r.conn.SetTOS(0x28)
	assert.Equal(t, uint8(0x28), r.conn.TOS())
	_, err := r.conn.Write([]byte("hi"))
	require.NoError(t, err)
	s := r.take()
	assert.Equal(t, snd, s.seq())
	assert.Equal(t, "hi", string(s.data))
}

// The TOS byte applies to every segment of a connection, as Linux's IP_TOS
// (inet->tos) does: the SYN of a ConnectTOS and its retransmission, and
// the SYN-ACK of a listener's SetTOS, without ECN bits (RFC 3168 section
// 6.1.1: SYNs are not ECN-capable).
func TestTOSOnSYN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ecn  bool
	}{{"plain", false}, {"ecn", true}} {
		t.Run(tc.name+"/active", func(t *testing.T) {
			t.Parallel()
			r, n := newECNRig(t, Config{ECN: tc.ecn})
			_, err := r.s.ConnectTOS(netip.AddrPort{}, netip.AddrPortFrom(r.peer, r.pport), r.ev, 0x2b)
			require.NoError(t, err)
			s, tos := n.takeTOS(r)
			require.True(t, s.has(FlagSYN))
			assert.Equal(t, uint8(0x28), tos, "SYN")
			r.advance(time.Second) // the initial RTO
			s, tos = n.takeTOS(r)
			require.True(t, s.has(FlagSYN))
			assert.Equal(t, uint8(0x28), tos, "retransmitted SYN")
		})
		t.Run(tc.name+"/passive", func(t *testing.T) {
			t.Parallel()
			r, n := newECNRig(t, Config{ECN: tc.ecn})
			l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, nil)
			require.NoError(t, err)
			l.SetTOS(0x2b)
			var synFlags uint8
			if tc.ecn {
				synFlags = FlagECE | FlagCWR
			}
			r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN | synFlags, Window: 65535}, plain, nil)
			s, tos := n.takeTOS(r)
			require.True(t, s.has(FlagSYN|FlagACK))
			assert.Equal(t, uint8(0x28), tos, "SYN-ACK")
			r.inject(Fields{Seq: uint32(r.pISS + 1), Ack: uint32(s.seq() + 1), Flags: FlagACK, Window: 65535}, nil, nil)
			c, err := l.Accept(r.ev)
			require.NoError(t, err)
			assert.Equal(t, uint8(0x28), c.TOS(), "the accepted connection inherits it")
		})
	}
}
