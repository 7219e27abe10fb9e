package sweep

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// BenchmarkSweepSeedStory sweeps examples/seed-story-lossy.yaml over 200
// seeds, once one run at a time and once with one run per core, and
// reports both rates and the speed-up (the goal on 2 cores: >= 1.7x).
func BenchmarkSweepSeedStory(b *testing.B) {
	seeds, err := ParseSeeds("1-200")
	if err != nil {
		b.Fatal(err)
	}
	spec := Spec{File: "../examples/seed-story-lossy.yaml", Seeds: seeds}
	jobs := spec.Jobs()
	par := runtime.NumCPU()
	// simnet sweep runs with GOGC=400 unless GOGC is set; measure that.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	var serial, parallel time.Duration
	for b.Loop() {
		for _, p := range []int{1, par} {
			start := time.Now()
			rs, err := Run(context.Background(), spec, jobs, Options{Parallel: p})
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				if r.Error != "" {
					b.Fatal(r.Error)
				}
			}
			if p == 1 {
				serial += time.Since(start)
			} else {
				parallel += time.Since(start)
			}
		}
	}
	runs := float64(len(jobs) * b.N)
	b.ReportMetric(runs/serial.Seconds(), "runs/s-serial")
	b.ReportMetric(runs/parallel.Seconds(), "runs/s-parallel")
	b.ReportMetric(serial.Seconds()/parallel.Seconds(), "speedup")
	b.ReportMetric(float64(par), "cores")
}
