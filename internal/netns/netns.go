// Package netns gives tests a throwaway Linux network namespace: create it,
// add a tap or veth device inside with the kernel side configured, run
// commands and Go code inside it, and delete it (killing what runs in it)
// when the test ends, pass or fail.
//
// Nothing here touches the host namespace: every device and every process a
// test starts lives in its own namespace, named
// simnet-test-<pid>-<start>-<random> after the test process that owns it
// (its pid and its start time in clock ticks since boot, so that a reused
// pid is not taken for the owner), and tests address only 192.0.2.0/24 and
// 198.18.0.0/15. A test process killed on its timeout runs no cleanup: the
// first New of every later test process deletes the namespaces whose owner
// is gone (see RemoveStale). Tests that cannot create a namespace (not
// root, no ip(8), no /dev/net/tun) are skipped with the reason.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/testenv"
)

// Prefix starts the name of every namespace this package creates.
const Prefix = "simnet-test-"

// Available returns nil when this process can create namespaces and tap
// devices, or an error saying what is missing.
func Available() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("network namespaces need Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("network namespaces and tap devices need root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no tun/tap support: %w", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("ip(8) from iproute2 is missing: %w", err)
	}
	return nil
}

// RequireTools skips t unless every named program is on PATH.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			testenv.Missing(t, "%s is not installed (apt-get install the package that provides it): %v", n, err)
		}
	}
}

// NS is a network namespace owned by one test.
type NS struct {
	name    string
	mu      sync.Mutex
	deleted bool
}

// New creates a namespace with its loopback up and deletes it when t ends.
// It skips t when namespaces are not available.
func New(t testing.TB) *NS {
	t.Helper()
	if err := Available(); err != nil {
		testenv.Missing(t, "network namespaces: %v", err)
	}
	staleOnce.Do(func() {
		removed, err := RemoveStale()
		for _, name := range removed {
			t.Logf("deleted namespace %s: its test process is gone", name)
		}
		if err != nil {
			t.Logf("deleting stale namespaces: %v", err)
		}
	})
	name, err := ownedName()
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	n := &NS{name: name}
	if out, err := exec.Command("ip", "netns", "add", n.name).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { n.Delete(t) })
	n.Run(t, "ip", "link", "set", "lo", "up")
	return n
}

// Delete deletes the namespace now (ip netns del), as a user would under a
// running program; the test's cleanup then has nothing left to delete.
func (n *NS) Delete(t testing.TB) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.deleted {
		return
	}
	n.deleted = true
	if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
		t.Errorf("delete namespace %s: %v: %s", n.name, err, out)
	}
}

// Name returns the namespace's name.
func (n *NS) Name() string { return n.name }

// Command returns a command that runs name with args inside the namespace,
// in a process group of its own.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, name}, args...)...)
	// Pdeathsig: if the test process dies without running its cleanups
	// (killed, or its output pipe closed), the command dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs a command inside the namespace, fails t if it fails, and returns
// its combined output.
func (n *NS) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Output(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// Output runs a command inside the namespace and returns its combined
// output, with an error naming the command when it fails.
func (n *NS) Output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := n.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s %s: %w\n%s", n.name, name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// AddTap creates a persistent tap device dev in the namespace, gives the
// kernel side the address cidr (such as "192.0.2.1/24"; empty for none) and
// brings it up.
func (n *NS) AddTap(t testing.TB, dev, cidr string) {
	t.Helper()
	n.Run(t, "ip", "tuntap", "add", "dev", dev, "mode", "tap")
	if cidr != "" {
		n.Run(t, "ip", "addr", "add", cidr, "dev", dev)
	}
	n.Run(t, "ip", "link", "set", dev, "up")
}

// Do runs fn on an OS thread that has entered the namespace, then returns
// the thread to its own namespace. Sockets and devices fn opens stay bound
// to the namespace after Do returns. fn must not rely on goroutines it
// starts being in the namespace: they run on other threads.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// If the thread cannot go home, it stays locked and dies with
		// this goroutine instead of running other code in the namespace.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns %s: open own namespace: %w", n.name, err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netns %s: open: %w", n.name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns %s: enter: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("netns %s: leave: %w", n.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Proc is a background process running in a namespace.
type Proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

// Start starts a command inside the namespace in the background. Its
// combined output is kept (see Output, WaitOutput). When t ends the process
// group is killed and waited for; its output is logged if t failed.
func (n *NS) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	cmd := n.Command(context.Background(), name, args...)
	p := &Proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("in %s: start %s: %v", n.name, name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", name, strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// Output returns everything the process has written so far.
func (p *Proc) Output() string { return p.out.String() }

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to exit and returns its exit
// error, or an error if it is still running.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.cmd.Path, timeout)
	}
}

// WaitOutput waits up to timeout until the output contains s, and fails t
// (with the output so far) if it does not, or if the process exits first.
func (p *Proc) WaitOutput(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), s) {
		select {
		case <-p.done:
			if strings.Contains(p.Output(), s) {
				return
			}
			t.Fatalf("process exited (%v) before printing %q; output:\n%s", p.err, s, p.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q after %v; output:\n%s", s, timeout, p.Output())
		}
	}
}

// Stop ends the process: SIGTERM to its group, then SIGKILL after a grace
// period. It returns once the process has been waited for.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = killGroup(p.cmd)
		<-p.done
	}
}

// killGroup sends SIGKILL to the process group of a started cmd.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns the contents.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
