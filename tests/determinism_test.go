package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// scnDeterminismFile is the example run by the determinism tests: it has
// loss, jitter, duplication, corruption, a rate limit and link events.
const scnDeterminismFile = "../examples/three-hosts.yaml"

// scnReadDir returns the name and contents of every file in dir.
func scnReadDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = b
	}
	return out
}

// TestDeterminism runs every example and the demo three times with the
// same seed, at GOMAXPROCS 1, 4 and 1, and requires byte-identical output files
// (captures and report.json); the lossy three-host example is also run in
// plain pcap format. The runs are `simnet run` processes (the command users
// run, built once without the race detector), each with its own GOMAXPROCS
// in the environment, so that the cases run in parallel with the rest of
// the package instead of setting the test process's GOMAXPROCS.
func TestDeterminism(t *testing.T) {
	t.Parallel()
	type run struct {
		file   string
		format pcap.Format
	}
	var runs []run
	for _, f := range append(scnExamples(t), scnDemo) {
		runs = append(runs, run{f, pcap.PcapNG})
	}
	runs = append(runs, run{scnDeterminismFile, pcap.Pcap})
	bin := simnetBinary(t)
	for _, r := range runs {
		t.Run(filepath.Base(r.file)+"/"+r.format.String(), func(t *testing.T) {
			t.Parallel()
			var outs []map[string][]byte
			// Three runs: map iteration order changes from run to run, so
			// output that depends on it differs with high probability.
			for _, procs := range []int{1, 4, 1} {
				dir := filepath.Join(t.TempDir(), "out")
				cmd := exec.Command(bin, "run", r.file, "--seed", "42", "--out", dir, "--pcap-format", r.format.String(), "--quiet")
				cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
				out, err := cmd.CombinedOutput()
				// Exit status 1 is a failed expectation (seed 42 is not
				// every example's own); 2 and others are errors.
				var exit *exec.ExitError
				if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
					require.NoError(t, err, "GOMAXPROCS=%d simnet run %s:\n%s", procs, r.file, out)
				}
				outs = append(outs, scnReadDir(t, dir))
			}
			require.Contains(t, outs[0], scenario.ReportFile)
			require.Greater(t, len(outs[0]), 1, "no captures written")
			for i := 1; i < len(outs); i++ {
				require.Equal(t, len(outs[0]), len(outs[i]))
				for name, b := range outs[0] {
					assert.True(t, bytes.Equal(b, outs[i][name]), "run %d: %s differs", i, name)
				}
			}
		})
	}
}

// TestSeedChangesLossPattern checks that another seed drops other frames.
func TestSeedChangesLossPattern(t *testing.T) {
	t.Parallel()
	d1, d2 := t.TempDir(), t.TempDir()
	r1 := scnRun(t, scnDeterminismFile, 1, d1, pcap.PcapNG)
	r2 := scnRun(t, scnDeterminismFile, 2, d2, pcap.PcapNG)
	j1, err := json.Marshal(r1.Links)
	require.NoError(t, err)
	j2, err := json.Marshal(r2.Links)
	require.NoError(t, err)
	assert.NotEqual(t, string(j1), string(j2), "link counters identical across seeds")
	f1, f2 := scnReadDir(t, d1), scnReadDir(t, d2)
	for _, c := range r1.Captures {
		assert.NotEqual(t, f1[c], f2[c], "capture %s identical across seeds", c)
	}
}
