package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lossyPair is a ping over a lossy link: some seeds answer fewer than
// min_replies pings.
const lossyPair = `name: lossy-pair
seed: 1
duration: 6s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 1ms, loss: 1%}}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 4, interval: 1s}
expect:
  - {app: p, min_replies: 3}
`

func writeLossyPair(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pair.yaml"), []byte(lossyPair), 0o644))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestSweepListsEverySeedAndPoint sweeps 2 loss values over 10 seeds.
func TestSweepListsEverySeedAndPoint(t *testing.T) {
	dir := t.TempDir()
	writeLossyPair(t, dir)
	stdout, stderr, code := execute(t, dir, "sweep", "pair.yaml", "--seeds", "1-10",
		"--set", "links.ab.impair.loss=0%,40%", "--parallel", "2", "--out", "sw")
	require.Equal(t, exitFailed, code, "40%% loss fails some seed: %s %s", stdout, stderr)
	assert.Contains(t, stdout, "20 runs")
	csv := readFile(t, filepath.Join(dir, "sw", "summary.csv"))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	require.Len(t, lines, 21, "a header and one row per run")
	assert.True(t, strings.HasPrefix(lines[0], "index,point,seed,links.ab.impair.loss,passed,"), lines[0])
	for i, l := range lines[1:] {
		seed := i%10 + 1
		loss := "0%"
		if i >= 10 {
			loss = "40%"
		}
		assert.True(t, strings.HasPrefix(l, strings.Join([]string{strconv.Itoa(i), strconv.Itoa(i / 10), strconv.Itoa(seed), loss}, ",")+","), l)
	}
	html := readFile(t, filepath.Join(dir, "sw", "summary.html"))
	// The pass rate, then ping's loss and RTT min/avg/max per grid point.
	assert.Equal(t, 5, strings.Count(html, "<svg"))
	assert.True(t, strings.Contains(html, "p.rtt_avg_ns per grid point"), "an RTT plot")
	for _, external := range []string{"<script", "<link", "src=", "@import"} {
		assert.NotContains(t, html, external, "the page is self-contained")
	}
}

// TestSweepReproduceFailsTheSameWay runs the reproduce command a failing
// run names and checks it fails with the same expectation message.
func TestSweepReproduceFailsTheSameWay(t *testing.T) {
	dir := t.TempDir()
	writeLossyPair(t, dir)
	_, stderr, code := execute(t, dir, "sweep", "pair.yaml", "--seeds", "1-6",
		"--set", "expect.0.min_replies=5", "--out", "sw")
	require.Equal(t, exitFailed, code, stderr)
	sum := readFile(t, filepath.Join(dir, "sw", "summary.json"))
	assert.Contains(t, sum, "simnet run pair.yaml --seed 1 --set expect.0.min_replies=5")
	line := ""
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "run 0 (seed 1) failed") {
			line = l
		}
	}
	require.NotEmpty(t, line, stderr)
	cmdline := line[strings.Index(line, "simnet run "):]
	args := strings.Fields(strings.TrimPrefix(cmdline, "simnet "))
	stdout, stderr2, code2 := execute(t, dir, append(args, "--out", "repro")...)
	require.Equal(t, exitFailed, code2, stdout+stderr2)
	assert.Contains(t, stderr2, "expectation failed: FAIL p min_replies: 5 (got 4 replies to 4 requests)")
	assert.Contains(t, sum, "got 4 replies to 4 requests")
	assert.FileExists(t, filepath.Join(dir, "sw", "runs", "000000", "a.pcapng"), "failing runs keep captures")
}

// TestSweepShardsMergeToTheUnshardedSummary splits a sweep in two shards,
// by flag and by the Kubernetes Indexed Job variables, and merges them.
func TestSweepShardsMergeToTheUnshardedSummary(t *testing.T) {
	dir := t.TempDir()
	writeLossyPair(t, dir)
	common := []string{"sweep", "pair.yaml", "--seeds", "1-9", "--set", "links.ab.impair.loss=0%,35%", "--parallel", "2"}
	run := func(extra ...string) {
		t.Helper()
		_, stderr, code := execute(t, dir, append(append([]string{}, common...), extra...)...)
		require.Contains(t, []int{exitOK, exitFailed}, code, stderr)
	}
	run("--out", "all")
	run("--shard", "1/2", "--out", "s1")
	run("--shard", "2/2", "--out", "s2")
	t.Setenv("JOB_COMPLETIONS", "2")
	t.Setenv("JOB_COMPLETION_INDEX", "0")
	run("--out", "k0")
	t.Setenv("JOB_COMPLETION_INDEX", "1")
	run("--out", "k1")
	assert.Contains(t, readFile(t, filepath.Join(dir, "k1", "summary.json")), `"shard": "2/2"`)
	for _, m := range [][]string{{"s1", "s2", "--out", "m"}, {"k1", "k0", "--out", "mk"}} {
		_, stderr, code := execute(t, dir, append([]string{"sweep", "merge"}, m...)...)
		require.Contains(t, []int{exitOK, exitFailed}, code, stderr)
		for _, f := range []string{"summary.csv", "summary.json", "summary.html", "results.jsonl"} {
			assert.Equal(t, readFile(t, filepath.Join(dir, "all", f)), readFile(t, filepath.Join(dir, m[len(m)-1], f)), f)
		}
	}
	_, stderr, code := execute(t, dir, "sweep", "merge", "s1", "--out", "half")
	assert.Equal(t, exitScenario, code)
	assert.Contains(t, stderr, "runs missing")
	_, stderr, code = execute(t, dir, "sweep", "merge", "s1", "s1", "--out", "twice")
	assert.Equal(t, exitScenario, code)
	assert.Contains(t, stderr, "in both")
}

func TestSweepUsageErrors(t *testing.T) {
	dir := t.TempDir()
	writeLossyPair(t, dir)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--seeds", "x", "--out", "o"}, "is not a seed"},
		{[]string{"--seeds", "1-2", "--set", "links.nope.impair.loss=1%", "--out", "o"}, `no element named "nope"`},
		{[]string{"--seeds", "1-2", "--set", "links.ab.impair.loss=banana", "--out", "o"}, "loss"},
		{[]string{"--seeds", "1-2"}, "--out DIR is required"},
		{[]string{"--seeds", "1-2", "--shard", "3/2", "--out", "o"}, "--shard"},
		{[]string{"--seeds", "1-2", "--parallel", "0", "--out", "o"}, "--parallel"},
	}
	for _, c := range cases {
		_, stderr, code := execute(t, dir, append([]string{"sweep", "pair.yaml"}, c.args...)...)
		assert.Equal(t, exitScenario, code, "%v", c.args)
		assert.Contains(t, stderr, c.want, "%v", c.args)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %q", stderr)
	}
	_, _, code := execute(t, dir, "sweep", "pair.yaml", "--seeds", "1", "--out", "o")
	require.Equal(t, exitOK, code)
	_, stderr, code := execute(t, dir, "sweep", "pair.yaml", "--seeds", "1", "--out", "o")
	assert.Equal(t, exitScenario, code)
	assert.Contains(t, stderr, "--force")
}

func TestReportFlag(t *testing.T) {
	dir := t.TempDir()
	writeLossyPair(t, dir)
	_, stderr, code := execute(t, dir, "run", "pair.yaml", "--report", "pdf", "--out", "o")
	assert.Equal(t, exitScenario, code)
	assert.Contains(t, stderr, `--report "pdf"`)
	stdout, stderr, code := execute(t, dir, "run", "pair.yaml", "--report", "html", "--out", "o")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, filepath.Join("o", "report.html"))
	html := readFile(t, filepath.Join(dir, "o", "report.html"))
	assert.True(t, strings.Contains(html, "<h2>links</h2>"), "a links table")
}
