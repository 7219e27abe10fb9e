package scenario

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// services is a scenario with every service app type and condition.
const services = `name: t
duration: 30s
hosts:
  - name: srv
    interfaces: [{name: eth0, address: 10.0.0.1/24}]
  - name: web
    interfaces: [{name: eth0, address: dhcp, mac: "02:00:00:00:00:80"}]
  - name: c
    interfaces: [{name: eth0, address: dhcp}]
switches: [{name: sw}]
links:
  - {name: l0, a: srv:eth0, b: sw}
  - {name: l1, a: web:eth0, b: sw}
  - {name: l2, a: c:eth0, b: sw}
apps:
  - name: dhcpd
    type: dhcp_server
    host: srv
    pool: 10.0.0.100-10.0.0.200
    router: 10.0.0.1
    dns: 10.0.0.1
    lease_time: 10m
    reservations: [{mac: "02:00:00:00:00:80", address: 10.0.0.200}]
  - name: named
    type: dns_server
    host: srv
    zone_origin: example.test.
    zone: |
      $TTL 300
      @   IN SOA ns admin 1 3600 600 86400 300
      ns  IN A 10.0.0.1
      www IN A 10.0.0.200
  - {name: www, type: http_server, host: web, after: lease}
  - {name: echo, type: tcp_echo, host: web, port: 7, after: lease}
  - {name: q, type: dns_lookup, host: c, query: www.example.test, after: lease}
  - {name: get, type: http_get, host: c, url: "http://www.example.test/", count: 2, interval: 100ms, after: lease, start: 2s}
  - {name: get2, type: http_get, host: srv, url: "http://10.0.0.200/", start: 20s}
  - {name: ec, type: tcp_echo_client, host: c, target: 10.0.0.200:7, bytes: 4KiB, after: lease, start: 2s}
expect:
  - {host: web, dhcp_bound: true}
  - {host: c, dhcp_bound: true}
  - {app: q, dns_answer: 10.0.0.200}
  - {app: get, http_status: 200, min_requests: 2, dns_answer: 10.0.0.200, body_sha256: ed7398b00bf9168e433e8956e346f64e6051ed35050aeb6638c74a32976e7510}
  - {app: get2, http_status: 200}
  - {app: ec, bytes_verified: true, min_bytes: 4KiB}
`

func TestParseServices(t *testing.T) {
	s, err := Parse("v.yaml", []byte(services))
	require.NoError(t, err)
	assert.True(t, s.Hosts[1].Interfaces[0].DHCP)
	d := s.Apps[0]
	assert.Equal(t, netip.MustParseAddr("10.0.0.100"), d.PoolStart)
	assert.Equal(t, netip.MustParseAddr("10.0.0.200"), d.PoolEnd)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.1")}, d.DNS)
	assert.Equal(t, 10*time.Minute, d.LeaseTime)
	assert.Equal(t, []Reservation{{MAC: [6]byte{2, 0, 0, 0, 0, 0x80}, Addr: netip.MustParseAddr("10.0.0.200")}}, d.Reservations)
	assert.Equal(t, "example.test.", s.Apps[1].Origin)
	assert.Contains(t, s.Apps[1].Zone, "www IN A 10.0.0.200")
	assert.Equal(t, uint16(80), s.Apps[2].Port)
	assert.True(t, s.Apps[2].AfterLease)
	assert.Equal(t, 2, s.Apps[5].Count)
	assert.Equal(t, 1, s.Apps[6].Count)
	assert.False(t, s.Apps[6].AfterLease)
	assert.Equal(t, "www.example.test", s.Apps[4].Query)
	assert.Equal(t, "web", s.Expect[0].Host)
	require.NotNil(t, s.Expect[3].HTTPStatus)
	assert.Equal(t, 200, *s.Expect[3].HTTPStatus)
	assert.Equal(t, netip.MustParseAddr("10.0.0.200"), s.Expect[3].DNSAnswer)
}

// TestParseZoneWarnings checks that an RRset with two TTLs loads with a
// warning naming the scenario line (RFC 2181 section 5.2).
func TestParseZoneWarnings(t *testing.T) {
	t.Parallel()
	s, err := Parse("v.yaml", []byte(services))
	require.NoError(t, err)
	assert.Empty(t, s.Warnings)
	s, err = Parse("v.yaml", []byte(strings.Replace(services, "www IN A 10.0.0.200", "www IN A 10.0.0.200\n      www 60 IN A 10.0.0.201", 1)))
	require.NoError(t, err)
	require.Len(t, s.Warnings, 1)
	assert.Equal(t, `v.yaml:33: field "apps[1].zone": www.example.test. A: TTL 60 set to 300, the TTL of the RRset's first record (line 4; RFC 2181 section 5.2)`, s.Warnings[0])
}

// TestRunServices runs every service app and checks each condition passed
// and the timeline is in time order.
func TestRunServices(t *testing.T) {
	rep, err := Run(mustParse(t, services), Options{Seed: 3, SeedSet: true})
	require.NoError(t, err)
	for _, e := range rep.Expectations {
		assert.True(t, e.Passed, "%s", e)
	}
	assert.Len(t, rep.Expectations, 10)
	for _, a := range rep.Apps {
		assert.Empty(t, a.Error, a.Name)
	}
	require.NotEmpty(t, rep.Timeline)
	for i := 1; i < len(rep.Timeline); i++ {
		assert.LessOrEqual(t, rep.Timeline[i-1].AtNs, rep.Timeline[i].AtNs)
	}
	var sum strings.Builder
	require.NoError(t, rep.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "timeline:\n")
	assert.Contains(t, sum.String(), "q            dns_lookup on c: www.example.test: NOERROR [10.0.0.200] from 10.0.0.1:53")
}

// TestRunServicesWrongAnswer checks that failing service conditions say
// what was measured.
func TestRunServicesWrongAnswer(t *testing.T) {
	doc := strings.Replace(services, "www IN A 10.0.0.200", "www IN A 10.0.0.199", 1)
	rep, err := Run(mustParse(t, doc), Options{})
	require.NoError(t, err)
	assert.False(t, rep.Passed)
	byCond := map[string]ExpectResult{}
	for _, e := range rep.Expectations {
		byCond[e.App+" "+e.Condition] = e
	}
	q := byCond["q dns_answer: 10.0.0.200"]
	assert.False(t, q.Passed)
	assert.Equal(t, "answer NOERROR [10.0.0.199] after 1 queries", q.Message)
	g := byCond["get http_status: 200"]
	assert.False(t, g.Passed)
	assert.Contains(t, g.Message, "0 responses")
	assert.True(t, byCond["get2 http_status: 200"].Passed)
}

func TestParseServiceErrors(t *testing.T) {
	repl := func(old, new string) string {
		require.Contains(t, services, old)
		return strings.Replace(services, old, new, 1)
	}
	cases := []struct {
		name, doc, want string
	}{
		{"bad pool", repl("pool: 10.0.0.100-10.0.0.200", "pool: 10.0.0.200-10.0.0.100"),
			`f.yaml:19: field "apps[0].pool": invalid pool "10.0.0.200-10.0.0.100" (want FIRST-LAST, e.g. 10.0.0.100-10.0.0.199)`},
		{"pool off subnet", repl("pool: 10.0.0.100-10.0.0.200\n    router: 10.0.0.1\n    dns: 10.0.0.1\n    lease_time: 10m\n    reservations: [{mac: \"02:00:00:00:00:80\", address: 10.0.0.200}]", "pool: 10.0.1.100-10.0.1.200"),
			`f.yaml:19: field "apps[0].pool": pool 10.0.1.100-10.0.1.200 is not inside srv's subnet 10.0.0.0/24`},
		{"reservation outside pool", repl("address: 10.0.0.200}]", "address: 10.0.0.50}]"),
			`f.yaml:23: field "apps[0].reservations[0].address": reserved address 10.0.0.50 is outside the pool 10.0.0.100-10.0.0.200`},
		{"short lease", repl("lease_time: 10m", "lease_time: 1s"),
			`f.yaml:22: field "apps[0].lease_time": lease time 1s out of range [10s, 1000h0m0s]`},
		{"dhcp server on dhcp host", repl("host: srv\n    pool", "host: web\n    pool"),
			`f.yaml:18: field "apps[0].host": a dhcp_server needs a static address on web:eth0`},
		{"zone error", repl("ns  IN A 10.0.0.1", "ns  IN A 10.0.0.999"),
			`f.yaml:31: field "apps[1].zone": A rdata: address: ParseAddr("10.0.0.999"): IPv4 field has value >255`},
		{"no zone origin", repl("    zone_origin: example.test.\n", ""),
			`f.yaml:27: field "apps[1].zone": zone: the zone's name is unknown: no origin was given and the file has no $ORIGIN or absolute owner for its SOA record; set zone_origin`},
		{"old origin key", repl("zone_origin: example.test.", "origin: example.test."),
			`f.yaml:27: field "apps[1].origin": unknown field (want one of name, type, host, target, port, count, interval, size, start, after, bytes, pool, router, dns, lease_time, reservations, zone, zone_file, zone_origin, dir, url, query, qtype, subnets, max_hops, queries, cc, rate, spoof, offer, claim)` + "\n" +
				`f.yaml:28: field "apps[1].zone": zone: the zone's name is unknown: no origin was given and the file has no $ORIGIN or absolute owner for its SOA record; set zone_origin`},
		{"zone and zone_file", repl("zone_origin: example.test.", "zone_origin: example.test.\n    zone_file: x.zone"),
			`f.yaml:28: field "apps[1].zone_file": give either zone or zone_file, not both`},
		{"missing zone file", repl("    zone: |\n      $TTL 300\n      @   IN SOA ns admin 1 3600 600 86400 300\n      ns  IN A 10.0.0.1\n      www IN A 10.0.0.200\n", "    zone_file: nope.zone\n"),
			`f.yaml:28: field "apps[1].zone_file": stat nope.zone: no such file or directory`},
		{"zone file is a device", repl("    zone: |\n      $TTL 300\n      @   IN SOA ns admin 1 3600 600 86400 300\n      ns  IN A 10.0.0.1\n      www IN A 10.0.0.200\n", "    zone_file: /dev/zero\n"),
			`f.yaml:28: field "apps[1].zone_file": /dev/zero is not a regular file`},
		{"bad url", repl(`url: "http://www.example.test/"`, `url: "ftp://x/"`),
			`f.yaml:36: field "apps[5].url": invalid URL "ftp://x/" (want http://host[:port]/path)`},
		{"lookup without dns", repl(`url: "http://10.0.0.200/"`, `url: "http://www.example.test/"`),
			`f.yaml:37: field "apps[6].dns": required field is missing: host "srv" learns no DNS server by DHCP`},
		{"after lease on static host", repl("host: srv, url", "host: srv, after: lease, url"),
			`f.yaml:37: field "apps[6].after": host "srv" has no interface with address dhcp`},
		{"bad after", repl("host: web, after: lease}", "host: web, after: boot}"),
			`f.yaml:33: field "apps[2].after": unknown after "boot" (want lease)`},
		{"bad query", repl("query: www.example.test", "query: \"a..b\""),
			`f.yaml:35: field "apps[4].query": invalid query: name "a..b": dns: empty label`},
		{"dhcp_bound on app", repl("{host: web, dhcp_bound: true}", "{app: q, dhcp_bound: true}"),
			`f.yaml:40: field "expect[0].dhcp_bound": dhcp_bound applies to a host: give host instead of app`},
		{"dhcp_bound on static host", repl("{host: web, dhcp_bound: true}", "{host: srv, dhcp_bound: true}"),
			`f.yaml:40: field "expect[0].host": host "srv" has no interface with address dhcp`},
		{"host without dhcp_bound", repl("{host: web, dhcp_bound: true}", "{host: web}"),
			`f.yaml:40: field "expect[0].dhcp_bound": an expectation on a host needs dhcp_bound, max_tcp_connections or max_reassembly_bytes`},
		{"bad sha", repl("body_sha256: ed73", "body_sha256: zz73"),
			`f.yaml:43: field "expect[3].body_sha256": invalid SHA-256 "zz7398b00bf9168e433e8956e346f64e6051ed35050aeb6638c74a32976e7510" (want 64 hex digits)`},
		{"status on lookup", repl("{app: q, dns_answer: 10.0.0.200}", "{app: q, http_status: 200}"),
			`f.yaml:42: field "expect[2].http_status": http_status applies to http_get apps, and "q" is a dns_lookup app`},
		{"status range", repl("{app: get2, http_status: 200}", "{app: get2, http_status: 99}"),
			`f.yaml:44: field "expect[4].http_status": 99 is out of range [100, 599]`},
		{"pool on http server", repl("type: http_server, host: web", "type: http_server, pool: 10.0.0.1-10.0.0.2, host: web"),
			`f.yaml:33: field "apps[2].pool": not used by a http_server app`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// TestParseFilesRelativeToScenario checks that zone_file and dir are
// found beside the scenario file, whatever the working directory.
func TestParseFilesRelativeToScenario(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "z.zone"), []byte("$TTL 60\n@ IN SOA ns admin 1 2 3 4 5\nwww IN A 10.0.0.200\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "site"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site", "index.html"), []byte("hi\n"), 0o644))
	doc := strings.Replace(services, "    zone: |\n      $TTL 300\n      @   IN SOA ns admin 1 3600 600 86400 300\n      ns  IN A 10.0.0.1\n      www IN A 10.0.0.200\n", "    zone_file: z.zone\n", 1)
	doc = strings.Replace(doc, "type: http_server, host: web", "type: http_server, dir: site, port: 8080, host: web", 1)
	doc = strings.Replace(doc, "http://www.example.test/", "http://www.example.test:8080/", 1)
	doc = strings.Replace(doc, "http://10.0.0.200/", "http://10.0.0.200:8080/", 1)
	doc = strings.Replace(doc, "body_sha256: ed7398b00bf9168e433e8956e346f64e6051ed35050aeb6638c74a32976e7510", "body_sha256: 98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4", 1)
	p := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o644))
	s, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "z.zone"), s.Apps[1].ZoneFile)
	assert.Equal(t, filepath.Join(dir, "site"), s.Apps[2].Dir)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	assert.True(t, rep.Passed, "%v", rep.Failed())
}
