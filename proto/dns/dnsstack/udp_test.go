package dnsstack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wire is a two-port link delivering frames 1 ms later.
type wire struct {
	sch   *clock.Scheduler
	ports [2]wirePort
}

type wirePort struct {
	w  *wire
	i  int
	rx link.Receiver
}

type wireDelivery struct {
	t     clock.Timer
	to    *wirePort
	frame []byte
}

func (d *wireDelivery) OnTimer(clock.Time) { d.to.rx.Receive(d.frame, link.Note{}) }

func (p *wirePort) Send(frame []byte) link.Note {
	d := &wireDelivery{to: &p.w.ports[1-p.i], frame: append([]byte(nil), frame...)}
	d.t.Init(d)
	p.w.sch.Schedule(&d.t, p.w.sch.Now().Add(time.Millisecond))
	return link.Note{}
}

func (p *wirePort) SetReceiver(r link.Receiver) { p.rx = r }
func (p *wirePort) MTU() int                    { return 1500 }

func newWiredHosts(sch *clock.Scheduler) (cli, srv *stack.Host) {
	w := &wire{sch: sch}
	w.ports[0] = wirePort{w: w, i: 0}
	w.ports[1] = wirePort{w: w, i: 1}
	cli = stack.New(stack.Config{Name: "cli", Clock: sch, Rand: rng.New(5, "host/cli")})
	srv = stack.New(stack.Config{Name: "srv", Clock: sch, Rand: rng.New(5, "host/srv")})
	cli.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 1}, &w.ports[0]).SetAddress(netip.PrefixFrom(cliIP, 24))
	srv.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 2}, &w.ports[1]).SetAddress(netip.PrefixFrom(srvIP, 24))
	return cli, srv
}

func TestStackResolverRandomPorts(t *testing.T) {
	sch := clock.NewScheduler(0)
	cli, srvHost := newWiredHosts(sch)
	zsrv := testServer(t)
	// A server that drops the first query it sees, to force a retry.
	var ports []uint16
	_, err := srvHost.BindUDP(netip.AddrPortFrom(srvIP, 53), stack.UDPHandlerFunc(func(s *stack.UDPSocket, src, _ netip.AddrPort, p []byte) {
		ports = append(ports, src.Port())
		if len(ports) == 1 {
			return
		}
		require.NoError(t, s.SendTo(src, zsrv.Answer(p, dns.UDP)))
	}))
	require.NoError(t, err)
	r := NewResolver(cli, rng.New(5, "dns/cli"), nil, netip.AddrPortFrom(srvIP, 53))
	var res []dns.Result
	for _, name := range []string{"web.example.com.", "mail.example.com."} {
		require.NoError(t, r.Lookup(name, dns.TypeA, func(x dns.Result) { res = append(res, x) }))
	}
	sch.RunUntil(sch.Now().Add(10 * time.Second))
	require.Len(t, res, 2)
	for _, x := range res {
		require.NoError(t, x.Err)
		assert.Len(t, x.Msg.Answer, 1)
	}
	require.Len(t, ports, 3, "two queries and one retry")
	seen := map[uint16]bool{}
	for _, p := range ports {
		assert.GreaterOrEqual(t, p, uint16(49152))
		seen[p] = true
	}
	assert.Len(t, seen, 3, "every attempt from its own port")
	// Every query socket was closed: the ports can be bound again.
	for p := range seen {
		s, err := cli.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), p), stack.UDPHandlerFunc(func(*stack.UDPSocket, netip.AddrPort, netip.AddrPort, []byte) {}))
		require.NoError(t, err, "port %d still bound", p)
		s.Close()
	}
}

func TestServeUDP(t *testing.T) {
	sch := clock.NewScheduler(0)
	cli, srvHost := newWiredHosts(sch)
	us, err := ServeUDP(srvHost, netip.AddrPortFrom(netip.IPv4Unspecified(), 53), testServer(t))
	require.NoError(t, err)
	defer us.Close()
	assert.Equal(t, uint16(53), us.Addr().Port())
	_, err = ServeUDP(srvHost, netip.AddrPortFrom(netip.IPv4Unspecified(), 53), testServer(t))
	assert.ErrorIs(t, err, stack.ErrAddrInUse)

	var got []dns.Msg
	sock, err := cli.BindUDP(netip.AddrPort{}, stack.UDPHandlerFunc(func(_ *stack.UDPSocket, src, _ netip.AddrPort, p []byte) {
		assert.Equal(t, netip.AddrPortFrom(srvIP, 53), src)
		var m dns.Msg
		require.NoError(t, m.Unpack(p))
		got = append(got, m)
	}))
	require.NoError(t, err)
	q, err := (&dns.Msg{Header: dns.Header{ID: 42}, Question: []dns.Question{{Name: "big.example.com.", Type: dns.TypeTXT, Class: dns.ClassINET}}}).Pack()
	require.NoError(t, err)
	require.NoError(t, sock.SendTo(netip.AddrPortFrom(srvIP, 53), q))
	require.NoError(t, sock.SendTo(netip.AddrPortFrom(srvIP, 53), q[:5]))
	sch.RunUntil(sch.Now().Add(time.Second))
	require.Len(t, got, 1, "a runt query is dropped")
	assert.Equal(t, uint16(42), got[0].ID)
	assert.True(t, got[0].Truncated)
	assert.Zero(t, us.SendErrors)
}
