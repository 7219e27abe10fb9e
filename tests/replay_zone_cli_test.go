package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplayCLIZoneOrigin (issue 11 finding 6): `simnet replay --zone`
// takes the zone's name from the file's $ORIGIN, or from --zone-origin;
// with neither it says which flag to give, on one line, with exit 2. The
// DNS host of the seed story then answers its recorded queries alike.
func TestReplayCLIZoneOrigin(t *testing.T) {
	t.Parallel()
	bin := simnetBinary(t)
	dir := t.TempDir()
	capture := filepath.Join("..", "captures", "seed-story-infra.pcapng")
	plain, err := os.ReadFile(filepath.Join("..", "examples", "seed-story.zone"))
	require.NoError(t, err)
	noOrigin := filepath.Join(dir, "no-origin.zone")
	require.NoError(t, os.WriteFile(noOrigin, plain, 0o644))
	withOrigin := filepath.Join(dir, "origin.zone")
	require.NoError(t, os.WriteFile(withOrigin, append([]byte("$ORIGIN example.test.\n"), plain...), 0o644))
	tests := []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"$ORIGIN names the zone", []string{"--zone", withOrigin}, 0, "udp 10.0.0.1:53 <-> 10.0.1.100:54848: 1 recorded, 1 sent, 1 matched"},
		{"--zone-origin names the zone", []string{"--zone", noOrigin, "--zone-origin", "example.test."}, 0, "udp 10.0.0.1:53 <-> 10.0.1.100:54848: 1 recorded, 1 sent, 1 matched"},
		{"neither: the flag is suggested", []string{"--zone", noOrigin}, 2, "; give --zone-origin NAME\n"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"replay", capture, "--as", "10.0.0.1", "--out", filepath.Join(dir, "out"+string(rune('a'+i))), "--dns", "53"}, tc.args...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.status, status, "%s", out)
			assert.Contains(t, string(out), tc.want)
			if tc.status == 2 {
				assert.Equal(t, 1, strings.Count(string(out), "\n"), "one line: %q", out)
			}
		})
	}
}
