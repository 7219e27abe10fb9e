package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
)

// longTransfer is a scenario whose transfer takes far longer than the test
// lets it run.
const longTransfer = `name: long
seed: 3
duration: 1h
hosts:
  - {name: a, interfaces: [{name: eth0, address: 192.0.2.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 192.0.2.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 1ms, rate: 100Mbit, queue: 100}}
apps:
  - {name: recv, type: tcp_recv, host: b, port: 9, bytes: 16GiB}
  - {name: send, type: tcp_send, host: a, target: 192.0.2.2:9, bytes: 16GiB}
expect:
  - {app: recv, bytes_verified: true}
`

// TestRunInterrupted is finding 8 of issue 11: SIGINT during simnet run
// stops the run at the current simulated instant, every capture is a
// complete file that tshark reads without "cut short", report.json says
// "interrupted": true with the simulated time reached, the summary is
// printed and the exit status is 130.
func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	tshark := testenv.Tool(t, "tshark")
	bin := simnetBinary(t)
	dir := t.TempDir()
	scn := filepath.Join(dir, "long.yaml")
	require.NoError(t, os.WriteFile(scn, []byte(longTransfer), 0o644))
	out := filepath.Join(dir, "out")

	cmd := exec.Command(bin, "run", scn, "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	// Wait until the run is under way (its captures exist), then let it
	// run about two seconds.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "a.pcapng")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("the run never started: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "exit status: %v; stderr: %s", err, stderr.String())
	assert.Equal(t, 130, ee.ExitCode(), stderr.String())
	assert.Regexp(t, `^simnet: interrupted after \S+ of 1h0m0s simulated\n$`, stderr.String())
	assert.Contains(t, stdout.String(), "INTERRUPTED after ", "the summary is printed")
	assert.Contains(t, stdout.String(), "recv ", "the summary lists the apps")

	var rep struct {
		Interrupted bool     `json:"interrupted"`
		Simulated   int64    `json:"simulated_ns"`
		Captures    []string `json:"captures"`
	}
	b, err := os.ReadFile(filepath.Join(out, "report.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	assert.True(t, rep.Interrupted)
	assert.Positive(t, rep.Simulated)
	assert.Less(t, rep.Simulated, int64(time.Hour), "stopped before the scenario's end")
	require.Equal(t, []string{"a.pcapng", "b.pcapng"}, rep.Captures)

	// Every capture is complete: tshark reads it to the end without
	// "cut short" (dissection is off: only the file's framing matters).
	var wg sync.WaitGroup
	for _, c := range rep.Captures {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var se bytes.Buffer
			tc := exec.Command(tshark, "-n", "-r", filepath.Join(out, c), "--disable-protocol", "ALL", "-T", "fields", "-e", "frame.number")
			tc.Stderr = &se
			o, err := tc.Output()
			assert.NoError(t, err, "tshark %s: %s", c, se.String())
			assert.NotContains(t, se.String(), "cut short", c)
			assert.NotContains(t, se.String(), "damaged or corrupt", c)
			assert.Greater(t, strings.Count(string(o), "\n"), 1000, "%s: the transfer ran", c)
		}()
	}
	wg.Wait()
}
