package tests

import (
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/internal/testenv"
)

// TestTapPathMTUDiscovery puts Linux's router between taprun and a Linux
// peer: taprun on tap0 in one namespace whose kernel forwards to a second
// namespace over a veth, the route to it locked at an MTU of 1000 bytes
// (every device keeps 1500, so both ends advertise an MSS of 1460). The
// peer sends 1 MB to taprun's echo service: the echo's full-sized
// segments, sent with DF, draw the kernel's "fragmentation needed"
// (RFC 1191), taprun lowers its MSS and the data comes back byte-exact;
// taprun's capture shows the ICMP message and segments that fit.
func TestTapPathMTUDiscovery(t *testing.T) {
	t.Parallel()
	tshark := testenv.Tool(t, "tshark")
	router := tapNS(t)
	peer := netns.New(t)
	router.Run(t, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", peer.Name())
	router.Run(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "v0")
	router.Run(t, "ip", "link", "set", "v0", "up")
	router.Run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	// A locked route MTU applies to forwarded packets (Linux's
	// ip_dst_mtu_maybe_forward).
	router.Run(t, "ip", "route", "replace", "198.18.0.0/24", "dev", "v0", "mtu", "lock", "1000")
	peer.Run(t, "ip", "addr", "add", "198.18.0.2/24", "dev", "v1")
	peer.Run(t, "ip", "link", "set", "v1", "up")
	peer.Run(t, "ip", "route", "add", "default", "via", "198.18.0.1")

	capture := filepath.Join(t.TempDir(), "taprun.pcapng")
	p := startTaprun(t, router, "--ip", tapStackCIDR, "--gw", tapKernelIP, "--echo", "7", "--pcap", capture)

	data := randomData(1<<20, 11)
	c := dialIn(t, peer, tapStackIP+":7", 10*time.Second)
	require.NoError(t, c.SetDeadline(time.Now().Add(time.Minute)))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		werr <- err
	}()
	got := make([]byte, len(data))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err, "echo back")
	require.NoError(t, <-werr)
	assert.Equal(t, digest(data), digest(got), "echoed bytes differ")
	require.NoError(t, c.Close())
	p.WaitOutput(t, "closed after", 10*time.Second)
	p.Stop()

	icmp := tsharkFields(t, tshark, capture, "icmp.type == 3 && icmp.code == 4 && icmp.mtu == 1000", "frame.number")
	assert.NotEmpty(t, icmp, "the kernel's fragmentation needed reaches taprun")
	lens := tsharkFields(t, tshark, capture, "ip.src == "+tapStackIP+" && tcp.len > 0 && frame.number > "+first(icmp), "ip.len")
	require.NotEmpty(t, lens, "segments after the ICMP message")
	for _, l := range lens {
		n, err := strconv.Atoi(l)
		require.NoError(t, err)
		assert.LessOrEqual(t, n, 1000, "taprun's segments fit the path MTU")
	}
}

// first returns the first element of s, or "0".
func first(s []string) string {
	if len(s) == 0 {
		return "0"
	}
	return s[0]
}
