package dhcpstack

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hub delivers every frame to every other port 1 ms later and keeps a
// log of the frames sent.
type hub struct {
	sch   *clock.Scheduler
	ports []*hubPort
	down  bool
	log   []loggedFrame
}

// loggedFrame is a copy of a frame sent on the hub, with its send time.
type loggedFrame struct {
	at    clock.Time
	frame []byte
}

type hubPort struct {
	h  *hub
	rx link.Receiver
}

type hubDelivery struct {
	t     clock.Timer
	to    *hubPort
	frame []byte
}

func (d *hubDelivery) OnTimer(clock.Time) {
	if d.to.rx != nil {
		d.to.rx.Receive(d.frame, link.Note{})
	}
}

func (h *hub) port() *hubPort {
	p := &hubPort{h: h}
	h.ports = append(h.ports, p)
	return p
}

func (p *hubPort) Send(frame []byte) link.Note {
	if p.h.down {
		return link.Note{Drop: link.DropLoss}
	}
	p.h.log = append(p.h.log, loggedFrame{at: p.h.sch.Now(), frame: append([]byte(nil), frame...)})
	for _, q := range p.h.ports {
		if q == p {
			continue
		}
		d := &hubDelivery{to: q, frame: append([]byte(nil), frame...)}
		d.t.Init(d)
		p.h.sch.Schedule(&d.t, p.h.sch.Now().Add(time.Millisecond))
	}
	return link.Note{}
}

func (p *hubPort) SetReceiver(r link.Receiver) { p.rx = r }
func (p *hubPort) MTU() int                    { return 1500 }

func newHost(sch *clock.Scheduler, h *hub, name string, mac byte) (*stack.Host, *stack.Interface) {
	host := stack.New(stack.Config{Name: name, Clock: sch, Rand: rng.New(3, "host/"+name)})
	ifc := host.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, mac}, h.port())
	return host, ifc
}

// TestStackDHCPAndDNS configures a host by DHCP over a simulated link,
// then resolves a name through the DNS server the lease names.
func TestStackDHCPAndDNS(t *testing.T) {
	sch := clock.NewScheduler(0)
	lan := &hub{sch: sch}
	srvHost, srvIfc := newHost(sch, lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	cfg := testCfg
	cfg.DNS = []netip.Addr{serverIP}
	ss, err := NewServer(srvIfc, cfg)
	require.NoError(t, err)
	defer ss.Close()

	zone, err := dns.ParseZone(strings.NewReader("$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 10.0.0.80\n"), "example.com.", "lan.zone")
	require.NoError(t, err)
	zsrv, err := dns.NewServer(zone)
	require.NoError(t, err)
	us, err := dnsstack.ServeUDP(srvHost, netip.AddrPortFrom(netip.IPv4Unspecified(), 53), zsrv)
	require.NoError(t, err)
	defer us.Close()

	cliHost, cliIfc := newHost(sch, lan, "client", 2)
	sc, err := NewClient(cliIfc, rng.New(3, "dhcp/client"), nil)
	require.NoError(t, err)
	var events []bool
	sc.OnLease = func(_ dhcp.Lease, bound bool) { events = append(events, bound) }
	sc.Start(netip.Addr{})
	// The ACK comes within milliseconds; the RFC 5227 probe of the
	// address takes 4 to 7 s more.
	sch.RunUntil(clock.Time(3 * time.Second))
	require.Equal(t, dhcp.StateRequesting, sc.State(), "probing the acknowledged address")
	assert.False(t, cliIfc.Address().IsValid())
	sch.RunUntil(clock.Time(8 * time.Second))
	require.Equal(t, dhcp.StateBound, sc.State())
	assert.Equal(t, netip.MustParsePrefix("10.0.0.10/24"), cliIfc.Address())
	assert.Equal(t, serverIP, cliHost.DefaultGateway())
	assert.Equal(t, []netip.Addr{serverIP}, sc.DNS())
	assert.Equal(t, []bool{true}, events)
	assert.Zero(t, ss.SendErrors)

	// Resolve through the leased DNS server.
	r := dnsstack.NewResolver(cliHost, rng.New(3, "dns/client"), nil, netip.AddrPortFrom(sc.DNS()[0], 53))
	var res []dns.Result
	require.NoError(t, r.Lookup("www.example.com", dns.TypeA, func(x dns.Result) { res = append(res, x) }))
	sch.RunUntil(sch.Now().Add(time.Second))
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	require.Len(t, res[0].Msg.Answer, 1)
	assert.Equal(t, "www.example.com.\t60\tIN\tA\t10.0.0.80", res[0].Msg.Answer[0].String())

	// Renewal at T1 is unicast from the leased address and keeps it.
	sch.RunUntil(clock.Time(31 * time.Minute))
	assert.Equal(t, dhcp.StateBound, sc.State())
	l, _ := sc.Lease()
	assert.Greater(t, l.Start, clock.Time(30*time.Minute-time.Second))
	assert.Equal(t, uint64(2), ss.Stats.Acks)

	// Shutdown releases the lease and removes the address.
	sc.Close()
	sch.RunUntil(sch.Now().Add(time.Second))
	assert.False(t, cliIfc.Address().IsValid())
	assert.False(t, cliHost.DefaultGateway().IsValid())
	assert.Equal(t, uint64(1), ss.Stats.Releases)
	assert.Equal(t, []bool{true, true, false}, events)
}

// TestStackLeaseExpiry cuts the link: the client renews, rebinds, and at
// expiry removes its address.
func TestStackLeaseExpiry(t *testing.T) {
	sch := clock.NewScheduler(0)
	lan := &hub{sch: sch}
	_, srvIfc := newHost(sch, lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	_, err := NewServer(srvIfc, testCfg)
	require.NoError(t, err)
	_, cliIfc := newHost(sch, lan, "client", 2)
	sc, err := NewClient(cliIfc, rng.New(4, "dhcp/client"), nil)
	require.NoError(t, err)
	sc.Start(netip.Addr{})
	sch.RunUntil(clock.Time(8 * time.Second))
	require.Equal(t, dhcp.StateBound, sc.State())
	lan.down = true
	sch.RunUntil(clock.Time(59 * time.Minute))
	assert.Equal(t, dhcp.StateRebinding, sc.State())
	assert.True(t, cliIfc.Address().IsValid())
	sch.RunUntil(clock.Time(61 * time.Minute))
	assert.Equal(t, dhcp.StateSelecting, sc.State())
	assert.False(t, cliIfc.Address().IsValid())
	lan.down = false
	sch.RunUntil(clock.Time(63 * time.Minute))
	assert.Equal(t, dhcp.StateBound, sc.State())
	assert.True(t, cliIfc.Address().IsValid())
}
