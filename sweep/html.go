package sweep

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// maxPlots bounds the metric plots on the page.
const maxPlots = 8

// plotWorthy reports whether a metric is one people plot over a sweep:
// goodput, throughput, RTT, delay, loss and retransmissions.
func plotWorthy(name string) bool {
	for _, k := range []string{"goodput", "throughput", "rtt", "delay", "loss", "retrans"} {
		if strings.Contains(name, k) {
			return true
		}
	}
	return false
}

// pointLabel names a grid point on an axis.
func pointLabel(p PointSummary) string {
	if len(p.Params) == 0 {
		return "all runs"
	}
	var parts []string
	for _, a := range p.Params {
		parts = append(parts, a.Value)
	}
	return strings.Join(parts, " ")
}

// passPlot draws the pass rate of each grid point as bars.
func passPlot(s Summary) (template.HTML, error) {
	p := plot.New()
	p.Title.Text = "runs passed per grid point"
	p.Y.Label.Text = "passed (%)"
	p.Y.Min, p.Y.Max = 0, 100
	vals := make(plotter.Values, len(s.Points))
	var labels []string
	for i, pt := range s.Points {
		if pt.Runs > 0 {
			vals[i] = 100 * float64(pt.Passed) / float64(pt.Runs)
		}
		labels = append(labels, pointLabel(pt))
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(20))
	if err != nil {
		return "", err
	}
	p.Add(bars)
	p.NominalX(labels...)
	return svg(p)
}

// metricPlot draws one metric's distribution per grid point as box plots
// (median, quartiles, whiskers to 1.5 IQR, outliers).
func metricPlot(s Summary, name string, values map[int][]float64) (template.HTML, error) {
	p := plot.New()
	p.Title.Text = name
	p.Y.Label.Text = name
	var labels []string
	for i, pt := range s.Points {
		labels = append(labels, pointLabel(pt))
		v := values[pt.Point]
		if len(v) == 0 {
			continue
		}
		box, err := plotter.NewBoxPlot(vg.Points(20), float64(i), plotter.Values(v))
		if err != nil {
			return "", err
		}
		p.Add(box)
	}
	p.NominalX(labels...)
	return svg(p)
}

func svg(p *plot.Plot) (template.HTML, error) {
	w, err := p.WriterTo(16*vg.Centimeter, 9*vg.Centimeter, "svg")
	if err != nil {
		return "", fmt.Errorf("render plot: %w", err)
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		return "", fmt.Errorf("render plot: %w", err)
	}
	out := b.String()
	// Drop the XML prolog: the SVG is inlined in HTML.
	if i := strings.Index(out, "<svg"); i > 0 {
		out = out[i:]
	}
	return template.HTML(out), nil // #nosec: gonum's own SVG output
}

type htmlPlot struct {
	Title string
	SVG   template.HTML
}

type htmlPage struct {
	S     Summary
	Plots []htmlPlot
}

var page = template.Must(template.New("sweep").Funcs(template.FuncMap{
	"label": pointLabel,
	"pct": func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	},
	"num": func(v float64) string { return fmt.Sprintf("%.4g", v) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>simnet sweep: {{.S.Spec.File}}</title>
<style>
body{font-family:sans-serif;margin:1.5em;max-width:70em}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}
th{background:#eee} td.l,th.l{text-align:left}
.fail{color:#b00} .pass{color:#070} figure{margin:0 0 1em;display:inline-block}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>Sweep of <code>{{.S.Spec.File}}</code></h1>
<p>{{.S.Ran}} of {{.S.Total}} runs{{if .S.Shard}} (shard {{.S.Shard}}){{end}}{{if not .S.Complete}}, <b>incomplete</b>{{end}}:
<span class="pass">{{.S.Passed}} passed</span>, <span class="fail">{{len .S.Failures}} failed</span>.
Seeds: {{len .S.Spec.Seeds}}{{range .S.Spec.Sets}}; <code>{{.Path}}</code> in {{range $i, $v := .Values}}{{if $i}}, {{end}}{{$v}}{{end}}{{end}}.</p>
<h2>Grid points</h2>
{{range .S.Points}}<h3>{{label .}}</h3>
<p>{{.Passed}} of {{.Runs}} runs passed ({{pct .Passed .Runs}}){{if .Errors}}, {{.Errors}} could not run{{end}}.</p>
{{if .Expectations}}<table><tr><th class="l">expectation</th><th>passed</th><th>failed</th></tr>
{{range .Expectations}}<tr><td class="l">{{.Name}}</td><td>{{.Passed}}</td><td{{if .Failed}} class="fail"{{end}}>{{.Failed}}</td></tr>
{{end}}</table>{{end}}
{{if .Metrics}}<table><tr><th class="l">metric</th><th>n</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>max</th><th>mean</th></tr>
{{range .Metrics}}<tr><td class="l">{{.Name}}</td><td>{{.N}}</td><td>{{num .Min}}</td><td>{{num .P50}}</td><td>{{num .P90}}</td><td>{{num .P99}}</td><td>{{num .Max}}</td><td>{{num .Mean}}</td></tr>
{{end}}</table>{{end}}
{{end}}
<h2>Plots</h2>
{{range .Plots}}<figure>{{.SVG}}<figcaption>{{.Title}}</figcaption></figure>
{{end}}
<h2>Failures</h2>
{{if .S.Failures}}<table><tr><th>run</th><th>seed</th><th class="l">parameters</th><th class="l">what failed</th><th class="l">reproduce</th></tr>
{{range .S.Failures}}<tr><td>{{.Index}}</td><td>{{.Seed}}</td><td class="l">{{range .Params}}{{.}} {{end}}</td>
<td class="l">{{if .Error}}{{.Error}}{{end}}{{range .Expectations}}{{if not .Passed}}{{.Name}} ({{.Message}})<br>{{end}}{{end}}</td>
<td class="l"><code>{{.Reproduce}}</code>{{if .Kept}}<br>captures: {{.Kept}}{{end}}</td></tr>
{{end}}</table>{{else}}<p>none</p>{{end}}
</body></html>
`))

// writeHTML writes the summary as one self-contained page: tables and
// SVG plots drawn with gonum/plot, no external resources.
func writeHTML(w io.Writer, s Summary) error {
	pg := htmlPage{S: s}
	if len(s.Points) > 0 {
		svg, err := passPlot(s)
		if err != nil {
			return err
		}
		pg.Plots = append(pg.Plots, htmlPlot{Title: "share of runs whose expectations all passed", SVG: svg})
	}
	values := map[string]map[int][]float64{}
	for _, r := range s.Results {
		for _, m := range r.Metrics {
			if !plotWorthy(m.Name) {
				continue
			}
			if values[m.Name] == nil {
				values[m.Name] = map[int][]float64{}
			}
			values[m.Name][r.Point] = append(values[m.Name][r.Point], m.Value)
		}
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > maxPlots {
		names = names[:maxPlots]
	}
	for _, n := range names {
		svg, err := metricPlot(s, n, values[n])
		if err != nil {
			return err
		}
		pg.Plots = append(pg.Plots, htmlPlot{Title: n + " per grid point (box: quartiles, line: median)", SVG: svg})
	}
	return page.Execute(w, pg)
}
