package scenario

import (
	"testing"
	"time"
)

// BenchmarkRun runs the three-host example (no captures) and reports how
// many simulated seconds and link frames one wall-clock second runs.
func BenchmarkRun(b *testing.B) {
	s, err := Load("../../examples/three-hosts.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var frames uint64
	start := time.Now()
	for b.Loop() {
		rep, err := Run(s, Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range rep.Links {
			frames += l.AtoB.Offered + l.BtoA.Offered
		}
	}
	wall := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)*s.Duration.Seconds()/wall, "sim-s/s")
	b.ReportMetric(float64(frames)/wall, "frames/s")
}

// BenchmarkRunObserved runs the bufferbloat example (four TCP flows through
// a queue) plain, with the per-flow table, and with the time series too:
// what simnet run's flows and --series cost.
func BenchmarkRunObserved(b *testing.B) {
	s, err := Load("../../examples/bufferbloat.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"plain", Options{}},
		{"flows", Options{Flows: true}},
		{"flows+series", Options{Flows: true, Series: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Run(s, tc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
