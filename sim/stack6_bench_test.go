package sim

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
)

// pinger6 pings a neighbour over IPv6 on a timer.
type pinger6 struct {
	w       *World
	ifc     *stack.Interface
	dst     netip.Addr
	seq     uint16
	payload []byte
	timer   clock.Timer
	gap     time.Duration
	left    int
	replies int
}

func (p *pinger6) start(count int, gap time.Duration) {
	p.left, p.gap = count, gap
	p.w.sched.Schedule(&p.timer, p.w.Now())
}

func (p *pinger6) OnTimer(now clock.Time) {
	p.seq++
	_ = p.ifc.Ping6(p.dst, 1, p.seq, p.payload)
	if p.left--; p.left > 0 {
		p.w.sched.Schedule(&p.timer, now.Add(p.gap))
	}
}

func (p *pinger6) HandleEchoReply(netip.Addr, uint16, uint16, []byte, uint8) { p.replies++ }

// hostAddr6 returns 2001:db8::i for host i (counting from 1).
func hostAddr6(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
}

// benchPing6 is benchPing over IPv6: each of n hosts on one switch pings
// the next one, neighbours found by NDP (its multicast solicitations
// flooded by the switch).
func benchPing6(b *testing.B, n int, captures bool) {
	cfg := Config{Seed: 1}
	if captures {
		cfg.CaptureOpen = func(string) (io.Writer, error) { return discard{}, nil }
	}
	w := newWorld(b, cfg)
	sw, err := w.NewSwitch("sw", SwitchConfig{})
	require.NoError(b, err)
	pingers := make([]*pinger6, n)
	for i := range pingers {
		name := "h" + itoa(i)
		l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, LinkConfig{AtoB: benchImpair, BtoA: benchImpair})
		require.NoError(b, err)
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		ifc := h.AddInterface("eth0", ether.Addr(mac(i+1)), l.A())
		ifc.EnableIPv6(netip.PrefixFrom(hostAddr6(i+1), 64))
		p := &pinger6{w: w, ifc: ifc, dst: hostAddr6((i+1)%n + 1), payload: make([]byte, 56)}
		p.timer.Init(p)
		h.SetEchoReplyHandler(p)
		pingers[i] = p
	}
	gap := time.Duration(n) * time.Microsecond
	// Warm up: resolve every neighbour, fill pools and tables.
	for i, p := range pingers {
		w.At(w.Now().Add(time.Duration(i)*100*time.Microsecond), func(clock.Time) { p.start(max(10000/n, 2), gap) })
	}
	w.RunFor(time.Duration(n)*100*time.Microsecond + 10*time.Second)
	per := (b.N + 2*n - 1) / (2 * n) // a ping is two frames
	for _, p := range pingers {
		p.start(per, gap)
	}
	measure(b, w)
	replies := 0
	for _, p := range pingers {
		replies += p.replies
	}
	require.Positive(b, replies)
	require.NoError(b, w.Close())
}
