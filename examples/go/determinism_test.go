package goexamples

import (
	"crypto/sha256"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"testing/cryptotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// determinismRuns is how many times TestExamplesDeterministic runs each
// example at each GOMAXPROCS: SIMTEST_RUNS (100 for the full check, see
// docs/go-api.md), 5 by default to keep make test fast.
func determinismRuns(t *testing.T) int {
	s := os.Getenv("SIMTEST_RUNS")
	if s == "" {
		return 5
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "SIMTEST_RUNS")
	require.Positive(t, n, "SIMTEST_RUNS")
	return n
}

// TestExamplesDeterministic runs every example again and again at
// GOMAXPROCS 1 and 4 and checks that each run writes byte-identical
// captures. It is not parallel: it sets GOMAXPROCS and the global crypto
// random source for the whole process.
func TestExamplesDeterministic(t *testing.T) {
	runs := determinismRuns(t)
	examples := []struct {
		name string
		body example
	}{
		{"http-under-loss", httpUnderLoss},
		{"tls13", tlsHandshake},
		{"udp-retries", udpRetries},
		{"tcp-deadlines", tcpDeadlines},
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, ex := range examples {
		var want [sha256.Size]byte
		agree, total := 0, 0
		for _, procs := range []int{1, 4} {
			runtime.GOMAXPROCS(procs)
			for range runs {
				cryptotest.SetGlobalRandom(t, 1)
				caps, _, _ := runExample(t, 1, ex.body)
				require.NotEmpty(t, caps)
				h := sha256.New()
				for _, c := range caps {
					require.NotEmpty(t, c.Data, "capture of %s", c.Host)
					fmt.Fprintf(h, "%s %d\n", c.Name, len(c.Data))
					h.Write(c.Data)
				}
				var sum [sha256.Size]byte
				h.Sum(sum[:0])
				if total == 0 {
					want = sum
				}
				total++
				if sum == want {
					agree++
				}
			}
		}
		t.Logf("%s: %d/%d runs (GOMAXPROCS 1 and 4) wrote the captures of the first", ex.name, agree, total)
		assert.Equal(t, total, agree, "%s: runs disagree", ex.name)
	}
}
