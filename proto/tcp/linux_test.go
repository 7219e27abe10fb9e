package tcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the linux profile's departures, and of the fixes made to pass
// Linux's packetdrill scripts, each built from crafted segments.

var tsOpts = &Options{HasMSS: true, MSS: 1460, HasTS: true, TSVal: 5000}

// RFC 7323 section 4.3: the SYN-ACK sets Last.ACK.sent, so the handshake's
// ACK (which covers it) updates TS.Recent and the first segment after a
// passive open echoes that ACK's TSval, not the SYN's.
func TestTSRecentAfterPassiveOpen(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{}, RFCProfile(), LinuxProfile()} {
		t.Run(cfg.Profile, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, cfg)
			r.established(tsOpts)
			ackTS := r.pTS // the handshake ACK's TSval
			_, err := r.conn.Write([]byte("x"))
			require.NoError(t, err)
			d := r.take()
			require.True(t, d.o.HasTS)
			assert.Equal(t, ackTS, d.o.TSEcr)
		})
	}
}

// Linux's tcp_push: the last segment of a burst the congestion window
// ends carries PSH in the linux profile; the other profiles push only the
// end of the written data.
func TestPSHEndsCwndLimitedBurst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      Config
		lastPush bool
	}{
		{"linux", LinuxProfile(), true},
		{"rfc", RFCProfile(), false},
		{"default", Config{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			r.established(plain)
			mss := r.conn.mss
			_, err := r.conn.Write(make([]byte, 20*mss))
			require.NoError(t, err)
			require.Len(t, r.net.out, 10, "initial window of 10 segments")
			for i := range 10 {
				s := r.take()
				require.Len(t, s.data, mss)
				want := tc.lastPush && i == 9
				assert.Equal(t, want, s.has(FlagPSH), "segment %d", i)
			}
		})
	}
}
