package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 5482 (TCP_USER_TIMEOUT): data unacknowledged for the user timeout
// aborts the connection with ErrTimeout and a RST, the retransmission
// timer clamped to fire at the expiry; without it the connection keeps
// retransmitting (Config.MaxRetries). An ACK that advances SND.UNA
// restarts the wait.
func TestUserTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		ackAt   time.Duration // 0: never
		closeAt time.Duration // 0: still open after 5 s
	}{
		{"aborts at the timeout", time.Second, 0, time.Second},
		{"an ACK restarts it", time.Second, 700 * time.Millisecond, 1700 * time.Millisecond},
		{"none", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, LinuxProfile())
			nxt := r.established(plain)
			r.conn.SetUserTimeout(tc.timeout)
			assert.Equal(t, tc.timeout, r.conn.UserTimeout())
			start := r.sched.Now()
			_, err := r.conn.Write(make([]byte, 2*r.conn.mss))
			require.NoError(t, err)
			if tc.ackAt > 0 {
				r.advance(tc.ackAt)
				r.ackWith(nxt.add(r.conn.mss), nil)
			}
			for r.conn.State() != StateClosed && r.sched.Now().Sub(start) < 5*time.Second {
				require.True(t, r.sched.Step())
			}
			if tc.closeAt == 0 {
				assert.Equal(t, StateEstablished, r.conn.State())
				return
			}
			assert.Equal(t, tc.closeAt, r.sched.Now().Sub(start))
			require.NotEmpty(t, r.log.Events)
			assert.Equal(t, "closed:"+ErrTimeout.Error(), r.log.Events[len(r.log.Events)-1])
			last := r.net.Out[len(r.net.Out)-1].Data
			h, err := ParseHeader(last)
			require.NoError(t, err)
			assert.NotZero(t, h.Flags()&FlagRST, "the peer is reset")
		})
	}
}

// RFC 1122 section 4.2.2.13: data arriving after the application closed
// cannot be delivered; the linux profile resets (Linux's
// tcp_rcv_state_process, user_timeout.pkt) and answers the segment as a
// closed port would, <SEQ=SEG.ACK><CTL=RST>. The other profiles discard
// the data and acknowledge it.
func TestDataAfterCloseResets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   Config
		reset bool
	}{
		{"linux", LinuxProfile(), true},
		{"rfc", RFCProfile(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			nxt := r.established(plain)
			require.NoError(t, r.conn.Close())
			fin := r.take()
			require.True(t, fin.has(FlagFIN))
			r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 65535}, nil, []byte("late"))
			if !tc.reset {
				r.advance(200 * time.Millisecond) // the delayed ACK
			}
			got := r.take()
			if !tc.reset {
				assert.False(t, got.has(FlagRST))
				assert.Equal(t, r.pNxt.add(4), got.ack())
				return
			}
			assert.Equal(t, FlagRST, got.h.Flags())
			assert.Equal(t, nxt, got.seq())
			assert.Equal(t, StateClosed, r.conn.State())
		})
	}
}
