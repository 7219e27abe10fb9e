package dhcpstack

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/udp"
)

// relayNet is server (10.0.0.1) on lan, a router (10.0.0.254, 10.0.1.1)
// relaying for far, and a client on far.
type relayNet struct {
	sch      *clock.Scheduler
	lan, far *hub
	ss       *Server
	relay    *Relay
	router   *stack.Host
	cli      *Client
	cliHost  *stack.Host
	cliIfc   *stack.Interface
}

var farCfg = dhcp.ServerConfig{
	ServerID:  serverIP,
	Subnet:    netip.MustParsePrefix("10.0.1.0/24"),
	PoolStart: netip.MustParseAddr("10.0.1.100"),
	PoolEnd:   netip.MustParseAddr("10.0.1.110"),
	Router:    netip.MustParseAddr("10.0.1.1"),
	LeaseTime: time.Hour,
}

func newRelayNet(t *testing.T, serve bool) *relayNet {
	t.Helper()
	n := &relayNet{sch: clock.NewScheduler(0)}
	n.lan, n.far = &hub{sch: n.sch}, &hub{sch: n.sch}
	srvHost, srvIfc := newHost(n.sch, n.lan, "server", 1)
	srvIfc.SetAddress(netip.MustParsePrefix("10.0.0.1/24"))
	srvHost.SetDefaultGateway(netip.MustParseAddr("10.0.0.254"))
	var err error
	n.ss, err = NewServer(srvIfc, testCfg)
	require.NoError(t, err)
	require.NoError(t, n.ss.AddScope(farCfg))

	n.router = stack.New(stack.Config{Name: "router", Clock: n.sch, Rand: rng.New(3, "host/router"), Forwarding: true})
	n.router.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, 0xfe}, n.lan.port()).SetAddress(netip.MustParsePrefix("10.0.0.254/24"))
	rIn := n.router.AddInterface("eth1", ether.Addr{2, 0, 0, 0, 1, 0xfe}, n.far.port())
	rIn.SetAddress(netip.MustParsePrefix("10.0.1.1/24"))
	n.relay, err = NewRelay(n.router)
	require.NoError(t, err)
	if serve {
		n.relay.Serve(rIn, serverIP)
	}

	n.cliHost, n.cliIfc = newHost(n.sch, n.far, "client", 2)
	n.cli, err = NewClient(n.cliIfc, rng.New(3, "dhcp/client"), NoProbe)
	require.NoError(t, err)
	n.cli.Start(netip.Addr{})
	return n
}

// TestRelayLease: a client behind a router gets a lease from the scope of
// its subnet, through the relay agent (RFC 1542, RFC 2131 giaddr), and
// renews it by unicast straight to the server through the router.
func TestRelayLease(t *testing.T) {
	t.Parallel()
	n := newRelayNet(t, true)
	n.sch.RunUntil(clock.Time(5 * time.Second))
	require.Equal(t, dhcp.StateBound, n.cli.State())
	assert.Equal(t, netip.MustParsePrefix("10.0.1.100/24"), n.cliIfc.Address())
	assert.Equal(t, netip.MustParseAddr("10.0.1.1"), n.cliHost.DefaultGateway())
	assert.Equal(t, uint64(2), n.relay.Stats.Requests, "DISCOVER and REQUEST")
	assert.Equal(t, uint64(2), n.relay.Stats.Replies, "OFFER and ACK")
	assert.Zero(t, n.relay.Stats.Dropped)
	assert.Zero(t, n.ss.Stats.Offers, "the local scope answered nothing")
	assert.Equal(t, uint64(1), n.ss.TotalStats().Acks)

	// Every request the server saw carried giaddr 10.0.1.1 and hops 1.
	var relayed int
	for _, f := range n.lan.log {
		m, ok := dhcpIn(f.frame, dhcp.ServerPort)
		if !ok || m[0] != byte(dhcp.BootRequest) {
			continue
		}
		relayed++
		assert.Equal(t, []byte{10, 0, 1, 1}, m[24:28], "giaddr")
		assert.Equal(t, byte(1), m[3], "hops")
	}
	assert.Equal(t, 2, relayed)

	// T1 renewal goes by unicast to the server, routed, not relayed.
	n.sch.RunUntil(clock.Time(31 * time.Minute))
	assert.Equal(t, dhcp.StateBound, n.cli.State())
	assert.Equal(t, uint64(2), n.ss.TotalStats().Acks)
	assert.Equal(t, uint64(2), n.relay.Stats.Requests)
}

// TestRelayNotServing: the same router with no dhcp_relay on the
// client's interface drops the requests; no lease.
func TestRelayNotServing(t *testing.T) {
	t.Parallel()
	n := newRelayNet(t, false)
	n.sch.RunUntil(clock.Time(5 * time.Second))
	assert.NotEqual(t, dhcp.StateBound, n.cli.State())
	assert.Zero(t, n.relay.Stats.Requests)
	assert.NotZero(t, n.relay.Stats.Dropped)
}

// TestRelayHopLimit: a request whose hops exceed MaxRelayHops is discarded
// (RFC 1542 section 4.1.1).
func TestRelayHopLimit(t *testing.T) {
	t.Parallel()
	n := newRelayNet(t, true)
	n.cli.Close()
	n.sch.RunUntil(clock.Time(100 * time.Millisecond))
	m := dhcp.Message{Op: dhcp.BootRequest, HType: 1, HLen: 6, Hops: MaxRelayHops + 1, Xid: 7,
		CIAddr: netip.IPv4Unspecified(), YIAddr: netip.IPv4Unspecified(), SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified()}
	m.Options.Set(dhcp.OptMessageType, []byte{byte(dhcp.Discover)})
	sock, err := n.cliHost.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 6800), nil)
	require.NoError(t, err)
	require.NoError(t, sock.SendVia(n.cliIfc, netip.IPv4Unspecified(), netip.MustParseAddrPort("255.255.255.255:67"), m.Marshal()))
	before := n.relay.Stats
	n.sch.RunUntil(n.sch.Now().Add(time.Second))
	assert.Equal(t, before.Requests, n.relay.Stats.Requests)
	assert.Equal(t, before.Dropped+1, n.relay.Stats.Dropped)
}

// dhcpIn returns the UDP payload of an IPv4 frame to port.
func dhcpIn(frame []byte, port uint16) ([]byte, bool) {
	if len(frame) < ether.HeaderLen || binary.BigEndian.Uint16(frame[12:14]) != uint16(ether.TypeIPv4) {
		return nil, false
	}
	ip, err := ipv4.Parse(frame[ether.HeaderLen:])
	if err != nil || ip.Protocol() != ipv4.ProtoUDP {
		return nil, false
	}
	u, err := udp.Parse(ip.Payload())
	if err != nil || u.DstPort() != port {
		return nil, false
	}
	return u.Payload(), true
}
