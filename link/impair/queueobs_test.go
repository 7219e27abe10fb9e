package impair

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/qdisc"
	"github.com/simnet-go/simnet/proto/clock"
)

// TestQueueObserver offers a burst to a rate-limited direction and checks
// what the queue observer hears: the queue grows by one frame per arrival
// up to its bound, the sojourn grows by one serialisation time per frame,
// and once the burst has drained an arrival finds the queue empty.
func TestQueueObserver(t *testing.T) {
	t.Parallel()
	const (
		rate = 1_000_000 // bits/s
		size = 125       // bytes: 1 ms on the wire
	)
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"fifo packets", Config{Rate: rate, QueuePackets: 5}},
		{"fifo bytes", Config{Rate: rate, QueueBytes: 5 * size}},
		{"codel", Config{Rate: rate, Params: qdisc.Params{Kind: qdisc.CoDel, Limit: 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg, 5)
			type sample struct {
				at clock.Time
				q  QueueState
			}
			var got []sample
			r.pipe.SetQueueObserver(func(now clock.Time, q QueueState) { got = append(got, sample{now, q}) })
			for i := 0; i < 5; i++ {
				r.pipe.Send(frame(size, uint64(i), epoch))
			}
			for r.sched.Step() {
			}
			require.Len(t, got, 5)
			if !tc.cfg.IsAQM() {
				// At admission, all at one instant: the queue grows.
				for i, s := range got {
					assert.Equal(t, i+1, s.q.Packets, "frame %d", i)
					assert.Equal(t, (i+1)*size, s.q.Bytes, "frame %d", i)
					assert.Equal(t, time.Duration(i)*time.Millisecond, s.q.Sojourn, "frame %d", i)
				}
			} else {
				// At dequeue, one serialisation apart: the queue drains.
				// The first frame leaves as it arrives, before the others.
				for i, s := range got {
					want := 5 - i
					if i == 0 {
						want = 1
					}
					assert.Equal(t, epoch.Add(time.Duration(i)*time.Millisecond), s.at, "frame %d", i)
					assert.Equal(t, want, s.q.Packets, "frame %d", i)
					assert.Equal(t, time.Duration(i)*time.Millisecond, s.q.Sojourn, "frame %d", i)
				}
			}
			got = got[:0]
			r.pipe.Send(frame(size, 9, r.sched.Now()))
			for r.sched.Step() {
			}
			require.Len(t, got, 1)
			assert.Equal(t, 1, got[0].q.Packets)
			assert.Zero(t, got[0].q.Sojourn)
		})
	}
}
