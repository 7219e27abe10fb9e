// Package htmlreport writes report.html: one self-contained page (no
// scripts, no fetches) describing a simulated run or a replayed capture,
// with tables and SVG plots drawn with gonum/plot. For every TCP flow it
// draws what tcptrace and Wireshark's TCP stream graphs draw, computed from
// the captures: the Stevens time-sequence graph (segments, ACK line,
// receive window, SACK blocks, retransmissions), goodput, RTT and bytes in
// flight. Large flows are decimated to at most MaxBins time bins.
package htmlreport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"gonum.org/v1/plot/vg"

	"github.com/simnet-go/simnet/replay/tcptrace"
	"github.com/simnet-go/simnet/sim/scenario"
)

// File is the name of the page in the output directory.
const File = "report.html"

// MaxFlowPlots bounds the flows drawn (the largest by bytes); the table
// lists every flow.
const MaxFlowPlots = 16

// Table is a titled table of cells.
type Table struct {
	Title string
	Head  []string
	Rows  [][]string
}

// Plot is one rendered plot.
type Plot struct {
	// Kind is seq, goodput, rtt or inflight.
	Kind  string
	Title string
	SVG   template.HTML
}

// FlowSection is one drawn flow.
type FlowSection struct {
	Name  string
	Plots []Plot
}

// Page is what report.html shows.
type Page struct {
	Title string
	// Text is a preformatted summary (the run's text summary).
	Text string
	// Source is the scenario file's text, shown folded.
	Source string
	Tables []Table
	Flows  []FlowSection
	// Series are the plots drawn from the simulator's time series:
	// per TCP connection its congestion window and RTT, then the
	// throughput and the queues.
	Series []FlowSection
	Notes  []string
}

var pageTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:1.5em;max-width:75em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}
th{background:#eee} td:first-child,th:first-child{text-align:left}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto}
figure{display:inline-block;margin:0 .5em 1em 0}
</style></head><body>
<h1>{{.Title}}</h1>
{{if .Text}}<pre class="summary">{{.Text}}</pre>{{end}}
{{if .Source}}<details><summary>scenario file</summary><pre>{{.Source}}</pre></details>{{end}}
{{range .Tables}}<h2>{{.Title}}</h2>
<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{end}}
{{if .Flows}}<h2>TCP flows</h2>{{end}}
{{range .Flows}}<section class="flow" data-flow="{{.Name}}"><h3>{{.Name}}</h3>
{{range .Plots}}<figure class="plot" data-kind="{{.Kind}}">{{.SVG}}<figcaption>{{.Title}}</figcaption></figure>
{{end}}</section>
{{end}}
{{if .Series}}<h2>Time series (from the simulator)</h2>{{end}}
{{range .Series}}<section class="series" data-flow="{{.Name}}"><h3>{{.Name}}</h3>
{{range .Plots}}<figure class="series-plot" data-kind="{{.Kind}}">{{.SVG}}<figcaption>{{.Title}}</figcaption></figure>
{{end}}</section>
{{end}}
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
</body></html>
`))

// Render writes p as HTML to a buffer.
func Render(p Page) ([]byte, error) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render report.html: %w", err)
	}
	return b.Bytes(), nil
}

// flowTable lists every flow with its counts, goodput and RTT.
func flowTable(flows []*tcptrace.Flow) Table {
	t := Table{Title: "TCP flows (from the captures)", Head: []string{"flow", "packets", "data bytes", "retransmitted segments",
		"bytes acknowledged", "duration (s)", "goodput (Mbit/s)", "RTT min/avg/max (ms)"}}
	for _, f := range flows {
		rtt := "-"
		if len(f.RTT) > 0 {
			lo, hi, sum := math.Inf(1), 0.0, 0.0
			for _, s := range f.RTT {
				lo, hi, sum = math.Min(lo, s.RTT), math.Max(hi, s.RTT), sum+s.RTT
			}
			rtt = fmt.Sprintf("%.2f / %.2f / %.2f", lo*1e3, sum/float64(len(f.RTT))*1e3, hi*1e3)
		}
		t.Rows = append(t.Rows, []string{f.Name(), fmt.Sprint(f.Packets), fmt.Sprint(f.Bytes), fmt.Sprint(f.Retransmits),
			fmt.Sprint(f.Delivered), fmt.Sprintf("%.3f", f.Last-f.First), fmt.Sprintf("%.3f", f.Goodput()/1e6), rtt})
	}
	return t
}

// flowSections draws the largest flows.
func flowSections(flows []*tcptrace.Flow) ([]FlowSection, []string, error) {
	drawn := append([]*tcptrace.Flow(nil), flows...)
	sort.SliceStable(drawn, func(i, j int) bool { return drawn[i].Bytes > drawn[j].Bytes })
	var notes []string
	if len(drawn) > MaxFlowPlots {
		notes = append(notes, fmt.Sprintf("%d flows; the %d largest are drawn.", len(drawn), MaxFlowPlots))
		drawn = drawn[:MaxFlowPlots]
	}
	var out []FlowSection
	for _, f := range drawn {
		sec := FlowSection{Name: f.Name()}
		seq, n := seqPlot(f)
		title := "time-sequence graph (Stevens/tcptrace): segments, ACK line, receive window, SACK blocks, retransmissions in red"
		if n < len(f.Segments)+len(f.Acks) {
			title += fmt.Sprintf("; %d segments and %d ACKs drawn in %d time bins", len(f.Segments), len(f.Acks), MaxBins)
		}
		for _, pl := range []struct {
			kind, title string
			render      func() (template.HTML, error)
		}{
			{"seq", title, func() (template.HTML, error) { return svgOf(seq, 24*vg.Centimeter, 13*vg.Centimeter) }},
			{"goodput", "goodput: bytes newly acknowledged per interval", func() (template.HTML, error) {
				return svgOf(throughputPlot(f), 12*vg.Centimeter, 8*vg.Centimeter)
			}},
			{"rtt", "RTT samples (Karn's rule: none from retransmitted segments)", func() (template.HTML, error) {
				return svgOf(rttPlot(f), 12*vg.Centimeter, 8*vg.Centimeter)
			}},
			{"inflight", "bytes in flight as captured (a lower bound on the sender's window)", func() (template.HTML, error) {
				return svgOf(inFlightPlot(f), 12*vg.Centimeter, 8*vg.Centimeter)
			}},
		} {
			svg, err := pl.render()
			if err != nil {
				return nil, nil, err
			}
			sec.Plots = append(sec.Plots, Plot{Kind: pl.kind, Title: pl.title, SVG: svg})
		}
		out = append(out, sec)
	}
	return out, notes, nil
}

// numbers returns the numeric fields of v as encoded in JSON, in key order.
func numbers(v any) ([]string, map[string]float64) {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	out := map[string]float64{}
	var keys []string
	for k, x := range m {
		if f, ok := x.(float64); ok {
			out[k] = f
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys, out
}

// linkTable shows every link direction's counters.
func linkTable(rep *scenario.Report) Table {
	t := Table{Title: "links"}
	var keys []string
	for _, l := range rep.Links {
		for _, c := range []any{l.AtoB, l.BtoA} {
			ks, _ := numbers(c)
			for _, k := range ks {
				if !contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
	}
	// Columns that are zero on every direction say nothing: leave them out.
	nonZero := keys[:0]
	for _, k := range keys {
		for _, l := range rep.Links {
			_, a := numbers(l.AtoB)
			_, b := numbers(l.BtoA)
			if a[k] != 0 || b[k] != 0 {
				nonZero = append(nonZero, k)
				break
			}
		}
	}
	keys = nonZero
	t.Head = append([]string{"link", "direction"}, keys...)
	for _, l := range rep.Links {
		for _, d := range []struct {
			name string
			c    any
		}{{l.A + " -> " + l.B, l.AtoB}, {l.B + " -> " + l.A, l.BtoA}} {
			_, vals := numbers(d.c)
			row := []string{l.Name, d.name}
			for _, k := range keys {
				row = append(row, strconv.FormatFloat(vals[k], 'f', -1, 64))
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// RunPage builds the page of a run whose captures and report are in dir.
func RunPage(dir string, rep *scenario.Report, source []byte) (Page, error) {
	var sum bytes.Buffer
	if err := rep.WriteSummary(&sum); err != nil {
		return Page{}, err
	}
	p := Page{Title: fmt.Sprintf("simnet run: %s, seed %d", rep.Scenario, rep.Seed), Text: sum.String(), Source: string(source)}
	p.Tables = append(p.Tables, linkTable(rep))
	var paths []string
	for _, c := range rep.Captures {
		paths = append(paths, filepath.Join(dir, c))
	}
	origin, err := tcptrace.Earliest(paths)
	if err != nil {
		return Page{}, err
	}
	var per [][]*tcptrace.Flow
	for _, path := range paths {
		flows, err := tcptrace.Read(path, origin)
		if err != nil {
			p.Notes = append(p.Notes, err.Error())
		}
		per = append(per, flows)
	}
	flows := tcptrace.Pick(per)
	p.Tables = append(p.Tables, flowTable(flows))
	secs, notes, err := flowSections(flows)
	if err != nil {
		return Page{}, err
	}
	p.Flows, p.Notes = secs, append(p.Notes, notes...)
	if len(rep.Flows) > 0 {
		p.Tables = append(p.Tables, flowMonitorTable(rep.Flows))
	}
	ser, notes, err := seriesSections(rep.Series)
	if err != nil {
		return Page{}, err
	}
	p.Series, p.Notes = ser, append(p.Notes, notes...)
	if len(paths) == 0 {
		p.Notes = append(p.Notes, "The run wrote no captures, so no flow is drawn.")
	}
	p.Notes = append(p.Notes, "Times are seconds from the first captured frame. Each flow is drawn from the capture nearest its sender.")
	return p, nil
}

// ReplayPage builds the page of a capture's analysis: its TCP flows and
// their graphs, as Wireshark's TCP stream graphs would draw them.
func ReplayPage(capture string) (Page, error) {
	p := Page{Title: "simnet replay: " + filepath.Base(capture)}
	flows, err := tcptrace.Read(capture, time.Time{})
	if err != nil {
		if flows == nil {
			return Page{}, err
		}
		p.Notes = append(p.Notes, err.Error()+": the page covers the frames before the break")
	}
	p.Tables = append(p.Tables, flowTable(flows))
	secs, notes, err := flowSections(flows)
	if err != nil {
		return Page{}, err
	}
	p.Flows, p.Notes = secs, append(p.Notes, notes...)
	p.Notes = append(p.Notes, "Times are seconds from the capture's first frame.")
	return p, nil
}

// Write renders p into dir/report.html.
func Write(dir string, p Page) error {
	b, err := Render(p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, File), b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", File, err)
	}
	return nil
}
