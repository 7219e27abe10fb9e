package analyze

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/replay/input"
)

// TestReadAheadSameResult checks that decoding on a second goroutine
// (input.Reader.ReadAhead) changes nothing in the analysis: the same
// result, and the same error for a file cut in the middle of a record.
func TestReadAheadSameResult(t *testing.T) {
	t.Parallel()
	raw := pcapOf(t, syntheticFrames(t, 3000)...)
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"whole", raw}, {"cut", raw[:len(raw)-100]}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			results := make([]*Result, 2)
			errs := make([]error, 2)
			for i, ahead := range []bool{false, true} {
				r, err := input.NewReader(bytes.NewReader(tc.in))
				require.NoError(t, err)
				results[i], errs[i] = run(r, ahead)
				require.NoError(t, r.Close())
			}
			require.Equal(t, errs[0], errs[1])
			require.Equal(t, results[0], results[1])
			require.Positive(t, results[1].Counts.DNS)
		})
	}
}
