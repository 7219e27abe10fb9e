package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	tap6KernelIP   = "2001:db8:7::1"
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

// TestTapDNS6: dig asks taprun's DNS server for AAAA and A records over
// IPv6 only, over UDP and over TCP (+tcp) (the server's wildcard socket
// and listener take both families).
func TestTapDNS6(t *testing.T) {
	netns.RequireTools(t, "dig")
	ns := tap6NS(t)
	zone := filepath.Join(t.TempDir(), "example.test.zone")
	require.NoError(t, os.WriteFile(zone, []byte(testZone), 0o644))
	p := startTaprun(t, ns, "--ip", tap6StackCIDR, "--dns", "53", "--zone", zone)
	for _, transport := range []string{"+notcp", "+tcp"} {
		for _, tc := range []struct{ typ, want string }{
			{"AAAA", "2001:db8::80"},
			{"A", "192.0.2.80"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := ns.Output(ctx, "dig", "-6", "@"+tap6StackIP, "+tries=2", "+time=3", transport, "+short", "www.example.test", tc.typ)
			cancel()
			require.NoError(t, err, out)
			assert.Equal(t, tc.want, strings.TrimSpace(out), "%s %s", tc.typ, transport)
		}
	}
	assert.Contains(t, p.Output(), "dns: connection from ["+tap6KernelIP+"]", "DNS over TCP came over IPv6")
}

// tap6NS returns a namespace with tap0 up and an IPv6 address only.
func tap6NS(t *testing.T) *netns.NS {
	ns := netns.New(t)
	ns.Run(t, "ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
	ns.Run(t, "ip", "-6", "addr", "add", tap6KernelCIDR, "dev", "tap0", "nodad")
	ns.Run(t, "ip", "link", "set", "tap0", "up")
	return ns
}

// TestTapServices6: over IPv6 only, `curl -6 http://[ADDR]/` fetches
// taprun's page 200 times, each over a new TCP connection, and `ncat -6`
// gets 10 MB back byte-exact from the echo service.
func TestTapServices6(t *testing.T) {
	netns.RequireTools(t, "curl", "ncat")
	ns := tap6NS(t)
	dir := t.TempDir()
	page := strings.Repeat("simnet over IPv6 on a tap\n", 400)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644))
	p := startTaprun(t, ns, "--ip", tap6StackCIDR, "--http", "80:"+dir, "--echo", "7")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	url := "http://[" + tap6StackIP + "]/"
	args := []string{"-6", "-sS", "-H", "Connection: close", "-w", "%{http_code} %{num_connects} %{size_download}\n"}
	for i := 0; i < 200; i++ {
		args = append(args, "-o", "/dev/null", url)
	}
	out, err := ns.Output(ctx, "curl", args...)
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 200, "curl result lines")
	conns := 0
	for i, l := range lines {
		var code, nc, size int
		_, err := fmt.Sscanf(l, "%d %d %d", &code, &nc, &size)
		require.NoError(t, err, l)
		assert.Equal(t, 200, code, "request %d", i)
		assert.Equal(t, len(page), size, "request %d", i)
		conns += nc
	}
	assert.Equal(t, 200, conns, "TCP connections opened over IPv6")
	assert.Contains(t, p.Output(), "http: connection from ["+tap6KernelIP+"]")

	data := randomData(10<<20, 6)
	in, echoed := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(in, data, 0o644))
	res, err := ns.Output(ctx, "sh", "-c", fmt.Sprintf("ncat -6 %s 7 < %s > %s", tap6StackIP, in, echoed))
	require.NoError(t, err, res)
	got, err := os.ReadFile(echoed)
	require.NoError(t, err)
	require.Equal(t, len(data), len(got), "echoed length")
	assert.Equal(t, digest(data), digest(got), "echoed bytes differ")
	p.WaitOutput(t, fmt.Sprintf("closed after %d bytes", len(data)), 10*time.Second)
}
