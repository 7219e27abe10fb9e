package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// executeReplay runs `simnet replay args...` and returns its stdout,
// stderr and exit status.
func executeReplay(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	code := 0
	exitReplay = func(c int) { code = c }
	t.Cleanup(func() { exitReplay = os.Exit })
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetArgs(append([]string{"replay"}, args...))
	resetFlags(rootCmd)
	if err := rootCmd.Execute(); err != nil {
		stderr.WriteString(err.Error() + "\n")
		code = 2
	}
	return stdout.String(), stderr.String(), code
}

// TestToTapUsageErrors: bad --to-tap flags, and a tap that does not exist,
// give one line on stderr and exit status 2, before anything is sent.
func TestToTapUsageErrors(t *testing.T) {
	capture := filepath.Join(t.TempDir(), "one.pcap")
	f, err := os.Create(capture)
	require.NoError(t, err)
	w := pcapgo.NewWriter(f)
	require.NoError(t, w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x08, 0x06
	require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: 60, Length: 60}, frame))
	require.NoError(t, f.Close())

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two rates", []string{"--to-tap", "tap0", "--mbps", "10", "--pps", "5"}, "exclude each other"},
		{"topspeed and multiplier", []string{"--to-tap", "tap0", "--topspeed", "--multiplier", "2"}, "exclude each other"},
		{"old --speed beside a rate", []string{"--to-tap", "tap0", "--speed", "0", "--pps", "5"}, "give one rate flag"},
		{"negative mbps", []string{"--to-tap", "tap0", "--mbps", "-1"}, "--mbps must be positive"},
		{"zero multiplier", []string{"--to-tap", "tap0", "--multiplier", "0"}, "--multiplier must be positive"},
		{"negative loop", []string{"--to-tap", "tap0", "--loop", "-1"}, "must not be negative"},
		{"bad duration", []string{"--to-tap", "tap0", "--duration", "soon"}, "--duration soon: not a number"},
		{"rewrite-ip without NEW", []string{"--to-tap", "tap0", "--rewrite-ip", "192.0.2.1"}, "--rewrite-ip 192.0.2.1: want OLD=NEW"},
		{"rewrite-ip IPv6", []string{"--to-tap", "tap0", "--rewrite-ip", "2001:db8::1=2001:db8::2"}, "two IPv4 addresses"},
		{"rewrite-ip twice", []string{"--to-tap", "tap0", "--rewrite-ip", "192.0.2.1=192.0.2.2", "--rewrite-ip", "192.0.2.1=192.0.2.3"}, "rewritten twice"},
		{"rewrite-mac bad", []string{"--to-tap", "tap0", "--rewrite-mac", "02:00:00:00:00:01=zz"}, "two Ethernet addresses"},
		{"rate without a tap", []string{"--mbps", "10"}, "--mbps only applies with --to-tap"},
		{"rewrite without a tap", []string{"--fixcsum"}, "--fixcsum only applies with --to-tap"},
		{"missing tap", []string{"--to-tap", "simnetnotap9", "--topspeed"}, "tap device does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := executeReplay(t, append([]string{capture}, tc.args...)...)
			assert.Equal(t, 2, code)
			assert.Contains(t, errOut, tc.want)
			assert.Equal(t, 1, strings.Count(errOut, "\n"), "one line: %q", errOut)
			assert.NotContains(t, out, "sent ", "nothing sent")
		})
	}
}
