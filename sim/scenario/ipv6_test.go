package scenario

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dual is a small dual-stack scenario: a router with ra: true between a
// SLAAC host and a server with IPv4 and IPv6 addresses.
const dual = `name: dual
duration: 8s
hosts:
  - name: r
    forwarding: true
    ra: true
    interfaces:
      - {name: eth0, addresses: [10.0.0.1/24, 2001:db8:1::1/64]}
      - {name: eth1, address: 2001:db8:2::1/64, addresses: [10.0.1.1/24]}
  - name: cli
    interfaces: [{name: eth0, slaac: true}]
  - name: srv
    interfaces: [{name: eth0, addresses: [2001:db8:2::10/64]}]
    routes: [{to: "::/0", via: "2001:db8:2::1"}]
links:
  - {name: l1, a: r:eth0, b: cli:eth0, impair: {delay: 1ms}}
  - {name: l2, a: r:eth1, b: srv:eth0, impair: {delay: 1ms}}
apps:
  - {name: web, type: http_server, host: srv, port: 80}
  - {name: sink, type: tcp_recv, host: srv, port: 9, bytes: 64KiB}
  - {name: get, type: http_get, host: cli, url: "http://[2001:db8:2::10]/", start: 4s}
  - {name: ping, type: ping, host: cli, target: 2001:db8:2::10, count: 2, start: 4s}
  - {name: tr, type: traceroute, host: cli, target: 2001:db8:2::10, queries: 1, start: 4s}
  - {name: send, type: tcp_send, host: cli, target: "[2001:db8:2::10]:9", bytes: 64KiB, start: 4s}
expect:
  - {app: get, http_status: 200}
  - {app: ping, min_replies: 2}
  - {app: tr, reached: true, hops: 2}
  - {app: send, bytes_verified: true}
`

// The IPv6 scenario keys: addresses beside address, slaac, ra and IPv6
// routes decode, and a run over them passes (SLAAC from the router's
// advertisements, forwarding, apps with IPv6 targets).
func TestScenarioIPv6Keys(t *testing.T) {
	t.Parallel()
	s, err := Parse("f.yaml", []byte(dual))
	require.NoError(t, err)
	r := s.Hosts[0]
	assert.True(t, r.RA)
	assert.Equal(t, netip.MustParsePrefix("10.0.0.1/24"), r.Interfaces[0].Address)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("2001:db8:1::1/64")}, r.Interfaces[0].IPv6)
	assert.Equal(t, netip.MustParsePrefix("10.0.1.1/24"), r.Interfaces[1].Address)
	assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("2001:db8:2::1/64")}, r.Interfaces[1].IPv6)
	assert.True(t, s.Hosts[1].Interfaces[0].SLAAC)
	assert.False(t, s.Hosts[1].Interfaces[0].Address.IsValid())
	assert.Equal(t, Route{To: netip.MustParsePrefix("::/0"), Via: netip.MustParseAddr("2001:db8:2::1"), Line: 14}, s.Hosts[2].Routes[0])
	assert.Equal(t, netip.MustParseAddr("2001:db8:2::10"), s.Apps[3].Target)
	assert.Equal(t, uint16(9), s.Apps[5].TargetPort)

	rep, err := Run(s, Options{Seed: 1, SeedSet: true})
	require.NoError(t, err)
	for _, e := range rep.Expectations {
		assert.True(t, e.Passed, "%+v", e)
	}
	assert.True(t, rep.Passed)
}

func TestScenarioIPv6Errors(t *testing.T) {
	t.Parallel()
	repl := func(old, new string) string {
		if !strings.Contains(dual, old) {
			panic("test case does not match: " + old)
		}
		return strings.Replace(dual, old, new, 1)
	}
	for _, c := range []struct{ name, doc, want string }{
		{"ra without forwarding", repl("forwarding: true", "forwarding: false"),
			`f.yaml:6: field "hosts[0].ra": ra: true needs forwarding: true (only routers advertise themselves, RFC 4861 section 6.2)`},
		{"two IPv4 addresses", repl("addresses: [10.0.1.1/24]", "addresses: [10.0.1.1/24, 10.0.2.1/24]"),
			`f.yaml:9: field "hosts[0].interfaces[1].addresses[1]": one IPv4 address per interface`},
		{"bad IPv6 CIDR", repl("2001:db8:1::1/64", "2001:db8:1::1/129"),
			`f.yaml:8: field "hosts[0].interfaces[0].addresses[1]": invalid CIDR "2001:db8:1::1/129" (want an address with a prefix length, e.g. 192.0.2.1/24 or 2001:db8::1/64)`},
		{"multicast address", repl("2001:db8:1::1/64", "ff02::1/64"),
			`f.yaml:8: field "hosts[0].interfaces[0].addresses[1]": ff02::1/64 is not a unicast address`},
		{"duplicate IPv6 address", repl("2001:db8:1::1/64", "2001:db8:2::10/64"),
			`f.yaml:13: field "hosts[2].interfaces[0].addresses": address 2001:db8:2::10 is already used by r:eth0`},
		{"route via the other family", repl(`via: "2001:db8:2::1"`, `via: 10.0.1.1`),
			`f.yaml:14: field "hosts[2].routes[0].via": route to ::/0 via 10.0.1.1: the next hop must be of the destination's family`},
		{"route via off link", repl(`via: "2001:db8:2::1"`, `via: "2001:db8:9::1"`),
			`f.yaml:14: field "hosts[2].routes[0].via": route to ::/0 via 2001:db8:9::1: 2001:db8:9::1 is on no subnet attached to host "srv"`},
		{"no address at all", repl("{name: eth0, slaac: true}", "{name: eth0}"),
			`f.yaml:11: field "hosts[1].interfaces[0].address": required field is missing`},
		{"tcp target without brackets", repl(`"[2001:db8:2::10]:9"`, `"2001:db8:2::10:9"`),
			`f.yaml:24: field "apps[5].target": invalid address:port "2001:db8:2::10:9" (want e.g. 192.0.2.2:9000 or [2001:db8::2]:9000)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("f.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// A host group's IPv6 addresses count up like its IPv4 ones, and a group
// that would leave its IPv6 prefix is refused.
func TestScenarioIPv6Groups(t *testing.T) {
	t.Parallel()
	const doc = `name: g
duration: 1s
hosts:
  - name: cli
    count: 3
    interfaces: [{name: eth0, addresses: [10.0.0.10/24, 2001:db8:1::fe/64]}]
switches: [{name: sw}]
links:
  - {name: l, a: cli:eth0, b: sw}
`
	s, err := Parse("f.yaml", []byte(doc))
	require.NoError(t, err)
	var got []string
	for _, h := range s.Hosts {
		got = append(got, h.Interfaces[0].IPv6[0].String())
	}
	assert.Equal(t, []string{"2001:db8:1::fe/64", "2001:db8:1::ff/64", "2001:db8:1::100/64"}, got)

	_, err = Parse("f.yaml", []byte(strings.Replace(doc, "2001:db8:1::fe/64", "2001:db8:1::fe/120", 1)))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `host group "cli" (count 3) runs out of addresses in 2001:db8:1::/120 at member cli3`)
}
