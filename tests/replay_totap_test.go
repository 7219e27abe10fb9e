package tests

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/replay/input"
)

// totapNeed fails t under SIMNET_REQUIRE=all, and skips it otherwise, when
// namespaces or one of the tools are not available.
func totapNeed(t testing.TB, tools ...string) {
	t.Helper()
	miss := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatalf(format+" (SIMNET_REQUIRE=all)", args...)
		}
		t.Skipf(format, args...)
	}
	if err := netns.Available(); err != nil {
		miss("%v", err)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			miss("%s is not installed (make tools-test): %v", tool, err)
		}
	}
}

// Addresses of the crafted to-tap captures: frames from a host that is not
// on the tap to another that is not either, so the namespace's kernel
// receives them and answers nothing.
var (
	ttSrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0x20, 1}
	ttDstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0x20, 2}
	ttSrcIP  = net.IP{192, 0, 2, 10}
	ttDstIP  = net.IP{192, 0, 2, 20}
)

// ttFrame builds an Ethernet frame with every checksum right: kind is udp
// (size bytes of frame in all), tcp, echo, unreach or arp.
func ttFrame(t testing.TB, kind string, size int, seq int) []byte {
	t.Helper()
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	eth := &layers.Ethernet{SrcMAC: ttSrcMAC, DstMAC: ttDstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: uint16(seq), SrcIP: ttSrcIP, DstIP: ttDstIP}
	var ls []gopacket.SerializableLayer
	switch kind {
	case "udp":
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: 40000, DstPort: 9}
		require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
		pay := make([]byte, size-14-20-8)
		for i := range pay {
			pay[i] = byte(seq + i)
		}
		ls = []gopacket.SerializableLayer{eth, ip, udp, gopacket.Payload(pay)}
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: uint32(1000 + seq), Ack: 1, ACK: true, PSH: true, Window: 512}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		ls = []gopacket.SerializableLayer{eth, ip, tcp, gopacket.Payload("GET / HTTP/1.0\r\n\r\n")}
	case "echo":
		ip.Protocol = layers.IPProtocolICMPv4
		ls = []gopacket.SerializableLayer{eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: uint16(seq)},
			gopacket.Payload("ping")}
	case "unreach":
		ip.Protocol = layers.IPProtocolICMPv4
		q := &layers.IPv4{Version: 4, IHL: 5, TTL: 63, Protocol: layers.IPProtocolUDP, SrcIP: ttDstIP, DstIP: ttSrcIP}
		qu := &layers.UDP{SrcPort: 9, DstPort: 40000}
		require.NoError(t, qu.SetNetworkLayerForChecksum(q))
		qb := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(qb, opts, q, qu, gopacket.Payload("x")))
		ls = []gopacket.SerializableLayer{eth, ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(qb.Bytes())}
	case "arp":
		eth.EthernetType = layers.EthernetTypeARP
		ls = []gopacket.SerializableLayer{eth, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPReply, SourceHwAddress: ttSrcMAC,
			SourceProtAddress: ttSrcIP, DstHwAddress: ttDstMAC, DstProtAddress: ttDstIP}}
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, opts, ls...))
	return buf.Bytes()
}

// writeTTCapture writes frames, 1 ms apart, to a pcap in a temporary
// directory and returns its path.
func writeTTCapture(t testing.TB, frames [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := pcapgo.NewWriterNanos(f)
	require.NoError(t, w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, b := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(b), Length: len(b)}
		require.NoError(t, w.WritePacket(ci, b))
	}
	require.NoError(t, f.Close())
	return path
}

// dumpFrames reads a tcpdump file and returns the frames sent from ttSrcMAC
// (or from the MAC it was rewritten to) and their timestamps.
func dumpFrames(t testing.TB, path string, src net.HardwareAddr) ([][]byte, []time.Time) {
	t.Helper()
	r, err := input.Open(path)
	require.NoError(t, err)
	defer r.Close()
	var frames [][]byte
	var times []time.Time
	var f input.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			return frames, times
		}
		require.NoError(t, err)
		if f.Ether == nil || net.HardwareAddr(f.Ether[6:12]).String() != src.String() {
			continue
		}
		frames = append(frames, append([]byte(nil), f.Data...))
		times = append(times, f.Time)
	}
}

// TestReplayToTapRate sends a capture out of a tap at --mbps 10 and at
// --pps 1000 for 10 s each (in two namespaces at once) and measures the
// rate on the tap with tcpdump: from the first frame's timestamp to the
// last's, the frames (and bits) before the last must match the asked rate
// within 2%. tap0's counters must show every frame sent; when tcpdump
// (starved on a loaded machine) kept fewer, its timestamps cannot measure
// the rate and the replay is measured once more.
func TestReplayToTapRate(t *testing.T) {
	totapNeed(t, "tcpdump")
	t.Parallel()
	// Frame sizes from 60 to 1514 bytes, so that --mbps is not --pps in
	// disguise.
	frames := make([][]byte, 200)
	for i := range frames {
		frames[i] = ttFrame(t, "udp", 60+(i*397)%1455, i)
	}
	capture := writeTTCapture(t, frames)
	bin := simnetBinary(t)
	tests := []struct {
		name  string
		flags []string
		limit int
		// rate returns the measured rate and the wanted one.
		rate func(frames [][]byte, span time.Duration) (got, want float64)
	}{
		{"mbps 10", []string{"--mbps", "10"}, 0, func(fr [][]byte, span time.Duration) (float64, float64) {
			bits := 0
			for _, f := range fr[:len(fr)-1] {
				bits += 8 * len(f)
			}
			return float64(bits) / span.Seconds() / 1e6, 10
		}},
		{"pps 1000", []string{"--pps", "1000"}, 10001, func(fr [][]byte, span time.Duration) (float64, float64) {
			return float64(len(fr)-1) / span.Seconds(), 1000
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := netns.New(t)
			ns.AddTap(t, "tap0", "192.0.2.1/24")
			args := append([]string{"replay", capture, "--to-tap", "tap0", "--loop", "0", "--stats", "5"}, tc.flags...)
			if tc.limit > 0 {
				args = append(args, "--limit", strconv.Itoa(tc.limit))
			} else {
				args = append(args, "--duration", "10s")
			}
			var m toTapMeasure
			for attempt := 1; ; attempt++ {
				m = measureToTap(t, ns, bin, args)
				// The kernel's counters of tap0 see every frame the
				// replay wrote, whatever tcpdump keeps of them.
				require.Equal(t, uint64(m.sent), m.rx, "frames tap0 received (its counters) = frames sent")
				if len(m.got) == m.sent || attempt == 2 {
					break
				}
				// tcpdump, not the replay, lost frames (a starved
				// machine): its timestamps cannot measure the rate.
				t.Logf("tcpdump kept %d of the %d frames (%s): measuring again", len(m.got), m.sent, m.tcpdump)
			}
			got, times, out := m.got, m.times, m.out
			require.Greater(t, len(got), 1000, "frames seen on tap0")
			assert.Contains(t, out, fmt.Sprintf("sent %d frames", len(got)), "tcpdump saw every frame sent")
			span := times[len(times)-1].Sub(times[0])
			assert.InDelta(t, 10, span.Seconds(), 0.3, "the replay lasts about 10 s")
			rate, want := tc.rate(got, span)
			t.Logf("%s: measured %.4f over %v (%d frames)", tc.name, rate, span, len(got))
			assert.InEpsilon(t, want, rate, 0.02, "rate on the tap within 2%%")
			assert.Regexp(t, `Pacing: .* late on average`, out)
		})
	}
}

// toTapMeasure is one replay out of tap0 as tcpdump and the kernel saw it.
type toTapMeasure struct {
	out   string      // the replay's output
	sent  int         // frames the replay says it sent
	rx    uint64      // frames tap0's counters say the kernel received
	got   [][]byte    // frames tcpdump kept
	times []time.Time // and their timestamps
	// tcpdump is tcpdump's own account of what it captured and dropped.
	tcpdump string
}

// measureToTap runs simnet with args (a replay out of tap0) in ns while
// tcpdump captures what enters the kernel on tap0.
func measureToTap(t *testing.T, ns *netns.NS, bin string, args []string) toTapMeasure {
	t.Helper()
	dump := filepath.Join(t.TempDir(), "tap0.pcap")
	// A 64 MiB buffer (the last -B counts) holds every frame of the
	// 10 s replay if tcpdump is starved.
	td := startTcpdump(t, ns, "tap0", dump, "-B", "65536", "-Q", "in", "ether", "src", ttSrcMAC.String())
	rx0 := tapRxPackets(t, ns, "tap0")
	out := ns.Run(t, bin, args...)
	t.Logf("%s", out)
	// The last count is the final one (--stats prints others).
	all := regexp.MustCompile(`sent (\d+) frames`).FindAllStringSubmatch(out, -1)
	require.NotEmpty(t, all, "no frame count in the replay's output")
	sent, err := strconv.Atoi(all[len(all)-1][1])
	require.NoError(t, err)
	m := toTapMeasure{out: out, sent: sent, rx: tapRxPackets(t, ns, "tap0") - rx0}
	// Frames tcpdump dropped never come: poll, then give up.
	pollCapture(dump, 10*time.Second, func(st captureStats) bool { return st.frames >= sent })
	stopTcpdump(t, td)
	m.tcpdump = strings.Join(regexp.MustCompile(`\d+ packets? [a-z ]+`).FindAllString(td.Output(), -1), ", ")
	m.got, m.times = dumpFrames(t, dump, ttSrcMAC)
	return m
}

// tapRxPackets returns the received-packets counter of dev in ns.
func tapRxPackets(t *testing.T, ns *netns.NS, dev string) uint64 {
	t.Helper()
	var links []struct {
		Stats64 struct {
			RX struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	out := ns.Run(t, "ip", "-s", "-j", "link", "show", dev)
	require.NoError(t, json.Unmarshal([]byte(out), &links), out)
	require.Len(t, links, 1, out)
	return links[0].Stats64.RX.Packets
}

// TestReplayToTapLoop: --loop 3 sends the capture three times, in order.
func TestReplayToTapLoop(t *testing.T) {
	totapNeed(t, "tcpdump")
	t.Parallel()
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = ttFrame(t, "udp", 100, i)
	}
	capture := writeTTCapture(t, frames)
	ns := netns.New(t)
	ns.AddTap(t, "tap0", "192.0.2.1/24")
	dump := filepath.Join(t.TempDir(), "tap0.pcap")
	td := startTcpdump(t, ns, "tap0", dump, "-Q", "in", "ether", "src", ttSrcMAC.String())
	out := ns.Run(t, simnetBinary(t), "replay", capture, "--to-tap", "tap0", "--topspeed", "--loop", "3")
	waitCapture(t, dump, 10*time.Second, "150 frames", func(st captureStats) bool { return st.frames >= 150 })
	stopTcpdump(t, td)
	assert.Contains(t, out, "sent 150 frames (15000 bytes) to tap0")
	assert.Contains(t, out, "Passes over the capture:   3")
	got, _ := dumpFrames(t, dump, ttSrcMAC)
	require.Len(t, got, 3*len(frames), "frames seen on tap0")
	for i, f := range got {
		assert.Equal(t, frames[i%len(frames)], f, "frame %d", i)
	}
}

// TestReplayToTapInterrupt: --loop 0 runs until SIGINT, which ends it with
// the summary and status 0, as tcpreplay does.
func TestReplayToTapInterrupt(t *testing.T) {
	totapNeed(t, "tcpdump")
	t.Parallel()
	capture := writeTTCapture(t, [][]byte{ttFrame(t, "udp", 100, 0), ttFrame(t, "udp", 100, 1)})
	ns := netns.New(t)
	ns.AddTap(t, "tap0", "192.0.2.1/24")
	p := ns.Start(t, simnetBinary(t), "replay", capture, "--to-tap", "tap0", "--loop", "0", "--pps", "200", "--stats", "1")
	p.WaitOutput(t, "Rated:", 10*time.Second)
	require.NoError(t, p.Signal(os.Interrupt))
	require.NoError(t, p.Wait(10*time.Second), p.Output())
	assert.Regexp(t, `sent [1-9][0-9]+ frames \([0-9]+ bytes\) to tap0`, p.Output())
	assert.Contains(t, p.Output(), "Pacing: 200 pps")
}

// TestReplayToTapRewrite sends TCP, UDP, ICMP (echo and an error quoting
// the rewritten host) and ARP frames with --rewrite-ip and --rewrite-mac:
// tcpdump sees only the new addresses and tshark finds no bad checksum and
// no malformed frame.
func TestReplayToTapRewrite(t *testing.T) {
	totapNeed(t, "tcpdump", "tshark")
	t.Parallel()
	var frames [][]byte
	for i, k := range []string{"tcp", "udp", "echo", "unreach", "arp", "tcp", "udp"} {
		frames = append(frames, ttFrame(t, k, 200, i))
	}
	capture := writeTTCapture(t, frames)
	newMAC := net.HardwareAddr{0x02, 0, 0, 0, 0x20, 0x99}
	ns := netns.New(t)
	ns.AddTap(t, "tap0", "192.0.2.1/24")
	dump := filepath.Join(t.TempDir(), "tap0.pcap")
	td := startTcpdump(t, ns, "tap0", dump, "-Q", "in", "ether", "src", newMAC.String())
	out := ns.Run(t, simnetBinary(t), "replay", capture, "--to-tap", "tap0", "--topspeed",
		"--rewrite-ip", "192.0.2.10=198.18.0.10", "--rewrite-ip", "192.0.2.20=198.18.0.20",
		"--rewrite-mac", ttSrcMAC.String()+"="+newMAC.String())
	waitCapture(t, dump, 10*time.Second, fmt.Sprintf("%d frames", len(frames)), func(st captureStats) bool { return st.frames >= len(frames) })
	stopTcpdump(t, td)
	assert.Contains(t, out, fmt.Sprintf("sent %d frames", len(frames)))
	got, _ := dumpFrames(t, dump, newMAC)
	require.Len(t, got, len(frames))

	// tcpdump's own decoding names the new addresses only.
	text := ns.Run(t, "tcpdump", "-n", "-r", dump)
	assert.NotContains(t, text, "192.0.2.10")
	assert.NotContains(t, text, "192.0.2.20")
	assert.Contains(t, text, "198.18.0.10")
	assert.Contains(t, text, "198.18.0.20")

	lines, err := exec.Command("tshark", "-n", "-r", dump,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-e", "frame.number", "-e", "ip.src", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
		"-e", "udp.checksum.status", "-e", "icmp.checksum.status", "-e", "_ws.malformed", "-e", "arp.src.proto_ipv4").CombinedOutput()
	require.NoError(t, err, string(lines))
	n := 0
	for _, l := range strings.Split(strings.TrimRight(string(lines), "\n"), "\n") {
		if l == "" || strings.HasPrefix(l, "Running as") {
			continue
		}
		n++
		// Checksum statuses: 2 is good, 0 bad, 1 unverified.
		fields := strings.Split(l, "\t")
		require.Len(t, fields, 8, l)
		for i, name := range []string{"ip", "tcp", "udp", "icmp"} {
			for _, s := range strings.Split(fields[2+i], ",") {
				assert.NotEqual(t, "0", s, "frame %s: bad %s checksum", fields[0], name)
			}
		}
		assert.Empty(t, fields[6], "frame %s malformed", fields[0])
		if fields[1] == "" {
			assert.Equal(t, "198.18.0.10", fields[7], "frame %s: ARP sender", fields[0])
		} else {
			for _, a := range strings.Split(fields[1], ",") { // an ICMP error quotes a header
				assert.Contains(t, []string{"198.18.0.10", "198.18.0.20"}, a, "frame %s", fields[0])
			}
		}
	}
	assert.Equal(t, len(frames), n)
}

// ratedPPS reads the pps of a "Rated: X Bps, Y Mbps, Z pps" line (tcpreplay
// prints it, and so does simnet replay --to-tap).
func ratedPPS(tb testing.TB, out string) float64 {
	tb.Helper()
	m := regexp.MustCompile(`Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps`).FindStringSubmatch(out)
	require.NotNil(tb, m, "no Rated line in:\n%s", out)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(tb, err)
	return v
}

// BenchmarkToTapTopspeed sends the same capture (60-byte frames) out of
// the same tap with `simnet replay --to-tap --topspeed` and with
// `tcpreplay --topspeed`, and reports both rates in frames per second and
// their ratio (goal: >= 1). Each tool's own count is used; tcpreplay
// writes through a packet socket, so a process holds the tap open for it
// (a tap nobody holds has no carrier).
func BenchmarkToTapTopspeed(b *testing.B) {
	totapNeed(b, "tcpreplay")
	frames := make([][]byte, 10000)
	for i := range frames {
		frames[i] = ttFrame(b, "udp", 60, i)
	}
	capture := writeTTCapture(b, frames)
	ns := netns.New(b)
	ns.AddTap(b, "tap0", "192.0.2.1/24")
	bin := simnetBinary(b)
	var ours, theirs float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := ns.Run(b, bin, "replay", capture, "--to-tap", "tap0", "--topspeed", "--loop", "20")
		require.Contains(b, out, "Failed packets:            0\n")
		ours += ratedPPS(b, out)
		fd := openTapFD(b, ns, "tap0")
		tout := ns.Run(b, "tcpreplay", "-i", "tap0", "--topspeed", "--loop", "20", capture)
		_ = unix.Close(fd)
		require.Regexp(b, `Failed packets: +0\n`, tout)
		theirs += ratedPPS(b, tout)
		if i == 0 {
			b.Logf("simnet:\n%s\ntcpreplay:\n%s", out, tout)
		}
	}
	b.StopTimer()
	ours /= float64(b.N)
	theirs /= float64(b.N)
	b.ReportMetric(ours, "simnet-frames/s")
	b.ReportMetric(theirs, "tcpreplay-frames/s")
	if theirs > 0 && !math.IsInf(ours/theirs, 0) {
		b.ReportMetric(ours/theirs, "ratio")
	}
}
