package htmlreport

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/replay/tcptrace"
)

// bigFlow is an in-memory flow of n segments with an ACK per segment.
func bigFlow(n int) *tcptrace.Flow {
	f := &tcptrace.Flow{First: 0, Last: float64(n) * 1e-4, Packets: 2 * n}
	for i := range n {
		t := float64(i) * 1e-4
		seq := uint64(i) * 1000
		f.Segments = append(f.Segments, tcptrace.Segment{T: t, Seq: seq, End: seq + 1000, Retransmit: i%50 == 0 && i > 0})
		f.Acks = append(f.Acks, tcptrace.Ack{T: t + 0.01, Ack: seq + 1000, Window: seq + 65000,
			SACK: [][2]uint64{{seq + 2000, seq + 3000}}})
		f.RTT = append(f.RTT, tcptrace.Sample{T: t + 0.01, RTT: 0.01})
		f.Bytes += 1000
	}
	f.Delivered = uint64(n) * 1000
	return f
}

func TestSeqPlotDecimates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		segments  int
		decimated bool
	}{
		{segments: 100},
		{segments: MaxBins},
		{segments: 50 * MaxBins, decimated: true},
	}
	for _, c := range cases {
		f := bigFlow(c.segments)
		_, drawn := seqPlot(f)
		all := len(f.Segments) + 3*len(f.Acks) // segments, ACK and window points, SACK blocks
		if !c.decimated {
			assert.Equal(t, all, drawn, "%d segments are drawn one by one", c.segments)
			continue
		}
		assert.LessOrEqual(t, drawn, 5*MaxBins, "%d segments drawn in at most %d bins", c.segments, MaxBins)
		assert.Greater(t, drawn, MaxBins, "still drawn: %d", drawn)
	}
}

func TestRenderPageOfFlows(t *testing.T) {
	t.Parallel()
	flows := []*tcptrace.Flow{bigFlow(200), bigFlow(20 * MaxBins)}
	secs, notes, err := flowSections(flows)
	require.NoError(t, err)
	assert.Empty(t, notes)
	out, err := Render(Page{Title: "t", Tables: []Table{flowTable(flows)}, Flows: secs})
	require.NoError(t, err)
	html := string(out)
	assert.Equal(t, 2, strings.Count(html, `<section class="flow"`))
	assert.Equal(t, 8, strings.Count(html, "<svg"))
	assert.Contains(t, html, "drawn in 1500 time bins", "a decimated plot says so")
	assert.Less(t, len(out), 4<<20, "decimated: the page stays small")
	for _, external := range []string{"<script", "<link", "src=", "@import"} {
		assert.NotContains(t, html, external)
	}
}
