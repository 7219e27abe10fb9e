package sim

import (
	"io"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
)

// udpSender sends one datagram every gap from a bound socket.
type udpSender struct {
	w       *World
	sock    *stack.UDPSocket
	dst     netip.AddrPort
	payload []byte
	timer   clock.Timer
	gap     time.Duration
	left    int
}

func (s *udpSender) start(count int, gap time.Duration) {
	s.left, s.gap = count, gap
	s.w.sched.Schedule(&s.timer, s.w.Now())
}

func (s *udpSender) OnTimer(now clock.Time) {
	_ = s.sock.SendTo(s.dst, s.payload)
	if s.left--; s.left > 0 {
		s.w.sched.Schedule(&s.timer, now.Add(s.gap))
	}
}

// pinger sends one echo request every gap.
type pinger struct {
	w       *World
	h       *stack.Host
	dst     netip.Addr
	seq     uint16
	payload []byte
	timer   clock.Timer
	gap     time.Duration
	left    int
	replies int
}

func (p *pinger) start(count int, gap time.Duration) {
	p.left, p.gap = count, gap
	p.w.sched.Schedule(&p.timer, p.w.Now())
}

func (p *pinger) OnTimer(now clock.Time) {
	p.seq++
	_ = p.h.Ping(p.dst, 1, p.seq, p.payload)
	if p.left--; p.left > 0 {
		p.w.sched.Schedule(&p.timer, now.Add(p.gap))
	}
}

func (p *pinger) HandleEchoReply(netip.Addr, uint16, uint16, []byte, uint8) { p.replies++ }

// hostAddr returns 10.0.hi.lo for host i (counting from 1).
func hostAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }

// offered returns the frames hosts have sent: the A-to-B direction of
// every link (hosts are end A), plus B-to-A on host-to-host links.
func offered(w *World) uint64 {
	var n uint64
	for _, l := range w.links {
		s := l.Stats()
		n += s.AtoB.Offered
		if strings.Contains(l.labels[1], ":") {
			n += s.BtoA.Offered
		}
	}
	return n
}

// measure runs the world until it is idle and reports frames/s and
// allocs/frame for the frames hosts sent meanwhile.
func measure(b *testing.B, w *World) {
	before := offered(w)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for w.Step() {
	}
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	cpu := cpuTime() - cpu0
	frames := float64(offered(w) - before)
	b.ReportMetric(frames/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/frames, "allocs/frame")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frames, "ns/frame")
	if cpu > 0 {
		b.ReportMetric(frames/cpu.Seconds(), "frames/cpu-s")
	}
}

// benchStack runs BenchmarkSimFrames with real stack hosts.
func benchStack(b *testing.B) {
	for _, captures := range []bool{false, true} {
		name := "udp/p2p/captures=off"
		if captures {
			name = "udp/p2p/captures=on"
		}
		b.Run(name, func(b *testing.B) { benchUDP(b, captures) })
	}
	for _, n := range []int{2, 10, 100, 1000} {
		b.Run("ping/switch/nodes="+itoa(n), func(b *testing.B) { benchPing(b, n, false) })
	}
	for _, n := range []int{2, 10, 100, 1000} {
		b.Run("ping/switch/captures=on/nodes="+itoa(n), func(b *testing.B) { benchPing(b, n, true) })
	}
	for _, n := range []int{2, 10, 100} {
		b.Run("ping6/switch/nodes="+itoa(n), func(b *testing.B) { benchPing6(b, n, false) })
	}
}

// benchUDP sends datagrams between two hosts on one link.
func benchUDP(b *testing.B, captures bool) {
	cfg := Config{Seed: 1}
	if captures {
		cfg.CaptureOpen = func(string) (io.Writer, error) { return discard{}, nil }
	}
	w := newWorld(b, cfg)
	l, err := w.Connect("l", Iface{"a", "eth0"}, Iface{"b", "eth0"}, LinkConfig{AtoB: benchImpair, BtoA: benchImpair})
	require.NoError(b, err)
	ha := stack.New(stack.Config{Name: "a", Clock: w.Clock(), Rand: w.Rand("host/a")})
	hb := stack.New(stack.Config{Name: "b", Clock: w.Clock(), Rand: w.Rand("host/b")})
	ha.AddInterface("eth0", ether.Addr(mac(1)), l.A()).SetAddress(netip.PrefixFrom(hostAddr(1), 24))
	hb.AddInterface("eth0", ether.Addr(mac(2)), l.B()).SetAddress(netip.PrefixFrom(hostAddr(2), 24))
	got := 0
	_, err = hb.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 9), stack.UDPHandlerFunc(
		func(*stack.UDPSocket, netip.AddrPort, netip.AddrPort, []byte) { got++ }))
	require.NoError(b, err)
	sock, err := ha.BindUDP(netip.AddrPortFrom(hostAddr(1), 5000), stack.UDPHandlerFunc(
		func(*stack.UDPSocket, netip.AddrPort, netip.AddrPort, []byte) {}))
	require.NoError(b, err)
	s := &udpSender{w: w, sock: sock, dst: netip.AddrPortFrom(hostAddr(2), 9), payload: make([]byte, 100)}
	s.timer.Init(s)
	s.start(20000, time.Microsecond)
	w.RunFor(5 * time.Second)
	require.Positive(b, got)
	s.start(b.N, time.Microsecond)
	measure(b, w)
	require.NoError(b, w.Close())
}

// benchPing has each of n hosts on one switch ping the next one, with or
// without captures.
func benchPing(b *testing.B, n int, captures bool) {
	cfg := Config{Seed: 1}
	if captures {
		cfg.CaptureOpen = func(string) (io.Writer, error) { return discard{}, nil }
	}
	w := newWorld(b, cfg)
	sw, err := w.NewSwitch("sw", SwitchConfig{})
	require.NoError(b, err)
	pingers := make([]*pinger, n)
	for i := range pingers {
		name := "h" + itoa(i)
		l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, LinkConfig{AtoB: benchImpair, BtoA: benchImpair})
		require.NoError(b, err)
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		ifc := h.AddInterface("eth0", ether.Addr(mac(i+1)), l.A())
		p := &pinger{w: w, h: h, dst: hostAddr((i+1)%n + 1), payload: make([]byte, 56)}
		p.timer.Init(p)
		h.SetEchoReplyHandler(p)
		pingers[i] = p
		// Stagger the addresses' configuration (hosts announce
		// nothing; the warm-up below resolves every neighbour).
		w.At(w.Now().Add(time.Duration(i)*100*time.Microsecond), func(clock.Time) {
			ifc.SetAddress(netip.PrefixFrom(hostAddr(i+1), 16))
		})
	}
	gap := time.Duration(n) * time.Microsecond
	w.RunFor(time.Duration(n)*100*time.Microsecond + time.Second)
	// Warm up: resolve every neighbour, fill pools and tables.
	for i, p := range pingers {
		w.At(w.Now().Add(time.Duration(i)*100*time.Microsecond), func(clock.Time) { p.start(max(10000/n, 2), gap) })
	}
	w.RunFor(time.Duration(n)*100*time.Microsecond + 10*time.Second)
	per := (b.N + 2*n - 1) / (2 * n) // a ping is two frames
	for _, p := range pingers {
		p.start(per, gap)
	}
	arp0, flood0, off0 := arpOut(pingers), sw.Stats().Flooded, offered(w)
	measure(b, w)
	// What the hosts sent besides the pings, per frame: the benchmark
	// should measure the same traffic at every size.
	frames := float64(offered(w) - off0)
	b.ReportMetric(float64(arpOut(pingers)-arp0)/frames, "arp/frame")
	b.ReportMetric(float64(sw.Stats().Flooded-flood0)/frames, "floods/frame")
	replies := 0
	for _, p := range pingers {
		replies += p.replies
	}
	require.Positive(b, replies)
	require.NoError(b, w.Close())
}

// arpOut returns the ARP packets the pingers' hosts have sent.
func arpOut(pingers []*pinger) uint64 {
	var n uint64
	for _, p := range pingers {
		st := p.h.Stats()
		n += st.ARPRequestsOut + st.ARPRepliesOut + st.ARPAnnouncementsOut + st.ARPProbesOut
	}
	return n
}
