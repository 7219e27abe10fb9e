package tests

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
)

// chromiumPath finds Debian's chromium (installed by make test's
// tools-test); without it the test skips, or fails under SIMNET_REQUIRE=all.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium is not installed (apt-get install chromium)")
	return ""
}

// artifactDir is where tests leave files for people to look at:
// $SIMNET_ARTIFACTS, or simnet-out/test-artifacts in the repository.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SIMNET_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "simnet-out", "test-artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// pageFacts is what the browser measured on a rendered report.html.
type pageFacts struct {
	Flows int `json:"flows"`
	// Plots lists, per figure, its kind, its drawn width and the number
	// of SVG shapes inside.
	Plots []struct {
		Kind   string  `json:"kind"`
		Width  float64 `json:"width"`
		Shapes int     `json:"shapes"`
	} `json:"plots"`
	Tables int `json:"tables"`
	// SeriesPlots lists the same for the plots drawn from the time
	// series.
	SeriesPlots []struct {
		Kind   string  `json:"kind"`
		Width  float64 `json:"width"`
		Shapes int     `json:"shapes"`
	} `json:"series_plots"`
	FlowTable bool `json:"flow_table"`
}

const measureJS = `(() => ({
  flows: document.querySelectorAll('section.flow').length,
  tables: document.querySelectorAll('table').length,
  plots: [...document.querySelectorAll('figure.plot')].map(f => {
    const svg = f.querySelector('svg');
    return {kind: f.dataset.kind, width: svg ? svg.getBoundingClientRect().width : 0,
            shapes: svg ? svg.querySelectorAll('path, line, polyline, rect, circle').length : 0};
  }),
  series_plots: [...document.querySelectorAll('figure.series-plot')].map(f => {
    const svg = f.querySelector('svg');
    return {kind: f.dataset.kind, width: svg ? svg.getBoundingClientRect().width : 0,
            shapes: svg ? svg.querySelectorAll('path, line, polyline, rect, circle').length : 0};
  }),
  flow_table: [...document.querySelectorAll('h2')].some(h => h.textContent.startsWith('flows (per 5-tuple')),
}))()`

// seriesCounts reads DIR/series/tcp.csv and queue.csv and returns the plots
// report.html should draw from them: a cwnd and an RTT plot per
// connection that delivered data, a queue plot per link direction with a
// queue, one throughput plot, and one of the apps' interval goodput when
// an app has an interval.
func seriesCounts(t *testing.T, dir string) map[string]int {
	t.Helper()
	read := func(name string) [][]string {
		f, err := os.Open(filepath.Join(dir, "series", name))
		require.NoError(t, err)
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		require.NoError(t, err)
		return recs[1:]
	}
	last := map[string]string{}
	for _, r := range read("tcp.csv") {
		last[r[1]+" "+r[2]] = r[13] // delivered_bytes
	}
	conns := 0
	for _, d := range last {
		if d != "0" {
			conns++
		}
	}
	queues := map[string]bool{}
	for _, r := range read("queue.csv") {
		queues[r[1]+" "+r[2]] = true
	}
	want := map[string]int{"cwnd": conns, "rtt": conns}
	if len(queues) > 0 {
		want["queue"] = len(queues)
	}
	if conns > 0 {
		want["throughput"] = 1
	}
	if len(read("app.csv")) > 0 {
		want["app"] = 1
	}
	return want
}

// TestHTMLReportInChromium renders report.html of the demo, of a lossy TCP
// run and of a replayed capture in headless Chromium, checks that every
// flow's four plots are drawn (an SVG with a width and shapes in it), and
// saves a screenshot of each page.
func TestHTMLReportInChromium(t *testing.T) {
	t.Parallel()
	chromium := chromiumPath(t)
	bin := simnetBinary(t)
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		require.NoError(t, err, "simnet %v: %s", args, out)
	}
	run("demo", "--out", filepath.Join(dir, "demo"), "--report", "html", "--series")
	run("run", "../examples/tcp-transfer.yaml", "--out", filepath.Join(dir, "tcp"), "--report", "html", "--series")
	run("replay", filepath.Join(dir, "tcp", "client.pcapng"), "--out", filepath.Join(dir, "replay"), "--report", "html")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.WindowSize(1400, 1000))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	cases := []struct {
		name  string
		flows int // TCP flows that carried data, as the captures show them
	}{
		{name: "demo", flows: 2},   // the HTTP fetches and the echo exchange
		{name: "tcp", flows: 2},    // the 2 MiB upload and the echo transfer
		{name: "replay", flows: 2}, // the client's capture sees both
	}
	for _, c := range cases {
		page, err := filepath.Abs(filepath.Join(dir, c.name, "report.html"))
		require.NoError(t, err)
		_, err = chromedp.Run(ctx, chromedp.Navigate("file://"+page))
		require.NoError(t, err, c.name)
		_, err = chromedp.Run(ctx, chromedp.WaitReady("body"))
		require.NoError(t, err, c.name)
		facts, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](measureJS))
		require.NoError(t, err, c.name)
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
		require.NoError(t, err, c.name)
		assert.Equal(t, c.flows, facts.Flows, "%s: flows drawn", c.name)
		require.Len(t, facts.Plots, 4*c.flows, "%s: seq, goodput, rtt and in-flight plots per flow", c.name)
		for i, p := range facts.Plots {
			assert.Equal(t, []string{"seq", "goodput", "rtt", "inflight"}[i%4], p.Kind, "%s plot %d", c.name, i)
			assert.Greater(t, p.Width, 100.0, "%s plot %d (%s) has no width", c.name, i, p.Kind)
			assert.Greater(t, p.Shapes, 10, "%s plot %d (%s) is empty", c.name, i, p.Kind)
		}
		assert.GreaterOrEqual(t, facts.Tables, 1, c.name)
		// The plots made from the simulator's time series, and the
		// per-flow table: runs only.
		got := map[string]int{}
		for i, p := range facts.SeriesPlots {
			got[p.Kind]++
			assert.Greater(t, p.Width, 100.0, "%s series plot %d (%s) has no width", c.name, i, p.Kind)
			assert.Greater(t, p.Shapes, 10, "%s series plot %d (%s) is empty", c.name, i, p.Kind)
		}
		if c.name == "replay" {
			assert.Empty(t, got, "a replay has no time series")
			assert.False(t, facts.FlowTable)
		} else {
			want := seriesCounts(t, filepath.Join(dir, c.name))
			assert.Positive(t, want["cwnd"], c.name)
			if c.name == "tcp" {
				assert.Equal(t, 1, want["queue"], "the upload's 20 Mbit/s link")
				assert.Equal(t, 1, want["app"], "recv has an interval")
			}
			assert.Equal(t, want, got, "%s: series plots", c.name)
			assert.True(t, facts.FlowTable, "%s: the per-flow table", c.name)
		}
		path := filepath.Join(artifactDir(t), "report-"+c.name+".jpg")
		require.NoError(t, os.WriteFile(path, shot, 0o644))
		t.Logf("screenshot of %s's report.html: %s", c.name, path)
	}
}
