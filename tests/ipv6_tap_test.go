package tests

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/tests/netns"
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
