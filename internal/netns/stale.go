package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// runDir is where ip(8) keeps the named namespaces.
const runDir = "/var/run/netns"

// staleOnce makes the first New of a process delete the stale namespaces.
var staleOnce sync.Once

// owner identifies a process: its pid and its start time in clock ticks
// since boot (field 22 of /proc/PID/stat), which tells a reused pid apart.
type owner struct {
	pid   int
	start uint64
}

// self is this process as the owner of the namespaces it creates.
var self = sync.OnceValues(func() (owner, error) {
	pid := os.Getpid()
	start, err := startTime(pid)
	return owner{pid: pid, start: start}, err
})

// ownedName returns a new namespace name owned by this process:
// Prefix + "<pid>-<start>-<random>".
func ownedName() (string, error) {
	o, err := self()
	if err != nil {
		return "", err
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d-%d-%s", Prefix, o.pid, o.start, hex.EncodeToString(b[:])), nil
}

// parseOwner returns the owner encoded in a namespace name, and false for
// a name this package did not make in that form (such as the
// simnet-test-<random> names of earlier versions, which are left alone).
func parseOwner(name string) (owner, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return owner{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 3 {
		return owner{}, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return owner{}, false
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return owner{}, false
	}
	return owner{pid: pid, start: start}, true
}

// startTime returns the start time of process pid in clock ticks since
// boot, read from /proc/PID/stat.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("start time of process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// or parentheses itself: count the fields after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("start time of process %d: no ')' in /proc/%d/stat", pid, pid)
	}
	// Field 3 (state) is the first after ')', so field 22 is the 20th.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("start time of process %d: %d fields in /proc/%d/stat", pid, len(f)+2, pid)
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("start time of process %d: %w", pid, err)
	}
	return v, nil
}

// alive reports whether the owner process still runs: its pid exists and
// started when the name says.
func (o owner) alive() bool {
	start, err := startTime(o.pid)
	if err != nil {
		// No /proc entry: gone, unless /proc could not be read for
		// another reason, when the namespace is kept to be safe.
		return !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ESRCH)
	}
	return start == o.start
}

// RemoveStale deletes the namespaces this package created for test
// processes that are gone (killed on a timeout, so their cleanups never
// ran), first killing what still runs in them, and returns their names.
// Namespaces of live processes, and names not in this package's form, are
// left alone.
func RemoveStale() ([]string, error) {
	ents, err := os.ReadDir(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		o, ok := parseOwner(e.Name())
		if !ok || o.alive() {
			continue
		}
		if err := removeNamed(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// removeNamed kills the processes left in namespace name (ip netns pids)
// and deletes it.
func removeNamed(name string) error {
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("delete stale namespace %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
