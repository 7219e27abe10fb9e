package htmlreport

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/simnet-go/simnet/replay/tcptrace"
)

// MaxBins bounds the time bins a plot draws: a flow of a million segments
// is drawn as at most this many columns (each keeping its bin's lowest and
// highest sequence, its retransmissions, its highest ACK and window), so a
// page stays small and opens fast.
const MaxBins = 1500

var (
	colSegment = color.RGBA{R: 0x1f, G: 0x4e, B: 0xb4, A: 0xff}
	colRetrans = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	colAck     = color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}
	colWindow  = color.RGBA{R: 0xbc, G: 0xa0, B: 0x10, A: 0xff}
	colSACK    = color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}
)

// vspans draws vertical spans (x, y0..y1): the tcptrace way of drawing a
// segment as the sequence range it covers at the time it was seen.
type vspans struct {
	x, y0, y1 []float64
	style     draw.LineStyle
}

func (v *vspans) add(x, y0, y1 float64) {
	v.x, v.y0, v.y1 = append(v.x, x), append(v.y0, y0), append(v.y1, y1)
}

// Plot implements plot.Plotter.
func (v *vspans) Plot(c draw.Canvas, p *plot.Plot) {
	tx, ty := p.Transforms(&c)
	lines := make([][]vg.Point, 0, len(v.x))
	for i := range v.x {
		x := tx(v.x[i])
		y0, y1 := ty(v.y0[i]), ty(v.y1[i])
		if y1-y0 < 0.6 {
			y1 = y0 + 0.6 // keep a one-byte segment visible
		}
		lines = append(lines, []vg.Point{{X: x, Y: y0}, {X: x, Y: y1}})
	}
	c.StrokeLines(v.style, c.ClipLinesXY(lines...)...)
}

// DataRange implements plot.DataRanger.
func (v *vspans) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i := range v.x {
		xmin, xmax = math.Min(xmin, v.x[i]), math.Max(xmax, v.x[i])
		ymin, ymax = math.Min(ymin, v.y0[i]), math.Max(ymax, v.y1[i])
	}
	return
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (v *vspans) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	c.StrokeLine2(v.style, x, c.Min.Y, x, c.Max.Y)
}

func lineStyle(col color.Color, width vg.Length) draw.LineStyle {
	return draw.LineStyle{Color: col, Width: width}
}

// binner maps times to at most MaxBins bins over [t0, t1].
type binner struct {
	t0, width float64
	n         int
}

func newBinner(t0, t1 float64, items int) binner {
	n := min(items, MaxBins)
	if n < 1 {
		n = 1
	}
	w := (t1 - t0) / float64(n)
	if w <= 0 {
		w = 1
	}
	return binner{t0: t0, width: w, n: n}
}

func (b binner) bin(t float64) int {
	return max(0, min(int((t-b.t0)/b.width), b.n-1))
}

// seqPlot draws the Stevens/tcptrace time-sequence graph of f: data
// segments, retransmissions, the ACK line, the receive window's right edge
// and SACK blocks. Above MaxBins segments, each time bin is drawn as one
// span from its lowest sequence to its highest end (and one for its
// retransmissions), the ACK and window lines keep each bin's last value and
// SACK blocks each bin's widest.
func seqPlot(f *tcptrace.Flow) (*plot.Plot, int) {
	p := plot.New()
	p.Title.Text = "time-sequence " + f.Name()
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "relative sequence number"
	segs := &vspans{style: lineStyle(colSegment, 1)}
	rtx := &vspans{style: lineStyle(colRetrans, 1.5)}
	sack := &vspans{style: lineStyle(colSACK, 1)}
	b := newBinner(f.First, f.Last, max(len(f.Segments), len(f.Acks)))
	decimate := len(f.Segments) > MaxBins || len(f.Acks) > MaxBins
	if !decimate {
		for _, s := range f.Segments {
			if s.Retransmit {
				rtx.add(s.T, float64(s.Seq), float64(s.End))
			} else {
				segs.add(s.T, float64(s.Seq), float64(s.End))
			}
		}
	} else {
		type span struct {
			lo, hi float64
			set    bool
		}
		norm := make([]span, b.n)
		re := make([]span, b.n)
		for _, s := range f.Segments {
			sp := &norm[b.bin(s.T)]
			if s.Retransmit {
				sp = &re[b.bin(s.T)]
			}
			if !sp.set {
				*sp = span{lo: float64(s.Seq), hi: float64(s.End), set: true}
			}
			sp.lo, sp.hi = math.Min(sp.lo, float64(s.Seq)), math.Max(sp.hi, float64(s.End))
		}
		for i := range norm {
			t := b.t0 + (float64(i)+0.5)*b.width
			if norm[i].set {
				segs.add(t, norm[i].lo, norm[i].hi)
			}
			if re[i].set {
				rtx.add(t, re[i].lo, re[i].hi)
			}
		}
	}
	ackXY, winXY := make(plotter.XYs, 0, min(len(f.Acks), 2*MaxBins)), make(plotter.XYs, 0, min(len(f.Acks), 2*MaxBins))
	lastBin := -1
	var sackBest [2]uint64
	var sackT float64
	flushSACK := func() {
		if sackBest[1] > sackBest[0] {
			sack.add(sackT, float64(sackBest[0]), float64(sackBest[1]))
		}
		sackBest = [2]uint64{}
	}
	for _, a := range f.Acks {
		bin := b.bin(a.T)
		if decimate && bin == lastBin && len(ackXY) > 0 {
			ackXY[len(ackXY)-1] = plotter.XY{X: a.T, Y: float64(a.Ack)}
			winXY[len(winXY)-1] = plotter.XY{X: a.T, Y: float64(a.Window)}
		} else {
			ackXY = append(ackXY, plotter.XY{X: a.T, Y: float64(a.Ack)})
			winXY = append(winXY, plotter.XY{X: a.T, Y: float64(a.Window)})
		}
		if bin != lastBin && decimate {
			flushSACK()
		}
		lastBin = bin
		for _, s := range a.SACK {
			if !decimate {
				sack.add(a.T, float64(s[0]), float64(s[1]))
			} else if s[1]-s[0] > sackBest[1]-sackBest[0] {
				sackBest, sackT = s, a.T
			}
		}
	}
	flushSACK()
	drawn := len(segs.x) + len(rtx.x) + len(sack.x) + len(ackXY) + len(winXY)
	if len(segs.x) > 0 {
		p.Add(segs)
		p.Legend.Add("segments", segs)
	}
	if len(rtx.x) > 0 {
		p.Add(rtx)
		p.Legend.Add("retransmissions", rtx)
	}
	if len(ackXY) > 0 {
		addStep(p, ackXY, colAck, "ACK")
		addStep(p, winXY, colWindow, "receive window")
	}
	if len(sack.x) > 0 {
		p.Add(sack)
		p.Legend.Add("SACK blocks", sack)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p, drawn
}

func addStep(p *plot.Plot, xy plotter.XYs, col color.Color, name string) {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return
	}
	l.StepStyle = plotter.PostStep
	l.LineStyle = lineStyle(col, 1)
	p.Add(l)
	p.Legend.Add(name, l)
}

// throughputPlot draws the goodput (bytes newly acknowledged per bin).
func throughputPlot(f *tcptrace.Flow) *plot.Plot {
	p := plot.New()
	p.Title.Text = "goodput " + f.Name()
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "Mbit/s"
	b := newBinner(f.First, f.Last, min(max(len(f.Acks)/4, 1), 60))
	bytes := make([]float64, b.n)
	var prev uint64
	for _, a := range f.Acks {
		if a.Ack > prev {
			bytes[b.bin(a.T)] += float64(a.Ack - prev)
			prev = a.Ack
		}
	}
	xy := make(plotter.XYs, b.n)
	for i := range bytes {
		xy[i] = plotter.XY{X: b.t0 + (float64(i)+0.5)*b.width, Y: bytes[i] * 8 / b.width / 1e6}
	}
	if l, err := plotter.NewLine(xy); err == nil {
		l.LineStyle = lineStyle(colSegment, 1.5)
		p.Add(l)
	}
	return p
}

// rttPlot draws the RTT samples; above MaxBins samples, each bin keeps its
// lowest and highest.
func rttPlot(f *tcptrace.Flow) *plot.Plot {
	p := plot.New()
	p.Title.Text = "round-trip time " + f.Name()
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "RTT (ms)"
	var xy plotter.XYs
	if len(f.RTT) <= 2*MaxBins {
		for _, s := range f.RTT {
			xy = append(xy, plotter.XY{X: s.T, Y: s.RTT * 1e3})
		}
	} else {
		b := newBinner(f.First, f.Last, MaxBins)
		lo := make([]float64, b.n)
		hi := make([]float64, b.n)
		tl := make([]float64, b.n)
		for i := range lo {
			lo[i], hi[i] = math.Inf(1), math.Inf(-1)
		}
		for _, s := range f.RTT {
			i := b.bin(s.T)
			if s.RTT < lo[i] {
				lo[i], tl[i] = s.RTT, s.T
			}
			hi[i] = math.Max(hi[i], s.RTT)
		}
		for i := range lo {
			if !math.IsInf(lo[i], 1) {
				xy = append(xy, plotter.XY{X: tl[i], Y: lo[i] * 1e3}, plotter.XY{X: tl[i], Y: hi[i] * 1e3})
			}
		}
	}
	if len(xy) > 0 {
		if sc, err := plotter.NewScatter(xy); err == nil {
			sc.GlyphStyle.Color = colSegment
			sc.GlyphStyle.Radius = vg.Points(1.5)
			p.Add(sc)
		}
	}
	return p
}

// inFlightPlot draws the bytes sent and not yet acknowledged, as the
// capture shows them (the sender's congestion window is at least this).
func inFlightPlot(f *tcptrace.Flow) *plot.Plot {
	p := plot.New()
	p.Title.Text = "bytes in flight " + f.Name()
	p.X.Label.Text = "time (s)"
	p.Y.Label.Text = "bytes"
	b := newBinner(f.First, f.Last, len(f.Segments)+len(f.Acks))
	peak := make([]float64, b.n)
	seen := make([]bool, b.n)
	var sent, acked uint64
	i, j := 0, 0
	for i < len(f.Segments) || j < len(f.Acks) {
		var t float64
		if j >= len(f.Acks) || i < len(f.Segments) && f.Segments[i].T <= f.Acks[j].T {
			s := f.Segments[i]
			sent, t = max(sent, s.End), s.T
			i++
		} else {
			acked, t = max(acked, f.Acks[j].Ack), f.Acks[j].T
			j++
		}
		k := b.bin(t)
		v := 0.0
		if sent > acked {
			v = float64(sent - acked)
		}
		peak[k], seen[k] = math.Max(peak[k], v), true
	}
	var xy plotter.XYs
	for k := range peak {
		if seen[k] {
			xy = append(xy, plotter.XY{X: b.t0 + (float64(k)+0.5)*b.width, Y: peak[k]})
		}
	}
	if len(xy) > 0 {
		addStep(p, xy, colSegment, "in flight")
		p.Legend = plot.NewLegend()
	}
	return p
}

// svgOf renders p as inline SVG.
func svgOf(p *plot.Plot, w, h vg.Length) (template.HTML, error) {
	wt, err := p.WriterTo(w, h, "svg")
	if err != nil {
		return "", fmt.Errorf("render plot %q: %w", p.Title.Text, err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render plot %q: %w", p.Title.Text, err)
	}
	s := b.String()
	if i := strings.Index(s, "<svg"); i > 0 {
		s = s[i:]
	}
	return template.HTML(s), nil
}
