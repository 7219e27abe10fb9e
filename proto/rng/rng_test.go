package rng

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func draws(seed uint64, name string) []uint64 {
	r := New(seed, name)
	out := make([]uint64, 8)
	for i := range out {
		out[i] = r.Uint64()
	}
	return out
}

func TestNewIsReproducibleAndIndependent(t *testing.T) {
	tests := []struct {
		name      string
		seedA, sB uint64
		nameA, nB string
		wantEqual bool
	}{
		{"same seed and name", 7, 7, "host/a", "host/a", true},
		{"other name", 7, 7, "host/a", "host/b", false},
		{"other seed", 7, 8, "host/a", "host/a", false},
		{"nearby seeds differ", 0, 1, "x", "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := draws(tc.seedA, tc.nameA), draws(tc.sB, tc.nB)
			if tc.wantEqual {
				assert.Equal(t, a, b)
			} else {
				assert.NotEqual(t, a, b)
			}
		})
	}
}
