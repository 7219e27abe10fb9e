package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
)

// routedTshark returns tshark's path; without it the test skips, or
// fails when SIMNET_REQUIRE=all.
func routedTshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatal("tshark is required (SIMNET_REQUIRE=all) and not installed")
		}
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	return p
}

// routedFrame is what tshark says about one frame.
type routedFrame struct {
	iface, src, dst, ttl, proto, icmpType string
	// bad names what tshark found wrong: malformed, an expert error or a
	// bad checksum ("" when clean).
	bad string
}

// routedDecode decodes a capture with tshark once, checksum validation on.
func routedDecode(t *testing.T, tshark, path string) []routedFrame {
	t.Helper()
	fields := []string{"frame.interface_name", "ip.src", "ip.dst", "ip.ttl", "ip.proto", "icmp.type",
		"_ws.malformed", "_ws.expert.severity", "ip.checksum.status", "icmp.checksum.status", "udp.checksum.status", "tcp.checksum.status"}
	args := []string{"-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command(tshark, args...).Output()
	require.NoError(t, err, "tshark %v", args)
	var frames []routedFrame
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(l, "|")
		require.Len(t, f, len(fields), l)
		fr := routedFrame{iface: f[0], src: f[1], dst: f[2], ttl: f[3], proto: f[4], icmpType: f[5]}
		if sev, _ := strconv.ParseInt(f[7], 0, 64); f[6] != "" || sev >= scnExpertError {
			fr.bad = "malformed or expert error: " + l
		}
		for _, st := range f[8:] {
			if st == "0" {
				fr.bad = "bad checksum: " + l
			}
		}
		frames = append(frames, fr)
	}
	return frames
}

// distinct returns the distinct values of key over the frames that keep
// selects, sorted.
func distinct(frames []routedFrame, keep func(routedFrame) bool, key func(routedFrame) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range frames {
		if k := key(f); keep(f) && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// TestRoutedExample runs examples/routed.yaml: three subnets, two routers.
// Every capture decodes cleanly in tshark; each router hop takes one off
// the TTL (RFC 1812 section 5.3.1), and the traceroute's probes drew time
// exceeded from both routers and port unreachable from the server.
func TestRoutedExample(t *testing.T) {
	t.Parallel()
	tshark := routedTshark(t)
	dir := t.TempDir()
	rep := scnRun(t, filepath.Join("..", "examples", "routed.yaml"), 7, dir, pcap.PcapNG)
	require.True(t, rep.Passed, "%v", rep.Failed())
	caps := map[string][]routedFrame{}
	for _, c := range rep.Captures {
		caps[strings.TrimSuffix(c, ".pcapng")] = routedDecode(t, tshark, filepath.Join(dir, c))
		for _, f := range caps[strings.TrimSuffix(c, ".pcapng")] {
			assert.Empty(t, f.bad, c)
		}
	}
	require.Len(t, caps, 4, "the capture block leaves bob out")
	const alice, bob = "198.18.1.10", "198.18.1.11"
	tcpFrom := func(src string) func(routedFrame) bool {
		return func(f routedFrame) bool { return f.proto == "6" && f.src == src }
	}
	ttl := func(f routedFrame) string { return f.ttl }
	ifTTL := func(f routedFrame) string { return f.iface + " " + f.ttl }
	// alice's TCP segments: 64 on her link, 63 past r1, 62 at the server.
	assert.Equal(t, []string{"64"}, distinct(caps["alice"], tcpFrom(alice), ttl))
	assert.Equal(t, []string{"r1:eth0 64", "r1:eth1 63"}, distinct(caps["r1"], tcpFrom(alice), ifTTL))
	assert.Equal(t, []string{"r2:eth0 63", "r2:eth1 62"}, distinct(caps["r2"], tcpFrom(alice), ifTTL))
	assert.Equal(t, []string{"62"}, distinct(caps["server"], tcpFrom(alice), ttl))
	// The server's segments to bob come back down the same way.
	tcpTo := func(f routedFrame) bool { return f.proto == "6" && f.dst == bob }
	assert.Equal(t, []string{"64"}, distinct(caps["server"], tcpTo, ttl))
	assert.Equal(t, []string{"r2:eth0 63", "r2:eth1 64"}, distinct(caps["r2"], tcpTo, ifTTL))
	assert.Equal(t, []string{"r1:eth0 62", "r1:eth1 63"}, distinct(caps["r1"], tcpTo, ifTTL))
	// ICMP errors to alice's probes: time exceeded (11) from each router,
	// port unreachable (3) from the server.
	assert.Equal(t, []string{"198.18.1.1 11", "198.18.2.2 11", "198.18.3.10 3"},
		distinct(caps["alice"], func(f routedFrame) bool { return f.proto == "1" && f.dst == alice },
			func(f routedFrame) string { return f.src + " " + f.icmpType }))
}
