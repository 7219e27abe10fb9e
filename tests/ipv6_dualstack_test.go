package tests

import (
	"bytes"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/replay/analyze"
)

// TestDualStackExample runs examples/dual-stack.yaml (a router
// advertising a prefix, hosts with SLAAC and IPv4 by DHCP, HTTP over both
// families) at GOMAXPROCS 1 and 4: every expectation passes, the captures
// are byte-identical, and they carry IPv6 (Router Advertisements, NDP,
// TCP over IPv6) beside IPv4. TestTsharkDecodesCaptures checks them with
// tshark like every example.
func TestDualStackExample(t *testing.T) {
	t.Parallel()
	const file = "../examples/dual-stack.yaml"
	var outs []map[string][]byte
	var dirs []string
	for _, procs := range []int{1, 4} {
		prev := runtime.GOMAXPROCS(procs)
		dir := t.TempDir()
		rep := scnRun(t, file, 6, dir, pcap.PcapNG)
		runtime.GOMAXPROCS(prev)
		require.True(t, rep.Passed, "GOMAXPROCS %d: expectations", procs)
		outs, dirs = append(outs, scnReadDir(t, dir)), append(dirs, dir)
	}
	require.Contains(t, outs[0], "alice.pcapng")
	require.Equal(t, len(outs[0]), len(outs[1]))
	for name, b := range outs[0] {
		assert.True(t, bytes.Equal(b, outs[1][name]), "%s differs between GOMAXPROCS 1 and 4", name)
	}
	for _, host := range []string{"alice", "bob"} {
		res, err := analyze.RunFile(filepath.Join(dirs[0], host+".pcapng"))
		require.NoError(t, err)
		c := res.Counts
		assert.Positive(t, c.Get("ipv6"), host)
		assert.Positive(t, c.Get("icmpv6"), "%s: NDP and RAs", host)
		assert.Positive(t, c.Get("ipv4"), host)
		assert.Positive(t, c.Get("dhcp"), host)
		assert.Greater(t, c.Get("tcp"), 20, "%s: TCP over both families", host)
		assert.Empty(t, res.Rejected, host)
	}
}
