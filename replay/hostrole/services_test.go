package hostrole

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/diff"
)

var (
	hostAddr   = netip.MustParseAddr("192.0.2.1")
	clientMAC  = ether.Addr{0x02, 0, 0, 0, 0, 0x50}
	offered    = netip.MustParseAddr("192.0.2.50")
	anyClient  = netip.MustParseAddrPort("0.0.0.0:68")
	allHosts   = netip.MustParseAddrPort("255.255.255.255:67")
	dhcpServer = netip.AddrPortFrom(hostAddr, 67)
)

// dhcpMsg builds a DHCP message of type mt with transaction 7 from
// clientMAC; a reply offers 192.0.2.50 with a lease of 120 s, router and
// DNS server 192.0.2.1.
func dhcpMsg(mt dhcp.MessageType) []byte {
	m := dhcp.Message{Op: dhcp.BootRequest, HType: 1, HLen: 6, Xid: 7, CIAddr: netip.IPv4Unspecified(),
		YIAddr: netip.IPv4Unspecified(), SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified(), Flags: dhcp.FlagBroadcast}
	copy(m.CHAddr[:], clientMAC[:])
	m.Options.Set(dhcp.OptMessageType, []byte{byte(mt)})
	switch mt {
	case dhcp.Offer, dhcp.Ack:
		m.Op, m.YIAddr = dhcp.BootReply, offered
		m.Options.SetAddrs(dhcp.OptServerID, hostAddr)
		m.Options.SetSeconds(dhcp.OptLeaseTime, 2*time.Minute)
		m.Options.SetAddrs(dhcp.OptSubnetMask, netip.MustParseAddr("255.255.255.0"))
		m.Options.SetAddrs(dhcp.OptRouter, hostAddr)
		m.Options.SetAddrs(dhcp.OptDNS, hostAddr)
	case dhcp.Request:
		m.Options.SetAddrs(dhcp.OptServerID, hostAddr)
		m.Options.SetAddrs(dhcp.OptRequestedIP, offered)
	}
	return m.Marshal()
}

// servicesCapture records a host serving echo on 7, HTTP on 80, a port
// 4000 it accepted on without data, and a DHCP server (DISCOVER, OFFER,
// REQUEST, ACK, the client's broadcasts from 0.0.0.0).
func servicesCapture(t *testing.T) *capture {
	c := echoCapture(t) // echo on 7, handshake done
	host := netip.MustParseAddrPort("192.0.2.1:7")
	peer := netip.MustParseAddrPort("192.0.2.9:40000")
	c.tcp(peerMAC, hostMAC, peer, host, tcp.Fields{Seq: 501, Ack: 1001, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 65535}, "hello")
	c.tcp(hostMAC, peerMAC, host, peer, tcp.Fields{Seq: 1001, Ack: 506, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 16384}, "hello")
	web := netip.MustParseAddrPort("192.0.2.1:80")
	wpeer := netip.MustParseAddrPort("192.0.2.9:40001")
	c.tcp(peerMAC, hostMAC, wpeer, web, tcp.Fields{Seq: 100, Flags: tcp.FlagSYN, Window: 65535}, "")
	c.tcp(hostMAC, peerMAC, web, wpeer, tcp.Fields{Seq: 9000, Ack: 101, Flags: tcp.FlagSYN | tcp.FlagACK, Window: 16384}, "")
	c.tcp(peerMAC, hostMAC, wpeer, web, tcp.Fields{Seq: 101, Ack: 9001, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 65535}, "GET / HTTP/1.1\r\n\r\n")
	c.tcp(hostMAC, peerMAC, web, wpeer, tcp.Fields{Seq: 9001, Ack: 119, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 16384}, "HTTP/1.0 200 OK\r\n\r\n")
	other := netip.MustParseAddrPort("192.0.2.1:4000")
	opeer := netip.MustParseAddrPort("192.0.2.9:40002")
	c.tcp(peerMAC, hostMAC, opeer, other, tcp.Fields{Seq: 100, Flags: tcp.FlagSYN, Window: 65535}, "")
	c.tcp(hostMAC, peerMAC, other, opeer, tcp.Fields{Seq: 7000, Ack: 101, Flags: tcp.FlagSYN | tcp.FlagACK, Window: 16384}, "")
	c.udp(clientMAC, ether.Broadcast, anyClient, allHosts, dhcpMsg(dhcp.Discover))
	c.udp(hostMAC, ether.Broadcast, dhcpServer, netip.MustParseAddrPort("255.255.255.255:68"), dhcpMsg(dhcp.Offer))
	c.udp(clientMAC, ether.Broadcast, anyClient, allHosts, dhcpMsg(dhcp.Request))
	c.udp(hostMAC, ether.Broadcast, dhcpServer, netip.MustParseAddrPort("255.255.255.255:68"), dhcpMsg(dhcp.Ack))
	return c
}

func TestLearnServices(t *testing.T) {
	t.Parallel()
	path := servicesCapture(t).write(t.TempDir())
	res, err := Run(path, Config{As: hostAddr, LearnServices: true})
	require.NoError(t, err)
	p := res.Profile
	assert.Equal(t, []Service{{"udp", 67, ServiceDHCP}, {"tcp", 7, ServiceEcho}, {"tcp", 80, ServiceHTTP}, {"tcp", 4000, ""}}, p.Services)
	require.Len(t, p.DHCP, 1)
	assert.Equal(t, DHCPProfile{PoolStart: offered, PoolEnd: offered, Subnet: netip.MustParsePrefix("192.0.2.0/24"),
		Router: hostAddr, DNS: []netip.Addr{hostAddr}, LeaseTime: 120, Offers: 1, Acks: 1}, *p.DHCP[0])

	var lines []string
	for _, u := range res.Services {
		lines = append(lines, u.String())
	}
	assert.Equal(t, []string{"dhcp on udp/67 (learnt)", "echo on tcp/7 (learnt)", "http on tcp/80 (learnt)",
		"host served tcp/4000: no server given"}, lines)

	flows := map[string]diff.FlowReport{}
	for _, f := range res.Report.Flows {
		flows[f.Flow] = f
	}
	d, ok := flows["udp 192.0.2.1:67 <-> DHCP clients"]
	require.True(t, ok, "one DHCP flow: %v", res.Report.Flows)
	assert.Empty(t, d.Note, "the client's broadcasts were fed: not a flow the host opened")
	assert.Equal(t, 2, d.Recorded)
	assert.Equal(t, 2, d.Ours, "our DHCP server answered the DISCOVER and the REQUEST")
	assert.Zero(t, d.Counts[diff.Missing]+d.Counts[diff.Extra])
	for _, df := range d.Differences {
		for _, f := range df.Fields {
			assert.False(t, strings.HasPrefix(f, "message type") || strings.HasPrefix(f, "yiaddr") ||
				strings.Contains(f, "lease time") || strings.Contains(f, "router"), "learnt: %s", f)
		}
	}
	echo := flows["tcp 192.0.2.1:7 <-> 192.0.2.9:40000"]
	assert.True(t, echo.StreamsIdentical, "our echo sent hello back")

	// Without learning, no DHCP server: the recorded OFFER and ACK are
	// missing, and the port with no server is said.
	bare, err := Run(path, Config{As: hostAddr})
	require.NoError(t, err)
	assert.Empty(t, bare.Services)
	for _, f := range bare.Report.Flows {
		if f.Flow == "udp 192.0.2.1:67 <-> DHCP clients" {
			assert.Equal(t, 2, f.Counts[diff.Missing])
		}
	}
}

func TestPlanServicesNeedsZoneForDNS(t *testing.T) {
	t.Parallel()
	p := &Profile{Services: []Service{{"udp", 53, ServiceDNS}, {"tcp", 80, ServiceHTTP}}}
	got := PlanServices(p, Config{LearnServices: true, HTTPPort: 80})
	require.Len(t, got, 2)
	assert.Equal(t, ServiceUse{Service: Service{"tcp", 80, ServiceHTTP}, Source: "flag", Served: true}, got[0], "the flag wins")
	assert.False(t, got[1].Served)
	assert.Equal(t, "host served udp/53: DNS: no zone given (--zone)", got[1].String())
}

// TestReplayReportsOurICMP: a datagram to a port the recorded host did not
// answer on, and our host has no server for, draws a port unreachable
// from our stack: the report lists it as an icmp cause.
func TestReplayReportsOurICMP(t *testing.T) {
	t.Parallel()
	c := echoCapture(t)
	c.udp(peerMAC, hostMAC, netip.MustParseAddrPort("192.0.2.9:5000"), netip.AddrPortFrom(hostAddr, 9999), []byte("x"))
	res, err := Run(c.write(t.TempDir()), Config{As: hostAddr, EchoPort: 7})
	require.NoError(t, err)
	var causes []diff.Cause
	for _, cs := range res.Report.Causes {
		if cs.Kind == diff.CauseICMP {
			causes = append(causes, cs)
		}
	}
	require.Len(t, causes, 1, "%+v", res.Report.Causes)
	assert.Equal(t, "icmp 192.0.2.1", causes[0].Flow)
	assert.Contains(t, causes[0].Reason, "port unreachable for udp 192.0.2.1:9999 from 192.0.2.9")
	assert.Positive(t, causes[0].FirstReplayFrame)
	assert.Zero(t, causes[0].FirstFrame, "only ours sent it")
}
