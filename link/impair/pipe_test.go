package impair

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

var epoch = clock.FromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// frame crafts an Ethernet II frame of length n (at least 30) carrying seq
// and the send instant in its payload, EtherType 0x88B5 (local experimental).
func frame(n int, seq uint64, sent clock.Time) []byte {
	b := make([]byte, n)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:14], 0x88b5)
	binary.BigEndian.PutUint64(b[14:22], seq)
	binary.BigEndian.PutUint64(b[22:30], uint64(sent))
	for i := 30; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

// arrival is one delivered frame as the receiver saw it.
type arrival struct {
	at    clock.Time
	seq   uint64
	sent  clock.Time
	note  link.Note
	frame []byte
}

// rig is a pipe on a virtual clock with a recording receiver.
type rig struct {
	sched *clock.Scheduler
	pipe  *Pipe
	got   []arrival
	keep  bool // keep a copy of each delivered frame
}

func newRig(t testing.TB, cfg Config, seed uint64) *rig {
	t.Helper()
	r := &rig{sched: clock.NewScheduler(epoch)}
	p, err := New(r.sched, rng.New(seed, "pipe"), cfg, nil)
	require.NoError(t, err)
	r.pipe = p
	p.SetReceiver(link.ReceiverFunc(func(f []byte, n link.Note) {
		a := arrival{
			at:   r.sched.Now(),
			seq:  binary.BigEndian.Uint64(f[14:22]),
			sent: clock.Time(binary.BigEndian.Uint64(f[22:30])),
			note: n,
		}
		if r.keep {
			a.frame = append([]byte(nil), f...)
		}
		r.got = append(r.got, a)
	}))
	return r
}

// offer sends count frames of length n, one every gap, running the clock
// between them, and returns the notes Send gave. It then drains the pipe.
func (r *rig) offer(count, n int, gap time.Duration) []link.Note {
	notes := make([]link.Note, count)
	for i := 0; i < count; i++ {
		now := r.sched.Now()
		notes[i] = r.pipe.Send(frame(n, uint64(i), now))
		r.sched.RunUntil(now.Add(gap))
	}
	for r.sched.Step() {
	}
	return notes
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error, "" for valid
	}{
		{"zero", Config{}, ""},
		{"full", Config{Loss: 0.1, Burst: GilbertElliott{P: 0.01, R: 0.3, LossBad: 1}, Delay: time.Millisecond,
			Jitter: time.Millisecond, JitterDist: JitterNormal, Reorder: 0.1, ReorderDelay: time.Millisecond,
			Duplicate: 0.1, Corrupt: 0.1, Rate: 1e6, QueueBytes: 10000, MTU: 1500}, ""},
		{"loss above one", Config{Loss: 1.5}, "loss = 1.5"},
		{"loss NaN", Config{Loss: math.NaN()}, "loss = NaN"},
		{"negative duplicate", Config{Duplicate: -0.1}, "duplicate = -0.1"},
		{"corrupt", Config{Corrupt: 2}, "corrupt = 2"},
		{"burst p", Config{Burst: GilbertElliott{P: 1.1, R: 0.5}}, "burst.p = 1.1"},
		{"burst stuck", Config{Burst: GilbertElliott{P: 0.1}}, "never leave the bad state"},
		{"burst loss_bad", Config{Burst: GilbertElliott{P: 0.1, R: 0.1, LossBad: -1}}, "burst.loss_bad"},
		{"negative delay", Config{Delay: -time.Second}, "delay = -1s is negative"},
		{"negative jitter", Config{Jitter: -1}, "jitter = -1ns"},
		{"huge delay", Config{Delay: 25 * time.Hour}, "delay = 25h0m0s exceeds 24h0m0s"},
		{"reorder without delay", Config{Reorder: 0.1}, "positive reorder_delay"},
		{"bad distribution", Config{Jitter: 1, JitterDist: "pareto"}, `jitter_dist "pareto"`},
		{"negative rate", Config{Rate: -1}, "rate = -1"},
		{"queue without rate", Config{QueuePackets: 10}, "need a rate"},
		{"negative mtu", Config{MTU: -5}, "mtu = -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	err := Config{Loss: 2, Delay: -1, MTU: -1}.Validate()
	require.Error(t, err)
	for _, s := range []string{"loss", "delay", "mtu"} {
		assert.Contains(t, err.Error(), s)
	}
	_, err = New(clock.NewScheduler(epoch), rng.New(1, "x"), Config{Loss: 2}, nil)
	assert.Error(t, err)
}

func FuzzConfigValidate(f *testing.F) {
	f.Add(0.1, 0.01, 0.3, int64(time.Millisecond), int64(0), 0.0, int64(0), int64(1e6), 1000, 1500)
	f.Add(-1.0, 2.0, 0.0, int64(-1), int64(-5), 0.5, int64(0), int64(-1), -1, -1)
	f.Add(math.NaN(), math.Inf(1), 1.0, int64(0), int64(1), 1.0, int64(1), int64(0), 0, 0)
	f.Fuzz(func(t *testing.T, loss, p, r float64, delay, jitter int64, reorder float64, reorderDelay, rate int64, queue, mtu int) {
		cfg := Config{Loss: loss, Burst: GilbertElliott{P: p, R: r, LossBad: 1}, Delay: time.Duration(delay),
			Jitter: time.Duration(jitter), Reorder: reorder, ReorderDelay: time.Duration(reorderDelay),
			Rate: rate, QueuePackets: queue, MTU: mtu}
		err := cfg.Validate()
		if err != nil {
			return
		}
		// A valid config must run without panicking.
		rg := newRig(t, cfg, 7)
		rg.offer(20, 64, time.Microsecond)
		c := rg.pipe.Counters()
		assert.Equal(t, uint64(20), c.Offered)
		assert.Equal(t, c.Offered+c.Duplicated, c.Delivered+c.Dropped)
	})
}

func TestZeroDelayDeliversFromTimer(t *testing.T) {
	r := newRig(t, Config{}, 1)
	r.keep = true
	f := frame(60, 42, epoch)
	note := r.pipe.Send(f)
	assert.True(t, note.IsZero())
	assert.Empty(t, r.got, "Send must not deliver re-entrantly")
	f[20] = 0xff // the pipe holds its own copy
	require.True(t, r.sched.Step())
	require.Len(t, r.got, 1)
	assert.Equal(t, frame(60, 42, epoch), r.got[0].frame)
	assert.Equal(t, epoch, r.got[0].at)
	assert.True(t, r.got[0].note.IsZero())
	assert.False(t, r.sched.Step())
}

func TestNoReceiver(t *testing.T) {
	sched := clock.NewScheduler(epoch)
	p, err := New(sched, rng.New(1, "p"), Config{}, nil)
	require.NoError(t, err)
	assert.Equal(t, link.DropNoPeer, p.Send(frame(60, 0, epoch)).Drop)
	assert.Equal(t, uint64(1), p.Counters().DroppedNoPeer)
}

const statFrames = 100000

func TestLossRate(t *testing.T) {
	for _, loss := range []float64{0.01, 0.1, 0.5} {
		r := newRig(t, Config{Loss: loss}, 3)
		notes := r.offer(statFrames, 64, time.Microsecond)
		dropped := 0
		for _, n := range notes {
			if n.Drop == link.DropLoss {
				dropped++
			}
		}
		c := r.pipe.Counters()
		assert.InDelta(t, loss, float64(dropped)/statFrames, 0.01, "loss %v", loss)
		assert.Equal(t, uint64(dropped), c.DroppedLoss)
		assert.Equal(t, uint64(statFrames-dropped), c.Delivered)
		assert.Len(t, r.got, statFrames-dropped)
	}
}

func TestDuplicateRate(t *testing.T) {
	r := newRig(t, Config{Duplicate: 0.05}, 4)
	notes := r.offer(statFrames, 64, time.Microsecond)
	dups := 0
	for _, n := range notes {
		if n.Duplicated {
			dups++
		}
	}
	assert.InDelta(t, 0.05, float64(dups)/statFrames, 0.01)
	assert.Equal(t, uint64(dups), r.pipe.Counters().Duplicated)
	require.Len(t, r.got, statFrames+dups)
	// The copy is delivered right after the original, and only it is marked.
	marked := 0
	for i, a := range r.got {
		if a.note.Duplicated {
			marked++
			require.Positive(t, i)
			assert.Equal(t, r.got[i-1].seq, a.seq)
			assert.False(t, r.got[i-1].note.Duplicated)
		}
	}
	assert.Equal(t, dups, marked)
}

func TestCorruptRate(t *testing.T) {
	r := newRig(t, Config{Corrupt: 0.02}, 5)
	r.keep = true
	const n = 100
	notes := r.offer(statFrames, n, time.Microsecond)
	corrupted := 0
	for _, nt := range notes {
		if nt.CorruptByte > 0 {
			corrupted++
		}
	}
	assert.InDelta(t, 0.02, float64(corrupted)/statFrames, 0.01)
	assert.Equal(t, uint64(corrupted), r.pipe.Counters().Corrupted)
	require.Len(t, r.got, statFrames)
	seen := 0
	for i, a := range r.got {
		want := frame(n, uint64(i), epoch.Add(time.Duration(i)*time.Microsecond))
		if a.note.CorruptByte == 0 {
			if a.seq == uint64(i) { // the sequence field itself may be hit
				assert.Equal(t, want, a.frame)
			}
			continue
		}
		seen++
		off := a.note.CorruptByte - 1
		assert.GreaterOrEqual(t, off, etherHeaderLen, "corruption must spare the Ethernet header")
		assert.Less(t, off, n)
		assert.Equal(t, notes[i].CorruptByte, a.note.CorruptByte)
		flipped := 0
		for j := range want {
			flipped += bits.OnesCount8(want[j] ^ a.frame[j])
			if j != off {
				assert.Equal(t, want[j], a.frame[j])
			}
		}
		assert.Equal(t, 1, flipped, "exactly one bit flipped")
	}
	assert.Equal(t, corrupted, seen)
}

func meanDelay(got []arrival) float64 {
	var sum float64
	for _, a := range got {
		sum += float64(a.at.Sub(a.sent))
	}
	return sum / float64(len(got))
}

func TestDelayAndJitterMean(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		lo, hi time.Duration
	}{
		{"fixed", Config{Delay: 10 * time.Millisecond}, 10 * time.Millisecond, 10 * time.Millisecond},
		{"uniform", Config{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond}, 5 * time.Millisecond, 15 * time.Millisecond},
		{"normal", Config{Delay: 20 * time.Millisecond, Jitter: 4 * time.Millisecond, JitterDist: JitterNormal}, 0, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.cfg, 6)
			r.offer(statFrames, 64, 100*time.Microsecond)
			require.Len(t, r.got, statFrames)
			mean := meanDelay(r.got)
			assert.InEpsilon(t, float64(tt.cfg.Delay), mean, 0.01)
			outOfOrder, outOfRange := 0, 0
			for i, a := range r.got {
				if d := a.at.Sub(a.sent); d < tt.lo || d > tt.hi {
					outOfRange++
				}
				if i > 0 && a.seq < r.got[i-1].seq {
					outOfOrder++
				}
			}
			assert.Zero(t, outOfRange, "delays outside [%v, %v]", tt.lo, tt.hi)
			if tt.cfg.Jitter > 0 {
				assert.Positive(t, outOfOrder, "jitter larger than the gap reorders frames")
			} else {
				assert.Zero(t, outOfOrder)
			}
		})
	}
}

func TestKeepOrder(t *testing.T) {
	r := newRig(t, Config{Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, KeepOrder: true}, 8)
	r.offer(10000, 64, 100*time.Microsecond)
	require.Len(t, r.got, 10000)
	for i := 1; i < len(r.got); i++ {
		require.Equal(t, r.got[i-1].seq+1, r.got[i].seq)
	}
}

func TestReorder(t *testing.T) {
	cfg := Config{Delay: time.Millisecond, Reorder: 0.1, ReorderDelay: 5 * time.Millisecond}
	r := newRig(t, cfg, 9)
	notes := r.offer(statFrames, 64, 100*time.Microsecond)
	held := 0
	for _, n := range notes {
		if n.Reordered {
			held++
			assert.Equal(t, cfg.ReorderDelay, n.HeldBack)
		}
	}
	assert.InDelta(t, 0.1, float64(held)/statFrames, 0.01)
	assert.Equal(t, uint64(held), r.pipe.Counters().Reordered)
	require.Len(t, r.got, statFrames)
	overtaken := 0
	var maxSeen uint64
	for _, a := range r.got {
		d := a.at.Sub(a.sent)
		if a.note.Reordered {
			assert.Equal(t, 6*time.Millisecond, d)
			// Frames sent after it arrived before it.
			if maxSeen > a.seq {
				overtaken++
			}
		} else {
			assert.Equal(t, time.Millisecond, d)
		}
		maxSeen = max(maxSeen, a.seq)
	}
	assert.Equal(t, held, overtaken)
}

// bursts returns the lengths of the runs of consecutive dropped frames.
func bursts(notes []link.Note) []int {
	var out []int
	run := 0
	for _, n := range notes {
		if n.Dropped() {
			run++
			continue
		}
		if run > 0 {
			out = append(out, run)
			run = 0
		}
	}
	if run > 0 {
		out = append(out, run)
	}
	return out
}

func TestGilbertElliottBursts(t *testing.T) {
	tests := []struct {
		name string
		ge   GilbertElliott
	}{
		{"mean burst 4", GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}},
		{"mean burst 2", GilbertElliott{P: 0.02, R: 0.5, LossBad: 1}},
		{"mean burst 10", GilbertElliott{P: 0.005, R: 0.1, LossBad: 1}},
	}
	// 300,000 frames give 1,400 to 6,000 bursts: the mean burst within
	// 4% (a few standard errors) for the fixed seed.
	const frames = 300000
	t.Parallel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{Burst: tt.ge}, 10)
			notes := make([]link.Note, frames)
			f := frame(64, 0, epoch)
			for i := range notes {
				notes[i] = r.pipe.Send(f)
				r.sched.Step()
			}
			b := bursts(notes)
			require.NotEmpty(t, b)
			total := 0
			for _, n := range b {
				total += n
			}
			mean := float64(total) / float64(len(b))
			assert.InEpsilon(t, tt.ge.MeanBurst(), mean, 0.04, "mean burst %.3f", mean)
			assert.InDelta(t, tt.ge.LossRate(), float64(total)/frames, 0.01)
			assert.Equal(t, uint64(total), r.pipe.Counters().DroppedBurst)
		})
	}
}

func TestGilbertElliottLossInBothStates(t *testing.T) {
	ge := GilbertElliott{P: 0.05, R: 0.2, LossGood: 0.02, LossBad: 0.6}
	r := newRig(t, Config{Burst: ge}, 11)
	notes := r.offer(statFrames, 64, time.Microsecond)
	dropped := 0
	for _, n := range notes {
		if n.Drop == link.DropBurst {
			dropped++
		}
	}
	assert.InDelta(t, ge.LossRate(), float64(dropped)/statFrames, 0.01)
}

func TestRateLimiter(t *testing.T) {
	const (
		rate = 10_000_000 // bits/s
		size = 1250       // bytes: 1 ms on the wire
	)
	tests := []struct {
		name       string
		cfg        Config
		gap        time.Duration
		wantDrops  bool
		queue      int     // frames the queue holds
		throughput float64 // bits/s expected at the receiver
	}{
		{"underload", Config{Rate: rate}, 2 * time.Millisecond, false, 0, rate / 2},
		{"overload packets", Config{Rate: rate, QueuePackets: 20}, 500 * time.Microsecond, true, 20, rate},
		{"overload bytes", Config{Rate: rate, QueueBytes: 20 * size}, 500 * time.Microsecond, true, 20, rate},
		{"overload default queue", Config{Rate: rate}, 250 * time.Microsecond, true, DefaultQueuePackets, rate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.cfg, 12)
			const frames = 20000
			notes := r.offer(frames, size, tt.gap)
			drops := 0
			for _, n := range notes {
				if n.Drop == link.DropQueueFull {
					drops++
				}
			}
			c := r.pipe.Counters()
			assert.Equal(t, uint64(drops), c.DroppedQueueFull)
			if !tt.wantDrops {
				assert.Zero(t, drops)
			} else {
				assert.Positive(t, drops)
				// Everything above the rate is dropped once the queue is
				// full: the link carries what it can serialise while the
				// load lasts, plus the queue's content.
				carried := int(time.Duration(frames)*tt.gap/time.Millisecond) + tt.queue
				assert.InDelta(t, frames-carried, drops, 2)
			}
			require.NotEmpty(t, r.got)
			span := r.got[len(r.got)-1].at.Sub(epoch)
			bitsIn := float64(len(r.got)) * size * 8
			// The last frame leaves the queue at most a queue length after
			// the offered load stops: measure over the busy span.
			got := bitsIn / span.Seconds()
			if tt.wantDrops {
				assert.InEpsilon(t, tt.throughput, got, 0.01)
			} else {
				assert.InEpsilon(t, tt.throughput, got, 0.01)
				for _, a := range r.got {
					assert.Equal(t, time.Millisecond, a.at.Sub(a.sent), "serialisation time of an idle link")
				}
			}
			// Deliveries never come closer than one serialisation time.
			for i := 1; i < len(r.got); i++ {
				require.GreaterOrEqual(t, r.got[i].at.Sub(r.got[i-1].at), time.Millisecond)
			}
		})
	}
}

func TestRateQueueBound(t *testing.T) {
	// A burst offered at one instant: the queue takes exactly its bound.
	for _, cfg := range []Config{
		{Rate: 1_000_000, QueuePackets: 5},
		{Rate: 1_000_000, QueueBytes: 5 * 100},
	} {
		r := newRig(t, cfg, 13)
		var notes []link.Note
		for i := 0; i < 8; i++ {
			notes = append(notes, r.pipe.Send(frame(100, uint64(i), epoch)))
		}
		for i, n := range notes {
			if i < 5 {
				assert.False(t, n.Dropped(), "frame %d of %+v", i, cfg)
			} else {
				assert.Equal(t, link.DropQueueFull, n.Drop, "frame %d of %+v", i, cfg)
			}
		}
		for r.sched.Step() {
		}
		assert.Len(t, r.got, 5)
		// Once the queue has drained, a frame is admitted again.
		assert.False(t, r.pipe.Send(frame(100, 9, epoch)).Dropped())
	}
}

func TestMTU(t *testing.T) {
	r := newRig(t, Config{MTU: 1500}, 14)
	assert.False(t, r.pipe.Send(frame(1514, 0, epoch)).Dropped())
	assert.Equal(t, link.DropMTU, r.pipe.Send(frame(1515, 1, epoch)).Drop)
	for r.sched.Step() {
	}
	assert.Len(t, r.got, 1)
	assert.Equal(t, uint64(1), r.pipe.Counters().DroppedMTU)
	assert.Equal(t, 1500, r.pipe.MTU())
}

func TestLinkDownAndUp(t *testing.T) {
	r := newRig(t, Config{Delay: 10 * time.Millisecond}, 15)
	for i := 0; i < 3; i++ {
		require.False(t, r.pipe.Send(frame(64, uint64(i), epoch)).Dropped())
	}
	r.sched.RunUntil(epoch.Add(5 * time.Millisecond))
	r.pipe.SetUp(false)
	assert.False(t, r.pipe.Up())
	assert.Equal(t, link.DropLinkDown, r.pipe.Send(frame(64, 3, epoch)).Drop)
	r.sched.RunUntil(epoch.Add(time.Second))
	assert.Empty(t, r.got, "frames in flight are lost when the link goes down")
	assert.Zero(t, r.pipe.Pending())
	r.pipe.SetUp(true)
	r.pipe.Send(frame(64, 4, r.sched.Now()))
	for r.sched.Step() {
	}
	require.Len(t, r.got, 1)
	assert.Equal(t, uint64(4), r.got[0].seq)
	c := r.pipe.Counters()
	assert.Equal(t, uint64(4), c.DroppedLinkDown)
	assert.Equal(t, uint64(5), c.Offered)
	assert.Equal(t, uint64(1), c.Delivered)
}

func TestSetConfig(t *testing.T) {
	r := newRig(t, Config{}, 16)
	require.NoError(t, r.pipe.SetConfig(Config{Loss: 1}))
	assert.Equal(t, link.DropLoss, r.pipe.Send(frame(64, 0, epoch)).Drop)
	err := r.pipe.SetConfig(Config{Loss: -1})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "impair: invalid config"))
	assert.Equal(t, 1.0, r.pipe.Config().Loss, "a rejected config leaves the old one")
	require.NoError(t, r.pipe.SetConfig(Config{Rate: 1e6, QueuePackets: 3}))
	for i := 0; i < 3; i++ {
		assert.False(t, r.pipe.Send(frame(64, 0, epoch)).Dropped())
	}
	require.NoError(t, r.pipe.SetConfig(Config{Rate: 1e6, QueuePackets: 2}))
	assert.Equal(t, link.DropQueueFull, r.pipe.Send(frame(64, 0, epoch)).Drop, "shrunk queue keeps its backlog")
}

func TestSameSeedSameDecisions(t *testing.T) {
	cfg := Config{Loss: 0.1, Duplicate: 0.05, Corrupt: 0.05, Delay: time.Millisecond, Jitter: time.Millisecond,
		Reorder: 0.05, ReorderDelay: time.Millisecond}
	run := func(seed uint64) []link.Note { return newRig(t, cfg, seed).offer(2000, 64, 10*time.Microsecond) }
	assert.Equal(t, run(1), run(1))
	assert.NotEqual(t, run(1), run(2))
}

func TestSteadyStateAllocations(t *testing.T) {
	r := newRig(t, Config{Loss: 0.01, Delay: time.Millisecond, Jitter: 500 * time.Microsecond, Duplicate: 0.01,
		Corrupt: 0.01, Reorder: 0.01, ReorderDelay: time.Millisecond, Rate: 1e9}, 17)
	f := frame(200, 0, epoch)
	step := func() {
		r.pipe.Send(f)
		r.sched.RunUntil(r.sched.Now().Add(10 * time.Microsecond))
	}
	for i := 0; i < 10000; i++ {
		step()
	}
	r.got = r.got[:0:cap(r.got)]
	r.got = append(r.got, make([]arrival, 0, 20000)...)
	assert.Zero(t, testing.AllocsPerRun(5000, step))
}

func BenchmarkPipe(b *testing.B) {
	sched := clock.NewScheduler(epoch)
	p, err := New(sched, rng.New(1, "bench"), Config{Loss: 0.01, Delay: time.Millisecond, Jitter: 200 * time.Microsecond}, nil)
	require.NoError(b, err)
	delivered := 0
	p.SetReceiver(link.ReceiverFunc(func([]byte, link.Note) { delivered++ }))
	f := frame(128, 0, epoch)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Send(f)
		sched.RunUntil(sched.Now().Add(time.Microsecond))
	}
	for sched.Step() {
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// TestSimplePathSameAsGeneral checks that the fast path for pipes with only
// loss, delay and jitter makes the same draws and deliveries as the general
// path.
func TestSimplePathSameAsGeneral(t *testing.T) {
	for _, cfg := range []Config{
		{Loss: 0.1, Delay: time.Millisecond, Jitter: 300 * time.Microsecond},
		{Loss: 0.05, Delay: time.Millisecond, Jitter: 300 * time.Microsecond, JitterDist: JitterNormal, MTU: 100},
		{Delay: 50 * time.Microsecond},
	} {
		fast := newRig(t, cfg, 5)
		general := newRig(t, cfg, 5)
		require.True(t, fast.pipe.simple)
		general.pipe.simple = false
		nf := fast.offer(2000, 64+int(cfg.Loss*1000), 7*time.Microsecond)
		ng := general.offer(2000, 64+int(cfg.Loss*1000), 7*time.Microsecond)
		assert.Equal(t, ng, nf)
		assert.Equal(t, general.got, fast.got)
		assert.Equal(t, general.pipe.Counters(), fast.pipe.Counters())
		assert.NotEmpty(t, fast.got)
	}
}
