package tests

import (
	"io"
	"net/netip"
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
// namespace over a veth, the route to it locked at a smaller MTU (1000
// bytes for IPv4, 1280 for IPv6) while every device keeps 1500, so both
// ends advertise a full-sized MSS. The peer sends 1 MB to taprun's echo
// service: the echo's full-sized segments (with DF over IPv4) draw the
// kernel's "fragmentation needed" (RFC 1191) or Packet Too Big (RFC
// 8201), taprun lowers its MSS and the data comes back byte-exact;
// taprun's capture shows the ICMP message and segments that fit. Over
// IPv6 taprun finds the kernel as its default router from Router
// Advertisements.
func TestTapPathMTUDiscovery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		family                     string
		mtu                        int
		routerV0, peerV1, peerNet  string
		stackIP, icmpFilter, ipLen string
		setup                      func(t *testing.T) *netns.NS
		taprunArgs                 []string
		forwarding, peerRoute      []string
	}{
		{family: "ipv4", mtu: 1000, routerV0: "198.18.0.1/24", peerV1: "198.18.0.2/24", peerNet: "198.18.0.0/24",
			stackIP: tapStackIP, icmpFilter: "icmp.type == 3 && icmp.code == 4 && icmp.mtu == 1000", ipLen: "ip.len",
			setup:      func(t *testing.T) *netns.NS { return tapNS(t) },
			taprunArgs: []string{"--ip", tapStackCIDR, "--gw", tapKernelIP},
			forwarding: []string{"net.ipv4.ip_forward=1"},
			peerRoute:  []string{"ip", "route", "add", "default", "via", "198.18.0.1"}},
		{family: "ipv6", mtu: 1280, routerV0: "2001:db8:8::1/64", peerV1: "2001:db8:8::2/64", peerNet: "2001:db8:8::/64",
			stackIP: tap6StackIP, icmpFilter: "icmpv6.type == 2 && icmpv6.mtu == 1280", ipLen: "ipv6.plen",
			setup:      tap6NS,
			taprunArgs: []string{"--ip", tap6StackCIDR, "--slaac"},
			forwarding: []string{"net.ipv6.conf.all.forwarding=1"},
			peerRoute:  []string{"ip", "-6", "route", "add", "default", "via", "2001:db8:8::1"}},
	} {
		t.Run(tc.family, func(t *testing.T) {
			t.Parallel()
			tshark := testenv.Tool(t, "tshark")
			router := tc.setup(t)
			peer := netns.New(t)
			router.Run(t, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", peer.Name())
			router.Run(t, "ip", "addr", "add", tc.routerV0, "dev", "v0", "nodad")
			router.Run(t, "ip", "link", "set", "v0", "up")
			router.Run(t, "sysctl", append([]string{"-qw"}, tc.forwarding...)...)
			// A locked route MTU applies to forwarded packets (Linux's
			// ip_dst_mtu_maybe_forward, ip6_dst_mtu_maybe_forward).
			// The replaced route is the kernel's prefix route (IPv6 puts it
			// at metric 256).
			route := []string{"route", "replace", tc.peerNet, "dev", "v0", "mtu", "lock", strconv.Itoa(tc.mtu)}
			if tc.family == "ipv6" {
				route = append(route, "metric", "256")
			}
			router.Run(t, "ip", route...)
			peer.Run(t, "ip", "addr", "add", tc.peerV1, "dev", "v1", "nodad")
			peer.Run(t, "ip", "link", "set", "v1", "up")
			peer.Run(t, tc.peerRoute[0], tc.peerRoute[1:]...)

			capture := filepath.Join(t.TempDir(), "taprun.pcapng")
			p := startTaprun(t, router, append(tc.taprunArgs, "--echo", "7", "--pcap", capture)...)
			if tc.family == "ipv6" {
				startRASender(t, router, "tap0", netip.MustParsePrefix("2001:db8:7::/64"), 500*time.Millisecond)
				p.WaitOutput(t, "slaac: default router fe80::1", 20*time.Second)
			}

			data := randomData(1<<20, 11)
			c := dialIn(t, peer, netip.AddrPortFrom(netip.MustParseAddr(tc.stackIP), 7).String(), 10*time.Second)
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

			icmp := tsharkFields(t, tshark, capture, tc.icmpFilter, "frame.number")
			assert.NotEmpty(t, icmp, "the kernel's %s reaches taprun", tc.icmpFilter)
			src := "ip.src == "
			if tc.family == "ipv6" {
				src = "ipv6.src == "
			}
			lens := tsharkFields(t, tshark, capture, src+tc.stackIP+" && tcp.len > 0 && frame.number > "+first(icmp), tc.ipLen)
			require.NotEmpty(t, lens, "segments after the ICMP message")
			for _, l := range lens {
				n, err := strconv.Atoi(l)
				require.NoError(t, err)
				if tc.family == "ipv6" {
					n += 40 // the payload length leaves out the fixed header
				}
				assert.LessOrEqual(t, n, tc.mtu, "taprun's packets fit the path MTU")
			}
		})
	}
}

// first returns the first element of s, or "0".
func first(s []string) string {
	if len(s) == 0 {
		return "0"
	}
	return s[0]
}
