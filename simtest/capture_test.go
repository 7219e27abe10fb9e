package simtest_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
)

// failingTB is a test that reports itself failed, so that the world keeps
// its captures.
type failingTB struct{ testing.TB }

// Failed reports true.
func (failingTB) Failed() bool { return true }

// tshark returns tshark's path; without it the test is skipped, or fails
// when SIMNET_REQUIRE=all.
func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatal("tshark is not installed and SIMNET_REQUIRE=all (apt-get install tshark)")
		}
		t.Skip("tshark is not installed (apt-get install tshark): skipping the capture decoding check")
	}
	return p
}

// tsharkProblems decodes path once with checksum validation and returns
// its frame count and the lines of the frames tshark finds malformed, in
// error or with a bad checksum. One error is expected and excused: a
// sender's capture keeps the segments its link dropped (with a comment),
// so the retransmission of a dropped segment overlaps data Wireshark has
// already reassembled ("New fragment overlaps old data"); such a frame
// must resend exactly a dropped segment (same port, sequence number and
// length).
func tsharkProblems(t *testing.T, bin, path string) (int, []string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "tcp.check_checksum:TRUE", "-T", "fields", "-E", "separator=;", "-E", "aggregator=|",
		"-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
		"-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status",
		"-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "frame.comment")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark %s: %s", path, stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dropped := map[string]bool{} // "port seq len" of segments a link dropped
	var bad []string
	for _, line := range lines {
		f := strings.Split(line, ";")
		require.Len(t, f, 10, "tshark line %q", line)
		seg := f[6] + " " + f[7] + " " + f[8]
		if strings.Contains(f[9], "dropped by link") {
			dropped[seg] = true
		}
		if f[3] == "0" || f[4] == "0" || f[5] == "0" {
			bad = append(bad, line)
			continue
		}
		if strings.Contains(f[1], "New fragment overlaps old data") && dropped[seg] {
			continue
		}
		// Expert severity 0x00800000 is an error (Wireshark's
		// epan/proto.h); checksum status 0 is "Bad".
		var sev uint64
		for _, v := range strings.Split(f[2], "|") {
			if x, err := strconv.ParseUint(v, 0, 32); err == nil && x > sev {
				sev = x
			}
		}
		if f[1] != "" || sev >= 0x00800000 {
			bad = append(bad, line)
		}
	}
	return len(lines), bad
}

// When the test fails, the world writes one capture per host to a new
// directory (and logs it); tshark decodes them cleanly, with the link's
// drops commented.
func TestCapturesKeptOnFailure(t *testing.T) {
	t.Parallel()
	bin := tshark(t)
	var caps []simtest.Capture
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(failingTB{t}, simtest.Options{Seed: 2})
		srv := w.Host("server", "192.0.2.1/24")
		cli := w.Host("client", "192.0.2.2/24")
		w.Link(srv, cli, impair.Config{Loss: 0.1, Delay: 10 * time.Millisecond})
		ln, err := srv.Listen("tcp", ":80")
		require.NoError(t, err)
		go func() { _ = http.Serve(ln, http.HandlerFunc(hello)) }()
		for range 5 {
			assert.Equal(t, "hello", get(t, cli, "http://192.0.2.1/"))
		}
		require.NoError(t, w.Close())
		caps = w.Captures()
	})
	require.Len(t, caps, 2)
	dir := filepath.Dir(caps[0].Path)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	dropped := 0
	for _, c := range caps {
		require.NotEmpty(t, c.Path, "capture of %s not written", c.Host)
		assert.Equal(t, c.Host+".pcapng", filepath.Base(c.Path))
		onDisk, err := os.ReadFile(c.Path)
		require.NoError(t, err)
		assert.Equal(t, c.Data, onDisk)
		n, bad := tsharkProblems(t, bin, c.Path)
		assert.Positive(t, n)
		assert.Empty(t, bad, "%s", c.Path)
		dropped += bytes.Count(c.Data, []byte("dropped by link"))
	}
	assert.Positive(t, dropped, "no frame carries a drop comment")
}

// A passing test writes no captures unless CaptureDir asks for them.
func TestCapturesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, keep := range []bool{false, true} {
		var caps []simtest.Capture
		opts := simtest.Options{Seed: 1}
		if keep {
			opts.CaptureDir = dir
		}
		synctest.Test(t, func(t *testing.T) {
			w := simtest.New(t, opts)
			a := w.Host("a", "192.0.2.1/24")
			b := w.Host("b", "192.0.2.2/24")
			w.Link(a, b, impair.Config{})
			c, err := b.Dial("udp", "192.0.2.1:9")
			require.NoError(t, err)
			_, err = io.WriteString(c, "x")
			require.NoError(t, err)
			require.NoError(t, w.Close())
			caps = w.Captures()
		})
		require.Len(t, caps, 2)
		for _, c := range caps {
			assert.NotEmpty(t, c.Data)
			if keep {
				assert.Equal(t, filepath.Join(dir, c.Name), c.Path)
				assert.FileExists(t, c.Path)
			} else {
				assert.Empty(t, c.Path)
			}
		}
	}
}
