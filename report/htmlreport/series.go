package htmlreport

import (
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/simnet-go/simnet/sim/scenario"
)

var (
	colSsthresh = color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff}
	palette     = []color.Color{colSegment, colRetrans, colAck, colWindow, colSACK,
		color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, color.RGBA{R: 0xe3, G: 0x77, B: 0xc2, A: 0xff}, color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff}}
)

// seriesConn is one connection's rows of the TCP series.
type seriesConn struct {
	name string
	rows []*scenario.TCPSample
}

// dataConns returns the connections of s that delivered data, in order
// of first appearance.
func dataConns(s *scenario.Series) []seriesConn {
	type key struct{ host, flow string }
	idx := map[key]int{}
	var out []seriesConn
	var count []int
	which := make([]int32, len(s.TCP))
	for j := range s.TCP {
		r := &s.TCP[j]
		k := key{r.Host, r.Flow}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, seriesConn{name: r.Flow + " (" + r.Host + ")"})
			count = append(count, 0)
		}
		count[i]++
		which[j] = int32(i)
	}
	for i := range out {
		out[i].rows = make([]*scenario.TCPSample, 0, count[i])
	}
	for j := range s.TCP {
		out[which[j]].rows = append(out[which[j]].rows, &s.TCP[j])
	}
	kept := out[:0]
	for _, c := range out {
		if c.rows[len(c.rows)-1].DeliveredBytes > 0 {
			kept = append(kept, c)
		}
	}
	return kept
}

// thin keeps at most about 2*MaxBins points of xy (sorted by x): above
// that, each of MaxBins time bins keeps its lowest and highest point, in
// time order, so peaks and drops survive.
func thin(xy plotter.XYs) plotter.XYs {
	if len(xy) <= 2*MaxBins {
		return xy
	}
	b := newBinner(xy[0].X, xy[len(xy)-1].X, MaxBins)
	lo, hi := make([]int, b.n), make([]int, b.n)
	for i := range lo {
		lo[i], hi[i] = -1, -1
	}
	for i, p := range xy {
		k := b.bin(p.X)
		if lo[k] < 0 || p.Y < xy[lo[k]].Y {
			lo[k] = i
		}
		if hi[k] < 0 || p.Y > xy[hi[k]].Y {
			hi[k] = i
		}
	}
	out := make(plotter.XYs, 0, 2*b.n)
	for k := range lo {
		switch {
		case lo[k] < 0:
		case lo[k] == hi[k]:
			out = append(out, xy[lo[k]])
		case lo[k] < hi[k]:
			out = append(out, xy[lo[k]], xy[hi[k]])
		default:
			out = append(out, xy[hi[k]], xy[lo[k]])
		}
	}
	return out
}

func addLine(p *plot.Plot, xy plotter.XYs, col color.Color, name string, step bool) {
	if len(xy) == 0 {
		return
	}
	l, err := plotter.NewLine(thin(xy))
	if err != nil {
		return
	}
	if step {
		l.StepStyle = plotter.PostStep
	}
	l.LineStyle = lineStyle(col, 1.2)
	p.Add(l)
	p.Legend.Add(name, l)
}

func secs(d time.Duration) float64 { return d.Seconds() }

// cwndPlot draws a connection's congestion window, slow-start threshold
// (while it is within reach of the window) and bytes in flight.
func cwndPlot(c seriesConn) *plot.Plot {
	p := plot.New()
	p.Title.Text = "congestion window " + c.name
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "bytes"
	cw, fl := make(plotter.XYs, 0, len(c.rows)), make(plotter.XYs, 0, len(c.rows))
	var ss plotter.XYs
	peak := 0
	for _, r := range c.rows {
		peak = max(peak, r.Cwnd, r.BytesInFlight)
	}
	for _, r := range c.rows {
		t := secs(r.At)
		cw = append(cw, plotter.XY{X: t, Y: float64(r.Cwnd)})
		fl = append(fl, plotter.XY{X: t, Y: float64(r.BytesInFlight)})
		if r.Ssthresh > 0 && r.Ssthresh <= 2*peak {
			ss = append(ss, plotter.XY{X: t, Y: float64(r.Ssthresh)})
		}
	}
	addLine(p, cw, colSegment, "cwnd", true)
	addLine(p, ss, colSsthresh, "ssthresh", true)
	addLine(p, fl, colAck, "bytes in flight", true)
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

// rttPlotSeries draws a connection's smoothed RTT and RTT variation.
func rttPlotSeries(c seriesConn) *plot.Plot {
	p := plot.New()
	p.Title.Text = "smoothed RTT " + c.name
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "ms"
	srtt, vr := make(plotter.XYs, 0, len(c.rows)), make(plotter.XYs, 0, len(c.rows))
	for _, r := range c.rows {
		if r.SRTT == 0 {
			continue
		}
		t := secs(r.At)
		srtt = append(srtt, plotter.XY{X: t, Y: float64(r.SRTT) / 1e6})
		vr = append(vr, plotter.XY{X: t, Y: float64(r.RTTVar) / 1e6})
	}
	addLine(p, srtt, colSegment, "srtt", true)
	addLine(p, vr, colWindow, "rttvar", true)
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

// throughputBins is the number of bins of the throughput plot.
const throughputBins = 100

// throughputSeriesPlot draws each connection's goodput: bytes newly
// acknowledged per bin, from the series' cumulative delivered bytes
// (which decimation keeps exact at every row it keeps).
func throughputSeriesPlot(conns []seriesConn) *plot.Plot {
	p := plot.New()
	p.Title.Text = "throughput per TCP connection"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "Mbit/s"
	t0, t1 := math.Inf(1), math.Inf(-1)
	for _, c := range conns {
		t0 = math.Min(t0, secs(c.rows[0].At))
		t1 = math.Max(t1, secs(c.rows[len(c.rows)-1].At))
	}
	b := newBinner(t0, t1, throughputBins)
	for i, c := range conns {
		bytes := make([]float64, b.n)
		var prev uint64
		for _, r := range c.rows {
			if r.DeliveredBytes > prev {
				bytes[b.bin(secs(r.At))] += float64(r.DeliveredBytes - prev)
				prev = r.DeliveredBytes
			}
		}
		xy := make(plotter.XYs, b.n)
		for k := range bytes {
			xy[k] = plotter.XY{X: b.t0 + float64(k)*b.width, Y: bytes[k] * 8 / b.width / 1e6}
		}
		addLine(p, xy, palette[i%len(palette)], c.name, true)
	}
	p.Legend.Top = true
	return p
}

// appGoodputPlot draws the interval goodput of every app with an
// interval, as iperf's interval lines would.
func appGoodputPlot(rows []scenario.IntervalSample) *plot.Plot {
	p := plot.New()
	p.Title.Text = "goodput per interval, per app"
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "Mbit/s"
	type key struct{ host, app string }
	var keys []key
	byKey := map[key]plotter.XYs{}
	for _, r := range rows {
		k := key{r.Host, r.App}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		// A step per interval: its rate from its start to its end.
		byKey[k] = append(byKey[k], plotter.XY{X: secs(r.StartNs), Y: r.BitsPerSecond / 1e6}, plotter.XY{X: secs(r.EndNs), Y: r.BitsPerSecond / 1e6})
	}
	for i, k := range keys {
		addLine(p, byKey[k], palette[i%len(palette)], k.app+" on "+k.host, false)
	}
	p.Legend.Top = true
	return p
}

// queueKey names one link direction.
type queueKey struct{ link, dir string }

// queuePlot draws a link direction's queue length in packets.
func queuePlot(k queueKey, rows []scenario.QueueSample) *plot.Plot {
	p := plot.New()
	p.Title.Text = "queue " + k.link + " " + k.dir
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "packets queued"
	xy := make(plotter.XYs, 0, len(rows))
	for _, r := range rows {
		xy = append(xy, plotter.XY{X: secs(r.At), Y: float64(r.Packets)})
	}
	addLine(p, xy, colSegment, "packets", true)
	p.Legend = plot.NewLegend()
	return p
}

// seriesSections draws the run's time series: per connection that moved
// data its congestion window and RTT, then one section with the
// throughput of every connection and the queue length of every
// rate-limited link direction.
func seriesSections(s *scenario.Series) ([]FlowSection, []string, error) {
	if s == nil {
		return nil, nil, nil
	}
	var notes []string
	conns := dataConns(s)
	drawn := conns
	if len(drawn) > MaxFlowPlots {
		notes = append(notes, fmt.Sprintf("%d TCP connections moved data; the time series of the first %d are drawn.", len(drawn), MaxFlowPlots))
		drawn = drawn[:MaxFlowPlots]
	}
	var out []FlowSection
	render := func(sec *FlowSection, kind, title string, p *plot.Plot, w, h vg.Length) error {
		svg, err := svgOf(p, w, h)
		if err != nil {
			return err
		}
		sec.Plots = append(sec.Plots, Plot{Kind: kind, Title: title, SVG: svg})
		return nil
	}
	for _, c := range drawn {
		sec := FlowSection{Name: c.name}
		if err := render(&sec, "cwnd", "congestion window, slow-start threshold and bytes in flight (sender's state)", cwndPlot(c), 12*vg.Centimeter, 8*vg.Centimeter); err != nil {
			return nil, nil, err
		}
		if err := render(&sec, "rtt", "smoothed RTT and RTT variation (RFC 6298)", rttPlotSeries(c), 12*vg.Centimeter, 8*vg.Centimeter); err != nil {
			return nil, nil, err
		}
		out = append(out, sec)
	}
	all := FlowSection{Name: "throughput and queues"}
	if len(drawn) > 0 {
		if err := render(&all, "throughput", "throughput: bytes acknowledged per interval, per connection", throughputSeriesPlot(drawn), 24*vg.Centimeter, 9*vg.Centimeter); err != nil {
			return nil, nil, err
		}
	}
	if len(s.App) > 0 {
		if err := render(&all, "app", "goodput per interval of the apps with an interval (series/app.csv)", appGoodputPlot(s.App), 24*vg.Centimeter, 9*vg.Centimeter); err != nil {
			return nil, nil, err
		}
	}
	var keys []queueKey
	byKey := map[queueKey][]scenario.QueueSample{}
	for _, r := range s.Queue {
		k := queueKey{r.Link, r.Dir}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	for _, k := range keys {
		if err := render(&all, "queue", "queue length at "+k.link+" "+k.dir+" (as arriving frames find it; as frames leave, for a queue discipline)", queuePlot(k, byKey[k]), 12*vg.Centimeter, 8*vg.Centimeter); err != nil {
			return nil, nil, err
		}
	}
	if len(all.Plots) > 0 {
		out = append(out, all)
	}
	return out, notes, nil
}

// flowMonitorTable lists report.json's per-flow table.
func flowMonitorTable(flows []scenario.FlowReport) Table {
	t := Table{Title: "flows (per 5-tuple, measured on the simulated links)", Head: []string{"protocol", "source", "destination",
		"tx packets", "tx bytes", "rx packets", "rx bytes", "lost", "delay mean (ms)", "delay p99 (ms)", "jitter (ms)", "throughput (Mbit/s)"}}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }
	for _, f := range flows {
		t.Rows = append(t.Rows, []string{f.Protocol, f.Src, f.Dst, fmt.Sprint(f.TxPackets), fmt.Sprint(f.TxBytes),
			fmt.Sprint(f.RxPackets), fmt.Sprint(f.RxBytes), fmt.Sprint(f.LostPackets), ms(f.DelayMeanNs), ms(f.DelayP99Ns),
			ms(f.JitterMeanNs), fmt.Sprintf("%.3f", f.ThroughputBps/1e6)})
	}
	return t
}
