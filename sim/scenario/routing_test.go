package scenario

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routed is a small routed scenario: a client behind r1 gets its lease
// from the server through r1's relay.
const routed = `name: r
duration: 30s
hosts:
  - name: srv
    interfaces: [{name: eth0, address: 10.0.0.1/24}]
    gateway: 10.0.0.254
  - name: r1
    forwarding: true
    interfaces:
      - {name: eth0, address: 10.0.0.254/24}
      - {name: eth1, address: 10.0.1.1/24, dhcp_relay: 10.0.0.1}
    routes:
      - {to: 10.9.0.0/16, via: 10.0.0.1}
  - name: cli
    interfaces: [{name: eth0, address: dhcp}]
links:
  - {name: l0, a: srv:eth0, b: r1:eth0}
  - {name: l1, a: r1:eth1, b: cli:eth0}
apps:
  - name: dhcpd
    type: dhcp_server
    host: srv
    pool: 10.0.0.100-10.0.0.110
    subnets:
      - {subnet: 10.0.1.0/24, pool: 10.0.1.100-10.0.1.110, router: 10.0.1.1}
  - {name: tr, type: traceroute, host: cli, target: 10.0.0.1, max_hops: 5, queries: 2, after: lease}
expect:
  - {host: cli, dhcp_bound: true}
  - {app: tr, reached: true, hops: 2}
`

func TestParseRouting(t *testing.T) {
	t.Parallel()
	s, err := Parse("r.yaml", []byte(routed))
	require.NoError(t, err)
	r1 := s.Hosts[1]
	assert.True(t, r1.Forwarding)
	assert.False(t, s.Hosts[0].Forwarding)
	assert.Equal(t, []Route{{To: netip.MustParsePrefix("10.9.0.0/16"), Via: netip.MustParseAddr("10.0.0.1"), Line: 13}}, r1.Routes)
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), r1.Interfaces[1].DHCPRelay)
	assert.False(t, r1.Interfaces[0].DHCPRelay.IsValid())
	require.Len(t, s.Apps[0].Subnets, 1)
	assert.Equal(t, DHCPSubnet{Subnet: netip.MustParsePrefix("10.0.1.0/24"), PoolStart: netip.MustParseAddr("10.0.1.100"),
		PoolEnd: netip.MustParseAddr("10.0.1.110"), Router: netip.MustParseAddr("10.0.1.1"), Line: 25}, s.Apps[0].Subnets[0])
	assert.Equal(t, 5, s.Apps[1].MaxHops)
	assert.Equal(t, 2, s.Apps[1].Queries)
	require.NotNil(t, s.Expect[1].Reached)
	assert.True(t, *s.Expect[1].Reached)
	assert.Equal(t, 2, *s.Expect[1].Hops)
}

func TestParseRoutingErrors(t *testing.T) {
	t.Parallel()
	repl := func(old, new string) string {
		if !strings.Contains(routed, old) {
			panic("test case does not match: " + old)
		}
		return strings.Replace(routed, old, new, 1)
	}
	cases := []struct {
		name, doc, want string
	}{
		{"route via no attached subnet", repl("via: 10.0.0.1}", "via: 10.5.0.1}"),
			`f.yaml:13: field "hosts[1].routes[0].via": route to 10.9.0.0/16 via 10.5.0.1: 10.5.0.1 is on no subnet attached to host "r1"`},
		{"route via own address", repl("via: 10.0.0.1}", "via: 10.0.0.254}"),
			`f.yaml:13: field "hosts[1].routes[0].via": route via 10.0.0.254: that is r1's own address`},
		{"route to a host address", repl("to: 10.9.0.0/16", "to: 10.9.0.1/16"),
			`f.yaml:13: field "hosts[1].routes[0].to": invalid destination "10.9.0.1/16" (want a network in CIDR notation, e.g. 10.1.0.0/16, 0.0.0.0/0, 2001:db8:2::/64 or ::/0)`},
		{"route missing via", repl("via: 10.0.0.1}", "via: }"),
			`f.yaml:13: field "hosts[1].routes[0].via": required field is missing`},
		{"forwarding not a boolean", repl("forwarding: true", "forwarding: yes please"),
			`f.yaml:8: field "hosts[1].forwarding": invalid boolean "yes please" (want true or false)`},
		{"relay without an address", repl("{name: eth0, address: dhcp}", "{name: eth0, address: dhcp, dhcp_relay: 10.0.0.1}"),
			`f.yaml:15: field "hosts[2].interfaces[0].dhcp_relay": a DHCP relay needs a static address on cli:eth0 (it becomes the requests' giaddr)`},
		{"relay to its own subnet", repl("dhcp_relay: 10.0.0.1", "dhcp_relay: 10.0.1.7"),
			`f.yaml:11: field "hosts[1].interfaces[1].dhcp_relay": server 10.0.1.7 is on the subnet relayed for: its clients reach it without a relay`},
		{"relay and server on one host", repl("host: srv\n    pool", "host: r1\n    pool"),
			`f.yaml:11: field "hosts[1].interfaces[1].dhcp_relay": host "r1" runs a dhcp_server: it cannot also relay on UDP port 67`},
		{"subnet overlaps the server's", repl("subnet: 10.0.1.0/24", "subnet: 10.0.0.0/23"),
			`f.yaml:25: field "apps[0].subnets[0].subnet": subnet 10.0.0.0/23 overlaps the server's own subnet 10.0.0.0/24`},
		{"subnet pool outside", repl("pool: 10.0.1.100-10.0.1.110", "pool: 10.0.2.100-10.0.2.110"),
			`f.yaml:25: field "apps[0].subnets[0].pool": pool 10.0.2.100-10.0.2.110 is not inside 10.0.1.0/24`},
		{"subnet router outside", repl("router: 10.0.1.1}", "router: 10.0.0.254}"),
			`f.yaml:25: field "apps[0].subnets[0].router": router 10.0.0.254 is not inside 10.0.1.0/24`},
		{"traceroute max_hops", repl("max_hops: 5", "max_hops: 300"),
			`f.yaml:26: field "apps[1].max_hops": 300 is out of range [1, 255]`},
		{"traceroute queries", repl("queries: 2", "queries: 0"),
			`f.yaml:26: field "apps[1].queries": 0 is out of range [1, 10]`},
		{"hops on a ping", repl("{app: tr, reached: true, hops: 2}", "{app: tr, reached: true, min_replies: 2}"),
			`f.yaml:29: field "expect[1].min_replies": min_replies applies to ping apps, and "tr" is a traceroute app`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("f.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// TestRunRelayAndTraceroute runs the routed scenario: the client behind
// r1 gets a lease from the server's relayed subnet, and traces its way
// back through r1 to the server.
func TestRunRelayAndTraceroute(t *testing.T) {
	t.Parallel()
	s, err := Parse("r.yaml", []byte(routed))
	require.NoError(t, err)
	dir := t.TempDir()
	rep, err := Run(s, Options{OutDir: dir})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Failed())
	// The server's capture names the client's leased address too.
	b, err := os.ReadFile(filepath.Join(dir, "srv.pcapng"))
	require.NoError(t, err)
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
	}
	var names []string
	for i := range r.NNames() {
		nr, err := r.Name(i)
		require.NoError(t, err)
		names = append(names, nr.Addr.(*pcapgo.NgIPAddress).Addr.String()+" "+strings.Join(nr.Names, ","))
	}
	assert.Equal(t, []string{"10.0.0.1 srv", "10.0.0.254 r1", "10.0.1.1 r1", "10.0.1.100 cli"}, names)
	cli := rep.Hosts[2]
	require.Len(t, cli.DHCP, 1)
	assert.Equal(t, "10.0.1.100/24", cli.DHCP[0].Address)
	assert.Equal(t, "10.0.1.1", cli.DHCP[0].Router)
	require.NotNil(t, rep.Hosts[1].DHCPRelay)
	assert.Equal(t, uint64(2), rep.Hosts[1].DHCPRelay.Requests)
	assert.Nil(t, rep.Hosts[0].DHCPRelay)
	assert.Positive(t, rep.Hosts[1].IP.Forwarded)

	// Without the relay the client gets nothing.
	s, err = Parse("r.yaml", []byte(strings.Replace(routed, ", dhcp_relay: 10.0.0.1", "", 1)))
	require.NoError(t, err)
	rep, err = Run(s, Options{})
	require.NoError(t, err)
	assert.False(t, rep.Passed)
}
