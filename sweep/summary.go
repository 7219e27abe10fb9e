package sweep

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
)

// Files a sweep writes into its output directory.
const (
	SpecFile    = "sweep.json"    // the spec and which shard this is
	ResultsFile = "results.jsonl" // one Result per line, in index order
	SummaryCSV  = "summary.csv"   // one row per run
	SummaryJSON = "summary.json"  // runs, per-point aggregates, failures
	SummaryHTML = "summary.html"  // the same as a page with plots
)

// header is sweep.json: enough to check that shards belong together.
type header struct {
	Spec  Spec `json:"spec"`
	Total int  `json:"total_runs"`
	// Shard is "I/N", or "" for an unsharded sweep or a merge.
	Shard string `json:"shard,omitempty"`
}

// Stat summarises one metric over the runs of a grid point.
type Stat struct {
	Name string  `json:"name"`
	N    int     `json:"n"`
	Min  float64 `json:"min"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// ExpectCount counts one expectation's outcomes over a grid point.
type ExpectCount struct {
	Name   string `json:"name"`
	Passed int    `json:"passed"`
	Failed int    `json:"failed"`
}

// PointSummary aggregates the runs of one grid point.
type PointSummary struct {
	Point        int           `json:"point"`
	Params       []Assignment  `json:"params"`
	Runs         int           `json:"runs"`
	Passed       int           `json:"passed"`
	Errors       int           `json:"errors"`
	Expectations []ExpectCount `json:"expectations"`
	Metrics      []Stat        `json:"metrics"`
}

// Summary is summary.json.
type Summary struct {
	Spec Spec `json:"spec"`
	// Shard is "I/N" when this summary covers one shard only.
	Shard string `json:"shard,omitempty"`
	// Complete is false when runs of the sweep are missing (a shard, or
	// an interrupted sweep).
	Complete bool           `json:"complete"`
	Total    int            `json:"total_runs"`
	Ran      int            `json:"ran"`
	Passed   int            `json:"passed"`
	Points   []PointSummary `json:"points"`
	// Failures lists the runs that failed or could not run, each with the
	// command that reproduces it.
	Failures []Result `json:"failures"`
	Results  []Result `json:"results"`
}

// Summarise aggregates results (any order) of a sweep of spec.
func Summarise(spec Spec, shard string, results []Result) Summary {
	rs := slices.Clone(results)
	sort.Slice(rs, func(i, j int) bool { return rs[i].Index < rs[j].Index })
	total := len(spec.Jobs())
	s := Summary{Spec: spec, Shard: shard, Total: total, Ran: len(rs), Complete: len(rs) == total,
		Failures: []Result{}, Results: rs}
	if s.Results == nil {
		s.Results = []Result{}
	}
	byPoint := map[int][]Result{}
	for _, r := range rs {
		byPoint[r.Point] = append(byPoint[r.Point], r)
		if r.Passed {
			s.Passed++
		} else {
			s.Failures = append(s.Failures, r)
		}
	}
	for p, assign := range Grid(spec.Sets) {
		runs := byPoint[p]
		if assign == nil {
			assign = []Assignment{}
		}
		ps := PointSummary{Point: p, Params: assign, Runs: len(runs), Expectations: []ExpectCount{}, Metrics: []Stat{}}
		expect := map[string]*ExpectCount{}
		var expectOrder []string
		values := map[string][]float64{}
		for _, r := range runs {
			if r.Passed {
				ps.Passed++
			}
			if r.Error != "" {
				ps.Errors++
			}
			for _, v := range r.Expectations {
				c := expect[v.Name]
				if c == nil {
					c = &ExpectCount{Name: v.Name}
					expect[v.Name] = c
					expectOrder = append(expectOrder, v.Name)
				}
				if v.Passed {
					c.Passed++
				} else {
					c.Failed++
				}
			}
			for _, m := range r.Metrics {
				values[m.Name] = append(values[m.Name], m.Value)
			}
		}
		for _, name := range expectOrder {
			ps.Expectations = append(ps.Expectations, *expect[name])
		}
		names := make([]string, 0, len(values))
		for n := range values {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ps.Metrics = append(ps.Metrics, stat(n, values[n]))
		}
		s.Points = append(s.Points, ps)
	}
	return s
}

// stat computes v's order statistics (nearest rank) and mean.
func stat(name string, v []float64) Stat {
	v = slices.Clone(v)
	sort.Float64s(v)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(v)))) - 1
		return v[max(0, min(i, len(v)-1))]
	}
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return Stat{Name: name, N: len(v), Min: v[0], P50: rank(0.5), P90: rank(0.9), P99: rank(0.99),
		Max: v[len(v)-1], Mean: sum / float64(len(v))}
}

// Write writes sweep.json, results.jsonl and the three summaries of
// results into dir.
func Write(dir string, spec Spec, shard string, results []Result) error {
	sum := Summarise(spec, shard, results)
	hdr := header{Spec: spec, Total: sum.Total, Shard: shard}
	if err := writeFile(dir, SpecFile, func(w io.Writer) error { return writeJSON(w, hdr) }); err != nil {
		return err
	}
	if err := writeFile(dir, ResultsFile, func(w io.Writer) error {
		for _, r := range sum.Results {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := writeFile(dir, SummaryJSON, func(w io.Writer) error { return writeJSON(w, sum) }); err != nil {
		return err
	}
	if err := writeFile(dir, SummaryCSV, func(w io.Writer) error { return writeCSV(w, sum) }); err != nil {
		return err
	}
	return writeFile(dir, SummaryHTML, func(w io.Writer) error { return writeHTML(w, sum) })
}

func writeFile(dir, name string, fn func(io.Writer) error) error {
	var b bytes.Buffer
	if err := fn(&b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeCSV writes one row per run: its number, seed, parameters, verdict,
// failed expectations, every metric and the reproduce command.
func writeCSV(w io.Writer, s Summary) error {
	cw := csv.NewWriter(w)
	metricSet := map[string]bool{}
	for _, r := range s.Results {
		for _, m := range r.Metrics {
			metricSet[m.Name] = true
		}
	}
	metricNames := make([]string, 0, len(metricSet))
	for n := range metricSet {
		metricNames = append(metricNames, n)
	}
	sort.Strings(metricNames)
	head := []string{"index", "point", "seed"}
	for _, set := range s.Spec.Sets {
		head = append(head, set.Path)
	}
	head = append(head, "passed", "error", "failed_expectations")
	head = append(head, metricNames...)
	head = append(head, "reproduce")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range s.Results {
		row := []string{strconv.Itoa(r.Index), strconv.Itoa(r.Point), strconv.FormatUint(r.Seed, 10)}
		for _, a := range r.Params {
			row = append(row, a.Value)
		}
		failed := ""
		for _, v := range r.Expectations {
			if !v.Passed {
				if failed != "" {
					failed += "; "
				}
				failed += v.Name
			}
		}
		row = append(row, strconv.FormatBool(r.Passed), r.Error, failed)
		vals := map[string]float64{}
		for _, m := range r.Metrics {
			vals[m.Name] = m.Value
		}
		for _, n := range metricNames {
			if v, ok := vals[n]; ok {
				row = append(row, strconv.FormatFloat(v, 'g', -1, 64))
			} else {
				row = append(row, "")
			}
		}
		row = append(row, r.Reproduce)
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Merge reads the outputs of the shards in dirs, checks that they are
// shards of one sweep and together cover it once, copies their kept runs
// into out and writes the summary an unsharded sweep would have written.
func Merge(out string, dirs []string) (Summary, error) {
	var spec *Spec
	var specJSON []byte
	seen := map[int]string{}
	var results []Result
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, SpecFile))
		if err != nil {
			return Summary{}, fmt.Errorf("merge: %w", err)
		}
		var h header
		if err := json.Unmarshal(b, &h); err != nil {
			return Summary{}, fmt.Errorf("merge: %s: %w", filepath.Join(dir, SpecFile), err)
		}
		sj, _ := json.Marshal(h.Spec)
		if spec == nil {
			spec, specJSON = &h.Spec, sj
		} else if !bytes.Equal(sj, specJSON) {
			return Summary{}, fmt.Errorf("merge: %s is a different sweep (file, seeds or --set differ)", dir)
		}
		rs, err := readResults(filepath.Join(dir, ResultsFile))
		if err != nil {
			return Summary{}, fmt.Errorf("merge: %w", err)
		}
		for _, r := range rs {
			if prev, dup := seen[r.Index]; dup {
				return Summary{}, fmt.Errorf("merge: run %d is in both %s and %s", r.Index, prev, dir)
			}
			seen[r.Index] = dir
			if r.Kept != "" {
				if err := copyDir(filepath.Join(dir, r.Kept), filepath.Join(out, r.Kept)); err != nil {
					return Summary{}, fmt.Errorf("merge: %w", err)
				}
			}
			results = append(results, r)
		}
	}
	if spec == nil {
		return Summary{}, errors.New("merge: no shard directories")
	}
	if err := Write(out, *spec, "", results); err != nil {
		return Summary{}, fmt.Errorf("merge: %w", err)
	}
	return Summarise(*spec, "", results), nil
}

func readResults(path string) ([]Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var r Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// copyDir copies the regular files of src into dst (kept runs are flat).
func copyDir(src, dst string) error {
	if filepath.Clean(src) == filepath.Clean(dst) {
		return nil
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
