package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/sim/scenario"
)

const twoHosts = `name: pair
seed: 5
duration: 4s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 1ms}}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 3, interval: 1s}
expect:
  - {app: p, min_replies: %d}
`

// execute runs the root command with args in dir and returns stdout,
// stderr and the exit status.
func execute(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	t.Chdir(dir)
	code := 0
	exitRun = func(c int) { code = c }
	exitReplay = func(c int) { code = c }
	t.Cleanup(func() { exitRun, exitReplay = os.Exit, os.Exit })
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetArgs(args)
	// Flags keep their values between executions: reset them.
	resetFlags(rootCmd)
	if err := rootCmd.Execute(); err != nil {
		stderr.WriteString(err.Error())
		code = exitScenario
	}
	return stdout.String(), stderr.String(), code
}

// resetFlags sets every flag of c and its sub-commands back to its default.
func resetFlags(c *cobra.Command) {
	for _, sub := range c.Commands() {
		sub.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				_ = sv.Replace(nil)
			} else {
				_ = f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
		resetFlags(sub)
	}
}

func writeScenario(t *testing.T, dir string, minReplies int) string {
	t.Helper()
	p := filepath.Join(dir, "pair.yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(twoHosts, "%d", strconv.Itoa(minReplies), 1)), 0o644))
	return p
}

func TestRunPasses(t *testing.T) {
	dir := t.TempDir()
	p := writeScenario(t, dir, 3)
	out, errOut, code := execute(t, dir, "run", p, "--out", "o")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "PASS p min_replies: 3 (got 3 replies to 3 requests)")
	assert.Contains(t, out, filepath.Join("o", "a.pcapng"))
	var rep scenario.Report
	b, err := os.ReadFile(filepath.Join(dir, "o", "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.True(t, rep.Passed)
	assert.Equal(t, uint64(5), rep.Seed)
	assert.Equal(t, []string{"a.pcapng", "b.pcapng"}, rep.Captures)
}

func TestRunDefaultOutAndSeed(t *testing.T) {
	dir := t.TempDir()
	p := writeScenario(t, dir, 3)
	_, errOut, code := execute(t, dir, "run", p, "--seed", "9", "--pcap-format", "pcap")
	require.Equal(t, exitOK, code, errOut)
	_, errOut, code = execute(t, dir, "run", p, "--seed", "9", "--pcap-format", "pcap")
	require.Equal(t, exitOK, code, errOut)
	for _, n := range []string{"pair-9-1", "pair-9-2"} {
		_, err := os.Stat(filepath.Join(dir, outRoot, n, "a.pcap"))
		assert.NoError(t, err, n)
	}
	a, err := os.ReadFile(filepath.Join(dir, outRoot, "pair-9-1", "report.json"))
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, outRoot, "pair-9-2", "report.json"))
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestRunFailedExpectation(t *testing.T) {
	dir := t.TempDir()
	p := writeScenario(t, dir, 4)
	out, errOut, code := execute(t, dir, "run", p, "--out", "o")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, out, "FAIL p min_replies: 4")
	assert.Equal(t, "simnet: expectation failed: FAIL p min_replies: 4 (got 3 replies to 3 requests)\n", errOut)
}

func TestRunScenarioError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte("name: x\nduration: 1s\nhosts: [{name: a, interfaces: [{name: e, address: 10.0.0.300/24}]}]\n"), 0o644))
	_, errOut, code := execute(t, dir, "run", p)
	assert.Equal(t, exitScenario, code)
	assert.Equal(t, p+`:3: field "hosts[0].interfaces[0].address": invalid CIDR "10.0.0.300/24" (want an IPv4 address with a prefix length, e.g. 192.0.2.1/24, or dhcp)`+"\n", errOut)
	_, err := os.Stat(filepath.Join(dir, outRoot))
	assert.True(t, os.IsNotExist(err), "no output directory for a bad scenario")
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeScenario(t, dir, 1)
	_, errOut, code := execute(t, dir, "run", p, "--pcap-format", "erf")
	assert.Equal(t, exitScenario, code)
	assert.Contains(t, errOut, "--pcap-format")
	_, _, code = execute(t, dir, "run")
	assert.Equal(t, exitScenario, code)
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := execute(t, dir, "demo", "--out", "d")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "wireshark "+filepath.Join("d", "client.pcapng"))
	assert.Contains(t, out, "tshark -r "+filepath.Join("d", "client.pcapng"))
	assert.NotContains(t, out, "FAIL")
	// The timeline tells the story in order.
	story := []string{"web      DHCP lease bound: 10.0.0.200/24", "client   DHCP lease bound: 10.0.1.100/24",
		"reached 10.0.0.200 in 2 hops: 1 10.0.1.1", "DNS answer for www.example.test: 10.0.0.200", "HTTP 200 from http://www.example.test/", "echo-check: 65536 bytes verified"}
	for _, s := range story {
		assert.Contains(t, out, s)
	}
	assert.Less(t, strings.Index(out, "timeline:"), strings.Index(out, "DNS answer"))
	assert.Less(t, strings.Index(out, "DNS answer"), strings.Index(out, "HTTP 200"))
}

func TestFreshDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "r")
	a, err := freshDir(root, "x-1")
	require.NoError(t, err)
	b, err := freshDir(root, "x-1")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "x-1-1"), a)
	assert.Equal(t, filepath.Join(root, "x-1-2"), b)
}

func TestRunCaptureFlag(t *testing.T) {
	dir := t.TempDir()
	p := writeScenario(t, dir, 3)
	for _, c := range []struct {
		mode string
		want []string
	}{
		{"all", []string{"a.pcapng", "b.pcapng"}},
		{"hosts", []string{"a.pcapng", "b.pcapng"}},
		{"none", nil},
	} {
		out := "o-" + c.mode
		_, errOut, code := execute(t, dir, "run", p, "--out", out, "--capture", c.mode)
		require.Equal(t, exitOK, code, errOut)
		var rep scenario.Report
		b, err := os.ReadFile(filepath.Join(dir, out, "report.json"))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rep))
		if c.want == nil {
			assert.Empty(t, rep.Captures, c.mode)
		} else {
			assert.Equal(t, c.want, rep.Captures, c.mode)
		}
		entries, err := os.ReadDir(filepath.Join(dir, out))
		require.NoError(t, err)
		assert.Len(t, entries, len(c.want)+1, "%s: captures and report.json only", c.mode)
	}
	_, errOut, code := execute(t, dir, "run", p, "--capture", "some")
	assert.Equal(t, exitScenario, code)
	assert.Equal(t, "simnet: --capture: unknown capture mode \"some\" (want all, hosts or none)\n", errOut)
}

// TestRunRoutingErrors: bad routes and groups are scenario errors, exit 2,
// one FILE:LINE: field line each.
func TestRunRoutingErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	doc := `name: x
duration: 1s
hosts:
  - name: a
    interfaces: [{name: eth0, address: 10.0.0.1/24}]
    routes: [{to: 10.9.0.0/16, via: 10.1.0.1}]
  - name: g
    count: 300
    interfaces: [{name: eth0, address: 10.0.0.2/24}]
`
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o644))
	_, errOut, code := execute(t, dir, "run", p)
	assert.Equal(t, exitScenario, code)
	assert.Equal(t, p+`:9: field "hosts[1].interfaces[0].address": host group "g" (count 300) runs out of addresses in 10.0.0.0/24 at member g254 (the last usable address is 10.0.0.254)`+"\n", errOut)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(doc, "count: 300", "count: 3", 1)), 0o644))
	_, errOut, code = execute(t, dir, "run", p)
	assert.Equal(t, exitScenario, code)
	assert.Equal(t, p+`:6: field "hosts[0].routes[0].via": route to 10.9.0.0/16 via 10.1.0.1: 10.1.0.1 is on no subnet attached to host "a"`+"\n", errOut)
}

// TestRunECNWithoutAQM checks that ecn on a link direction without an AQM
// queue discipline is refused before the run: one file:line: field error
// on stderr, exit 2.
func TestRunECNWithoutAQM(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	doc := `name: x
duration: 1s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - name: ab
    a: a:eth0
    b: b:eth0
    impair: {rate: 10Mbit, qdisc: fifo, ecn: true}
`
	require.NoError(t, os.WriteFile(p, []byte(doc), 0o644))
	_, errOut, code := execute(t, dir, "run", p)
	assert.Equal(t, exitScenario, code)
	assert.Equal(t, p+`:10: field "links[0].impair.ecn": ecn marks instead of dropping and needs an AQM qdisc in a_to_b (red, codel or fq_codel)`+"\n", errOut)
	_, err := os.Stat(filepath.Join(dir, outRoot))
	assert.True(t, os.IsNotExist(err), "no output directory for a bad scenario")
}
