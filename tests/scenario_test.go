package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// scnExamples returns the example scenario files.
func scnExamples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no examples/*.yaml")
	return files
}

// scnDemo is the embedded demo scenario of cmd/simnet.
const scnDemo = "../cmd/simnet/demo.yaml"

// scnRun runs the scenario file with seed into dir, writing report.json as
// simnet run does, and returns the report.
func scnRun(t *testing.T, file string, seed uint64, dir string, format pcap.Format) *scenario.Report {
	t.Helper()
	s, err := scenario.Load(file)
	require.NoError(t, err)
	rep, err := scenario.Run(s, scenario.Options{Seed: seed, SeedSet: true, OutDir: dir, Format: format, Flows: true})
	require.NoError(t, err, file)
	require.NoError(t, scenario.WriteReport(dir, rep))
	return rep
}

// TestExamplesPass runs every example and the demo with their own seed and
// checks that their expectations pass and the report lists real captures.
func TestExamplesPass(t *testing.T) {
	t.Parallel()
	for _, file := range append(scnExamples(t), scnDemo) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			s, err := scenario.Load(file)
			require.NoError(t, err)
			dir := t.TempDir()
			rep := scnRun(t, file, s.Seed, dir, pcap.PcapNG)
			for _, e := range rep.Expectations {
				assert.True(t, e.Passed, "%s", e)
			}
			assert.True(t, rep.Passed)
			assert.Len(t, rep.Links, len(s.Links))
			assert.Len(t, rep.Apps, len(s.Apps))
			require.NotEmpty(t, rep.Captures)
			for _, c := range rep.Captures {
				fi, err := os.Stat(filepath.Join(dir, c))
				require.NoError(t, err)
				assert.Positive(t, fi.Size())
			}
			for _, a := range rep.Apps {
				assert.Empty(t, a.Error, a.Name)
			}
		})
	}
}

// TestFailedExpectationIsReported checks that a scenario whose
// expectation cannot hold fails it, naming the app.
func TestFailedExpectationIsReported(t *testing.T) {
	t.Parallel()
	s, err := scenario.Parse("cut.yaml", []byte(`name: cut
duration: 5s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0}
apps:
  - {name: p, type: ping, host: a, target: 10.0.0.2, count: 3, interval: 1s}
schedule:
  - {at: 0s, link: ab, action: down}
expect:
  - {app: p, min_replies: 1}
`))
	require.NoError(t, err)
	rep, err := scenario.Run(s, scenario.Options{})
	require.NoError(t, err)
	assert.False(t, rep.Passed)
	failed := rep.Failed()
	require.Len(t, failed, 1)
	assert.Equal(t, "p", failed[0].App)
	assert.Equal(t, "min_replies: 1", failed[0].Condition)
	assert.Equal(t, "got 0 replies to 3 requests", failed[0].Message)
	assert.Positive(t, rep.Links[0].AtoB.DroppedLinkDown)
}
