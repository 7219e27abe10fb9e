package tests

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// Addresses of the IPv6-only tap tests.
const (
	tap6KernelCIDR = "2001:db8:7::1/64"
	tap6StackCIDR  = "2001:db8:7::2/64"
	tap6StackIP    = "2001:db8:7::2"
)

// TestTapPing6: in a namespace, IPv6 only on the kernel side, the kernel
// pings taprun's stack with `ping -6`, 56 bytes and 4000 bytes
// (fragmented both ways), gets every reply, and holds a REACHABLE
// neighbour entry for our address, learned by NDP.
func TestTapPing6(t *testing.T) {
	netns.RequireTools(t, "ping")
	ns := netns.New(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
	ns.Run(t, "ip", "-6", "addr", "add", tap6KernelCIDR, "dev", "tap0", "nodad")
	ns.Run(t, "ip", "link", "set", "tap0", "up")
	startTaprun(t, ns, "--ip", tap6StackCIDR)
	for _, size := range []int{56, 4000} {
		out, err := ns.Output(context.Background(), "ping", "-6", "-n", "-c", "10", "-i", "0.02", "-W", "2",
			"-s", strconv.Itoa(size), tap6StackIP)
		require.NoError(t, err, out)
		assert.Contains(t, out, "10 packets transmitted, 10 received, 0% packet loss", out)
		assert.NotContains(t, out, "DUP!", out)
		assert.NotContains(t, out, "wrong data", out)
	}
	var neigh string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		neigh = ns.Run(t, "ip", "-6", "neigh", "show", tap6StackIP, "dev", "tap0")
		if strings.Contains(neigh, "REACHABLE") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Contains(t, neigh, "REACHABLE", "the kernel's neighbour entry for our address")
	assert.Contains(t, neigh, "lladdr", neigh)
}

// TestTapDNS6UDP: dig asks taprun's DNS server for AAAA and A records over
// UDP on IPv6 only (the server's wildcard socket is dual-stack).
func TestTapDNS6UDP(t *testing.T) {
	netns.RequireTools(t, "dig")
	ns := netns.New(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
	ns.Run(t, "ip", "-6", "addr", "add", tap6KernelCIDR, "dev", "tap0", "nodad")
	ns.Run(t, "ip", "link", "set", "tap0", "up")
	zone := filepath.Join(t.TempDir(), "example.test.zone")
	require.NoError(t, os.WriteFile(zone, []byte(testZone), 0o644))
	startTaprun(t, ns, "--ip", tap6StackCIDR, "--dns", "53", "--zone", zone)
	for _, tc := range []struct{ typ, want string }{
		{"AAAA", "2001:db8::80"},
		{"A", "192.0.2.80"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := ns.Output(ctx, "dig", "-6", "@"+tap6StackIP, "+tries=2", "+time=3", "+notcp", "+short", "www.example.test", tc.typ)
		cancel()
		require.NoError(t, err, out)
		assert.Equal(t, tc.want, strings.TrimSpace(out), tc.typ)
	}
}
