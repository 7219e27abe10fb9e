package scenario

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grouped has a group of three clients on a switch, each pinging the
// server and sending it a TCP stream.
const grouped = `name: g
duration: 20s
hosts:
  - name: srv
    interfaces: [{name: eth0, address: 10.0.0.1/24}]
  - name: cli
    count: 3
    interfaces: [{name: eth0, address: 10.0.0.10/24}]
switches:
  - name: sw
links:
  - {name: srv-sw, a: srv:eth0, b: sw}
  - {name: cli-sw, a: cli:eth0, b: sw, impair: {delay: 2ms}}
apps:
  - {name: p, type: ping, host: cli, target: 10.0.0.1, count: 3}
  - {name: sink, type: tcp_discard, host: srv, port: 9}
  - {name: up, type: tcp_send, host: cli, target: "10.0.0.1:9", bytes: 64KiB}
  - {name: p2, type: ping, host: cli2, target: 10.0.0.1, count: 1}
schedule:
  - {at: 10s, link: cli-sw, action: down}
expect:
  - {app: p, min_replies: 3}
  - {app: up, min_bytes: 64KiB}
  - {app: p2, min_replies: 1}
`

func TestParseGroups(t *testing.T) {
	t.Parallel()
	s, err := Parse("g.yaml", []byte(grouped))
	require.NoError(t, err)
	require.Len(t, s.Hosts, 4)
	require.Equal(t, []Group{{Name: "cli", Members: []string{"cli1", "cli2", "cli3"}, Line: 6}}, s.Groups)
	for k, h := range s.Hosts[1:] {
		assert.Equal(t, "cli"+string(rune('1'+k)), h.Name)
		assert.Equal(t, netip.MustParsePrefix("10.0.0."+string(rune('0'+k))+"/24").Bits(), h.Interfaces[0].Address.Bits())
		assert.Equal(t, netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + k)}), h.Interfaces[0].Address.Addr())
		assert.Equal(t, DeriveMAC(h.Name, "eth0"), h.Interfaces[0].MAC)
		assert.Zero(t, h.Count)
	}
	var links []string
	for _, l := range s.Links {
		links = append(links, l.Name+"="+l.A.String())
	}
	assert.Equal(t, []string{"srv-sw=srv:eth0", "cli-sw-1=cli1:eth0", "cli-sw-2=cli2:eth0", "cli-sw-3=cli3:eth0"}, links)
	var apps []string
	for _, a := range s.Apps {
		apps = append(apps, a.Name+"@"+a.Host+"/"+a.Group)
	}
	assert.Equal(t, []string{"p-1@cli1/p", "p-2@cli2/p", "p-3@cli3/p", "sink@srv/", "up-1@cli1/up", "up-2@cli2/up", "up-3@cli3/up", "p2@cli2/"}, apps)
	var expect []string
	for _, e := range s.Expect {
		expect = append(expect, e.App)
	}
	assert.Equal(t, []string{"p-1", "p-2", "p-3", "up-1", "up-2", "up-3", "p2"}, expect)
	var events []string
	for _, e := range s.Schedule {
		events = append(events, e.Link)
	}
	assert.Equal(t, []string{"cli-sw-1", "cli-sw-2", "cli-sw-3"}, events)
}

func TestParseGroupErrors(t *testing.T) {
	t.Parallel()
	repl := func(old, new string) string {
		if !strings.Contains(grouped, old) {
			panic("test case does not match: " + old)
		}
		return strings.Replace(grouped, old, new, 1)
	}
	cases := []struct {
		name, doc, want string
	}{
		{"out of addresses", repl("count: 3", "count: 250"),
			`f.yaml:8: field "hosts[1].interfaces[0].address": host group "cli" (count 250) runs out of addresses in 10.0.0.0/24 at member cli246 (the last usable address is 10.0.0.254)`},
		{"out of addresses on a /30", repl("address: 10.0.0.10/24}", "address: 10.0.0.10/30}"),
			`f.yaml:8: field "hosts[1].interfaces[0].address": host group "cli" (count 3) runs out of addresses in 10.0.0.8/30 at member cli2 (the last usable address is 10.0.0.10)`},
		{"mac with count", repl("address: 10.0.0.10/24}", `address: 10.0.0.10/24, mac: "02:00:00:00:00:01"}`),
			`f.yaml:8: field "hosts[1].interfaces[0].mac": mac is not allowed on a host with count: each member gets a MAC derived from its name`},
		{"host named like a group", repl("  - name: srv\n", "  - name: cli\n"),
			`f.yaml:4: field "hosts[0].name": host name "cli" is also the name of a host group`},
		{"count zero", repl("count: 3", "count: 0"),
			`f.yaml:7: field "hosts[1].count": 0 is out of range [1, 100000]`},
		{"member name clash", repl("switches:\n", "  - {name: cli2, interfaces: [{name: eth0, address: 10.0.0.99/24}]}\nswitches:\n"),
			`f.yaml:9: field "hosts[2].name": duplicate host name "cli2"`},
		{"group name too long", repl("name: cli\n", "name: "+strings.Repeat("c", 63)+"\n"),
			`f.yaml:6: field "hosts[1].name": the generated name "` + strings.Repeat("c", 63) + `1" is longer than 63 characters: shorten the name`},
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

// TestParseGroupPairs links two groups member by member, and refuses
// groups of different sizes.
func TestParseGroupPairs(t *testing.T) {
	t.Parallel()
	doc := `name: pairs
duration: 5s
hosts:
  - {name: a, count: 2, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, count: 2, interfaces: [{name: eth0, address: 10.0.0.101/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0}
`
	s, err := Parse("p.yaml", []byte(doc))
	require.NoError(t, err)
	require.Len(t, s.Links, 2)
	assert.Equal(t, Link{Name: "ab-2", A: Endpoint{Host: "a2", Iface: "eth0"}, B: Endpoint{Host: "b2", Iface: "eth0"}, MTU: DefaultMTU, Line: 7}, s.Links[1])
	_, err = Parse("p.yaml", []byte(strings.Replace(doc, "name: b, count: 2", "name: b, count: 3", 1)))
	assert.EqualError(t, err, `p.yaml:7: field "links[0].b": groups "a" (2 members) and "b" (3 members) differ in size: a link pairs their members`)
}

// TestRunGroups runs the grouped scenario: every member's apps run, each
// member's expectations are checked, and the report aggregates them.
func TestRunGroups(t *testing.T) {
	t.Parallel()
	s, err := Parse("g.yaml", []byte(grouped))
	require.NoError(t, err)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Failed())
	assert.Len(t, rep.Expectations, 7)
	require.Len(t, rep.Groups, 2)
	p := rep.Groups[0]
	assert.Equal(t, "p", p.App)
	assert.Equal(t, "cli", p.Host)
	assert.Equal(t, 3, p.Members)
	require.NotNil(t, p.RTTMs)
	assert.Equal(t, 3, p.RTTMs.N)
	assert.InDelta(t, 16.0/3, p.RTTMs.P50, 1.0, "2 ms each way on the member's link; the first ping waits for ARP: (8+4+4)/3")
	require.NotNil(t, p.RTT)
	assert.Equal(t, 3, p.RTT.N)
	assert.InDelta(t, p.RTTMs.P50*1e6, float64(p.RTT.P50), 1, "rtt in ns is rtt_ms in ns")
	assert.Equal(t, durationStat(p.RTTMs), p.RTT)
	assert.Nil(t, p.GoodputBps)
	up := rep.Groups[1]
	require.NotNil(t, up.GoodputBps)
	assert.Equal(t, 3, up.GoodputBps.N)
	assert.InDelta(t, up.GoodputBps.Sum, up.GoodputBps.Min+up.GoodputBps.P50+up.GoodputBps.Max, 1)
	assert.LessOrEqual(t, up.GoodputBps.Min, up.GoodputBps.P50)
	assert.LessOrEqual(t, up.GoodputBps.P99, up.GoodputBps.Max)
	for _, a := range rep.Apps {
		if a.Group == "up" {
			assert.Empty(t, a.Error)
		}
	}

	// An expectation on a group app must hold for every member.
	s, err = Parse("g.yaml", []byte(strings.Replace(grouped, "{app: p2, min_replies: 1}", "{app: p2, min_replies: 1}\n  - {app: p, max_loss: 0%}", 1)+
		"  - {app: up, bytes_verified: true}\n"))
	require.NoError(t, err)
	s.Links[2].AtoB.Loss = 1 // cli2's link loses everything
	rep, err = Run(s, Options{})
	require.NoError(t, err)
	var failed []string
	for _, f := range rep.Failed() {
		failed = append(failed, f.App+" "+strings.SplitN(f.Condition, ":", 2)[0])
	}
	assert.Equal(t, []string{"p-2 min_replies", "up-2 min_bytes", "p2 min_replies", "p-2 max_loss", "up-2 bytes_verified"}, failed)
}

func TestStat(t *testing.T) {
	t.Parallel()
	assert.Nil(t, newStat(nil))
	vs := make([]float64, 100)
	for i := range vs {
		vs[i] = float64(100 - i)
	}
	assert.Equal(t, &Stat{N: 100, Sum: 5050, Min: 1, P50: 50, P99: 99, Max: 100}, newStat(vs))
	assert.Equal(t, &Stat{N: 1, Sum: 7, Min: 7, P50: 7, P99: 7, Max: 7}, newStat([]float64{7}))
}

// TestSummaryOfLargeGroup: a group larger than maxSummaryMembers gets one
// summary line per app and per condition, not one per member.
func TestSummaryOfLargeGroup(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(grouped, "count: 3", "count: 12", 1)
	doc = strings.Replace(doc, "  - {at: 10s, link: cli-sw, action: down}\n", "  - {at: 10s, link: cli-sw-2, action: down}\n", 1)
	s, err := Parse("g.yaml", []byte(doc))
	require.NoError(t, err)
	s.Links[2].AtoB.Loss = 1 // cli2 loses everything
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, rep.WriteSummary(&b))
	out := b.String()
	assert.NotContains(t, out, "p-5 ")
	assert.Contains(t, out, "  p            ping     on group cli: 12 members, rtt ms min")
	assert.Contains(t, out, "  FAIL p min_replies: 3 (11 of 12 members passed)\n      p-2: got 0 replies to 3 requests\n")
	assert.Contains(t, out, "  FAIL p2 min_replies: 1 (got 0 replies to 1 requests)\n", "an app on one member is listed on its own")
}

// TestParseGroupDHCP: a group of DHCP clients, named one by one in a
// capture block and an app, and a dhcp_bound expectation on the group.
func TestParseGroupDHCP(t *testing.T) {
	t.Parallel()
	doc := `name: d
duration: 30s
hosts:
  - {name: srv, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: c, count: 3, interfaces: [{name: eth0, address: dhcp}]}
switches: [{name: sw}]
links:
  - {name: s, a: srv:eth0, b: sw}
  - {name: l, a: c:eth0, b: sw}
apps:
  - {name: dhcpd, type: dhcp_server, host: srv, pool: 10.0.0.100-10.0.0.200}
  - {name: p, type: ping, host: c3, target: 10.0.0.1, after: lease}
expect:
  - {host: c, dhcp_bound: true}
capture: {hosts: [c2]}
`
	s, err := Parse("d.yaml", []byte(doc))
	require.NoError(t, err)
	var hosts []string
	for _, e := range s.Expect {
		hosts = append(hosts, e.Host)
	}
	assert.Equal(t, []string{"c1", "c2", "c3"}, hosts)
	assert.Equal(t, []string{"c2"}, s.Capture.Hosts)
	assert.Equal(t, "c3", s.Apps[1].Host)
	assert.Empty(t, s.Apps[1].Group)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Failed())
	var leases []string
	for _, h := range rep.Hosts {
		for _, l := range h.DHCP {
			leases = append(leases, h.Name+"="+l.Address)
		}
	}
	assert.Len(t, leases, 3)
}
