package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
)

// hub is a tiny in-test link: every frame sent on a port is delivered,
// after a fixed latency through the scheduler, to every other port. It
// copies frames, as link.Endpoint requires, and keeps a log of what was
// sent. drop, when set, decides which sent frames are lost.
type hub struct {
	sched   *clock.Scheduler
	latency time.Duration
	mtu     int
	ports   []*hubPort
	pool    *link.BufPool
	queue   []hubFrame
	timer   clock.Timer
	sent    [][]byte // copies of every frame sent, in order
	logSent bool
	drop    func(frame []byte) bool
}

type hubFrame struct {
	due  clock.Time
	from *hubPort
	b    []byte
}

type hubPort struct {
	hub *hub
	rx  link.Receiver
}

func newHub(s *clock.Scheduler, mtu int) *hub {
	hb := &hub{sched: s, latency: time.Millisecond, mtu: mtu, pool: link.NewBufPool(2048), logSent: true}
	hb.timer.Init(hb)
	return hb
}

func (hb *hub) port() *hubPort {
	p := &hubPort{hub: hb}
	hb.ports = append(hb.ports, p)
	return p
}

func (p *hubPort) Send(frame []byte) link.Note {
	hb := p.hub
	if len(frame)-ether.HeaderLen > hb.mtu {
		return link.Note{Drop: link.DropMTU}
	}
	if hb.logSent {
		hb.sent = append(hb.sent, append([]byte(nil), frame...))
	}
	if hb.drop != nil && hb.drop(frame) {
		return link.Note{Drop: link.DropLoss}
	}
	hb.queue = append(hb.queue, hubFrame{due: hb.sched.Now().Add(hb.latency), from: p, b: hb.pool.Get(frame)})
	if !hb.timer.Pending() {
		hb.sched.Schedule(&hb.timer, hb.queue[0].due)
	}
	return link.Note{}
}

func (p *hubPort) SetReceiver(r link.Receiver) { p.rx = r }
func (p *hubPort) MTU() int                    { return p.hub.mtu }

// OnTimer delivers the frames that are due, in the order they were sent.
func (hb *hub) OnTimer(now clock.Time) {
	for len(hb.queue) > 0 && hb.queue[0].due <= now {
		f := hb.queue[0]
		copy(hb.queue, hb.queue[1:])
		hb.queue = hb.queue[:len(hb.queue)-1]
		for _, q := range hb.ports {
			if q != f.from && q.rx != nil {
				q.rx.Receive(f.b, link.Note{})
			}
		}
		hb.pool.Put(f.b)
	}
	if len(hb.queue) > 0 {
		hb.sched.Schedule(&hb.timer, hb.queue[0].due)
	}
}

// testNet is a scheduler, one hub and hosts attached to it.
type testNet struct {
	t     testing.TB
	sched *clock.Scheduler
	hub   *hub
	hosts []*Host
}

func newTestNet(t testing.TB, mtu int) *testNet {
	s := clock.NewScheduler(clock.FromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	return &testNet{t: t, sched: s, hub: newHub(s, mtu)}
}

// addHost adds host number n (1-based) named name with address 10.0.0.n/24
// and MAC 02:00:00:00:00:0n.
func (tn *testNet) addHost(name string, n byte, mut ...func(*Config)) *Host {
	cfg := Config{Name: name, Clock: tn.sched, Rand: rng.New(1, "host/"+name)}
	for _, m := range mut {
		m(&cfg)
	}
	h := New(cfg)
	ifc := h.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, n}, tn.hub.port())
	ifc.SetAddress(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, n}), 24))
	tn.hosts = append(tn.hosts, h)
	return h
}

// run advances virtual time by d, firing every timer due.
func (tn *testNet) run(d time.Duration) { tn.sched.RunUntil(tn.sched.Now().Add(d)) }

func ip(n byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, n}) }

// udpRecorder records the datagrams a socket receives.
type udpRecorder struct {
	got     []udpDatagram
	echo    bool
	echoErr []error
}

type udpDatagram struct {
	src, dst netip.AddrPort
	payload  []byte
}

func (r *udpRecorder) HandleUDP(s *UDPSocket, src, dst netip.AddrPort, payload []byte) {
	r.got = append(r.got, udpDatagram{src, dst, append([]byte(nil), payload...)})
	if r.echo {
		if err := s.SendTo(src, payload); err != nil {
			r.echoErr = append(r.echoErr, err)
		}
	}
}

// echoRecorder records echo replies.
type echoRecorder struct{ got []echoReply }

type echoReply struct {
	src     netip.Addr
	id, seq uint16
	payload []byte
	ttl     uint8
}

func (r *echoRecorder) HandleEchoReply(src netip.Addr, id, seq uint16, payload []byte, ttl uint8) {
	r.got = append(r.got, echoReply{src, id, seq, append([]byte(nil), payload...), ttl})
}

func requireBind(t testing.TB, h *Host, ap string, hnd UDPHandler) *UDPSocket {
	t.Helper()
	s, err := h.BindUDP(netip.MustParseAddrPort(ap), hnd)
	require.NoError(t, err)
	return s
}
