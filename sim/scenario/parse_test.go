package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
)

// valid is a small scenario every error case starts from.
const valid = `name: t
duration: 10s
hosts:
  - name: a
    interfaces: [{name: eth0, address: 10.0.0.1/24}]
  - name: b
    interfaces: [{name: eth0, address: 10.0.0.2/24}]
switches:
  - name: sw
links:
  - {name: l1, a: a:eth0, b: sw}
  - {name: l2, a: b:eth0, b: sw}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2}
  - {name: s, type: udp_sink, host: b, port: 9000}
  - {name: u, type: udp_send, host: a, target: 10.0.0.2:9000}
`

func TestParseValid(t *testing.T) {
	s, err := Parse("v.yaml", []byte(valid+`schedule:
  - {at: 1s, link: l1, action: down}
  - {at: 2s, link: l1, set: {loss: 50%, b_to_a: {delay: 5ms, gilbert: {p: 1%, r: 30%}}}}
expect:
  - {app: p, min_replies: 3, max_loss: 0.4}
  - {app: s, min_datagrams: 5, bytes_verified: true}
`))
	require.NoError(t, err)
	assert.Equal(t, "t", s.Name)
	assert.False(t, s.HasSeed)
	assert.Equal(t, 10*time.Second, s.Duration)
	require.Len(t, s.Hosts, 2)
	assert.Equal(t, DeriveMAC("a", "eth0"), s.Hosts[0].Interfaces[0].MAC)
	assert.Equal(t, byte(0x02), s.Hosts[0].Interfaces[0].MAC[0])
	assert.Equal(t, Endpoint{Host: "a", Iface: "eth0"}, s.Links[0].A)
	assert.Equal(t, Endpoint{Switch: "sw"}, s.Links[0].B)
	assert.Equal(t, DefaultMTU, s.Links[0].MTU)
	assert.Equal(t, App{Name: "p", Type: AppPing, Host: "a", Target: s.Apps[0].Target, Count: 5, Size: 56, Interval: time.Second, Line: 14}, s.Apps[0])
	assert.Equal(t, uint16(9000), s.Apps[2].TargetPort)
	require.Len(t, s.Schedule, 2)
	assert.Equal(t, ActionSet, s.Schedule[1].Action)
	ab := s.Schedule[1].SetAtoB.Apply(Impair{Delay: time.Second})
	ba := s.Schedule[1].SetBtoA.Apply(Impair{})
	assert.Equal(t, Impair{Loss: 0.5, Delay: time.Second}, ab)
	assert.Equal(t, Impair{Loss: 0.5, Delay: 5 * time.Millisecond, Gilbert: &Gilbert{P: 0.01, R: 0.3, LossBad: 1}}, ba)
	require.NotNil(t, s.Expect[0].MaxLoss)
	assert.InDelta(t, 0.4, *s.Expect[0].MaxLoss, 1e-12)
}

func TestParseTCPApps(t *testing.T) {
	s, err := Parse("v.yaml", []byte(valid+`  - {name: r, type: tcp_recv, host: b, port: 9000, bytes: 2MiB}
  - {name: x, type: tcp_send, host: a, target: 10.0.0.2:9000, bytes: 2000000, start: 1s}
  - {name: e, type: tcp_echo, host: a, port: 7}
expect:
  - {app: r, bytes_verified: true, min_bytes: 1MB}
`))
	require.NoError(t, err)
	require.Len(t, s.Apps, 6)
	assert.Equal(t, int64(2<<20), s.Apps[3].Bytes)
	assert.Equal(t, uint16(9000), s.Apps[3].Port, "a TCP port does not clash with the UDP sink's")
	assert.Equal(t, int64(2000000), s.Apps[4].Bytes)
	assert.Equal(t, uint16(9000), s.Apps[4].TargetPort)
	require.NotNil(t, s.Expect[0].MinBytes)
	assert.Equal(t, int64(1000000), *s.Expect[0].MinBytes)
}

// TestParseJitterVocabulary: jitter_dist and keep_order mean what taprun's
// --jitter-dist and --keep-order mean, and reach the link's configuration.
func TestParseJitterVocabulary(t *testing.T) {
	s, err := Parse("v.yaml", []byte(strings.Replace(valid, "{name: l1, a: a:eth0, b: sw}",
		`{name: l1, a: a:eth0, b: sw, impair: {delay: 10ms, jitter: 2ms, jitter_dist: normal, a_to_b: {keep_order: true}}}`, 1)))
	require.NoError(t, err)
	ab, ba := s.Links[0].AtoB.Config(1500), s.Links[0].BtoA.Config(1500)
	assert.Equal(t, impair.JitterNormal, ab.JitterDist)
	assert.Equal(t, impair.JitterNormal, ba.JitterDist)
	assert.True(t, ab.KeepOrder)
	assert.False(t, ba.KeepOrder)
}

func TestParseImpairValues(t *testing.T) {
	s, err := Parse("v.yaml", []byte(strings.Replace(valid, "{name: l1, a: a:eth0, b: sw}",
		`{name: l1, a: a:eth0, b: sw, mtu: 9000, impair: {loss: 0.05, delay: 10ms, jitter: 2ms, reorder: 1%, duplicate: 1%, corrupt: 0.1%, rate: 1.5Mbit, queue: 64KiB, a_to_b: {queue: 10, rate: 100kbps}}}`, 1)))
	require.NoError(t, err)
	l := s.Links[0]
	assert.Equal(t, 9000, l.MTU)
	assert.Equal(t, int64(100000), l.AtoB.Rate)
	assert.Equal(t, Queue{Packets: 10}, l.AtoB.Queue)
	assert.Equal(t, int64(1500000), l.BtoA.Rate)
	assert.Equal(t, Queue{Bytes: 65536}, l.BtoA.Queue)
	assert.InDelta(t, 0.001, l.BtoA.Corrupt, 1e-12)
	assert.InDelta(t, 0.05, l.AtoB.Loss, 1e-12)
	assert.Equal(t, 2*time.Millisecond, l.AtoB.Jitter)
}

func TestParseErrors(t *testing.T) {
	repl := func(old, new string) string {
		if !strings.Contains(valid, old) {
			panic("test case does not match: " + old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	cases := []struct {
		name, doc, want string
	}{
		{"invalid CIDR", repl("10.0.0.2/24", "10.0.0.300/24"),
			`f.yaml:7: field "hosts[1].interfaces[0].address": invalid CIDR "10.0.0.300/24" (want an IPv4 address with a prefix length, e.g. 192.0.2.1/24, or dhcp)`},
		{"unknown field", repl("  - name: sw", "  - name: sw\n    ports: 4"),
			`f.yaml:10: field "switches[0].ports": unknown field (want one of name)`},
		{"unknown top field", "nme: x\n" + valid,
			`f.yaml:1: field "nme": unknown field (want one of name, seed, duration, hosts, switches, links, apps, schedule, expect, capture)`},
		{"missing duration", repl("duration: 10s\n", ""),
			`f.yaml:1: field "duration": required field is missing`},
		{"bad duration", repl("duration: 10s", "duration: 10"),
			`f.yaml:2: field "duration": invalid duration "10" (want a number with a unit, e.g. 10ms, 1.5s, 2m)`},
		{"bad probability", repl("b: sw}", "b: sw, impair: {loss: 150%}}"),
			`f.yaml:11: field "links[0].impair.loss": invalid probability "150%" (want 0%..100% or 0..1)`},
		{"bad rate", repl("b: sw}", "b: sw, impair: {rate: fast}}"),
			`f.yaml:11: field "links[0].impair.rate": invalid rate "fast" (want e.g. 10Mbit, 512kbit, 1Gbit; 0 for unlimited)`},
		{"bad queue", repl("b: sw}", "b: sw, impair: {queue: 0}}"),
			`f.yaml:11: field "links[0].impair.queue": invalid queue "0" (want packets, e.g. 64, or bytes with a unit: B, KB, KiB, MB, MiB)`},
		{"queue without rate", repl("b: sw}", "b: sw, impair: {queue: 10, a_to_b: {rate: 1Mbit}}}"),
			`f.yaml:11: field "links[0].impair": a queue bound needs a rate in the same direction`},
		{"gilbert never recovers", repl("b: sw}", "b: sw, impair: {gilbert: {p: 1%, r: 0}}}"),
			`f.yaml:11: field "links[0].impair.gilbert.r": r must be positive when p is: the channel would never leave the bad state`},
		{"ping count", repl("target: 10.0.0.2}", "target: 10.0.0.2, count: 70000}"),
			`f.yaml:14: field "apps[0].count": 70000 is out of range [1, 65535]`},
		{"mtu range", repl("b: sw}", "b: sw, mtu: 20}"),
			`f.yaml:11: field "links[0].mtu": 20 is out of range [68, 65535]`},
		{"gilbert missing r", repl("b: sw}", "b: sw, impair: {gilbert: {p: 1%}}}"),
			`f.yaml:11: field "links[0].impair.gilbert.r": required field is missing`},
		{"bad mac", repl("address: 10.0.0.1/24}", "address: 10.0.0.1/24, mac: \"01:00:00:00:00:01\"}"),
			`f.yaml:5: field "hosts[0].interfaces[0].mac": MAC address "01:00:00:00:00:01" is not a unicast address`},
		{"bad name", repl("name: a\n", "name: \"a/../b\"\n"),
			`f.yaml:4: field "hosts[0].name": invalid name "a/../b" (want 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit)`},
		{"duplicate host", repl("switches:", "  - name: a\n    interfaces: [{name: eth0, address: 10.0.0.3/24}]\nswitches:"),
			`f.yaml:8: field "hosts[2].name": duplicate host name "a"`},
		{"duplicate address", repl("10.0.0.2/24", "10.0.0.1/24"),
			`f.yaml:7: field "hosts[1].interfaces[0].address": address 10.0.0.1 is already used by a:eth0`},
		{"network address", repl("10.0.0.2/24", "10.0.0.0/24"),
			`f.yaml:7: field "hosts[1].interfaces[0].address": 10.0.0.0/24 is the network or broadcast address of its subnet`},
		{"gateway off subnet", repl("  - name: b\n", "    gateway: 10.9.0.1\n  - name: b\n"),
			`f.yaml:6: field "hosts[0].gateway": gateway 10.9.0.1 is not on any subnet of host "a"`},
		{"link to unknown switch", repl("b: sw}", "b: sw9}"),
			`f.yaml:11: field "links[0].b": no host interface or switch named "sw9"`},
		{"link to bare host", repl("{name: l1, a: a:eth0, b: sw}", "{name: l1, a: a, b: sw}"),
			`f.yaml:11: field "links[0].a": "a" is a host: name its interface, e.g. "a:eth0"`},
		{"link to missing iface", repl("a: a:eth0", "a: a:eth1"),
			`f.yaml:11: field "links[0].a": host "a" has no interface "eth1"`},
		{"iface on two links", repl("a: b:eth0", "a: a:eth0"),
			`f.yaml:12: field "links[1].a": interface a:eth0 is already attached to link "l1"`},
		{"unknown app type", repl("type: ping", "type: pong"),
			`f.yaml:14: field "apps[0].type": unknown app type "pong" (want one of arp_spoof, dhcp_rogue, dhcp_server, dns_bad_query, dns_lookup, dns_server, frag_flood, http_get, http_server, ping, syn_flood, tcp_discard, tcp_echo, tcp_echo_client, tcp_inject, tcp_recv, tcp_send, traceroute, udp_send, udp_sink)`},
		{"field not for type", repl("port: 9000}", "port: 9000, count: 3}"),
			`f.yaml:15: field "apps[1].count": not used by a udp_sink app`},
		{"ping target missing", repl(", target: 10.0.0.2}", "}"),
			`f.yaml:14: field "apps[0].target": required field is missing`},
		{"udp target without port", repl("target: 10.0.0.2:9000", "target: 10.0.0.2"),
			`f.yaml:16: field "apps[2].target": invalid address:port "10.0.0.2" (want e.g. 192.0.2.2:9000 or [2001:db8::2]:9000)`},
		{"udp size too small", repl("target: 10.0.0.2:9000}", "target: 10.0.0.2:9000, size: 4}"),
			`f.yaml:16: field "apps[2].size": 4 is out of range [16, 65507]`},
		{"app on unknown host", repl("host: b, port", "host: z, port"),
			`f.yaml:15: field "apps[1].host": no host named "z"`},
		{"app starts too late", repl("target: 10.0.0.2}", "target: 10.0.0.2, start: 10s}"),
			`f.yaml:14: field "apps[0].start": app starts at 10s, not before the end of the run (10s)`},
		{"event unknown link", valid + "schedule:\n  - {at: 1s, link: l9, action: down}\n",
			`f.yaml:18: field "schedule[0].link": no link named "l9"`},
		{"event bad action", valid + "schedule:\n  - {at: 1s, link: l1, action: explode}\n",
			`f.yaml:18: field "schedule[0].action": unknown action "explode" (want down or up, or a set block)`},
		{"bad jitter_dist", repl("b: sw}", "b: sw, impair: {jitter: 1ms, jitter_dist: pareto}}"),
			`f.yaml:11: field "links[0].impair.jitter_dist": unknown jitter distribution "pareto" (want uniform or normal)`},
		{"bad keep_order", repl("b: sw}", "b: sw, impair: {keep_order: maybe}}"),
			`f.yaml:11: field "links[0].impair.keep_order": invalid boolean "maybe" (want true or false)`},
		{"crash unknown host", valid + "schedule:\n  - {at: 1s, host: zz, action: crash}\n",
			`f.yaml:18: field "schedule[0].host": no host named "zz"`},
		{"host and link", valid + "schedule:\n  - {at: 1s, host: a, link: l1, action: crash}\n",
			`f.yaml:18: field "schedule[0].host": give either link or host, not both`},
		{"host bad action", valid + "schedule:\n  - {at: 1s, host: a, action: down}\n",
			`f.yaml:18: field "schedule[0].action": unknown host action "down" (want crash or restart)`},
		{"host set", valid + "schedule:\n  - {at: 1s, host: a, set: {loss: 1%}}\n",
			`f.yaml:18: field "schedule[0].set": a set block changes a link; a host event takes action: crash|restart`},
		{"restart a running host", valid + "schedule:\n  - {at: 1s, host: a, action: restart}\n",
			`f.yaml:18: field "schedule[0].action": host "a" is running at 1s: restart follows a crash`},
		{"crash twice", valid + "schedule:\n  - {at: 3s, host: a, action: crash}\n  - {at: 1s, host: a, action: crash}\n",
			`f.yaml:18: field "schedule[0].action": host "a" is already crashed at 3s`},
		{"set leaves queue without rate", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, queue: 10}}", 1) + "schedule:\n  - {at: 2s, link: l1, set: {a_to_b: {queue: 20}}}\n  - {at: 1s, link: l1, set: {b_to_a: {rate: 0}}}\n",
			`f.yaml:19: field "schedule[1].set": after this change, b_to_a of link "l1" has a queue bound but no rate`},
		{"ecn without an AQM", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, ecn: true}}", 1),
			`f.yaml:11: field "links[0].impair.ecn": ecn marks instead of dropping and needs an AQM qdisc in a_to_b (red, codel or fq_codel)`},
		{"ecn beside another direction's AQM", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, ecn: true, b_to_a: {qdisc: codel}}}", 1),
			`f.yaml:11: field "links[0].impair.ecn": ecn marks instead of dropping and needs an AQM qdisc in a_to_b (red, codel or fq_codel)`},
		{"AQM without a rate", strings.Replace(valid, "b: sw}", "b: sw, impair: {qdisc: fq_codel}}", 1),
			`f.yaml:11: field "links[0].impair": qdisc fq_codel in a_to_b needs a rate: it manages the rate limiter's queue`},
		{"AQM with a fifo bound", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, queue: 10, qdisc: red}}", 1),
			`f.yaml:11: field "links[0].impair": queue bounds the fifo in a_to_b; qdisc red takes limit`},
		{"unknown qdisc", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, qdisc: sfq}}", 1),
			`f.yaml:11: field "links[0].impair.qdisc": unknown qdisc "sfq" (want fifo, red, codel or fq_codel)`},
		{"parameter of another qdisc", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, qdisc: codel, flows: 8}}", 1),
			`f.yaml:11: field "links[0].impair": a_to_b: flows and quantum configure fq_codel`},
		{"set turns the AQM off under ecn", strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, qdisc: codel, ecn: true}}", 1) + "schedule:\n  - {at: 1s, link: l1, set: {qdisc: fifo}}\n",
			`f.yaml:18: field "schedule[0].set": ecn marks instead of dropping and needs an AQM qdisc in a_to_b after this change (red, codel or fq_codel)`},
		{"capture of an unknown switch", valid + "capture: {switches: [sw, sw9]}\n",
			`f.yaml:17: field "capture.switches": no switch named "sw9"`},
		{"event after end", valid + "schedule:\n  - {at: 11s, link: l1, action: down}\n",
			`f.yaml:18: field "schedule[0].at": event at 11s is after the end of the run (10s)`},
		{"expect unknown app", valid + "expect:\n  - {app: q, min_replies: 1}\n",
			`f.yaml:18: field "expect[0].app": no app named "q"`},
		{"expect wrong type", valid + "expect:\n  - {app: s, min_replies: 1}\n",
			`f.yaml:18: field "expect[0].min_replies": min_replies applies to ping apps, and "s" is a udp_sink app`},
		{"expect no condition", valid + "expect:\n  - {app: s}\n",
			`f.yaml:18: field "expect[0]": an expectation needs at least one condition (min_replies, max_loss, min_rtt_avg, max_rtt_avg, min_datagrams, bytes_verified, min_bytes, dns_answer, http_status, body_sha256, min_requests, reached, hops)`},
		{"bytes on ping", valid + "expect:\n  - {app: p, bytes_verified: true}\n",
			`f.yaml:18: field "expect[0].bytes_verified": bytes_verified applies to udp_sink, tcp_send, tcp_recv, tcp_echo_client apps, and "p" is a ping app`},
		{"tcp send without bytes", valid + "  - {name: t, type: tcp_send, host: a, target: 10.0.0.2:80}\n",
			`f.yaml:17: field "apps[3].bytes": required field is missing`},
		{"bad byte count", valid + "  - {name: t, type: tcp_recv, host: b, port: 80, bytes: 3 apples}\n",
			`f.yaml:17: field "apps[3].bytes": invalid byte count "3 apples" (want e.g. 1048576, 512KiB, 10MB; at most 17179869184 bytes)`},
		{"same port same proto", valid + "  - {name: t, type: udp_sink, host: b, port: 9000}\n",
			`f.yaml:17: field "apps[3].port": UDP port 9000 on host "b" is already used by app "s"`},
		{"bad bool", valid + "expect:\n  - {app: s, bytes_verified: yes}\n",
			`f.yaml:18: field "expect[0].bytes_verified": invalid boolean "yes" (want true or false)`},
		{"duplicate key", repl("duration: 10s", "duration: 10s\nduration: 5s"),
			`f.yaml:3: field "duration": duplicate field`},
		{"alias", "name: &x t\n" + valid[8:],
			`f.yaml:1: YAML anchors and aliases are not supported`},
		{"syntax", "name: [t\n",
			`f.yaml:1: invalid YAML: did not find expected ',' or ']'`},
		{"not a mapping", "- a\n",
			`f.yaml:1: want a mapping, got a list`},
		{"empty", "",
			`f.yaml: empty scenario`},
		{"hosts not a list", "name: t\nduration: 1s\nhosts: 3\n",
			`f.yaml:3: field "hosts": want a list, got "3"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := strings.Replace(strings.Replace(valid, "10.0.0.2/24", "10.0.0.300/24", 1), "type: ping", "type: pong", 1)
	_, err := Parse("f.yaml", []byte(doc))
	var es Errors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 2)
	assert.Equal(t, 7, es[0].Line)
	assert.Equal(t, "apps[0].type", es[1].Field)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(p, []byte(valid), 0o644))
	s, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, p, s.File)

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	assert.ErrorContains(t, err, "open scenario")
}

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	files = append(files, "../../cmd/simnet/demo.yaml")
	for _, f := range files {
		_, err := Load(f)
		assert.NoError(t, err, f)
	}
}

// maxFuzzScenario bounds FuzzLoad's inputs: more than twice the largest
// seed, so that every seed is whole while the per-byte cost of YAML
// parsing stays bounded.
const maxFuzzScenario = 4 << 10

// FuzzLoad parses arbitrary bytes as a scenario file: a file that parses
// has hosts, a positive duration and links whose impairments validate
// (it runs); one that does not returns no scenario.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte(valid + "schedule:\n  - {at: 1s, link: l1, set: {gilbert: off, a_to_b: {rate: 1Gbit}}}\n"))
	f.Add([]byte("name: &a x\nduration: *a\n"))
	f.Add([]byte("hosts: [[[[[[]]]]]]\n"))
	f.Add([]byte("name: x\nduration: 1s\nhosts: [{name: a, interfaces: [{name: e, address: dhcp}]}]\n"))
	f.Add([]byte("{"))
	// The service apps and conditions.
	f.Add([]byte(services))
	f.Add([]byte(strings.Replace(services, "10.0.0.100-10.0.0.200", "10.0.0.200-10.0.0.100", 1)))
	f.Add([]byte(strings.Replace(services, "    zone: |\n", "    zone_file: /dev/null\n    zone: |\n", 1)))
	f.Add([]byte(strings.Replace(services, "{host: web, dhcp_bound: true}", "{host: web, app: q, dhcp_bound: maybe}", 1)))
	f.Add([]byte(strings.Replace(services, "reservations: [{", "reservations: [{address: 1.2.3.4}, {", 1)))
	f.Add([]byte(strings.Replace(services, "after: lease", "after: [lease]", 1)))
	// Routers, routes, relays and traceroute.
	f.Add([]byte(routed))
	// Host groups.
	f.Add([]byte(grouped))
	f.Add([]byte(grouped + "capture: {hosts: [srv, cli], switches: [sw], snaplen: 128}\n"))
	f.Add([]byte(strings.Replace(grouped, "count: 3", "count: 300", 1)))
	f.Add([]byte(strings.Replace(grouped, "address: 10.0.0.10/24}", "address: dhcp}", 1)))
	f.Add([]byte(strings.Replace(routed, "via: 10.0.0.1}", "via: 10.0.0.1, to: 1.2.3.4/32}", 1)))
	f.Add([]byte(strings.Replace(routed, "dhcp_relay: 10.0.0.1", "dhcp_relay: [10.0.0.1]", 1)))
	// Queue disciplines and capture control.
	f.Add([]byte(strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 20Mbit, qdisc: fq_codel, ecn: true, target: 5ms, interval: 100ms, flows: 64, quantum: 300, limit: 100}}", 1)))
	f.Add([]byte(strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, qdisc: red, min: 5, max: 15, probability: 10%, limit: 50, a_to_b: {ecn: true}}}", 1)))
	f.Add([]byte(strings.Replace(valid, "b: sw}", "b: sw, impair: {rate: 1Mbit, qdisc: codel}}", 1) + "schedule:\n  - {at: 1s, link: l1, set: {qdisc: fifo, queue: 5}}\ncapture: {switches: []}\n"))
	// TCP keys (cc, ecn) and link expectations.
	f.Add([]byte(strings.Replace(valid, "  - name: a\n", "  - name: a\n    cc: bbr\n    ecn: true\n", 1) +
		"  - {name: t, type: tcp_send, host: a, target: 10.0.0.2:80, bytes: 1KiB, cc: newreno}\nexpect:\n  - {link: l1, direction: b_to_a, min_marks: 1, max_drops: 0}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzScenario {
			data = data[:maxFuzzScenario] // YAML parsing costs per byte
		}
		s, err := Parse("fuzz.yaml", data)
		if err == nil {
			require.NotNil(t, s)
			require.NotEmpty(t, s.Hosts)
			require.Positive(t, s.Duration)
			for _, l := range s.Links {
				require.NoError(t, l.AtoB.Config(l.MTU).Validate(), "a file that parses runs")
				require.NoError(t, l.BtoA.Config(l.MTU).Validate(), "a file that parses runs")
			}
		} else {
			require.Nil(t, s)
		}
	})
}

// TestParseValueErrorUnwraps checks that a field error from an impairment
// word keeps link/impair's error behind its file:line:field text.
func TestParseValueErrorUnwraps(t *testing.T) {
	doc := strings.Replace(valid, "duration: 10s", "duration: 10", 1)
	require.NotEqual(t, valid, doc)
	_, err := Parse("f.yaml", []byte(doc))
	var es Errors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 1)
	assert.ErrorIs(t, es[0], impair.ErrValue)
	assert.Equal(t, `f.yaml:2: field "duration": invalid duration "10" (want a number with a unit, e.g. 10ms, 1.5s, 2m)`, es[0].Error())
	bad := strings.Replace(valid, "type: ping", "type: pong", 1)
	_, err = Parse("f.yaml", []byte(bad))
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 1)
	assert.NotErrorIs(t, es[0], impair.ErrValue, "a message of the decoder's own wraps nothing")
}
