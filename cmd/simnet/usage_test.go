package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsageErrors is finding 12 of issue 11: flags that do nothing in the
// chosen mode, a missing tap, an --out directory holding an earlier run's
// files and a bad seed are usage errors: one line on stderr, exit 2,
// nothing else done, and no strconv internals in the message.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	capFile, err := filepath.Abs(seedCapture)
	require.NoError(t, err)
	scn := writeScenario(t, dir, 1)
	used := filepath.Join(dir, "used")
	require.NoError(t, os.MkdirAll(used, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(used, "a.pcapng"), []byte("old"), 0o644))

	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"speed without --to-tap", []string{"replay", capFile, "--speed", "2"}, "--speed only applies with --to-tap"},
		{"echo without --as", []string{"replay", capFile, "--echo", "7"}, "--echo only applies with --as"},
		{"out without --as", []string{"replay", capFile, "--out", "x"}, "--out only applies with --as"},
		{"speed with --as", []string{"replay", capFile, "--as", "10.0.0.1", "--out", "x", "--speed", "0"}, "--speed only applies with --to-tap"},
		{"json with --to-tap", []string{"replay", capFile, "--to-tap", "simnetnone0", "--json"}, "--json does not apply with --to-tap"},
		{"missing tap", []string{"replay", capFile, "--to-tap", "simnetnone0"}, "tap device does not exist"},
		{"used --out for replay", []string{"replay", capFile, "--as", "10.0.0.1", "--out", used}, "--force"},
		{"used --out for run", []string{"run", scn, "--out", used}, "--force"},
		{"bad seed", []string{"run", scn, "--seed", "abc"}, `invalid argument "abc" for "--seed" flag: want an integer from 0 to 18446744073709551615`},
		{"negative seed", []string{"demo", "--seed", "-1"}, "want an integer from 0 to"},
		{"port out of range", []string{"replay", capFile, "--as", "10.0.0.1", "--out", "y", "--echo", "99999"}, `"--echo" flag: out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := execute(t, dir, tt.args...)
			assert.Equal(t, exitScenario, code)
			assert.Contains(t, stderr, tt.want)
			assert.NotContains(t, stderr, "strconv")
			assert.LessOrEqual(t, len(splitLines(stderr)), 1, "one line: %q", stderr)
			assert.NotContains(t, stdout, "sent 0 frames")
			for _, d := range []string{"x", "y"} {
				_, err := os.Stat(filepath.Join(dir, d))
				assert.True(t, os.IsNotExist(err), "no output written")
			}
		})
	}
	old, err := os.ReadFile(filepath.Join(used, "a.pcapng"))
	require.NoError(t, err)
	assert.Equal(t, "old", string(old), "a refused --out is left alone")

	_, stderr, code := execute(t, dir, "run", scn, "--out", used, "--force")
	assert.Equal(t, exitOK, code, stderr)
}

// splitLines returns the non-empty lines of s.
func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
