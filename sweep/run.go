package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/simnet-go/simnet/sim/scenario"
)

// Spec is what a sweep runs: one file over seeds and a parameter grid.
type Spec struct {
	// File is the scenario file as given on the command line; reproduce
	// commands name it so.
	File  string   `json:"file"`
	Seeds []uint64 `json:"seeds"`
	Sets  []Set    `json:"sets"`
}

// Job is one run of a sweep.
type Job struct {
	// Index numbers the run within the whole sweep, from 0.
	Index int
	// Point numbers the grid point, from 0.
	Point  int
	Seed   uint64
	Assign []Assignment
}

// Jobs lists every run of s in sweep order.
func (s Spec) Jobs() []Job {
	var jobs []Job
	for p, assign := range Grid(s.Sets) {
		for _, seed := range s.Seeds {
			jobs = append(jobs, Job{Index: len(jobs), Point: p, Seed: seed, Assign: assign})
		}
	}
	return jobs
}

// Shard returns the jobs of shard i (1-based) of n: those whose index is
// i-1 modulo n, so every shard gets a share of every grid point.
func Shard(jobs []Job, i, n int) []Job {
	var out []Job
	for _, j := range jobs {
		if j.Index%n == i-1 {
			out = append(out, j)
		}
	}
	return out
}

// ParseShard parses "I/N" with 1 <= I <= N.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want I/N with 1 <= I <= N", s)
	}
	return i, n, nil
}

// Metric is one number a run's report gave: APP.FIELD, e.g.
// "up.goodput_bps" or "p.rtt_avg_ms".
type Metric struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Verdict is one expectation condition's outcome in a run.
type Verdict struct {
	// Name is "APP CONDITION", e.g. "p min_replies: 3".
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Message says what was measured.
	Message string `json:"message"`
}

// Result is the outcome of one run. It holds nothing that depends on the
// wall clock, the machine or the output directory, so a run's result is
// the same in any shard.
type Result struct {
	Index  int          `json:"index"`
	Point  int          `json:"point"`
	Seed   uint64       `json:"seed"`
	Params []Assignment `json:"params"`
	Passed bool         `json:"passed"`
	// Error is set when the run could not be built or run.
	Error        string    `json:"error,omitempty"`
	Expectations []Verdict `json:"expectations"`
	Metrics      []Metric  `json:"metrics"`
	// Reproduce is the command that runs this one run again.
	Reproduce string `json:"reproduce"`
	// Kept is the directory, relative to the sweep's output, holding the
	// captures and report of a failing run.
	Kept string `json:"kept,omitempty"`
}

// Reproduce returns the `simnet run` command for one run of file.
func Reproduce(file string, seed uint64, assign []Assignment) string {
	parts := []string{"simnet", "run", shellQuote(file), "--seed", strconv.FormatUint(seed, 10)}
	for _, a := range assign {
		parts = append(parts, "--set", shellQuote(a.String()))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=%:,+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Options control how Run runs jobs.
type Options struct {
	// Parallel is the number of runs at once (at least 1).
	Parallel int
	// OutDir receives kept runs under runs/; "" keeps nothing.
	OutDir string
	// Progress, when set, is called after each run, from one goroutine at
	// a time.
	Progress func(done, total int, r Result)
}

// Run runs jobs of spec, Parallel at a time, and returns their results in
// job order. A run whose expectations fail is run again with captures into
// OutDir/runs/INDEX (the run is deterministic, so it fails the same way);
// passing runs write nothing. Cancelling ctx stops handing out jobs and
// returns the results so far with ctx's error.
func Run(ctx context.Context, spec Spec, jobs []Job, opts Options) ([]Result, error) {
	par := max(opts.Parallel, 1)
	results := make([]Result, len(jobs))
	ran := make([]bool, len(jobs))
	next := make(chan int)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range min(par, max(len(jobs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := runOne(spec, jobs[i], opts.OutDir)
				mu.Lock()
				results[i], ran[i] = r, true
				done++
				if opts.Progress != nil {
					opts.Progress(done, len(jobs), r)
				}
				mu.Unlock()
			}
		}()
	}
	var err error
feed:
	for i := range jobs {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		var partial []Result
		for i, r := range results {
			if ran[i] {
				partial = append(partial, r)
			}
		}
		return partial, err
	}
	return results, nil
}

// runOne runs one job and, when it fails, runs it again keeping its
// captures and report.
func runOne(spec Spec, j Job, outDir string) Result {
	r := Result{Index: j.Index, Point: j.Point, Seed: j.Seed, Params: j.Assign,
		Reproduce: Reproduce(spec.File, j.Seed, j.Assign)}
	if r.Params == nil {
		r.Params = []Assignment{}
	}
	s, err := Load(spec.File, j.Assign)
	if err != nil {
		r.Error = oneLine(err)
		return r
	}
	rep, err := scenario.Run(s, scenario.Options{Seed: j.Seed, SeedSet: true})
	if err != nil {
		r.Error = oneLine(err)
		return r
	}
	r.Passed = rep.Passed
	r.Expectations = verdicts(rep)
	r.Metrics = metrics(rep)
	if !r.Passed && outDir != "" {
		r.Kept = filepath.Join("runs", fmt.Sprintf("%06d", j.Index))
		if err := keep(s, j, filepath.Join(outDir, r.Kept)); err != nil {
			r.Error = oneLine(err)
			r.Kept = ""
		}
	}
	return r
}

// keep runs j again with captures into dir and writes its report there.
func keep(s *scenario.Scenario, j Job, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("keep failing run: %w", err)
	}
	rep, err := scenario.Run(s, scenario.Options{Seed: j.Seed, SeedSet: true, OutDir: dir})
	if err != nil {
		return fmt.Errorf("keep failing run: %w", err)
	}
	return scenario.WriteReport(dir, rep)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func verdicts(rep *scenario.Report) []Verdict {
	out := []Verdict{}
	for _, e := range rep.Expectations {
		out = append(out, Verdict{Name: e.App + " " + e.Condition, Passed: e.Passed, Message: e.Message})
	}
	return out
}

// notMetric reports fields that are numbers but not measurements: instants
// (start_ns, end_ns are points in simulated time) and configuration.
func notMetric(field string) bool {
	return strings.HasSuffix(field, "start_ns") || strings.HasSuffix(field, "end_ns") || field == "port"
}

// metrics takes every number at the top level of each app's result, as
// report.json shows it, named APP.FIELD and sorted by name.
func metrics(rep *scenario.Report) []Metric {
	out := []Metric{}
	for _, a := range rep.Apps {
		if a.Result == nil {
			continue
		}
		b, err := json.Marshal(a.Result)
		if err != nil {
			continue
		}
		var fields map[string]any
		if json.Unmarshal(b, &fields) != nil {
			continue
		}
		for k, v := range fields {
			if f, ok := v.(float64); ok && !notMetric(k) {
				out = append(out, Metric{Name: a.Name + "." + k, Value: f})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
