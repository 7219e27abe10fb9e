package tests

import (
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// builtBinary is one command built for the tests.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

var (
	binariesMu sync.Mutex
	binaries   = map[string]*builtBinary{}
)

// commandBinary builds the command cmd/NAME once per test process, without
// the race detector (so transfers run at full speed), and returns its path.
// The binary lives in a fixed directory under the temporary directory, one
// per checkout (named by a hash of the tests directory, so that test runs
// of two checkouts on one machine do not run each other's binaries),
// replaced on each build, so repeated runs do not pile up copies.
func commandBinary(t testing.TB, name string) string {
	t.Helper()
	binariesMu.Lock()
	b := binaries[name]
	if b == nil {
		b = new(builtBinary)
		binaries[name] = b
	}
	binariesMu.Unlock()
	b.once.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			b.err = err
			return
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(wd))
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("simnet-%s-test-%08x", name, h.Sum32()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.err = err
			return
		}
		tmp := filepath.Join(dir, fmt.Sprintf("%s.%d", name, os.Getpid()))
		out, err := exec.Command("go", "build", "-o", tmp, "github.com/simnet-go/simnet/cmd/"+name).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build cmd/%s: %w\n%s", name, err, out)
			return
		}
		b.path = filepath.Join(dir, name)
		b.err = os.Rename(tmp, b.path)
	})
	require.NoError(t, b.err)
	return b.path
}

// simnetBinary returns the path of a freshly built cmd/simnet.
func simnetBinary(t testing.TB) string { return commandBinary(t, "simnet") }

// taprunBinary returns the path of a freshly built cmd/taprun.
func taprunBinary(t testing.TB) string { return commandBinary(t, "taprun") }
