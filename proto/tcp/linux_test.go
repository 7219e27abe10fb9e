package tcp

import (
	"net/netip"
	"testing"
	"time"

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
// ends carries PSH in the linux profile, and so does the end of each
// half-window TSO packet the burst leaves as (tcp_cwnd_test;
// slow-start-after-idle.pkt's P. 1:5001, P. 5001:10001); the other
// profiles push only the end of the written data.
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
			require.Len(t, r.net.Out, 10, "initial window of 10 segments")
			for i := range 10 {
				s := r.take()
				require.Len(t, s.data, mss)
				want := tc.lastPush && (i == 4 || i == 9)
				assert.Equal(t, want, s.has(FlagPSH), "segment %d", i)
			}
		})
	}
}

// RFC 6298 section 2 and Linux's tcp_synack_rtt_meas: after a passive open
// without timestamps, the linux profile takes the first RTT sample from
// the SYN-ACK to the handshake's ACK, and that ACK does not grow cwnd.
func TestHandshakeRTTSampleAndCwnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    Config
		sample bool
	}{
		{"linux", LinuxProfile(), true},
		{"rfc", RFCProfile(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
				c, err := l.Accept(r.ev)
				require.NoError(t, err)
				r.conn = c
			})
			require.NoError(t, err)
			r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, plain, nil)
			sa := r.take()
			r.advance(30 * time.Millisecond)
			r.pNxt = r.pISS + 1
			r.ackWith(sa.seq()+1, nil)
			require.NotNil(t, r.conn)
			if tc.sample {
				assert.Equal(t, 30*time.Millisecond, r.conn.srtt)
				assert.Equal(t, 10*r.conn.mss, r.conn.ccs.Cwnd, "the SYN's ACK adds nothing to cwnd")
			} else {
				assert.Zero(t, r.conn.srtt)
			}
		})
	}
}

// Linux's tcp_is_cwnd_limited and tcp_slow_start: in slow start the window
// grows by every acknowledged byte while it is below twice the largest
// recent flight, and not beyond (slow-start-ack-per-2pkt-send-6pkt.pkt).
func TestLinuxSlowStartCwndLimited(t *testing.T) {
	t.Parallel()
	r := newRig(t, LinuxProfile())
	nxt := r.established(plain)
	mss := r.conn.mss
	_, err := r.conn.Write(make([]byte, 6*mss))
	require.NoError(t, err)
	r.drain()
	for _, tc := range []struct{ acked, cwnd int }{{2, 12}, {4, 12}, {6, 12}} {
		r.ackWith(nxt.add(tc.acked*mss), nil)
		assert.Equal(t, tc.cwnd*mss, r.conn.ccs.Cwnd, "after %d segments acknowledged", tc.acked)
	}
}

// Linux's ts_recent scripts: the linux profile's RST carries timestamps
// (RFC 7323 section 3.2 SHOULD, tcp_send_active_reset), and an ACK of data
// not yet sent is dropped silently without updating TS.Recent (tcp_ack),
// where the rfc profile answers it with an ACK (RFC 9293 section 3.10.7.4).
func TestLinuxRSTTimestampsAndUnsentACK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   Config
		linux bool
	}{
		{"linux", LinuxProfile(), true},
		{"rfc", RFCProfile(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			nxt := r.established(tsOpts)
			good := r.pTS
			// An ACK of unsent data with a high TSval.
			r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt.add(5000)), Flags: FlagACK | FlagFIN, Window: 65535},
				&Options{HasTS: true, TSVal: 200000, TSEcr: 1}, nil)
			if tc.linux {
				r.none()
			} else {
				require.Equal(t, nxt, r.take().seq())
				return
			}
			r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 65535}, r.ts(1), []byte("unread"))
			assert.Equal(t, good+1, r.take().o.TSEcr, "TS.Recent from the valid segment only")
			require.NoError(t, r.conn.Close())
			rst := r.take()
			require.True(t, rst.has(FlagRST))
			assert.True(t, rst.o.HasTS)
			assert.Equal(t, good+1, rst.o.TSEcr)
		})
	}
}
