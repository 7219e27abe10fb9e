package tests

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/tests/netns"
)

// lossyTransfer sends n bytes from a kernel TCP socket to taprun's discard
// port and checks, from taprun's log, that they all arrived intact.
func lossyTransfer(t *testing.T, ns *netns.NS, p *netns.Proc, n int, timeout time.Duration) {
	t.Helper()
	data := randomData(n, 20)
	c := dialIn(t, ns, tapStackIP+":9", 30*time.Second)
	require.NoError(t, c.SetDeadline(time.Now().Add(timeout)))
	start := time.Now()
	_, err := c.Write(data)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	p.WaitOutput(t, fmt.Sprintf("closed after %d bytes, sha256 %s", n, digest(data)), timeout)
	t.Logf("%d bytes delivered in %v", n, time.Since(start).Round(time.Millisecond))
}

// TestTapKernelLoss: the kernel, as TCP client, loses 5% of everything it
// sends out of the tap (nftables in the namespace); 20 MB still reach the
// stack byte-exact, so the stack's receiver copes with holes and
// retransmissions.
func TestTapKernelLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk transfer under loss")
	}
	netns.RequireTools(t, "nft")
	ns := tapNS(t)
	ns.Run(t, "nft", "add", "table", "inet", "t")
	ns.Run(t, "nft", "add", "chain", "inet", "t", "o", "{ type filter hook output priority 0; }")
	ns.Run(t, "nft", "add", "rule", "inet", "t", "o", "oifname", "tap0", "numgen", "random", "mod", "100", "<", "5", "counter", "drop")
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--discard", "9")
	lossyTransfer(t, ns, p, 20<<20, 3*time.Minute)
	out := ns.Run(t, "nft", "list", "chain", "inet", "t", "o")
	assert.NotContains(t, out, "counter packets 0 ", "nftables dropped nothing:\n%s", out)
}

// TestTapImpairedLink: taprun's own impairments (5% loss, 20 ms ± 5 ms
// delay, both directions) on the live link; a kernel TCP client still
// delivers 20 MB byte-exact, and taprun counts what it dropped.
func TestTapImpairedLink(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk transfer under loss and delay")
	}
	ns := tapNS(t)
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--discard", "9",
		"--loss", "5%", "--delay", "20ms", "--jitter", "5ms", "--seed", "7")
	assert.Contains(t, p.Output(), "impairing in (kernel to stack): loss 5%, delay 20ms ±5ms")
	assert.Contains(t, p.Output(), "impairing out (stack to kernel): loss 5%, delay 20ms ±5ms")
	lossyTransfer(t, ns, p, 20<<20, 8*time.Minute)
	p.Stop()
	assert.Regexp(t, `impairments: in \d+ offered, [1-9]\d* dropped; out \d+ offered, [1-9]\d* dropped`, p.Output())
}
