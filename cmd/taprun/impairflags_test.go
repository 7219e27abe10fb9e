package main

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
)

func parseImpair(t *testing.T, args ...string) (in, out impair.Config, err error) {
	t.Helper()
	var f impairFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.register(fs)
	require.NoError(t, fs.Parse(args))
	return f.configs()
}

func TestImpairFlags(t *testing.T) {
	lossy := impair.Config{Loss: 0.05, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}
	for _, tc := range []struct {
		name    string
		args    []string
		in, out impair.Config
	}{
		{name: "none"},
		{name: "both", args: []string{"--loss", "5%", "--delay", "20ms", "--jitter", "5ms"}, in: lossy, out: lossy},
		{name: "in only", args: []string{"--dir", "in", "--loss", "0.05", "--delay", "20ms", "--jitter", "5ms"}, in: lossy},
		{name: "out only", args: []string{"--dir=out", "--rate", "10Mbit", "--queue", "64KiB"},
			out: impair.Config{Rate: 10_000_000, QueueBytes: 64 << 10}},
		{name: "reorder gets a default hold-back", args: []string{"--reorder", "1%", "--duplicate", "2%", "--corrupt", "0.1%"},
			in:  impair.Config{Reorder: 0.01, ReorderDelay: defaultReorderDelay, Duplicate: 0.02, Corrupt: 0.001},
			out: impair.Config{Reorder: 0.01, ReorderDelay: defaultReorderDelay, Duplicate: 0.02, Corrupt: 0.001}},
		{name: "gilbert", args: []string{"--dir", "out", "--gilbert", "p=1%,r=25%"},
			out: impair.Config{Burst: impair.GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}}},
		{name: "gilbert in both states", args: []string{"--gilbert", "p=0.05, r=0.2, loss_bad=60%, loss_good=2%", "--dir", "in"},
			in: impair.Config{Burst: impair.GilbertElliott{P: 0.05, R: 0.2, LossBad: 0.6, LossGood: 0.02}}},
		{name: "normal jitter in order", args: []string{"--dir", "in", "--jitter", "1ms", "--jitter-dist", "normal", "--keep-order", "--rate", "1gbit", "--queue", "100"},
			in: impair.Config{Jitter: time.Millisecond, JitterDist: impair.JitterNormal, KeepOrder: true, Rate: 1e9, QueuePackets: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, out, err := parseImpair(t, tc.args...)
			require.NoError(t, err)
			assert.InDelta(t, tc.in.Loss, in.Loss, 1e-12)
			assert.InDelta(t, tc.out.Loss, out.Loss, 1e-12)
			in.Loss, out.Loss, tc.in.Loss, tc.out.Loss = 0, 0, 0, 0
			assert.InDelta(t, tc.in.Corrupt, in.Corrupt, 1e-12)
			in.Corrupt, out.Corrupt, tc.in.Corrupt, tc.out.Corrupt = 0, 0, 0, 0
			assert.Equal(t, tc.in, in)
			assert.Equal(t, tc.out, out)
		})
	}
}

func TestImpairFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--loss", "105%"},
		{"--loss", "lots"},
		{"--delay", "-5ms"},
		{"--delay", "20"},
		{"--rate", "fast"},
		{"--rate", "0.5bit"},
		{"--queue", "0"},
		{"--queue", "12XB"},
		{"--dir", "sideways", "--loss", "1%"},
		{"--jitter-dist", "pareto"},
		{"--gilbert", "p=1%"},
		{"--gilbert", "p=1%,r=0"},
		{"--gilbert", "p=1%,r=25%,q=3%"},
		{"--gilbert", "p=1%,r=25%,p=2%"},
		{"--gilbert", "p=1%,r=lots"},
		{"--gilbert", "1%,25%"},
	} {
		_, _, err := parseImpair(t, args...)
		assert.Error(t, err, "%v", args)
	}
}

func TestDescribe(t *testing.T) {
	assert.Empty(t, describe(impair.Config{}))
	assert.Equal(t, "loss 5%, delay 20ms ±5ms, rate 1000000 bit/s",
		describe(impair.Config{Loss: 0.05, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Rate: 1e6}))
	assert.Equal(t, "gilbert p=1% r=25% loss_bad=100% loss_good=0% (mean burst 4 frames)",
		describe(impair.Config{Burst: impair.GilbertElliott{P: 0.01, R: 0.25, LossBad: 1}}))
}

// FuzzParseHTTP feeds arbitrary words to --http's parser: it must not
// panic, and whatever it accepts has a port. (The impairment words are
// fuzzed in link/impair.)
func FuzzParseHTTP(f *testing.F) {
	for _, s := range []string{"8080", "80:/", "0", "65536", "http", "-1", "", ":", "80:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if h, err := parseHTTP(s); err == nil {
			assert.NotZero(t, h.port, "port from %q", s)
		}
	})
}

func TestParseHTTP(t *testing.T) {
	dir := t.TempDir()
	h, err := parseHTTP("8080")
	require.NoError(t, err)
	assert.Equal(t, httpSpec{port: 8080}, h)
	h, err = parseHTTP("80:" + dir)
	require.NoError(t, err)
	assert.Equal(t, httpSpec{port: 80, dir: dir}, h)
	for _, bad := range []string{"", "0", "65536", "http", "80:" + dir + "/missing", "-1"} {
		_, err := parseHTTP(bad)
		assert.Error(t, err, "%q", bad)
	}
}
