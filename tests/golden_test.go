package tests

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/replay/analyze"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden captures in captures/ from a fresh demo run")

// goldenCaptures maps the files of captures/ to the demo host whose capture
// they are (simnet demo --seed 1).
var goldenCaptures = map[string]string{
	"seed-story-infra.pcapng":  "infra.pcapng",
	"seed-story-router.pcapng": "router.pcapng",
}

// TestGoldenCaptures reruns the demo with seed 1 and requires its captures
// to be byte-identical to the golden ones in captures/: what the stack puts
// on the wire changes only on purpose. It also checks that our own replay
// analysis reads the golden files and finds the seed story's protocols.
func TestGoldenCaptures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rep := scnRun(t, scnDemo, 1, dir, pcap.PcapNG)
	require.True(t, rep.Passed)
	for golden, produced := range goldenCaptures {
		t.Run(golden, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(dir, produced))
			require.NoError(t, err)
			path := filepath.Join("..", "captures", golden)
			if *updateGolden {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.True(t, string(want) == string(got),
				"%s differs from a fresh `simnet demo --seed 1` (%d vs %d bytes): see captures/README.md", golden, len(want), len(got))

			res, err := analyze.RunFile(path)
			require.NoError(t, err)
			c := res.Counts
			assert.Positive(t, c.Get("frames"))
			assert.Equal(t, c.Get("frames"), c.Get("ethernet"))
			assert.Positive(t, c.Get("arp"))
			assert.Positive(t, c.Get("dhcp"))
			assert.Empty(t, res.Rejected)
		})
	}
}
