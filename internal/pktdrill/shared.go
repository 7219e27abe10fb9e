package pktdrill

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SharedEnv names the environment variable that overrides where the shared
// packetdrill scripts are found.
const SharedEnv = "SIMNET_PACKETDRILL"

// ErrNoShared is returned by FindShared when no shared script directory is
// found.
var ErrNoShared = errors.New("shared packetdrill scripts not found")

// FindShared returns the directory of the shared packetdrill scripts
// (GPL-2.0 test data kept outside the tree, ../shared/packetdrill from the
// repository root) and its .pkt files. It honours $SIMNET_PACKETDRILL, then
// looks for shared/packetdrill in start and each of its parents, so it works
// from any package directory of the main checkout or of a worktree beside it.
func FindShared(start string) (string, []string, error) {
	try := func(dir string) (string, []string, bool) {
		files, err := filepath.Glob(filepath.Join(dir, "tcp", "*", "*.pkt"))
		if err != nil || len(files) == 0 {
			return "", nil, false
		}
		return dir, files, true
	}
	if d := os.Getenv(SharedEnv); d != "" {
		if dir, files, ok := try(d); ok {
			return dir, files, nil
		}
		return "", nil, fmt.Errorf("$%s=%s holds no tcp/*/*.pkt: %w", SharedEnv, d, ErrNoShared)
	}
	abs, err := filepath.Abs(start)
	if err != nil {
		return "", nil, fmt.Errorf("find shared scripts: %w", err)
	}
	for dir := abs; ; dir = filepath.Dir(dir) {
		if d, files, ok := try(filepath.Join(dir, "shared", "packetdrill")); ok {
			return d, files, nil
		}
		if filepath.Dir(dir) == dir {
			return "", nil, fmt.Errorf("no shared/packetdrill above %s: %w", abs, ErrNoShared)
		}
	}
}
