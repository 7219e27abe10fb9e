package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplayClientRoleUsage: the live client-role replay's bad input is one
// line on stderr and exit 2, before any tap is touched.
func TestReplayClientRoleUsage(t *testing.T) {
	dir := t.TempDir()
	capFile, err := filepath.Abs(seedCapture)
	require.NoError(t, err)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no tap", []string{"--as-client", "10.0.1.100", "--server", "10.0.0.1:53"}, "--as-client needs --to-tap TAP"},
		{"bad server", []string{"--as-client", "10.0.1.100", "--to-tap", "simnetnone0", "--server", "10.0.0.1"}, "--server 10.0.0.1: not an IPv4 ADDR:PORT"},
		{"bad client", []string{"--as-client", "nope", "--to-tap", "simnetnone0", "--server", "10.0.0.1:53"}, "--as-client nope: not an IPv4 address"},
		{"rate flag", []string{"--as-client", "10.0.1.100", "--to-tap", "simnetnone0", "--server", "10.0.0.1:53", "--mbps", "1"}, "--mbps does not apply with --as-client"},
		{"server without --as-client", []string{"--server", "10.0.0.1:53"}, "--server only applies with --as-client"},
		{"with --as", []string{"--as", "10.0.0.1", "--as-client", "10.0.1.100"}, "--as and --as-client exclude each other"},
		{"no such flow", []string{"--as-client", "192.0.2.77", "--to-tap", "simnetnone0", "--server", "10.0.0.1:53"}, "no TCP connection opened by 192.0.2.77"},
		{"follow with json", []string{"--follow", "0", "--json"}, "--follow prints one stream"},
		{"bad follow", []string{"--follow", "x,y,z"}, "--follow x,y,z: want N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := execute(t, dir, append([]string{"replay", capFile}, tt.args...)...)
			assert.Equal(t, exitScenario, code)
			assert.Contains(t, stderr, tt.want)
			assert.LessOrEqual(t, len(splitLines(stderr)), 1, "one line: %q", stderr)
		})
	}
}
