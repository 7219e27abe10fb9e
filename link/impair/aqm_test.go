package impair

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/qdisc"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

// fates records the final notes reported for pending frames.
type fates map[uint64]link.Note

func (f fates) fn(ticket uint64, note link.Note) {
	if _, dup := f[ticket]; dup {
		panic("fate reported twice")
	}
	f[ticket] = note
}

func aqmConfig(kind string) Config {
	return Config{Rate: 1_000_000, Delay: time.Millisecond, Params: qdisc.Params{Kind: kind}}
}

// TestAQMPipeFates: a frame queued behind the rate limiter gets a Ticket,
// and exactly one final Note later; drops and deliveries add up.
func TestAQMPipeFates(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{qdisc.RED, qdisc.CoDel, qdisc.FQCoDel} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, aqmConfig(kind), 3)
			got := fates{}
			r.pipe.SetFate(got.fn)
			// 500-byte frames every 3 ms: 1.33 Mbit/s into 1 Mbit/s.
			notes := r.offer(1500, 500, 3*time.Millisecond)
			var pending, droppedNow int
			for _, n := range notes {
				switch {
				case n.Ticket != 0:
					pending++
					fate, ok := got[n.Ticket]
					require.True(t, ok, "ticket %d has no fate", n.Ticket)
					assert.Zero(t, fate.Ticket)
				case n.Dropped():
					droppedNow++
				}
			}
			assert.Equal(t, pending, len(got), "one fate per pending frame")
			var droppedLater int
			for _, f := range got {
				if f.Dropped() {
					droppedLater++
					assert.Equal(t, kind, f.Qdisc)
				}
			}
			c := r.pipe.Counters()
			assert.Equal(t, int(c.Dropped), droppedNow+droppedLater)
			assert.Equal(t, int(c.Delivered), len(r.got))
			assert.Equal(t, c.Offered, c.Delivered+c.Dropped)
			assert.Positive(t, c.Dropped, "the qdisc keeps the queue short by dropping")
			require.NotNil(t, c.Qdisc)
			assert.Equal(t, kind, c.Qdisc.Kind)
			assert.Equal(t, c.Qdisc.Dequeued, c.Delivered)
			// A 1000-frame fifo would reach 4 s; CoDel keeps the sojourn
			// near its target, RED the average queue below max (250
			// frames of 4 ms by default).
			limit := 0.5
			if kind == qdisc.RED {
				limit = 250 * 0.004 * 1.1
			}
			assert.Less(t, c.Qdisc.Sojourn.P99, limit)
			// Deliveries keep the serialisation spacing of 4 ms.
			for i := 1; i < len(r.got); i++ {
				require.GreaterOrEqual(t, r.got[i].at.Sub(r.got[i-1].at), 4*time.Millisecond)
			}
		})
	}
}

// TestAQMLinkDown: taking the link down drops the queued frames, each
// reported once, as lost with the link.
func TestAQMLinkDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, aqmConfig(qdisc.CoDel), 1)
	got := fates{}
	r.pipe.SetFate(got.fn)
	var tickets []uint64
	for i := 0; i < 20; i++ {
		if n := r.pipe.Send(frame(1000, uint64(i), epoch)); n.Ticket != 0 {
			tickets = append(tickets, n.Ticket)
		}
	}
	require.Len(t, tickets, 19, "the first frame starts at once, the others wait")
	r.sched.RunUntil(epoch.Add(20 * time.Millisecond)) // two more sent
	r.pipe.SetUp(false)
	down := 0
	for _, tk := range tickets {
		if got[tk].Drop == link.DropLinkDown {
			down++
		}
	}
	assert.Equal(t, 17, down, "frames 3 to 19 were queued")
	assert.Equal(t, uint64(18), r.pipe.Counters().DroppedLinkDown, "frame 2 was on the wire")
	r.pipe.SetUp(true)
	for r.sched.Step() {
	}
	assert.Len(t, r.got, 2, "frames 0 and 1 arrived before the link went down")
	assert.Zero(t, r.pipe.Send(frame(100, 99, r.sched.Now())).Ticket, "an idle link sends at once")
}

// TestAQMSetConfigKeepsQueue: changing the qdisc mid-run moves the queued
// frames into the new one.
func TestAQMSetConfigKeepsQueue(t *testing.T) {
	t.Parallel()
	r := newRig(t, aqmConfig(qdisc.CoDel), 1)
	for i := 0; i < 10; i++ {
		r.pipe.Send(frame(1000, uint64(i), epoch))
	}
	require.NoError(t, r.pipe.SetConfig(aqmConfig(qdisc.FQCoDel)))
	for r.sched.Step() {
	}
	require.Len(t, r.got, 10)
	for i, a := range r.got {
		assert.Equal(t, uint64(i), a.seq)
	}
	assert.Equal(t, qdisc.FQCoDel, r.pipe.Counters().Qdisc.Kind)
}

// TestFIFOQdiscStats: the drop-tail queue reports its sojourn too.
func TestFIFOQdiscStats(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Rate: 1_000_000, QueuePackets: 10}, 1)
	r.offer(100, 1000, time.Millisecond) // 8 Mbit/s into 1 Mbit/s
	c := r.pipe.Counters()
	require.NotNil(t, c.Qdisc)
	assert.Equal(t, qdisc.FIFO, c.Qdisc.Kind)
	assert.Equal(t, c.DroppedQueueFull, c.Qdisc.Drops)
	// A full queue of ten 8 ms frames: 9 wait ahead, 72 ms.
	assert.InDelta(t, 0.072, c.Qdisc.Sojourn.Max, 0.003)
	assert.Nil(t, newRig(t, Config{Delay: time.Millisecond}, 1).pipe.Counters().Qdisc, "no rate, no queue")
}

func TestAQMValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"ecn without aqm", Config{Rate: 1e6, Params: qdisc.Params{ECN: true}}, "ecn needs an AQM"},
		{"aqm without rate", Config{Params: qdisc.Params{Kind: qdisc.CoDel}}, "needs a rate"},
		{"aqm with fifo bound", Config{Rate: 1e6, QueuePackets: 5, Params: qdisc.Params{Kind: qdisc.RED}}, "takes limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	assert.NoError(t, aqmConfig(qdisc.FQCoDel).Validate())
}

func TestAQMSteadyStateAllocations(t *testing.T) {
	for _, kind := range []string{qdisc.RED, qdisc.CoDel, qdisc.FQCoDel} {
		r := newRig(t, aqmConfig(kind), 17)
		r.pipe.SetFate(func(uint64, link.Note) {})
		f := frame(200, 0, epoch)
		step := func() {
			r.pipe.Send(f)
			r.sched.RunUntil(r.sched.Now().Add(1200 * time.Microsecond))
		}
		for i := 0; i < 10000; i++ {
			step()
		}
		r.got = append(r.got[:0:cap(r.got)], make([]arrival, 0, 20000)...)
		assert.Zero(t, testing.AllocsPerRun(3000, step), kind)
	}
}

func benchPipeQdisc(b *testing.B, kind string) {
	sched := clock.NewScheduler(epoch)
	p, err := New(sched, rng.New(1, "bench"), Config{Rate: 100_000_000, Delay: time.Millisecond, Params: qdisc.Params{Kind: kind}}, nil)
	require.NoError(b, err)
	p.SetReceiver(link.ReceiverFunc(func([]byte, link.Note) {}))
	p.SetFate(func(uint64, link.Note) {})
	f := frame(1000, 0, epoch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Send(f)
		sched.RunUntil(sched.Now().Add(70 * time.Microsecond)) // 114 Mbit/s offered
	}
	for sched.Step() {
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

func BenchmarkPipeFIFO(b *testing.B)    { benchPipeQdisc(b, qdisc.FIFO) }
func BenchmarkPipeRED(b *testing.B)     { benchPipeQdisc(b, qdisc.RED) }
func BenchmarkPipeCoDel(b *testing.B)   { benchPipeQdisc(b, qdisc.CoDel) }
func BenchmarkPipeFQCoDel(b *testing.B) { benchPipeQdisc(b, qdisc.FQCoDel) }
