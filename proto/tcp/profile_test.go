package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rfc and linux profiles are configurations of the same code: they
// differ in the minimum RTO (RFC 6298 section 2.4 vs Linux's 200 ms), in
// delayed ACKs (200 ms for every second segment, RFC 1122 section
// 4.2.3.2, vs 40 ms with quick-ack at the start) and in PRR (RFC 6937).
func TestProfiles(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		minRTO   time.Duration
		firstAck time.Duration // delay of the ACK of the first data segment
		laterAck time.Duration // and of a lone segment after the 20th
		prr      bool
	}{
		{"default", Config{}, 200 * time.Millisecond, 0, 40 * time.Millisecond, false},
		{"rfc", RFCProfile(), time.Second, 200 * time.Millisecond, 200 * time.Millisecond, false},
		{"linux", LinuxProfile(), 200 * time.Millisecond, 0, 40 * time.Millisecond, true},
		{"linux-no-prr", func() Config { c := LinuxProfile(); c.PRR = false; return c }(), 200 * time.Millisecond, 0, 40 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			assert.Equal(t, tc.prr, r.s.Config().PRR)
			assert.Equal(t, 10, r.s.Config().InitialCwndSegments)
			nxt := r.established(plain)
			ackDelay := func() time.Duration {
				r.t.Helper()
				r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(nxt), Flags: FlagACK, Window: 65535}, nil, []byte("data"))
				r.pNxt += 4
				start := r.sched.Now()
				for len(r.net.Out) == 0 {
					require.True(t, r.sched.Step(), "an ACK is due")
				}
				require.Equal(t, r.pNxt, r.take().ack())
				return r.sched.Now().Sub(start)
			}
			assert.Equal(t, tc.firstAck, ackDelay(), "first segment")
			for i := 0; i < 20; i++ {
				ackDelay()
			}
			assert.Equal(t, tc.laterAck, ackDelay(), "after the quick-acks")
			// An RTT sample of 0 ms leaves RTO at its floor.
			_, err := r.conn.Write([]byte("x"))
			require.NoError(t, err)
			r.take()
			r.ackWith(nxt+1, nil)
			assert.Equal(t, tc.minRTO, r.conn.rto)
		})
	}
}
