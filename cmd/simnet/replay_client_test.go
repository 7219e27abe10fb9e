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

// TestReplayHostRoleLearntServices: on the seed story's infrastructure
// host (DNS, and DHCP for its own subnet and a relayed one), host-role
// replay says on stderr what it learnt and serves and which port got no
// server; our DHCP server answers both subnets as recorded, and the port
// unreachable our host sends for DNS without a zone is a cause.
func TestReplayHostRoleLearntServices(t *testing.T) {
	dir := t.TempDir()
	capFile, err := filepath.Abs(seedCapture)
	require.NoError(t, err)
	stdout, stderr, code := execute(t, dir, "replay", capFile, "--as", "10.0.0.1", "--out", filepath.Join(dir, "out"))
	require.Equal(t, exitOK, code, stderr)
	for _, want := range []string{
		"simnet replay: host served udp/53: DNS: no zone given (--zone)",
		"simnet replay: serving dhcp on udp/67 (learnt)",
		"pool 10.0.0.200-10.0.0.200, router 10.0.0.254",
		"pool 10.0.1.100-10.0.1.100 (through relay 10.0.1.1), router 10.0.1.1",
	} {
		assert.Contains(t, stderr, want)
	}
	assert.Contains(t, stdout, "udp 10.0.0.1:67 <-> DHCP clients: 4 recorded, 4 sent, 4 matched\n")
	assert.Contains(t, stdout, "port unreachable for udp 10.0.0.1:53 from 10.0.1.100")

	_, stderr, code = execute(t, dir, "replay", capFile, "--as", "10.0.0.1", "--out", filepath.Join(dir, "bare"), "--learn=false")
	require.Equal(t, exitOK, code, stderr)
	assert.Empty(t, stderr, "nothing learnt is served")
}
