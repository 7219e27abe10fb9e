package tests

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// TestTapPing: the kernel pings taprun's stack, with payloads that fit one
// frame, fill it exactly (1472 + 8 + 20 = 1500) and need fragmentation both
// ways (4000 bytes), and gets every reply.
func TestTapPing(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "ping")
	ns := tapNS(t)
	startTaprun(t, ns, "--ip", tapStackCIDR)
	for _, size := range []int{56, 1472, 4000} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			out, err := ns.Output(context.Background(), "ping", "-n", "-c", "20", "-i", "0.02", "-W", "2",
				"-s", strconv.Itoa(size), tapStackIP)
			require.NoError(t, err, out)
			assert.Contains(t, out, "20 packets transmitted, 20 received, 0% packet loss", out)
			assert.NotContains(t, out, "DUP!", out)
			assert.NotContains(t, out, "wrong data", out)
		})
	}
}

// TestTapMissingDevice: taprun explains a missing device and how to make
// one, and exits non-zero.
func TestTapMissingDevice(t *testing.T) {
	t.Parallel()
	ns := netns.New(t)
	bin := taprunBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns.Output(ctx, bin, "--tap", "nosuch0", "--ip", tapStackCIDR)
	require.Error(t, err)
	assert.Contains(t, out, "tap device does not exist")
	assert.Contains(t, out, "ip tuntap add dev nosuch0 mode tap")
}

// TestTapBusyDevice: a second taprun on the same tap is told it is busy.
func TestTapBusyDevice(t *testing.T) {
	t.Parallel()
	ns := tapNS(t)
	startTaprun(t, ns, "--ip", tapStackCIDR)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns.Output(ctx, taprunBinary(t), "--tap", "tap0", "--ip", "192.0.2.3/24")
	require.Error(t, err)
	assert.Contains(t, out, "busy")
}

// TestTapCreate: with --create taprun makes the device itself and removes
// it when it exits.
func TestTapCreate(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "ping")
	ns := netns.New(t)
	p := ns.Start(t, taprunBinary(t), "--tap", "made0", "--create", "--ip", tapStackCIDR)
	p.WaitOutput(t, "ready", 15*time.Second)
	ns.Run(t, "ip", "addr", "add", tapKernelCIDR, "dev", "made0")
	out, err := ns.Output(context.Background(), "ping", "-n", "-c", "3", "-i", "0.1", "-W", "2", tapStackIP)
	require.NoError(t, err, out)
	p.Stop()
	_, err = ns.Output(context.Background(), "ip", "link", "show", "made0")
	assert.Error(t, err, "the device taprun created must be gone")
}

// TestTapNotPermitted: run as an unprivileged user, taprun says it may not
// open the device and what it needs.
func TestTapNotPermitted(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "setpriv")
	// The tap belongs to root: the kernel lets anyone who can open
	// /dev/net/tun attach to a tap with no owner, so without an owner the
	// outcome would depend on the host's /dev/net/tun permissions.
	ns := netns.New(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap", "user", "0", "group", "0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns.Output(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
		taprunBinary(t), "--tap", "tap0", "--ip", tapStackCIDR)
	require.Error(t, err)
	assert.Contains(t, out, "not permitted to open the tap device")
	assert.Contains(t, out, "CAP_NET_ADMIN")
}
