package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadZoneOrigin checks issue 11 finding 6: replay --zone honours the
// file's $ORIGIN as the zone's name, and a file without one names the flag.
func TestReadZoneOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, origin string
		wantOrigin, errSub string
	}{
		{"$ORIGIN names the zone", "$ORIGIN example.\n$TTL 300\n@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.80\n", "", "example.", ""},
		{"flag names the zone", "$TTL 300\n@ SOA ns h 1 2 3 4 5\n", "example.", "example.", ""},
		{"neither: the error suggests the flag", "$TTL 300\n@ SOA ns h 1 2 3 4 5\n", "", "", "give --zone-origin NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "z.zone")
			require.NoError(t, os.WriteFile(p, []byte(tc.text), 0o644))
			z, err := readZone(p, tc.origin)
			if tc.errSub != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errSub)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantOrigin, z.Origin)
		})
	}
}
