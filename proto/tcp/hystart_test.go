package tcp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Linux's HyStart (Config.HyStart) on crafted ACKs: a round trip of 20
// segments after slow start reached cwnd 20 (above the low window of 16)
// is acknowledged one segment per ACK. With every RTT sample 20 ms above
// the 50 ms minimum, the ninth ACK's delay check ends slow start
// (ssthresh = cwnd = 28); with RTTs at the minimum it does not; ACKs 2 ms
// apart form a train that ends it once it spans half the minimum RTT
// (the 14th ACK, cwnd 33), or the whole of it when fq paces the flow.
func TestHyStart(t *testing.T) {
	t.Parallel()
	off := LinuxProfile()
	off.HyStart = HyStart{}
	for _, tc := range []struct {
		name     string
		cfg      Config
		extra    time.Duration // added to the round's RTT
		spacing  time.Duration // between ACKs
		foundAck int           // ACK of the round that ends slow start (0: none)
		ssthresh int           // then, in segments
	}{
		{"delay", LinuxProfile(), 20 * time.Millisecond, time.Millisecond, 9, 28},
		{"no delay increase", LinuxProfile(), 0, time.Millisecond, 0, 0},
		{"off", off, 20 * time.Millisecond, time.Millisecond, 0, 0},
		{"ack train", LinuxProfile(), 0, 2 * time.Millisecond, 14, 33},
		// Paced (fq), the train must span the whole minimum RTT
		// (hystart_update halves the threshold only for
		// SK_PACING_NONE): 20 ACKs 2 ms apart span 38 ms of 50.
		{"ack train, paced", LinuxProfile(), 0, 2 * time.Millisecond, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, segs := rttConn(t, tc.cfg, 10)
			mss := r.conn.mss
			_, err := r.conn.Write(make([]byte, 100*mss))
			require.NoError(t, err)
			r.advance(rackRTT)
			una := segs[9].seq().add(mss)
			r.sackAck(una, segs[9].o.TSVal)
			require.Equal(t, 20*mss, r.conn.ccs.Cwnd)
			round := len(r.net.Out)
			require.Equal(t, 20, round)
			ts := r.take().o.TSVal
			r.drain()
			// fq from here on (the round was sent unpaced).
			r.s.cfg.FQPacing = strings.HasSuffix(tc.name, "paced")
			r.advance(rackRTT + tc.extra)
			for k := 1; k <= round; k++ {
				if k > 1 {
					r.advance(tc.spacing)
				}
				cwnd := r.conn.ccs.Cwnd
				r.sackAck(una.add(k*mss), ts)
				r.drain()
				switch {
				case tc.foundAck == 0 || k < tc.foundAck:
					require.Equal(t, 1<<30, r.conn.ccs.Ssthresh, "ACK %d", k)
				case k == tc.foundAck:
					assert.Equal(t, tc.ssthresh*mss, cwnd, "cwnd before the ACK that ends slow start")
					assert.Equal(t, tc.ssthresh*mss, r.conn.ccs.Ssthresh)
					return
				}
			}
			assert.Zero(t, tc.foundAck, "slow start did not end")
		})
	}
}
