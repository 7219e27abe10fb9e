package simtest_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/tsharkcheck"
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
		n, bad := tsharkcheck.Problems(t, bin, c.Path)
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
