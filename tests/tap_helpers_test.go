package tests

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/netns"
)

// Addresses of the tap tests: the kernel side of tap0 and the stack on it,
// in the documentation range 192.0.2.0/24 (RFC 5737), inside a namespace.
const (
	tapKernelIP   = "192.0.2.1"
	tapKernelCIDR = "192.0.2.1/24"
	tapStackIP    = "192.0.2.2"
	tapStackCIDR  = "192.0.2.2/24"
)

// tapNS makes a namespace with tap0 whose kernel side is 192.0.2.1/24.
func tapNS(t testing.TB) *netns.NS {
	t.Helper()
	ns := netns.New(t)
	ns.AddTap(t, "tap0", tapKernelCIDR)
	return ns
}

// startTaprun runs taprun on tap0 in ns with the given extra arguments and
// waits until it prints that it is ready.
func startTaprun(t *testing.T, ns *netns.NS, args ...string) *netns.Proc {
	t.Helper()
	bin := taprunBinary(t)
	p := ns.Start(t, bin, append([]string{"--tap", "tap0"}, args...)...)
	p.WaitOutput(t, "ready", 15*time.Second)
	return p
}

// randomData returns n reproducible pseudo-random bytes.
func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// digest returns the SHA-256 of b, for byte-exact comparisons that print
// short on failure.
func digest(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// dialIn opens a kernel TCP connection from inside ns to addr. The socket is
// created on a thread in the namespace and stays there.
func dialIn(t testing.TB, ns *netns.NS, addr string, timeout time.Duration) net.Conn {
	t.Helper()
	var c net.Conn
	require.NoError(t, ns.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	}))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// listenIn opens a kernel TCP listener inside ns.
func listenIn(t testing.TB, ns *netns.NS, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	require.NoError(t, ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}))
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// openTapFD opens tap device dev in ns for a raw-fd user (gVisor's fdbased
// endpoint): TUNSETIFF in tap mode without packet information, non-blocking.
func openTapFD(t testing.TB, ns *netns.NS, dev string) int {
	t.Helper()
	fd := -1
	require.NoError(t, ns.Do(func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(dev)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			return fmt.Errorf("TUNSETIFF %s: %w", dev, err)
		}
		return unix.SetNonblock(fd, true)
	}))
	return fd
}

// sink reads r to EOF and reports how many bytes it read and their digest.
func sink(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, fmt.Sprintf("%x", h.Sum(nil)), err
}
