package qdisc

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/clock"
)

// frame returns an Ethernet/IPv4/TCP frame of size bytes from 192.0.2.1:sport
// to 192.0.2.2:80 with ECN codepoint ecn and a valid IPv4 header checksum.
func frame(size int, sport uint16, ecn uint8) []byte {
	f := make([]byte, size)
	binary.BigEndian.PutUint16(f[12:14], etherTypeIPv4)
	ip := f[etherHeaderLen:]
	ip[0] = 0x45
	ip[1] = 0x28<<2 | ecn // some DSCP beside the ECN bits
	binary.BigEndian.PutUint16(ip[2:4], uint16(size-etherHeaderLen))
	binary.BigEndian.PutUint16(ip[4:6], sport)
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:16], []byte{192, 0, 2, 1})
	copy(ip[16:20], []byte{192, 0, 2, 2})
	binary.BigEndian.PutUint16(ip[10:12], checksum.Checksum(ip[:20]))
	binary.BigEndian.PutUint16(ip[20:22], sport)
	binary.BigEndian.PutUint16(ip[22:24], 80)
	return f
}

func ipv4ChecksumOK(f []byte) bool {
	return checksum.Sum(f[etherHeaderLen:etherHeaderLen+20], 0) == 0xffff
}

// dropLog records the drops a qdisc reports.
type dropLog struct {
	at  []clock.Time
	why []Reason
	pkt []Packet
}

func (d *dropLog) fn(p Packet, why Reason, now clock.Time) {
	d.at = append(d.at, now)
	d.why = append(d.why, why)
	d.pkt = append(d.pkt, p)
}

const t0 = clock.Time(1_000_000_000)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestMarkCE(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		ecn    uint8
		marked bool
	}{
		{"not-ECT is left alone", NotECT, false},
		{"ECT(0) is marked", ECT0, true},
		{"ECT(1) is marked", ECT1, true},
		{"CE stays CE", CE, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for sport := uint16(0); sport < 2000; sport += 97 { // vary the checksum
				f := frame(100, sport, tc.ecn)
				before := append([]byte(nil), f...)
				require.Equal(t, tc.marked, MarkCE(f))
				got, ok := ECNField(f)
				require.True(t, ok)
				if tc.marked {
					assert.Equal(t, uint8(CE), got)
				} else {
					assert.Equal(t, before, f)
				}
				require.True(t, ipv4ChecksumOK(f), "RFC 1624 update keeps the header checksum valid")
				assert.Equal(t, before[etherHeaderLen+1]>>2, f[etherHeaderLen+1]>>2, "DSCP untouched")
			}
		})
	}
	t.Run("IPv6 traffic class", func(t *testing.T) {
		t.Parallel()
		f := make([]byte, 60)
		binary.BigEndian.PutUint16(f[12:14], etherTypeIPv6)
		f[14] = 0x60
		f[15] = ECT0 << 4
		require.True(t, MarkCE(f))
		got, _ := ECNField(f)
		assert.Equal(t, uint8(CE), got)
	})
	t.Run("ARP is not IP", func(t *testing.T) {
		t.Parallel()
		f := make([]byte, 60)
		binary.BigEndian.PutUint16(f[12:14], 0x0806)
		assert.False(t, MarkCE(f))
	})
}

func newCoDelT(t testing.TB, ecn bool, log *dropLog) *codelQ {
	q, err := New(Params{Kind: CoDel, ECN: ecn, Limit: 100000}, 10e6, 1514, rand.New(rand.NewPCG(1, 2)), log.fn)
	require.NoError(t, err)
	return q.(*codelQ)
}

// TestCoDelControlLaw checks RFC 8289 section 5.5: no drop until the sojourn
// has stayed above target for an interval, then drops spaced by
// interval/sqrt(count), and leaving the dropping state when the sojourn
// falls below target.
func TestCoDelControlLaw(t *testing.T) {
	t.Parallel()
	var log dropLog
	q := newCoDelT(t, false, &log)
	// A standing queue: 20,000 packets enqueued at t0, one dequeued per
	// millisecond, so the sojourn grows 1 ms per dequeue.
	for i := 0; i < 20000; i++ {
		require.Equal(t, Queued, q.Enqueue(t0, Packet{Frame: frame(1000, 1, NotECT)}))
	}
	step := time.Millisecond
	now := t0
	for i := 0; i < 2000; i++ {
		now = now.Add(step)
		_, ok := q.Dequeue(now)
		require.True(t, ok)
	}
	require.GreaterOrEqual(t, len(log.at), 10)
	// The sojourn reaches target (5 ms) at the dequeue at t0+5ms; the first
	// drop comes an interval later.
	assert.Equal(t, t0.Add(DefaultTarget+DefaultInterval), log.at[0], "first drop one interval after going above target")
	// Each later drop k+1 is due interval/sqrt(k) after drop k's due time.
	due := log.at[0].Add(DefaultInterval)
	for k := 1; k < len(log.at); k++ {
		assert.GreaterOrEqual(t, log.at[k], due, "drop %d early", k+1)
		assert.Less(t, log.at[k], due.Add(step), "drop %d late", k+1)
		due = due.Add(time.Duration(float64(DefaultInterval) / math.Sqrt(float64(k+1))))
	}
	for _, w := range log.why {
		assert.Equal(t, Congestion, w)
	}
	st := q.Stats()
	assert.Equal(t, uint64(len(log.at)), st.Drops)
	assert.Equal(t, uint64(2000), st.Dequeued)

	// Leaving: drain the queue and offer packets that wait less than target.
	require.True(t, q.v.dropping)
	for q.Len() > 0 {
		q.q.pop()
	}
	q.q.bytes = 0
	before := len(log.at)
	for i := 0; i < 100; i++ {
		now = now.Add(step)
		q.Enqueue(now, Packet{Frame: frame(1000, 1, NotECT)})
		q.Enqueue(now, Packet{Frame: frame(1000, 1, NotECT)})
		_, ok := q.Dequeue(now.Add(ms(1)))
		require.True(t, ok)
		_, ok = q.Dequeue(now.Add(ms(1)))
		require.True(t, ok)
	}
	assert.False(t, q.v.dropping, "left the dropping state")
	assert.Equal(t, before, len(log.at), "no drops below target")
}

// TestCoDelReentry checks the count rule of RFC 8289 section 5.5: entering
// the dropping state soon after leaving it resumes with count-lastcount.
func TestCoDelReentry(t *testing.T) {
	t.Parallel()
	var log dropLog
	q := newCoDelT(t, false, &log)
	q.v = codelVars{count: 9, lastCount: 2, dropNext: t0}
	for i := 0; i < 400; i++ {
		q.Enqueue(t0, Packet{Frame: frame(1000, 1, NotECT)})
	}
	now := t0.Add(ms(10))
	q.Dequeue(now) // above target: arms firstAboveTime
	now = now.Add(DefaultInterval)
	q.Dequeue(now) // an interval later: drop and enter dropping state
	require.True(t, q.v.dropping)
	assert.Equal(t, uint32(7), q.v.count, "count resumes at count-lastcount")
	assert.Equal(t, now.Add(time.Duration(float64(DefaultInterval)/math.Sqrt(7))), q.v.dropNext)
}

func TestCoDelECNMarksInsteadOfDropping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		ecn       uint8
		wantMarks bool
	}{
		{"ECT(0) packets are marked", ECT0, true},
		{"ECT(1) packets are marked", ECT1, true},
		{"not-ECT packets are dropped", NotECT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var log dropLog
			q := newCoDelT(t, true, &log)
			for i := 0; i < 3000; i++ {
				q.Enqueue(t0, Packet{Frame: frame(1000, 1, tc.ecn)})
			}
			now, marked := t0, 0
			for i := 0; i < 1000; i++ {
				now = now.Add(time.Millisecond)
				p, ok := q.Dequeue(now)
				require.True(t, ok)
				ecn, _ := ECNField(p.Frame)
				if p.CE {
					marked++
					require.Equal(t, uint8(CE), ecn)
					require.True(t, ipv4ChecksumOK(p.Frame))
				} else {
					require.Equal(t, tc.ecn, ecn)
				}
			}
			st := q.Stats()
			if tc.wantMarks {
				assert.Empty(t, log.at, "no drops")
				assert.Greater(t, marked, 5)
				assert.Equal(t, uint64(marked), st.Marks)
			} else {
				assert.Zero(t, marked)
				assert.Greater(t, len(log.at), 5)
			}
		})
	}
}

// link drives a qdisc as a link of rate bits/s does: it dequeues the next
// packet when the previous one has been serialised.
type linkSim struct {
	q        Qdisc
	rate     float64
	busyTill clock.Time
	sojourn  map[uint16][]time.Duration // per source port
	bytes    map[uint16]int
}

func newLinkSim(q Qdisc, rate float64) *linkSim {
	return &linkSim{q: q, rate: rate, sojourn: map[uint16][]time.Duration{}, bytes: map[uint16]int{}}
}

// runUntil transmits packets up to instant t.
func (l *linkSim) runUntil(t clock.Time) {
	for l.busyTill <= t {
		start := l.busyTill
		p, ok := l.q.Dequeue(start)
		if !ok {
			l.busyTill = t + 1
			return
		}
		sport := binary.BigEndian.Uint16(p.Frame[etherHeaderLen+20:])
		l.sojourn[sport] = append(l.sojourn[sport], start.Sub(p.Enqueued))
		l.bytes[sport] += len(p.Frame)
		l.busyTill = start.Add(time.Duration(float64(len(p.Frame)*8) / l.rate * 1e9))
	}
}

func (l *linkSim) offer(now clock.Time, f []byte) {
	l.runUntil(now)
	if l.busyTill < now {
		l.busyTill = now
	}
	l.q.Enqueue(now, Packet{Frame: f})
	l.runUntil(now)
}

func newFQ(t testing.TB, p Params, log *dropLog) *fqCoDelQ {
	p.Kind = FQCoDel
	q, err := New(p, 10e6, 1514, rand.New(rand.NewPCG(3, 4)), log.fn)
	require.NoError(t, err)
	return q.(*fqCoDelQ)
}

// TestFQCoDelFlowIsolation checks RFC 8290 sections 1 and 4: a sparse flow
// beside a bulk flow that overloads the link keeps a low queueing delay
// (it is served from the new flows list), while a single FIFO under CoDel
// makes it wait behind the bulk flow's standing queue.
func TestFQCoDelFlowIsolation(t *testing.T) {
	t.Parallel()
	run := func(q Qdisc) (sparse, bulk []time.Duration) {
		l := newLinkSim(q, 10e6) // 10 Mbit/s: 1.2 ms per 1500-byte packet
		end := t0.Add(3 * time.Second)
		nextSparse := t0
		for now := t0; now < end; now = now.Add(ms(1)) { // bulk: 12 Mbit/s offered
			l.offer(now, frame(1500, 1000, NotECT))
			if now >= nextSparse {
				l.offer(now, frame(100, 2000, NotECT))
				nextSparse = nextSparse.Add(ms(20))
			}
		}
		return l.sojourn[2000], l.sojourn[1000]
	}
	var log dropLog
	sparse, bulk := run(newFQ(t, Params{}, &log))
	require.NotEmpty(t, sparse)
	for i, d := range sparse {
		// At most the bulk packet being sent and one more the bulk flow's
		// remaining deficit lets through: two 1.2 ms packet times.
		assert.LessOrEqual(t, d, ms(2.5), "sparse packet %d waited %v", i, d)
	}
	assert.Greater(t, bulk[len(bulk)-1], DefaultTarget/2, "the bulk flow does queue")
	assert.NotEmpty(t, log.at, "CoDel drops from the bulk flow")
	for _, p := range log.pkt {
		assert.Equal(t, uint16(1000), binary.BigEndian.Uint16(p.Frame[etherHeaderLen+20:]), "only the bulk flow is dropped")
	}

	var log2 dropLog
	cq, err := New(Params{Kind: CoDel}, 10e6, 1514, rand.New(rand.NewPCG(1, 1)), log2.fn)
	require.NoError(t, err)
	sparseFIFO, _ := run(cq)
	worst := time.Duration(0)
	for _, d := range sparseFIFO {
		worst = max(worst, d)
	}
	assert.Greater(t, worst, ms(5), "without flow queues the sparse flow waits behind the bulk")
}

// TestFQCoDelQuantum checks the deficit round robin of RFC 8290 section
// 4.1.3: two backlogged flows get equal bytes, not equal packets, whatever
// their packet sizes, and a quantum below the packet size still does.
func TestFQCoDelQuantum(t *testing.T) {
	t.Parallel()
	for _, quantum := range []int{300, 1514, 3000} {
		var log dropLog
		q := newFQ(t, Params{Quantum: quantum, Target: time.Hour, Interval: time.Hour}, &log)
		for i := 0; i < 500; i++ {
			q.Enqueue(t0, Packet{Frame: frame(1500, 1, NotECT)})
			q.Enqueue(t0, Packet{Frame: frame(1500, 1, NotECT)})
			for j := 0; j < 10; j++ {
				q.Enqueue(t0, Packet{Frame: frame(300, 2, NotECT)})
			}
		}
		bytes := map[uint16]int{}
		pkts := map[uint16]int{}
		for i := 0; i < 3000; i++ {
			p, ok := q.Dequeue(t0)
			require.True(t, ok)
			sport := binary.BigEndian.Uint16(p.Frame[etherHeaderLen+20:])
			bytes[sport] += len(p.Frame)
			pkts[sport]++
		}
		ratio := float64(bytes[1]) / float64(bytes[2])
		assert.InDelta(t, 1, ratio, 0.02, "quantum %d: bytes %v packets %v", quantum, bytes, pkts)
		assert.Zero(t, len(log.at))
	}
}

// TestFQCoDelLimitDropsFattest checks that over the limit the packets
// dropped come from the head of the flow with the largest backlog.
func TestFQCoDelLimitDropsFattest(t *testing.T) {
	t.Parallel()
	var log dropLog
	q := newFQ(t, Params{Limit: 100}, &log)
	for i := 0; i < 10; i++ {
		q.Enqueue(t0, Packet{Frame: frame(200, 7, NotECT), Ticket: uint64(i)})
	}
	for i := 0; i < 91; i++ {
		q.Enqueue(t0, Packet{Frame: frame(1500, 9, NotECT), Ticket: uint64(100 + i)})
	}
	require.NotEmpty(t, log.pkt)
	assert.Equal(t, uint64(100), log.pkt[0].Ticket, "the fattest flow's head goes first")
	for i, p := range log.pkt {
		assert.Equal(t, uint16(9), binary.BigEndian.Uint16(p.Frame[etherHeaderLen+20:]))
		assert.Equal(t, Overlimit, log.why[i])
	}
	assert.LessOrEqual(t, q.Len(), 100)
	assert.Equal(t, 101-len(log.pkt), q.Len())
}

func newREDT(t testing.TB, p Params) *redQ {
	p.Kind = RED
	q, err := New(p, 10e6, 1514, rand.New(rand.NewPCG(5, 6)), func(Packet, Reason, clock.Time) {})
	require.NoError(t, err)
	return q.(*redQ)
}

// TestREDDropProbability checks Floyd and Jacobson's RED (section 4; RFC
// 7567 recommends AQM of this kind): no drops with the average below min,
// every packet dropped at or above max, and in between a drop rate set by
// pb = max_p*(avg-min)/(max-min) and count-spaced drops: the k-th packet
// after a drop is dropped with pa = pb/(1-k*pb), so that the gaps are
// nearly uniform (Floyd-Jacobson section 7) and the rate is 1/E[gap].
func TestREDDropProbability(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		queue int
		prob  float64
	}{
		{"below min", 10, 0.1},
		{"a quarter of the way", 40, 0.1},
		{"half way", 60, 0.1},
		{"near max", 95, 0.1},
		{"half way, max_p 2%", 60, 0.02},
		{"at max", 100, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := newREDT(t, Params{Min: 20, Max: 100, Limit: 1000, Probability: tc.prob})
			// Hold the instantaneous queue at tc.queue packets: one
			// departure for each admitted arrival.
			for i := 0; i < tc.queue; i++ {
				q.q.push(Packet{Frame: frame(100, 1, NotECT)})
			}
			q.avg = float64(tc.queue)
			n, drops := 100000, 0
			now := t0
			f := frame(100, 1, NotECT)
			for i := 0; i < n; i++ {
				now = now.Add(time.Microsecond)
				if q.Enqueue(now, Packet{Frame: f}) != Queued {
					drops++
					continue
				}
				q.q.pop()
			}
			pb := q.markProbability(float64(tc.queue))
			switch {
			case tc.queue < 20:
				assert.Zero(t, drops)
			case tc.queue >= 100:
				assert.Equal(t, n, drops)
			default:
				assert.InDelta(t, tc.prob*float64(tc.queue-20)/80, pb, 1e-12)
				// E[gap] = sum over k >= 1 of P(gap >= k).
				gap, survive := 0.0, 1.0
				for k := 1; survive > 0; k++ {
					gap += survive
					pa := 1.0
					if d := 1 - float64(k)*pb; d > 0 {
						pa = min(1, pb/d)
					}
					survive *= 1 - pa
				}
				want := 1 / gap
				got := float64(drops) / float64(n)
				assert.InEpsilon(t, want, got, 0.06, "drop rate %v, want %v (pb %v)", got, want, pb)
			}
		})
	}
}

// TestREDAverage checks the EWMA weight chosen as iproute2 does and the
// decay of the average over idle time.
func TestREDAverage(t *testing.T) {
	t.Parallel()
	q := newREDT(t, Params{Limit: 1000})
	assert.Equal(t, Params{Kind: RED, Limit: 1000, Min: 83, Max: 250, Probability: 0.02}, q.p)
	assert.Equal(t, 1.0/64, q.wq)
	q.avg = 100
	q.idleSince = t0
	// 10 Mbit/s: an average packet takes 800 us; idle for 80 ms is 100
	// packet times.
	q.Enqueue(t0.Add(ms(80)), Packet{Frame: frame(100, 1, NotECT)})
	assert.InDelta(t, 100*math.Pow(1-1.0/64, 100), q.avg, 1e-9)
}

func TestREDECNMarks(t *testing.T) {
	t.Parallel()
	q := newREDT(t, Params{Min: 20, Max: 100, Limit: 1000, Probability: 0.5, ECN: true})
	for i := 0; i < 60; i++ {
		q.q.push(Packet{Frame: frame(100, 1, NotECT)})
	}
	q.avg = 60
	for i := 0; i < 1000; i++ {
		require.Equal(t, Queued, q.Enqueue(t0, Packet{Frame: frame(100, 1, ECT0)}))
		q.q.pop()
	}
	assert.Greater(t, q.Stats().Marks, uint64(100))
	assert.Zero(t, q.Stats().Drops)
	n := 0
	for q.Len() > 0 {
		p, _ := q.Dequeue(t0)
		if p.CE {
			n++
		}
	}
	assert.Positive(t, n)
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    Params
		ok   bool
	}{
		{"fifo", Params{}, true},
		{"codel defaults", Params{Kind: CoDel}, true},
		{"fq_codel ecn", Params{Kind: FQCoDel, ECN: true}, true},
		{"red defaults", Params{Kind: RED}, true},
		{"ecn without aqm", Params{ECN: true}, false},
		{"ecn with fifo", Params{Kind: FIFO, ECN: true}, false},
		{"unknown", Params{Kind: "sfq"}, false},
		{"limit on fifo", Params{Limit: 10}, false},
		{"flows on codel", Params{Kind: CoDel, Flows: 10}, false},
		{"red min above max", Params{Kind: RED, Min: 50, Max: 40}, false},
		{"red probability above 1", Params{Kind: RED, Probability: 2}, false},
		{"target on red", Params{Kind: RED, Target: time.Millisecond}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.p.Validate()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	assert.InEpsilon(t, 500e-6, h.Quantile(0.5).Seconds(), 0.04)
	assert.InEpsilon(t, 990e-6, h.Quantile(0.99).Seconds(), 0.04)
	s := h.Summary()
	assert.Equal(t, 1e-3, s.Max)
	assert.Equal(t, uint64(1000), s.Count)
	// report.json carries the same times in integer nanoseconds.
	assert.Equal(t, time.Millisecond, s.MaxNs)
	assert.Equal(t, h.Quantile(0.5), s.P50Ns)
	assert.Equal(t, h.Quantile(0.99), s.P99Ns)
	for _, v := range []time.Duration{0, 1, 63, 64, 65, 1000, 1 << 30, 1 << 50} {
		b := histBucket(v)
		require.Less(t, b, histBuckets)
		if v < 1<<40 {
			assert.InEpsilon(t, float64(v)+1, float64(bucketMid(b))+1, 0.04, "%v", v)
		}
	}
}

func benchQdisc(b *testing.B, p Params) {
	q, err := New(p, 10e6, 1514, rand.New(rand.NewPCG(1, 2)), func(Packet, Reason, clock.Time) {})
	require.NoError(b, err)
	frames := make([][]byte, 16)
	for i := range frames {
		frames[i] = frame(1000, uint16(i), ECT0)
	}
	now := t0
	for i := 0; i < 100; i++ {
		q.Enqueue(now, Packet{Frame: frames[i%16]})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(800 * time.Microsecond)
		q.Enqueue(now, Packet{Frame: frames[i%16]})
		q.Dequeue(now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

func BenchmarkRED(b *testing.B)     { benchQdisc(b, Params{Kind: RED}) }
func BenchmarkCoDel(b *testing.B)   { benchQdisc(b, Params{Kind: CoDel}) }
func BenchmarkFQCoDel(b *testing.B) { benchQdisc(b, Params{Kind: FQCoDel}) }

// TestFQCoDelECNMixedFlows checks RFC 8290 section 5.1 (with RFC 3168
// section 5) on the mix of examples/bufferbloat-ecn.yaml when a host does
// not negotiate ECN: with ecn on, each flow's CoDel marks the ECN-capable
// flow's packets and drops only the Not-ECT flow's, as Linux's fq_codel
// does; neither flow's signal spills onto the other.
func TestFQCoDelECNMixedFlows(t *testing.T) {
	t.Parallel()
	const ectPort, notECTPort = 1000, 2000
	var log dropLog
	q := newFQ(t, Params{ECN: true}, &log)
	for i := 0; i < 2000; i++ {
		q.Enqueue(t0, Packet{Frame: frame(1000, ectPort, ECT0)})
		q.Enqueue(t0, Packet{Frame: frame(1000, notECTPort, NotECT)})
	}
	marks := map[uint16]int{}
	now := t0
	for i := 0; i < 1500; i++ {
		now = now.Add(time.Millisecond)
		p, ok := q.Dequeue(now)
		require.True(t, ok)
		if p.CE {
			marks[binary.BigEndian.Uint16(p.Frame[etherHeaderLen+20:])]++
			ecn, _ := ECNField(p.Frame)
			require.Equal(t, uint8(CE), ecn)
			require.True(t, ipv4ChecksumOK(p.Frame))
		}
	}
	drops := map[uint16]int{}
	for i, p := range log.pkt {
		drops[binary.BigEndian.Uint16(p.Frame[etherHeaderLen+20:])]++
		assert.Equal(t, Congestion, log.why[i])
	}
	assert.Greater(t, marks[ectPort], 5, "the ECT flow is marked")
	assert.Zero(t, drops[ectPort], "the ECT flow loses nothing")
	assert.Greater(t, drops[notECTPort], 5, "the Not-ECT flow is dropped")
	assert.Zero(t, marks[notECTPort], "a Not-ECT packet is never marked")
	st := q.Stats()
	assert.Equal(t, uint64(marks[ectPort]), st.Marks)
	assert.Equal(t, uint64(drops[notECTPort]), st.Drops)
}
