package scenario

import (
	"time"

	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/link/pcap"
)

func mustParse(t *testing.T, doc string) *Scenario {
	t.Helper()
	s, err := Parse("t.yaml", []byte(doc))
	require.NoError(t, err)
	return s
}

// TestRunSwitchToHostLink checks that a link written switch first keeps
// the file's directions: a_to_b is from the switch to the host.
func TestRunSwitchToHostLink(t *testing.T) {
	s := mustParse(t, `name: t
duration: 5s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
switches: [{name: sw}]
links:
  - {name: l1, a: a:eth0, b: sw}
  - {name: l2, a: sw, b: b:eth0, impair: {a_to_b: {loss: 100%}}}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 3}
`)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	l2 := rep.Links[1]
	assert.Equal(t, "sw", l2.A)
	assert.Equal(t, "b:eth0", l2.B)
	assert.Positive(t, l2.AtoB.Offered)
	assert.Equal(t, l2.AtoB.Offered, l2.AtoB.DroppedLoss)
	assert.Zero(t, l2.AtoB.Delivered)
	assert.Zero(t, l2.BtoA.Dropped)
	assert.Zero(t, l2.BtoA.Offered, "b hears no ARP request, so it sends nothing (no gratuitous ARP, as Linux)")
	assert.Equal(t, 0, rep.Apps[0].Result.(ping.Result).Received)
	require.Len(t, rep.Switches, 1)
	assert.Equal(t, 2, rep.Switches[0].Ports)
}

// TestRunScheduleInTimeOrder checks that impairment changes build on one
// another in time order, whatever their order in the file.
func TestRunScheduleInTimeOrder(t *testing.T) {
	s := mustParse(t, `name: t
duration: 10s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 5}
schedule:
  - {at: 3500ms, link: ab, set: {a_to_b: {loss: 100%}}}
  - {at: 1500ms, link: ab, set: {delay: 50ms}}
`)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	r := rep.Apps[0].Result.(ping.Result)
	assert.Equal(t, 5, r.Sent)
	assert.Equal(t, 4, r.Received, "requests at 0s, 1s, 2s, 3s answered; 4s lost")
	assert.InDelta(t, 100, r.RTTMaxMs, 0.01, "both directions delayed 50ms from 1.5s on")
}

func TestRunCapturesAndUnpluggedInterface(t *testing.T) {
	s := mustParse(t, `name: t
duration: 3s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}, {name: eth1, address: 10.1.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0}
apps:
  - {name: p, type: ping, host: a, target: 10.1.0.9, count: 2}
expect:
  - {app: p, max_loss: 100%}
`)
	dir := t.TempDir()
	rep, err := Run(s, Options{OutDir: dir, Format: pcap.Pcap})
	require.NoError(t, err)
	assert.Equal(t, []string{"a.pcap", "b.pcap"}, rep.Captures)
	assert.True(t, rep.Passed)
	assert.Positive(t, rep.Hosts[0].IP.LinkDrops, "frames to the unplugged interface are dropped")
	require.NoError(t, WriteReport(dir, rep))
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	require.NoError(t, err)
	var again bytes.Buffer
	require.NoError(t, rep.WriteJSON(&again))
	assert.Equal(t, again.Bytes(), b)

	rep, err = Run(s, Options{})
	require.NoError(t, err)
	assert.Empty(t, rep.Captures)
}

func TestRunSeedOverride(t *testing.T) {
	s := mustParse(t, "name: t\nseed: 4\nduration: 1s\nhosts: [{name: a, interfaces: [{name: e, address: 10.0.0.1/24}]}]\n")
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	assert.Equal(t, uint64(4), rep.Seed)
	rep, err = Run(s, Options{Seed: 9, SeedSet: true})
	require.NoError(t, err)
	assert.Equal(t, uint64(9), rep.Seed)
}

// dhcpLab is a DHCP server, a host with a reservation and one without,
// and an app that waits for its host's lease.
const dhcpLab = `name: t
duration: 30s
hosts:
  - {name: srv, interfaces: [{name: eth0, address: 10.1.0.1/24}]}
  - {name: a, interfaces: [{name: eth0, address: dhcp, mac: "02:00:00:00:00:0a"}]}
  - {name: b, interfaces: [{name: eth0, address: dhcp}]}
switches: [{name: sw}]
links:
  - {name: l0, a: srv:eth0, b: sw}
  - {name: l1, a: a:eth0, b: sw}
  - {name: l2, a: b:eth0, b: sw, impair: {delay: 5ms}}
apps:
  - {name: dhcpd, type: dhcp_server, host: srv, pool: 10.1.0.10-10.1.0.20, router: 10.1.0.1, dns: [10.1.0.1], lease_time: 20s,
     reservations: [{mac: "02:00:00:00:00:0a", address: 10.1.0.20}]}
  - {name: p, type: ping, host: b, target: 10.1.0.20, count: 3, interval: 200ms, after: lease, start: 1s}
expect:
  - {host: a, dhcp_bound: true}
  - {host: b, dhcp_bound: true}
  - {app: p, min_replies: 3}
`

// TestRunDHCP checks leases on the wire: the reserved host gets its
// address, the other the lowest of the pool, both renew a 20 s lease,
// and an app after: lease runs once its host is configured.
func TestRunDHCP(t *testing.T) {
	rep, err := Run(mustParse(t, dhcpLab), Options{})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Failed())
	require.Len(t, rep.Hosts, 3)
	assert.Empty(t, rep.Hosts[0].DHCP)
	a, b := rep.Hosts[1].DHCP, rep.Hosts[2].DHCP
	require.Len(t, a, 1)
	require.Len(t, b, 1)
	assert.Equal(t, "10.1.0.20/24", a[0].Address)
	assert.Equal(t, "10.1.0.10/24", b[0].Address)
	for _, l := range []LeaseReport{a[0], b[0]} {
		assert.True(t, l.Bound)
		assert.Equal(t, "BOUND", l.State)
		assert.Equal(t, "10.1.0.1", l.Router)
		assert.Equal(t, []string{"10.1.0.1"}, l.DNS)
		assert.Equal(t, "20s", l.LeaseTime)
		assert.GreaterOrEqual(t, l.Renewals, 1, "a 20 s lease renews at T1 = 10 s")
		assert.NotEmpty(t, l.BoundAt)
	}
	assert.Equal(t, "", rep.Apps[1].Error)
	assert.Equal(t, 3, rep.Apps[1].Result.(ping.Result).Received)
	var bound int
	for _, e := range rep.Timeline {
		if strings.Contains(e.What, "DHCP lease bound") {
			bound++
		}
	}
	assert.Equal(t, 2, bound)
}

// TestRunDHCPNoServer checks the report when no lease comes: dhcp_bound
// fails and the app waiting for the lease says why it never ran.
func TestRunDHCPNoServer(t *testing.T) {
	s := mustParse(t, `name: t
duration: 20s
hosts:
  - {name: a, interfaces: [{name: eth0, address: dhcp}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
links: [{name: l, a: a:eth0, b: b:eth0}]
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.1, after: lease}
expect:
  - {host: a, dhcp_bound: true}
  - {app: p, min_replies: 1}
`)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	assert.False(t, rep.Passed)
	require.Len(t, rep.Expectations, 2)
	assert.False(t, rep.Expectations[0].Passed)
	assert.Equal(t, "eth0 SELECTING, no lease", rep.Expectations[0].Message)
	assert.Equal(t, "not started: the host got no DHCP lease", rep.Apps[0].Error)
	assert.False(t, rep.Expectations[1].Passed)
	require.Len(t, rep.Hosts[0].DHCP, 1)
	assert.Greater(t, rep.Hosts[0].DHCP[0].Sent, uint64(2), "DISCOVER is retransmitted")
}

func TestSummary(t *testing.T) {
	s := mustParse(t, `name: t
duration: 3s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 2}
expect:
  - {app: p, min_replies: 2, max_loss: 0%}
`)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, rep.WriteSummary(&b))
	out := b.String()
	assert.Contains(t, out, "scenario t, seed 0, 3s simulated\n")
	assert.Contains(t, out, "a:eth0 -> b:eth0: offered")
	assert.Contains(t, out, "p            ping     on a: 2 sent, 2 received, 0.0% loss")
	assert.Contains(t, out, "PASS p min_replies: 2 (got 2 replies to 2 requests)\n")
	assert.Contains(t, out, "PASS p max_loss: 0% (0.0% loss (0 of 2 unanswered))\n")
}

// TestRunQdiscReport: the impair keys build the queue discipline of the
// direction that names them, report.json carries its report, the summary
// prints it, and the ping RTT expectations are checked; capture.switches: []
// turns the switch capture off.
func TestRunQdiscReport(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `name: t
duration: 3s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
switches: [{name: sw}]
links:
  - {name: l1, a: a:eth0, b: sw}
  - {name: l2, a: sw, b: b:eth0, impair: {a_to_b: {rate: 1Mbit, qdisc: codel, target: 2ms, ecn: true}}}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 20, interval: 10ms, size: 1000}
  - {name: p0, type: ping, host: a, target: 10.0.0.2, count: 1, size: 1000}
expect:
  - {app: p, min_rtt_avg: 8ms, max_rtt_avg: 1s}
  - {app: p, max_rtt_avg: 1ms}
capture: {switches: []}
`)
	dir := t.TempDir()
	rep, err := Run(s, Options{OutDir: dir, Format: pcap.PcapNG})
	require.NoError(t, err)
	q := rep.Links[1].AtoB.Qdisc
	require.NotNil(t, q, "sw -> b has the qdisc")
	assert.Equal(t, "codel", q.Kind)
	assert.GreaterOrEqual(t, q.Dequeued, uint64(22), "the pings and the ARP request")
	assert.Positive(t, q.Sojourn.Max, "p's and p0's first 1000-byte pings wait for ARP together, then queue behind one another at 1 Mbit/s")
	assert.Nil(t, rep.Links[1].BtoA.Qdisc)
	assert.Empty(t, rep.SwitchCaptures)
	_, err = os.Stat(filepath.Join(dir, "sw.pcapng"))
	assert.True(t, os.IsNotExist(err))
	require.Len(t, rep.Expectations, 3)
	assert.True(t, rep.Expectations[0].Passed, "%s", rep.Expectations[0])
	assert.True(t, rep.Expectations[1].Passed, "%s", rep.Expectations[1])
	assert.False(t, rep.Expectations[2].Passed, "%s", rep.Expectations[2])
	var sum bytes.Buffer
	require.NoError(t, rep.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "queue codel: 0 drops, 0 marks, sojourn p50")
	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	for _, key := range []string{`"qdisc": "codel"`, `"p99_ns"`, `"switch_captures": []`, `"dropped_aqm"`, `"marked"`} {
		assert.Contains(t, js.String(), key)
	}
}

// TestRunProgress: Options.Progress hears the simulated time advance to
// the run's end and the events counted, without changing the run.
func TestRunProgress(t *testing.T) {
	t.Parallel()
	s, err := Load("../../examples/tcp-transfer.yaml")
	require.NoError(t, err)
	plain, err := Run(s, Options{})
	require.NoError(t, err)
	var calls int
	var last time.Duration
	var lastEvents uint64
	rep, err := Run(s, Options{Progress: func(elapsed, duration time.Duration, events uint64) {
		calls++
		assert.GreaterOrEqual(t, elapsed, last)
		assert.GreaterOrEqual(t, events, lastEvents)
		assert.Equal(t, s.Duration, duration)
		last, lastEvents = elapsed, events
	}})
	require.NoError(t, err)
	assert.Greater(t, calls, 3)
	assert.Greater(t, lastEvents, uint64(3*1024))
	assert.Equal(t, plain.Links, rep.Links, "the same run")
}

// TestRunCrashRestart runs examples/crash-restart.yaml: the server loses
// everything at the crash, answers the upload's next segment after the
// restart with a RST (RFC 9293 section 3.10.7.1: no connection), serves
// the page again, and ping loses exactly the requests sent while it was
// down.
func TestRunCrashRestart(t *testing.T) {
	t.Parallel()
	s, err := Load("../../examples/crash-restart.yaml")
	require.NoError(t, err)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	assert.True(t, rep.Passed)

	byName := map[string]AppReport{}
	for _, a := range rep.Apps {
		byName[a.Name] = a
	}
	up := byName["upload"].Result.(tcpapps.BulkResult)
	assert.Contains(t, up.Error, "connection reset", "the rebooted server knows no connection")
	assert.False(t, up.Verified)
	pr := byName["ping"].Result.(ping.Result)
	assert.Equal(t, 14, pr.Sent)
	assert.Equal(t, 9, pr.Received, "requests sent at 4..8 s go unanswered")
	assert.Empty(t, byName["recv"].Error, "the server's apps come back with it")

	var server HostReport
	for _, h := range rep.Hosts {
		if h.Name == "server" {
			server = h
		}
	}
	assert.Equal(t, 1, server.Crashes)
	assert.Positive(t, server.TCP.ResetsSent, "the new boot resets the old connection")
	var events []string
	for _, e := range rep.Timeline {
		if e.Host == "server" {
			events = append(events, e.At+" "+e.What)
		}
	}
	assert.Equal(t, []string{"4.000000s host crashed", "9.000000s host restarted"}, events)
}

// TestRunCrashClientApp checks a client app on a crashing host: its result
// stops at the crash and says so, and it does not start again with the
// host; a crash of a group crashes every member.
func TestRunCrashClientApp(t *testing.T) {
	t.Parallel()
	s := mustParse(t, `name: t
duration: 10s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, count: 2, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
switches: [{name: sw}]
links:
  - {name: la, a: a:eth0, b: sw}
  - {name: lb, a: b:eth0, b: sw}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 8, interval: 1s}
  - {name: q, type: ping, host: b1, target: 10.0.0.1, count: 8, interval: 1s}
schedule:
  - {at: 2500ms, host: b, action: crash}
  - {at: 5500ms, host: b, action: restart}
`)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	p := rep.Apps[0].Result.(ping.Result)
	assert.Equal(t, 8, p.Sent)
	assert.Equal(t, 5, p.Received, "requests at 3, 4 and 5 s find b1 down")
	q := rep.Apps[1]
	assert.Equal(t, "host b1 crashed at 2.500000s", q.Error)
	assert.Equal(t, 3, q.Result.(ping.Result).Sent, "the client app stops at the crash")
	for _, h := range rep.Hosts {
		if h.Name != "a" {
			assert.Equal(t, 1, h.Crashes, h.Name)
		}
	}
}
