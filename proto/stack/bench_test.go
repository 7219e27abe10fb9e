package stack

import (
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
)

// pipeEnd is one end of a synchronous in-test link: Send copies the frame
// into the far end's buffer and delivers it at once. It allocates nothing
// per frame, so benchmarks measure the hosts alone.
type pipeEnd struct {
	peer *pipeEnd
	rx   link.Receiver
	buf  []byte
}

func (p *pipeEnd) Send(frame []byte) link.Note {
	q := p.peer
	if q.rx == nil {
		return link.Note{Drop: link.DropNoPeer}
	}
	q.buf = append(q.buf[:0], frame...)
	q.rx.Receive(q.buf, link.Note{})
	return link.Note{}
}

func (p *pipeEnd) SetReceiver(r link.Receiver) { p.rx = r }
func (p *pipeEnd) MTU() int                    { return 1500 }

// pipePair returns two hosts joined by a pipe, addressed and with each
// other's MAC resolved.
func pipePair(tb testing.TB) (*Host, *Host, *clock.Scheduler) {
	s := clock.NewScheduler(clock.FromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	ea, eb := &pipeEnd{}, &pipeEnd{}
	ea.peer, eb.peer = eb, ea
	a := New(Config{Name: "a", Clock: s, Rand: rng.New(1, "host/a")})
	b := New(Config{Name: "b", Clock: s, Rand: rng.New(1, "host/b")})
	a.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 1}, ea).SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	b.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 2}, eb).SetAddress(netip.MustParsePrefix("10.0.0.2/24"))
	s.RunUntil(s.Now().Add(5 * time.Second))
	require.NoError(tb, a.Ping(ip(2), 0, 0, nil)) // resolves both ways
	return a, b, s
}

// countingUDP counts datagrams without retaining them.
type countingUDP struct{ n int }

func (c *countingUDP) HandleUDP(*UDPSocket, netip.AddrPort, netip.AddrPort, []byte) { c.n++ }

type echoUDP struct{}

func (echoUDP) HandleUDP(s *UDPSocket, src, _ netip.AddrPort, payload []byte) {
	_ = s.SendTo(src, payload)
}

type countingEcho struct{ n int }

func (c *countingEcho) HandleEchoReply(netip.Addr, uint16, uint16, []byte, uint8) { c.n++ }

func framesOf(hs ...*Host) uint64 {
	var n uint64
	for _, h := range hs {
		n += h.Stats().FramesOut
	}
	return n
}

// TestSteadyStateZeroAlloc checks that a UDP echo and a ping round trip
// allocate nothing once ARP is resolved and buffers are warm.
func TestSteadyStateZeroAlloc(t *testing.T) {
	a, b, _ := pipePair(t)
	_, err := b.BindUDP(netip.MustParseAddrPort("0.0.0.0:7"), echoUDP{})
	require.NoError(t, err)
	cnt := &countingUDP{}
	cs, err := a.BindUDP(netip.MustParseAddrPort("0.0.0.0:5000"), cnt)
	require.NoError(t, err)
	pe := &countingEcho{}
	a.SetEchoReplyHandler(pe)
	payload := make([]byte, 512)
	dst := netip.MustParseAddrPort("10.0.0.2:7")
	allocs := testing.AllocsPerRun(100, func() {
		_ = cs.SendTo(dst, payload)
		_ = a.Ping(ip(2), 1, 1, payload[:56])
	})
	assert.Zero(t, allocs)
	assert.Equal(t, 101, cnt.n)
	assert.Equal(t, 101, pe.n)
}

func BenchmarkHostUDP(b *testing.B) {
	for _, size := range []int{64, 1024, 8000} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			ha, hb, _ := pipePair(b)
			_, err := hb.BindUDP(netip.MustParseAddrPort("0.0.0.0:7"), echoUDP{})
			require.NoError(b, err)
			cnt := &countingUDP{}
			cs, err := ha.BindUDP(netip.MustParseAddrPort("0.0.0.0:5000"), cnt)
			require.NoError(b, err)
			payload := make([]byte, size)
			dst := netip.MustParseAddrPort("10.0.0.2:7")
			_ = cs.SendTo(dst, payload)
			f0 := framesOf(ha, hb)
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			b.SetBytes(int64(2 * size))
			b.ResetTimer()
			for b.Loop() {
				_ = cs.SendTo(dst, payload)
			}
			b.StopTimer()
			runtime.ReadMemStats(&m1)
			frames := framesOf(ha, hb) - f0
			b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(frames), "allocs/frame")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
			if cnt.n < b.N {
				b.Fatalf("%d echoes for %d sends", cnt.n, b.N)
			}
		})
	}
}

func BenchmarkHostPing(b *testing.B) {
	ha, hb, _ := pipePair(b)
	pe := &countingEcho{}
	ha.SetEchoReplyHandler(pe)
	payload := make([]byte, 56)
	_ = ha.Ping(ip(2), 1, 0, payload)
	f0 := framesOf(ha, hb)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	b.ResetTimer()
	seq := uint16(0)
	for b.Loop() {
		seq++
		_ = ha.Ping(ip(2), 1, seq, payload)
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	frames := framesOf(ha, hb) - f0
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(frames), "allocs/frame")
	b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
	if pe.n < b.N {
		b.Fatalf("%d replies for %d pings", pe.n, b.N)
	}
}
