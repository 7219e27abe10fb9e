package app_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/sim"
)

// lan builds a switch with a server host 10.8.0.1/24 and n hosts without
// an address (MACs 02:00:00:00:01:01...).
func lan(t *testing.T, n int) (*sim.World, testHost, []*stack.Interface) {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 7})
	require.NoError(t, err)
	sw, err := w.NewSwitch("sw", sim.SwitchConfig{})
	require.NoError(t, err)
	mk := func(name string, mac ether.Addr) (*stack.Host, *stack.Interface, testHost) {
		l, err := w.ConnectSwitch(name+"-sw", sim.Iface{Host: name, Name: "eth0"}, sw, sim.LinkConfig{})
		require.NoError(t, err)
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		ifc := h.AddInterface("eth0", mac, l.A())
		return h, ifc, testHost{net: app.NewStackNet(h)}
	}
	_, sifc, srv := mk("srv", ether.Addr{2, 0, 0, 0, 0, 1})
	sifc.SetAddress(netip.MustParsePrefix("10.8.0.1/24"))
	var clients []*stack.Interface
	for i := range n {
		_, ifc, _ := mk("c"+string(rune('a'+i)), ether.Addr{2, 0, 0, 0, 1, byte(1 + i)})
		clients = append(clients, ifc)
	}
	return w, srv, clients
}

// TestDHCPServerReservation checks on the wire that a reserved client gets
// its address, the lowest of the pool, although another client starts
// first and asks for that very address (INIT-REBOOT, then DISCOVER).
func TestDHCPServerReservation(t *testing.T) {
	w, srv, cs := lan(t, 2)
	s := app.NewDHCPServer(app.DHCPServerConfig{
		Name: "d", PoolStart: netip.MustParseAddr("10.8.0.10"), PoolEnd: netip.MustParseAddr("10.8.0.20"),
		Router: netip.MustParseAddr("10.8.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.8.0.1")}, LeaseTime: time.Hour,
		Reservations: []dhcp.Reservation{{HW: [6]byte{2, 0, 0, 0, 1, 2}, Addr: netip.MustParseAddr("10.8.0.10")}},
	})
	require.NoError(t, s.Start(env(w, srv, "d")))
	var leases []*dhcpstack.Client
	for i, ifc := range cs {
		c, err := dhcpstack.NewClient(ifc, w.Rand("dhcp/"+ifc.Host().Name()), dhcpstack.NoProbe)
		require.NoError(t, err)
		leases = append(leases, c)
		want := netip.Addr{}
		if i == 0 {
			want = netip.MustParseAddr("10.8.0.10")
		}
		w.At(w.Now().Add(time.Duration(i)*time.Second), func(clock.Time) { c.Start(want) })
	}
	w.RunFor(20 * time.Second)
	assert.Equal(t, netip.MustParsePrefix("10.8.0.11/24"), cs[0].Address(), "the first client does not get the reserved address")
	assert.Equal(t, netip.MustParsePrefix("10.8.0.10/24"), cs[1].Address(), "the reserved client gets its address")
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.8.0.1")}, leases[1].DNS())
	r := s.Result().(app.DHCPServerResult)
	assert.Equal(t, uint64(2), r.Offers)
	assert.Equal(t, uint64(2), r.Acks)
	assert.Equal(t, uint64(1), r.Naks, "the first client's INIT-REBOOT asking for the reserved address")
	assert.Zero(t, r.SendErrors)
}

func TestDHCPServerErrors(t *testing.T) {
	w, srv, cs := lan(t, 1)
	noAddr := &app.Env{Clock: w.Clock(), Rand: w.Rand("x"), Net: app.NewStackNet(cs[0].Host())}
	cfg := app.DHCPServerConfig{Name: "d", PoolStart: netip.MustParseAddr("10.8.0.10"), PoolEnd: netip.MustParseAddr("10.8.0.20")}
	assert.ErrorContains(t, app.NewDHCPServer(cfg).Start(noAddr), "dhcp server d: the interface has no static address")
	bad := cfg
	bad.PoolEnd = netip.MustParseAddr("10.9.0.20")
	assert.ErrorContains(t, app.NewDHCPServer(bad).Start(env(w, srv, "d")), "dhcp server d: dhcp server: pool 10.8.0.10-10.9.0.20 not inside 10.8.0.0/24")
	assert.Equal(t, app.DHCPServerResult{}, app.NewDHCPServer(cfg).Result())
	notStack := &app.Env{Clock: w.Clock(), Rand: w.Rand("x"), Net: fakeNet{}}
	assert.ErrorContains(t, app.NewDHCPServer(cfg).Start(notStack), "host is not a simnet stack host")
}

const testZone = `$TTL 60
@    IN SOA ns admin 1 3600 600 86400 60
ns   IN A 10.8.0.1
www  IN A 10.8.0.20
www  IN A 10.8.0.21
alias IN CNAME www
`

// TestDNSServerAndLookup resolves names over UDP between two hosts: A
// records (two of them, in zone order), a CNAME, and an unknown name.
func TestDNSServerAndLookup(t *testing.T) {
	w, a, b := pair(t)
	z, err := dns.ParseZone(strings.NewReader(testZone), "example.test.", "zone")
	require.NoError(t, err)
	srv := app.NewDNSServer("named", z)
	require.NoError(t, srv.Start(env(w, b, "named")))
	server := netip.MustParseAddrPort("10.9.0.2:53")
	www := app.NewDNSLookup("q1", "www.example.test", server)
	alias := app.NewDNSLookup("q2", "alias.example.test", server)
	missing := app.NewDNSLookup("q3", "nope.example.test", server)
	for _, l := range []*app.DNSLookup{www, alias, missing} {
		require.NoError(t, l.Start(env(w, a, l.Name())))
	}
	w.RunFor(5 * time.Second)
	r1 := www.Result().(app.DNSLookupResult)
	assert.True(t, r1.Answered)
	assert.Equal(t, "NOERROR", r1.Rcode)
	assert.Equal(t, []string{"10.8.0.20", "10.8.0.21"}, r1.Addresses)
	assert.Equal(t, "10.9.0.2:53", r1.Server)
	assert.Equal(t, uint64(1), r1.Queries)
	assert.GreaterOrEqual(t, r1.End, r1.Start)
	assert.Equal(t, []string{"10.8.0.20", "10.8.0.21"}, alias.Result().(app.DNSLookupResult).Addresses)
	r3 := missing.Result().(app.DNSLookupResult)
	assert.True(t, r3.Answered)
	assert.Equal(t, "NXDOMAIN", r3.Rcode)
	assert.Empty(t, r3.Addresses)
	st := srv.Result().(app.DNSServerResult)
	assert.Equal(t, uint64(3), st.Queries)
	assert.Equal(t, uint64(1), st.NXDomain)
}

// TestDNSLookupTimeout checks that a lookup with no server answering
// gives up after its attempts.
func TestDNSLookupTimeout(t *testing.T) {
	w, a, _ := pair(t)
	l := app.NewDNSLookup("q", "www.example.test", netip.MustParseAddrPort("10.9.0.2:53"))
	l.Attempts = 2
	require.NoError(t, l.Start(env(w, a, "q")))
	w.RunFor(10 * time.Second)
	r := l.Result().(app.DNSLookupResult)
	assert.False(t, r.Answered)
	assert.Equal(t, uint64(2), r.Queries)
	assert.Contains(t, r.Error, "timed out")
	assert.ErrorIs(t, app.NewDNSLookup("q", "x.test").Start(env(w, a, "q2")), dns.ErrNoServers)
}

// TestTCPEchoClient checks the echo client against an echo server (every
// byte back and verified) and a discard server (nothing comes back).
func TestTCPEchoClient(t *testing.T) {
	w, a, b := pair(t)
	require.NoError(t, app.NewTCPServer("echo", 7, true).Start(env(w, b, "echo")))
	require.NoError(t, app.NewTCPServer("discard", 9, false).Start(env(w, b, "discard")))
	ok := app.NewTCPEchoClient("ok", netip.MustParseAddrPort("10.9.0.2:7"), 200000)
	lost := app.NewTCPEchoClient("lost", netip.MustParseAddrPort("10.9.0.2:9"), 1000)
	require.NoError(t, ok.Start(env(w, a, "ok")))
	require.NoError(t, lost.Start(env(w, a, "lost")))
	w.RunFor(10 * time.Second)
	r := ok.Result().(tcpapps.BulkResult)
	assert.True(t, r.Verified, r.Error)
	assert.Equal(t, int64(200000), r.Bytes)
	assert.Equal(t, r.End.Sub(r.Start), r.Duration)
	r2 := lost.Result().(tcpapps.BulkResult)
	assert.False(t, r2.Verified)
	assert.Zero(t, r2.Bytes)
	noTCP := &app.Env{Clock: w.Clock(), Rand: w.Rand("x"), Net: a.net}
	assert.ErrorContains(t, app.NewTCPEchoClient("e", netip.MustParseAddrPort("10.9.0.2:7"), 1).Start(noTCP), "tcp echo client e: host has no TCP stack")
}

// fakeNet is a Net that is not a stack host.
type fakeNet struct{}

func (fakeNet) Ping(netip.Addr, uint16, uint16, []byte) error           { return nil }
func (fakeNet) ListenEcho(uint16, app.EchoHandler) error                { return nil }
func (fakeNet) ListenUDP(uint16, app.DatagramHandler) (app.Conn, error) { return nil, nil }
