package goexamples

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/simnet-go/simnet/simtest"
)

// example is the body of one example: it builds its network in w and
// exercises it.
type example func(t *testing.T, w *simtest.World)

// runExample runs body in a new bubble and world with seed, and returns
// the captures and the simulated and wall time it took.
func runExample(t *testing.T, seed uint64, body example) (caps []simtest.Capture, simulated, wall time.Duration) {
	t.Helper()
	start := time.Now()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: seed})
		t0 := time.Now()
		body(t, w)
		simulated = time.Since(t0)
		if err := w.Close(); err != nil {
			t.Error(err)
		}
		caps = w.Captures()
	})
	return caps, simulated, time.Since(start)
}

// maxWall bounds the wall time of one example: simulated minutes must take
// well under a second (generous here for the race detector on a loaded
// machine; the figures are logged).
const maxWall = 5 * time.Second

// checkTimes logs an example's simulated and wall time and fails when the
// wall time is out of bounds.
func checkTimes(t *testing.T, simulated, wall, minSimulated time.Duration) {
	t.Helper()
	t.Logf("simulated %v in %v of wall time", simulated, wall)
	if simulated < minSimulated {
		t.Errorf("simulated %v, want at least %v", simulated, minSimulated)
	}
	if wall > maxWall {
		t.Errorf("wall time %v, want under %v", wall, maxWall)
	}
}
