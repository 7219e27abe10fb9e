package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bbrPath is a crafted peer behind a bottleneck: every data segment the
// stack sends is serialised at rate bytes/s, arrives owd later, and is
// answered (owd after that) by a crafted cumulative ACK with timestamps
// and SACK blocks; lose drops chosen segments, which the ACKs then SACK
// around.
type bbrPath struct {
	t     *testing.T
	sched *clock.Scheduler
	s     *Stack
	local netip.Addr
	peer  netip.Addr
	rate  float64
	owd   time.Duration
	free  clock.Time // when the bottleneck is next idle
	lose  func(seq seqnum, n int) bool

	rcvNxt   seqnum
	ooo      []seqRange
	tsRecent uint32
	// sendTimes counts data segments leaving at each instant.
	sendTimes map[clock.Time]int
	maxQueue  time.Duration
}

type pendingAck struct {
	p     *bbrPath
	t     clock.Timer
	seq   seqnum
	n     int
	tsval uint32
}

func (a *pendingAck) OnTimer(clock.Time) { a.p.arrive(a) }

func (p *bbrPath) SendIP(_ uint8, _, _ netip.Addr, b []byte) error {
	h, err := ParseHeader(b)
	require.NoError(p.t, err)
	var o Options
	require.NoError(p.t, ParseOptions(h.Options(), &o))
	n := len(h.Payload())
	if h.Flags()&FlagSYN != 0 || n == 0 {
		return nil
	}
	now := p.sched.Now()
	p.sendTimes[now]++
	seq := seqnum(h.Seq())
	if p.lose != nil && p.lose(seq, n) {
		return nil
	}
	start := max(now, p.free)
	p.maxQueue = max(p.maxQueue, start.Sub(now))
	p.free = start.Add(time.Duration(float64(n+HeaderLen+52) / p.rate * float64(time.Second)))
	a := &pendingAck{p: p, seq: seq, n: n, tsval: o.TSVal}
	a.t.Init(a)
	p.sched.Schedule(&a.t, p.free.Add(2*p.owd))
	return nil
}
func (p *bbrPath) SourceFor(netip.Addr) (netip.Addr, bool) { return p.local, true }
func (p *bbrPath) PathMTU(netip.Addr) int                  { return 1500 }

// arrive is the receiver's side: it records the segment and sends a
// cumulative ACK with SACK blocks for what is out of order.
func (p *bbrPath) arrive(a *pendingAck) {
	end := a.seq.add(a.n)
	if !a.seq.gt(p.rcvNxt) {
		if end.gt(p.rcvNxt) {
			p.rcvNxt = end
			p.tsRecent = a.tsval
		}
	} else {
		p.ooo, _, _ = insertRange(p.ooo, seqRange{a.seq, end}, 64)
	}
	for len(p.ooo) > 0 && !p.ooo[0].start.gt(p.rcvNxt) {
		if p.ooo[0].end.gt(p.rcvNxt) {
			p.rcvNxt = p.ooo[0].end
		}
		p.ooo = p.ooo[1:]
	}
	o := &Options{HasTS: true, TSVal: 1, TSEcr: p.tsRecent}
	for i := len(p.ooo) - 1; i >= 0 && o.NumSACK < 3; i-- {
		o.SACK[o.NumSACK] = SACKBlock{uint32(p.ooo[i].start), uint32(p.ooo[i].end)}
		o.NumSACK++
	}
	f := Fields{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: uint32(p.rcvNxt), Flags: FlagACK, Window: 65535}
	b := make([]byte, HeaderLen+MaxOptionsLen)
	n, err := Encode(b, f, o, nil, p.peer, p.local)
	require.NoError(p.t, err)
	p.s.HandleIP(p.peer, p.local, b[:n])
}

// newBBRPath opens a BBR connection (SACK, timestamps, window scale 8 so
// that only BBR limits the flight) to the crafted peer and queues size
// bytes.
func newBBRPath(t *testing.T, cc string, rate float64, owd time.Duration, size int) (*bbrPath, *Conn) {
	sched := clock.NewScheduler(clock.Time(1_000_000_000_000))
	p := &bbrPath{t: t, sched: sched, local: netip.MustParseAddr("10.9.0.1"), peer: netip.MustParseAddr("10.9.0.2"),
		rate: rate, owd: owd, sendTimes: map[clock.Time]int{}}
	p.s = New(p, sched, rng.New(3, "bbr"), Config{CongestionControl: cc, SendBuffer: max(size, 4<<20), RecvBuffer: 1 << 20})
	var conn *Conn
	_, err := p.s.Listen(netip.AddrPortFrom(p.local, 80), 8, func(l *Listener) {
		c, err := l.Accept(&EventFuncs{})
		require.NoError(t, err)
		conn = c
	})
	require.NoError(t, err)
	syn := make([]byte, HeaderLen+MaxOptionsLen)
	n, err := Encode(syn, Fields{SrcPort: 40000, DstPort: 80, Seq: 1000, Flags: FlagSYN, Window: 65535},
		&Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1, HasWScale: true, WScale: 8}, nil, p.peer, p.local)
	require.NoError(t, err)
	p.s.HandleIP(p.peer, p.local, syn[:n])
	sched.RunUntil(sched.Now().Add(2 * owd))
	var synack *Conn
	for _, c := range p.s.conns {
		synack = c
	}
	require.NotNil(t, synack)
	ack := make([]byte, HeaderLen+MaxOptionsLen)
	n, err = Encode(ack, Fields{SrcPort: 40000, DstPort: 80, Seq: 1001, Ack: uint32(synack.iss + 1), Flags: FlagACK, Window: 65535},
		&Options{HasTS: true, TSVal: 1, TSEcr: synack.tsNow() - uint32(2*owd/time.Millisecond)}, nil, p.peer, p.local)
	require.NoError(t, err)
	p.s.HandleIP(p.peer, p.local, ack[:n])
	require.NotNil(t, conn)
	require.Equal(t, StateEstablished, conn.State())
	p.rcvNxt = conn.sndNxt
	_, err = conn.Write(make([]byte, size))
	require.NoError(t, err)
	return p, conn
}

// TestBBRStateMachine drives BBR through its whole cycle with crafted
// ACKs from a 5 Mbit/s path of 20 ms RTT: Startup until the bandwidth
// stops growing, Drain, ProbeBW with the bandwidth and min_rtt estimated
// right and the flight paced, and, after the path's delay grows to 30 ms
// so that the minimum RTT is not refreshed for 5 s, ProbeRTT at half a
// BDP, which (once the 10 s min_rtt filter expires) learns the new
// min_rtt, and returns to ProbeBW.
func TestBBRStateMachine(t *testing.T) {
	t.Parallel()
	const rate = 5e6 / 8
	p, c := newBBRPath(t, "bbr", rate, 10*time.Millisecond, 12<<20)
	b, ok := c.cc.(*BBR)
	require.True(t, ok, "cc: bbr selects BBR")
	start := p.sched.Now()
	var modes []BBRMode
	var probeRTTOver int // ProbeRTT's largest window above max(BDP/2, 4 segments)
	var bwAtProbe float64
	var rtAtProbe time.Duration
	for p.sched.Now().Sub(start) < 16*time.Second {
		prevRT := b.MinRTT()
		p.sched.RunUntil(p.sched.Now().Add(time.Millisecond))
		if p.sched.Now().Sub(start) == 3*time.Second {
			p.owd = 15 * time.Millisecond
		}
		m := b.Mode()
		if m.IsProbeBW() {
			m = BBRProbeBWCruise // one ProbeBW for the sequence
		}
		if len(modes) == 0 || modes[len(modes)-1] != m {
			modes = append(modes, m)
			if m == BBRProbeRTT && bwAtProbe == 0 {
				bwAtProbe, rtAtProbe = b.MaxBw(), prevRT
			}
		}
		if m == BBRProbeRTT {
			probeRTTOver = max(probeRTTOver, c.ccs.Cwnd-max(int(0.5*b.MaxBw()*b.MinRTT().Seconds()), bbrMinPipeSegs*c.mss))
		}
	}
	require.GreaterOrEqual(t, len(modes), 5, "modes %v", modes)
	assert.Equal(t, []BBRMode{BBRStartup, BBRDrain, BBRProbeBWCruise, BBRProbeRTT, BBRProbeBWCruise}, modes[:5], "modes %v", modes)
	assert.InEpsilon(t, rate, bwAtProbe, 0.1, "BtlBw %.0f B/s", bwAtProbe)
	// Timestamps tick in milliseconds and a segment takes 2.4 ms to cross
	// the bottleneck.
	assert.InDelta(t, 20*time.Millisecond, rtAtProbe, float64(3*time.Millisecond), "RTprop before ProbeRTT")
	assert.LessOrEqual(t, probeRTTOver, 0, "ProbeRTT holds half a BDP (draft section 5.3.4)")
	assert.InDelta(t, 30*time.Millisecond, b.MinRTT(), float64(3*time.Millisecond), "ProbeRTT learnt the new RTprop")
	// Paced: after the first round trips no two data segments leave at
	// the same instant, and the bottleneck queue stays well under the
	// 2.885 x BDP a Startup burst would build.
	for at, n := range p.sendTimes {
		if at.Sub(start) > time.Second {
			assert.LessOrEqual(t, n, 1, "segments sent at %v", at)
		}
	}
	assert.Less(t, p.maxQueue, 60*time.Millisecond, "bottleneck queue")
	got := float64(c.Stats().BytesSent) / p.sched.Now().Sub(start).Seconds()
	assert.Greater(t, got, 0.85*rate, "goodput")
}

// TestBBRLossIsNotCongestion loses one segment in 50 on the same path:
// fast recovery holds the window to packet conservation for a round, but
// the model (BtlBw) and the goodput stay near the bottleneck rate, where
// a loss-based algorithm would halve its window on each loss.
func TestBBRLossIsNotCongestion(t *testing.T) {
	t.Parallel()
	const rate = 10e6 / 8
	for _, cc := range []string{"bbr", "cubic"} {
		p, c := newBBRPath(t, cc, rate, 10*time.Millisecond, 4<<20)
		k := 0
		p.lose = func(seq seqnum, n int) bool {
			if seq.lt(c.sndMax) {
				return false // retransmissions arrive
			}
			k++
			return k%50 == 0
		}
		start := p.sched.Now()
		p.sched.RunUntil(start.Add(3 * time.Second))
		got := float64(c.Stats().BytesSent) / 3
		st := c.Stats()
		t.Logf("%s: %.2f Mbit/s, %d fast retransmits, %d timeouts", cc, got*8/1e6, st.FastRetransmits, st.TimeoutRetransmits)
		require.Positive(t, st.FastRetransmits)
		if cc == "bbr" {
			assert.Greater(t, got, 0.8*rate, "BBR goodput")
			assert.InEpsilon(t, rate, c.cc.(*BBR).MaxBw(), 0.15)
		} else {
			assert.Less(t, got, 0.8*rate, "CUBIC goodput")
		}
	}
}

// Conn.SetCongestionControl switches one connection's algorithm (Linux's
// TCP_CONGESTION): a switch to BBR before data flows paces the transfer.
func TestSetCongestionControl(t *testing.T) {
	t.Parallel()
	p, c := newBBRPath(t, "cubic", 10e6/8, 10*time.Millisecond, 0)
	assert.ErrorIs(t, c.SetCongestionControl("vegas"), ErrInvalidArgument)
	assert.Equal(t, "cubic", c.Stats().CongestionControl)
	require.NoError(t, c.SetCongestionControl("bbr"))
	assert.Equal(t, "bbr", c.Stats().CongestionControl)
	_, err := c.Write(make([]byte, 2<<20))
	require.NoError(t, err)
	start := p.sched.Now()
	p.sched.RunUntil(start.Add(3 * time.Second))
	b, ok := c.cc.(*BBR)
	require.True(t, ok)
	assert.NotEqual(t, BBRStartup, b.Mode(), "BBR's model ran")
	assert.Positive(t, b.PacingRate())
	require.NoError(t, c.SetCongestionControl("newreno"))
	assert.Equal(t, "newreno", c.Stats().CongestionControl)
	assert.Nil(t, c.rate.bbr, "no pacing after switching away")
}
