package goexamples

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/cryptotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/tsharkcheck"
)

// TestExampleCapturesDecode decodes every capture of every example with
// tshark, checksums validated: no malformed frame, no expert error, no bad
// IP, UDP or TCP checksum. Without tshark it is skipped, or fails when
// SIMNET_REQUIRE=all. Not parallel: the TLS example sets the global crypto
// random source.
func TestExampleCapturesDecode(t *testing.T) {
	bin, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatal("tshark is not installed and SIMNET_REQUIRE=all (apt-get install tshark)")
		}
		t.Skip("tshark is not installed (apt-get install tshark): skipping the capture decoding check")
	}
	dir := t.TempDir()
	var paths []string
	for name, body := range map[string]example{"http": httpUnderLoss, "tls": tlsHandshake, "udp": udpRetries, "deadline": tcpDeadlines} {
		cryptotest.SetGlobalRandom(t, 1)
		caps, _, _ := runExample(t, 1, body)
		require.NotEmpty(t, caps)
		for _, c := range caps {
			p := filepath.Join(dir, name+"-"+c.Name)
			require.NoError(t, os.WriteFile(p, c.Data, 0o644))
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			t.Parallel()
			n, bad := tsharkcheck.Problems(t, bin, p)
			assert.Positive(t, n)
			assert.Empty(t, bad)
		})
	}
}
