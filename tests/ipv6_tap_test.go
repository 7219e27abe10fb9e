package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// raSender is the kernel side acting as a router without radvd: a raw
// ICMPv6 socket in the namespace that multicasts Router Advertisements for
// one prefix from fe80::1 on a device, as RFC 4861 section 6.2 has a
// router do.
type raSender struct {
	fd     int
	ifidx  int
	msg    []byte
	stop   chan struct{}
	done   chan struct{}
	sentMu sync.Mutex
	sent   int
}

// startRASender adds fe80::1 to dev and sends an advertisement for
// prefix every interval until the test ends.
func startRASender(t *testing.T, ns *netns.NS, dev string, prefix netip.Prefix, interval time.Duration) *raSender {
	t.Helper()
	ns.Run(t, "ip", "-6", "addr", "add", "fe80::1/64", "dev", dev, "nodad")
	fields := strings.Fields(ns.Run(t, "ip", "-br", "link", "show", dev))
	require.GreaterOrEqual(t, len(fields), 3, "ip -br link show %s", dev)
	hw, err := net.ParseMAC(fields[2])
	require.NoError(t, err)
	opts := icmpv6.AppendLinkAddr(nil, icmpv6.OptSourceLinkAddr, ether.Addr(hw))
	opts = icmpv6.AppendPrefixInfo(opts, icmpv6.PrefixInfo{Prefix: prefix, OnLink: true, Autonomous: true,
		ValidLifetime: 3600, PreferredLifetime: 1800})
	b := make([]byte, icmpv6.RALen+len(opts))
	m, err := icmpv6.RouterAdvertisement(b, netip.MustParseAddr("fe80::1"), netip.MustParseAddr("ff02::1"),
		&icmpv6.RAFields{CurHopLimit: 64, RouterLifetime: 1800 * time.Second}, opts)
	require.NoError(t, err)
	s := &raSender{msg: m, stop: make(chan struct{}), done: make(chan struct{})}
	require.NoError(t, ns.Do(func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		s.ifidx = ifc.Index
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
		if err != nil {
			return fmt.Errorf("raw ICMPv6 socket: %w", err)
		}
		s.fd = fd
		// RFC 4861 section 6.1.2: hosts drop advertisements whose hop
		// limit is not 255. The kernel fills in the checksum (RFC 3542
		// section 3.1).
		for _, o := range [][2]int{{unix.IPV6_MULTICAST_HOPS, 255}, {unix.IPV6_MULTICAST_IF, ifc.Index}, {unix.IPV6_MULTICAST_LOOP, 0}} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o[0], o[1]); err != nil {
				return fmt.Errorf("setsockopt %d: %w", o[0], err)
			}
		}
		return unix.Bind(fd, &unix.SockaddrInet6{Addr: netip.MustParseAddr("fe80::1").As16(), ZoneId: uint32(ifc.Index)})
	}))
	go func() {
		defer close(s.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if unix.Sendto(s.fd, s.msg, 0, &unix.SockaddrInet6{Addr: netip.MustParseAddr("ff02::1").As16(), ZoneId: uint32(s.ifidx)}) == nil {
				s.sentMu.Lock()
				s.sent++
				s.sentMu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(s.stop)
		<-s.done
		_ = unix.Close(s.fd)
	})
	return s
}

// TestTapSLAAC6: taprun --slaac takes an address from the Router
// Advertisements the kernel side sends (our tiny RA sender on a raw
// socket, no radvd): an RFC 7217 stable address in the advertised prefix
// (not the EUI-64 one), the advertiser as default router; the kernel then
// pings that address and reaches taprun's echo service over TCP on it.
func TestTapSLAAC6(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "ping")
	ns := tap6NS(t)
	p := startTaprun(t, ns, "--slaac", "--echo", "7")
	prefix := netip.MustParsePrefix("2001:db8:7::/64")
	startRASender(t, ns, "tap0", prefix, 500*time.Millisecond)
	p.WaitOutput(t, "slaac: address 2001:db8:7:", 20*time.Second)
	var addr netip.Addr
	for _, line := range strings.Split(p.Output(), "\n") {
		if _, rest, ok := strings.Cut(line, "slaac: address "); ok && strings.HasPrefix(rest, "2001:db8:7:") {
			pfx, err := netip.ParsePrefix(strings.Fields(rest)[0])
			require.NoError(t, err, line)
			addr = pfx.Addr()
		}
	}
	require.True(t, prefix.Contains(addr), "address %v in %v", addr, prefix)
	mac := taprunMAC(t, p)
	eui := ipv6.EUI64(mac)
	assert.NotEqual(t, eui[:], addr.AsSlice()[8:], "a stable opaque identifier (RFC 7217), not EUI-64")
	assert.Contains(t, p.Output(), "slaac: default router fe80::1")

	out, err := ns.Output(context.Background(), "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", addr.String())
	require.NoError(t, err, out)
	assert.Contains(t, out, "3 packets transmitted, 3 received", out)
	c := dialIn(t, ns, netip.AddrPortFrom(addr, 7).String(), 5*time.Second)
	_, err = c.Write([]byte("slaac"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "slaac", string(buf))
}

// taprunMAC returns the MAC taprun's stack uses, from its start-up line.
func taprunMAC(t *testing.T, p *netns.Proc) ether.Addr {
	t.Helper()
	_, rest, ok := strings.Cut(p.Output(), "stack mac ")
	require.True(t, ok, "taprun names its MAC")
	hw, err := net.ParseMAC(strings.Fields(rest)[0])
	require.NoError(t, err)
	return ether.Addr(hw)
}
