package sweep

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSeeds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want []uint64
		err  string
	}{
		{in: "3", want: []uint64{3}},
		{in: "1-4", want: []uint64{1, 2, 3, 4}},
		{in: "1-2,7,9-10", want: []uint64{1, 2, 7, 9, 10}},
		{in: "5-4", err: "ends before"},
		{in: "x", err: "not a seed"},
		{in: "1-", err: "not a seed"},
		{in: "0-99999999999", err: "more than"},
	}
	for _, c := range cases {
		got, err := ParseSeeds(c.in)
		if c.err != "" {
			assert.ErrorContains(t, err, c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
}

func TestParseSetAndGrid(t *testing.T) {
	t.Parallel()
	a, err := ParseSet("links.wan.impair.loss=0.5%,1%")
	require.NoError(t, err)
	b, err := ParseSet("apps.up.cc=cubic,newreno,bbr")
	require.NoError(t, err)
	g := Grid([]Set{a, b})
	require.Len(t, g, 6)
	assert.Equal(t, []Assignment{{"links.wan.impair.loss", "0.5%"}, {"apps.up.cc", "cubic"}}, g[0])
	assert.Equal(t, []Assignment{{"links.wan.impair.loss", "0.5%"}, {"apps.up.cc", "newreno"}}, g[1])
	assert.Equal(t, []Assignment{{"links.wan.impair.loss", "1%"}, {"apps.up.cc", "bbr"}}, g[5])
	assert.Len(t, Grid(nil), 1)
	for _, bad := range []string{"x", "=1", "a..b=1", "a=", "a=1,,2"} {
		_, err := ParseSet(bad)
		assert.Error(t, err, bad)
	}
	_, err = ParseAssignment("a=1,2")
	assert.ErrorContains(t, err, "one value")
}

func TestApply(t *testing.T) {
	t.Parallel()
	doc := []byte(`name: x
links:
  - {name: wan, a: a:eth0, b: b:eth0}
  - name: lan
    a: c:eth0
    b: d:eth0
    impair: {loss: 1%}
expect:
  - {app: p, min_replies: 3}
`)
	out, err := Apply(doc, []Assignment{
		{"links.wan.impair.loss", "2%"}, {"links.lan.impair.loss", "3%"},
		{"expect.0.min_replies", "9"}, {"duration", "5s"},
	})
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, "impair: {loss: 2%}")
	assert.Contains(t, s, "loss: 3%")
	assert.NotContains(t, s, "loss: 1%")
	assert.Contains(t, s, "min_replies: 9")
	assert.Contains(t, s, "duration: 5s")
	for _, bad := range []struct{ path, err string }{
		{"links.nope.impair.loss", `no element named "nope"`},
		{"name.x", "is a value"},
		{"links", "is a block"},
	} {
		_, err := Apply(doc, []Assignment{{bad.path, "1"}})
		assert.ErrorContains(t, err, bad.err, bad.path)
	}
}

func TestShardsCoverJobsOnce(t *testing.T) {
	t.Parallel()
	spec := Spec{File: "f", Seeds: []uint64{1, 2, 3, 4, 5}, Sets: []Set{{Path: "a", Values: []string{"1", "2", "3"}}}}
	jobs := spec.Jobs()
	require.Len(t, jobs, 15)
	for n := 1; n <= 4; n++ {
		seen := map[int]int{}
		for i := 1; i <= n; i++ {
			for _, j := range Shard(jobs, i, n) {
				seen[j.Index]++
			}
		}
		assert.Len(t, seen, 15, "n=%d", n)
		for idx, c := range seen {
			assert.Equal(t, 1, c, "n=%d index %d", n, idx)
		}
	}
	for _, bad := range []string{"0/2", "3/2", "1", "a/b", "1/0"} {
		_, _, err := ParseShard(bad)
		assert.Error(t, err, bad)
	}
}

const pingScenario = `name: pair
seed: 5
duration: 4s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 1ms, loss: 30%}}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 3, interval: 1s}
expect:
  - {app: p, min_replies: 2}
`

// TestRunKeepsOnlyFailingRuns runs a lossy ping over seeds: some fail,
// those (and only those) keep captures and a report, and a run's result
// does not depend on how many run at once.
func TestRunKeepsOnlyFailingRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(file, []byte(pingScenario), 0o644))
	seeds, err := ParseSeeds("1-12")
	require.NoError(t, err)
	spec := Spec{File: file, Seeds: seeds}
	serial, err := Run(context.Background(), spec, spec.Jobs(), Options{Parallel: 1, OutDir: filepath.Join(dir, "a")})
	require.NoError(t, err)
	par, err := Run(context.Background(), spec, spec.Jobs(), Options{Parallel: 4, OutDir: filepath.Join(dir, "b")})
	require.NoError(t, err)
	assert.Equal(t, serial, par)
	failed := 0
	for _, r := range serial {
		assert.NotEmpty(t, r.Metrics, "seed %d", r.Seed)
		if r.Passed {
			assert.Empty(t, r.Kept)
			continue
		}
		failed++
		require.NotEmpty(t, r.Kept, "seed %d", r.Seed)
		assert.FileExists(t, filepath.Join(dir, "a", r.Kept, "report.json"))
		assert.FileExists(t, filepath.Join(dir, "a", r.Kept, "a.pcapng"))
	}
	assert.Positive(t, failed, "30%% loss each way should fail min_replies: 2 for some seed")
	assert.Less(t, failed, len(serial))
	entries, err := os.ReadDir(filepath.Join(dir, "a", "runs"))
	require.NoError(t, err)
	assert.Len(t, entries, failed)
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.yaml")
	require.NoError(t, os.WriteFile(file, []byte(pingScenario), 0o644))
	spec := Spec{File: file, Seeds: []uint64{1, 2, 3}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs, err := Run(ctx, spec, spec.Jobs(), Options{Parallel: 1})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, len(rs), 3)
	sum := Summarise(spec, "", rs)
	assert.False(t, sum.Complete)
}
