package tests

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
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
	t.Parallel()
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
	t.Parallel()
	ns := tapNS(t)
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--discard", "9",
		"--loss", "5%", "--delay", "20ms", "--jitter", "5ms", "--seed", "7")
	assert.Contains(t, p.Output(), "impairing in (kernel to stack): loss 5%, delay 20ms ±5ms")
	assert.Contains(t, p.Output(), "impairing out (stack to kernel): loss 5%, delay 20ms ±5ms")
	lossyTransfer(t, ns, p, 20<<20, 8*time.Minute)
	p.Stop()
	assert.Regexp(t, `impairments: in \d+ offered, [1-9]\d* dropped; out \d+ offered, [1-9]\d* dropped`, p.Output())
}

// TestTapGilbertLoss: taprun's --gilbert (the scenario's gilbert block, live)
// drops the kernel's pings in bursts: with p=3% and r=25% the stationary
// loss is p/(p+r) ≈ 11% in runs of 1/r = 4 frames on average, where
// independent loss at that rate would give runs of about 1.1.
func TestTapGilbertLoss(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "ping")
	ns := tapNS(t)
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--dir", "in", "--gilbert", "p=3%,r=25%", "--seed", "3")
	assert.Contains(t, p.Output(), "impairing in (kernel to stack): gilbert p=3% r=25% loss_bad=100% loss_good=0% (mean burst 4 frames)")
	const n = 400
	// ping exits 1 when replies are missing: its output is what counts.
	out, _ := ns.Output(context.Background(), "ping", "-n", "-c", strconv.Itoa(n), "-i", "0.005", "-W", "1", tapStackIP)
	got := map[int]bool{}
	for _, m := range regexp.MustCompile(`icmp_seq=(\d+)`).FindAllStringSubmatch(out, -1) {
		seq, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		got[seq] = true
	}
	var bursts []int
	run := 0
	for seq := 1; seq <= n; seq++ {
		if !got[seq] {
			run++
			continue
		}
		if run > 0 {
			bursts = append(bursts, run)
		}
		run = 0
	}
	lost := 0
	for _, b := range bursts {
		lost += b
	}
	require.NotEmpty(t, bursts, "no ping was lost: %s", out)
	mean := float64(lost) / float64(len(bursts))
	t.Logf("%d of %d lost in %d bursts, mean burst %.2f", lost, n, len(bursts), mean)
	assert.InDelta(t, 0.107, float64(lost)/n, 0.06, "stationary loss rate")
	assert.Greater(t, mean, 2.0, "losses come in bursts")
	p.Stop()
	assert.Regexp(t, `impairments: in \d+ offered, [1-9]\d* dropped`, p.Output())
}
