package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/sim/scenario"
)

// TestRunSeries checks simnet run --series: the three CSV files are
// written and listed, report.json has its per-flow table, and a bad
// --series-max is one line on stderr and exit status 2.
func TestRunSeries(t *testing.T) {
	dir := t.TempDir()
	p := writeScenario(t, dir, 3)
	out, errOut, code := execute(t, dir, "run", p, "--out", "o", "--series", "--series-max", "100")
	require.Equal(t, exitOK, code, errOut)
	for _, f := range []string{scenario.TCPSeriesFile, scenario.QueueSeriesFile, scenario.AppSeriesFile} {
		path := filepath.Join("o", scenario.SeriesDir, f)
		assert.Contains(t, out, path)
		b, err := os.ReadFile(filepath.Join(dir, path))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(b), "t_s,"), f)
	}
	var rep scenario.Report
	b, err := os.ReadFile(filepath.Join(dir, "o", scenario.ReportFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.NotEmpty(t, rep.Flows, "the pings' flows")
	assert.Equal(t, "icmp", rep.Flows[0].Protocol)
	assert.Equal(t, uint64(3), rep.Flows[0].TxPackets)

	_, errOut, code = execute(t, dir, "run", p, "--out", "o2", "--series", "--series-max", "-1")
	assert.Equal(t, exitScenario, code)
	assert.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	assert.Contains(t, errOut, "--series-max -1")
	_, err = os.Stat(filepath.Join(dir, "o", "series"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "o2", "series"))
	assert.True(t, os.IsNotExist(err), "no series from a refused run")
}
