package htmlreport

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot/plotter"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim/scenario"
)

// bigSeries is a series of conns connections of n rows each (one without
// data) and a queue of n rows.
func bigSeries(conns, n int) *scenario.Series {
	s := &scenario.Series{}
	for c := range conns {
		for i := range n {
			cw := 10000 + i%5000
			if i == n/2 {
				cw = 1 // a drop the plot must keep
			}
			s.TCP = append(s.TCP, scenario.TCPSample{At: time.Duration(i) * time.Millisecond, Host: "h", Flow: "f" + string(rune('a'+c)),
				Info: tcp.Info{Cwnd: cw, Ssthresh: 1 << 30, SRTT: 20 * time.Millisecond, RTTVar: time.Millisecond, BytesInFlight: cw,
					DeliveredBytes: uint64(i * 1000)}})
		}
	}
	s.TCP = append(s.TCP, scenario.TCPSample{Host: "h", Flow: "idle", Info: tcp.Info{Cwnd: 10}})
	for i := range 3 {
		s.App = append(s.App, scenario.IntervalSample{Host: "h", App: "rx", Interval: scenario.Interval{
			StartNs: time.Duration(i) * time.Second, EndNs: time.Duration(i+1) * time.Second, Bytes: 1000, BitsPerSecond: 8000}})
	}
	for i := range n {
		s.Queue = append(s.Queue, scenario.QueueSample{At: time.Duration(i) * time.Millisecond, Link: "l", Dir: "a_to_b",
			QueueState: impair.QueueState{Packets: i % 30}})
	}
	return s
}

func TestSeriesSections(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		conns, n int
	}{{"small", 2, 100}, {"thinned", 1, 20 * MaxBins}, {"many", MaxFlowPlots + 2, 10}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secs, notes, err := seriesSections(bigSeries(tc.conns, tc.n))
			require.NoError(t, err)
			drawn := min(tc.conns, MaxFlowPlots)
			require.Len(t, secs, drawn+1, "a section per connection with data, and one for throughput and queues")
			for _, sec := range secs[:drawn] {
				require.Len(t, sec.Plots, 2)
				assert.Equal(t, "cwnd", sec.Plots[0].Kind)
				assert.Equal(t, "rtt", sec.Plots[1].Kind)
			}
			last := secs[drawn].Plots
			require.Len(t, last, 3)
			assert.Equal(t, "throughput", last[0].Kind)
			assert.Equal(t, "app", last[1].Kind)
			assert.Equal(t, "queue", last[2].Kind)
			if tc.conns > MaxFlowPlots {
				assert.NotEmpty(t, notes)
			}
			out, err := Render(Page{Title: "t", Series: secs})
			require.NoError(t, err)
			assert.Equal(t, 2*drawn+3, strings.Count(string(out), `<figure class="series-plot"`))
			assert.Less(t, len(out), 3<<20, "thinned: the page stays small")
		})
	}
}

func TestThinKeepsExtremes(t *testing.T) {
	t.Parallel()
	var xy plotter.XYs
	for i := range 100 * MaxBins {
		y := float64(i % 7)
		if i == 12345 {
			y = -50
		}
		if i == 54321 {
			y = 99
		}
		xy = append(xy, plotter.XY{X: float64(i), Y: y})
	}
	got := thin(xy)
	assert.LessOrEqual(t, len(got), 2*MaxBins)
	var lo, hi float64
	for i, p := range got {
		lo, hi = min(lo, p.Y), max(hi, p.Y)
		if i > 0 {
			assert.GreaterOrEqual(t, p.X, got[i-1].X, "in time order")
		}
	}
	assert.Equal(t, -50.0, lo)
	assert.Equal(t, 99.0, hi)
	short := xy[:100]
	assert.Equal(t, short, thin(short))
}

// BenchmarkSeriesPlotsMillionRows draws the time-series plots of one
// connection with 1,000,000 rows (simnet run --series-max 0) and a queue
// of as many: thinned to MaxBins bins, the page stays small.
func BenchmarkSeriesPlotsMillionRows(b *testing.B) {
	s := bigSeries(1, 1_000_000)
	var size int
	for b.Loop() {
		secs, _, err := seriesSections(s)
		if err != nil {
			b.Fatal(err)
		}
		out, err := Render(Page{Title: "bench", Series: secs})
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB-page")
}
