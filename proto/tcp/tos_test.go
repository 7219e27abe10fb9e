package tcp

import (
	"testing"

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
