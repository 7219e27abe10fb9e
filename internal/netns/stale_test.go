package netns

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
)

func TestParseOwner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want owner
		ok   bool
	}{
		{"simnet-test-1234-987654-a1b2c3", owner{1234, 987654}, true},
		{"simnet-test-1-0-x", owner{1, 0}, true},
		{"simnet-test-a1b2c3d4e5", owner{}, false},   // earlier versions' form
		{"simnet-test-0-5-abcdef", owner{}, false},   // no pid 0
		{"simnet-test-12-x-abcdef", owner{}, false},  // start time not a number
		{"simnet-test-12-5-ab-cd", owner{}, false},   // a field too many
		{"other-1234-987654-a1b2c3", owner{}, false}, // not ours
		{"simnet-test--1-5-abcdef", owner{}, false},  // negative pid
		{"simnet-test-12-5", owner{}, false},         // no random part
		{"simnet-test-99999999999999999999-5-ab", owner{}, false},
	} {
		got, ok := parseOwner(tc.name)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestOwnedNameIsOurs(t *testing.T) {
	t.Parallel()
	name, err := ownedName()
	require.NoError(t, err)
	o, ok := parseOwner(name)
	require.True(t, ok, name)
	assert.Equal(t, os.Getpid(), o.pid)
	assert.True(t, o.alive(), "this process owns %s", name)
	other, err := ownedName()
	require.NoError(t, err)
	assert.NotEqual(t, name, other, "names are unique")
}

// addNamed creates a namespace with a given name and deletes it (if it is
// still there) when t ends.
func addNamed(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() {
		if exists(name) {
			_ = exec.Command("ip", "netns", "del", name).Run()
		}
	})
}

func exists(name string) bool {
	_, err := os.Stat(filepath.Join(runDir, name))
	return err == nil
}

// TestRemoveStale: a namespace named after a process that has exited (or
// whose pid now belongs to a process that started at another time) is
// deleted, and what ran in it killed; the namespaces of live processes
// (this one's, a child's) and names of another form are kept; once the
// child exits, its namespace goes too.
func TestRemoveStale(t *testing.T) {
	if err := Available(); err != nil {
		testenv.Missing(t, "network namespaces: %v", err)
	}
	mine := New(t)

	done := exec.Command("true")
	require.NoError(t, done.Run())
	dead := fmt.Sprintf("%s%d-%d-dead00", Prefix, done.Process.Pid, 12345)
	addNamed(t, dead)
	// Something still runs in the dead owner's namespace.
	inDead := exec.Command("ip", "netns", "exec", dead, "sleep", "60")
	inDead.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, inDead.Start())
	t.Cleanup(func() { _ = syscall.Kill(-inDead.Process.Pid, syscall.SIGKILL) })
	exited := make(chan error, 1)
	go func() { exited <- inDead.Wait() }()

	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill() })
	start, err := startTime(child.Process.Pid)
	require.NoError(t, err)
	live := fmt.Sprintf("%s%d-%d-11ve00", Prefix, child.Process.Pid, start)
	addNamed(t, live)
	reused := fmt.Sprintf("%s%d-%d-reused", Prefix, child.Process.Pid, start+1)
	addNamed(t, reused)
	legacy := Prefix + "0123456789"
	addNamed(t, legacy)

	// `ip netns exec` has entered the namespace once it runs sleep.
	require.Eventually(t, func() bool {
		out, _ := exec.Command("ip", "netns", "pids", dead).Output()
		return len(out) > 0
	}, 10*time.Second, 20*time.Millisecond, "sleep running in %s", dead)

	removed, err := RemoveStale()
	require.NoError(t, err)
	assert.Contains(t, removed, dead)
	assert.Contains(t, removed, reused)
	assert.NotContains(t, removed, live)
	assert.NotContains(t, removed, mine.Name())
	assert.False(t, exists(dead), "dead owner's namespace deleted")
	assert.False(t, exists(reused), "reused pid's namespace deleted")
	assert.True(t, exists(live), "live child's namespace kept")
	assert.True(t, exists(mine.Name()), "this test's namespace kept")
	assert.True(t, exists(legacy), "a name of another form is kept")
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Error("the process in the dead owner's namespace still runs")
	}

	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	removed, err = RemoveStale()
	require.NoError(t, err)
	assert.Equal(t, []string{live}, only(removed, live))
	assert.False(t, exists(live), "namespace deleted once its owner exited")
	assert.True(t, exists(mine.Name()))
}

// only keeps the names in names equal to want: other test
// processes' stale namespaces may be removed at the same time.
func only(names []string, want string) []string {
	var out []string
	for _, n := range names {
		if n == want {
			out = append(out, n)
		}
	}
	return out
}
