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
