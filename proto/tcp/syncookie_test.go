package tcp

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 4987 section 3.6: with cookies on, a SYN that finds the backlog full
// of half-open connections gets a stateless SYN-ACK (MSS only); the ACK
// that returns the cookie makes an established connection carrying the
// peer's MSS, and a forged or stale cookie gets a reset.
func TestSYNCookies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		ackDelta  uint32 // added to the right acknowledgment number
		wantReady int
	}{
		{name: "valid cookie", ackDelta: 0, wantReady: 1},
		{name: "forged cookie", ackDelta: 1, wantReady: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			r.s.EnableSYNCookies()
			l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 1, nil)
			require.NoError(t, err)
			r.pport = 40000 // fills the backlog, half-open
			r.inject(Fields{Seq: 100, Flags: FlagSYN, Window: 65535}, plain, nil)
			require.True(t, r.take().has(FlagSYN|FlagACK))
			r.pport = 40001
			r.inject(Fields{Seq: 500, Flags: FlagSYN, Window: 65535}, &Options{HasMSS: true, MSS: 1400, HasWScale: true, WScale: 7, SACKPermitted: true}, nil)
			sa := r.take()
			require.True(t, sa.has(FlagSYN|FlagACK), "cookie SYN-ACK")
			assert.Equal(t, uint32(501), uint32(sa.ack()))
			assert.True(t, sa.o.HasMSS)
			assert.False(t, sa.o.HasWScale || sa.o.SACKPermitted || sa.o.HasTS, "a cookie SYN-ACK offers only MSS")
			assert.Equal(t, uint64(0), r.s.Stats().BacklogDrops)
			assert.Equal(t, 1, r.s.NumConns(), "only the first SYN holds state")
			sent, _ := r.s.SYNCookieStats()
			assert.Equal(t, uint64(1), sent)

			r.inject(Fields{Seq: 501, Ack: uint32(sa.seq()+1) + tc.ackDelta, Flags: FlagACK, Window: 1000}, nil, []byte("GET"))
			assert.Equal(t, tc.wantReady, l.Ready())
			if tc.wantReady == 0 {
				rst := r.take()
				assert.True(t, rst.has(FlagRST), "a bad cookie is reset")
				return
			}
			c, err := l.Accept(r.ev)
			require.NoError(t, err)
			assert.Equal(t, StateEstablished, c.State())
			assert.Equal(t, 3, c.Readable(), "data on the completing ACK")
			assert.Equal(t, 1400, c.maxSeg, "the peer's MSS, from the cookie")
			_, acc := r.s.SYNCookieStats()
			assert.Equal(t, uint64(1), acc)
		})
	}
}
