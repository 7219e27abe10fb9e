package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/hostrole"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/sim"
)

// Addresses of the simulated host-role tests (RFC 2544 benchmarking range).
var (
	hrOurAddr  = netip.MustParseAddr("198.18.0.1")
	hrPeerAddr = netip.MustParseAddr("198.18.0.2")
	hrOurMAC   = [6]byte{0x02, 0, 0, 0, 0x10, 1}
	hrPeerMAC  = [6]byte{0x02, 0, 0, 0, 0x10, 2}
)

// recordSimEcho runs a simulated echo exchange between our stack (echo
// server on port 7 at hrOurAddr) and a gVisor client over a lossy link,
// with captures on, and returns the path of our host's capture.
func recordSimEcho(t *testing.T, imp impair.Config, size int) string {
	t.Helper()
	return recordSimEchoAt(t, imp, size, false)
}

// IPv6 addresses of the IPv6 host-role test.
var (
	hrOurAddr6  = netip.MustParseAddr("2001:db8:18::1")
	hrPeerAddr6 = netip.MustParseAddr("2001:db8:18::2")
)

// recordSimEchoAt is recordSimEcho over IPv4 or, with v6, over IPv6 only
// (neighbours found by Neighbor Discovery).
func recordSimEchoAt(t *testing.T, imp impair.Config, size int, v6 bool) string {
	t.Helper()
	dir := t.TempDir()
	w, err := sim.New(sim.Config{Seed: 7, CaptureDir: dir})
	require.NoError(t, err)
	l, err := w.Connect("wire", sim.Iface{Host: "simnet", Name: "eth0"}, sim.Iface{Host: "gvisor", Name: "eth0"},
		sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	h := stack.New(stack.Config{Name: "simnet", Clock: w.Clock(), Rand: w.Rand("host/simnet")})
	ifc := h.AddInterface("eth0", ether.Addr(hrOurMAC), l.A())
	ours, pcfg := hrOurAddr, gvisorpeer.Config{Addr: hrPeerAddr, PrefixLen: 24, MAC: hrPeerMAC, Start: w.Now()}
	if v6 {
		ours = hrOurAddr6
		ifc.EnableIPv6(netip.PrefixFrom(hrOurAddr6, 64))
		pcfg.Addr, pcfg.Addr6 = netip.MustParseAddr("198.18.99.2"), netip.PrefixFrom(hrPeerAddr6, 64)
	} else {
		ifc.SetAddress(netip.PrefixFrom(hrOurAddr, 24))
	}
	ts := tcp.New(h, w.Clock(), w.Rand("host/simnet/tcp"), tcp.Config{})
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	_, err = tcpapps.StartEcho(ts, netip.AddrPortFrom(netip.IPv4Unspecified(), 7), 16)
	require.NoError(t, err)
	peer, err := gvisorpeer.New(pcfg)
	require.NoError(t, err)
	peer.Attach(l.B())
	peer.Drive(w.Clock(), time.Millisecond)
	t.Cleanup(peer.Close)

	data := gvisorpeer.Pattern(size)
	res := make(chan error, 1)
	got := make(chan []byte, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := peer.Dial(ctx, netip.AddrPortFrom(ours, 7))
		if err != nil {
			res <- err
			return
		}
		go func() {
			b, _ := io.ReadAll(c)
			got <- b
		}()
		if _, err := c.Write(data); err != nil {
			res <- err
			return
		}
		res <- c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	var echoed []byte
	end := w.Now().Add(10 * time.Minute)
	for echoed == nil && w.Now() < end && w.Step() {
		select {
		case echoed = <-got:
		default:
		}
	}
	require.NoError(t, <-res)
	require.True(t, bytes.Equal(data, echoed), "echo byte-exact (%d of %d bytes)", len(echoed), size)
	w.RunFor(5 * time.Second) // let both sides finish closing
	require.NoError(t, w.Close())
	return filepath.Join(dir, "simnet.pcapng")
}

// TestHostRoleReplayReproducesSimulatedHost records our echo server against
// a gVisor client over a lossy simulated link, then replays the capture
// with our stack in the server's role: what our stack sends must be what the
// recorded stack sent, segment for segment (an empty diff).
func TestHostRoleReplayReproducesSimulatedHost(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		imp  impair.Config
	}{
		{"clean", impair.Config{Delay: 5 * time.Millisecond}},
		{"loss3", impair.Config{Delay: 5 * time.Millisecond, Loss: 0.03}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capture := recordSimEcho(t, tc.imp, 200<<10)
			out := t.TempDir()
			res, err := hostrole.Run(capture, hostrole.Config{As: hrOurAddr, OutDir: out, EchoPort: 7})
			require.NoError(t, err)
			assert.Equal(t, ether.Addr(hrOurMAC).String(), res.Profile.MAC)
			assert.Equal(t, netip.MustParsePrefix("198.18.0.0/24"), res.Profile.Prefix)
			assert.Equal(t, []uint16{7}, res.Profile.TCPPorts)
			require.NotEmpty(t, res.Report.Flows)
			var tcpFlows int
			for _, f := range res.Report.Flows {
				if f.Proto == diff.TCP {
					tcpFlows++
					assert.Greater(t, f.Matched, 100, f.Flow)
				}
			}
			assert.Equal(t, 1, tcpFlows)
			var sum bytes.Buffer
			require.NoError(t, res.Report.WriteSummary(&sum, 10))
			assert.True(t, res.Report.Empty(), "diff not empty:\n%s", sum.String())
			t.Logf("stats %+v\n%s", res.Stats, sum.String())
			assert.FileExists(t, filepath.Join(out, hostrole.CaptureFile))
			assert.FileExists(t, filepath.Join(out, hostrole.DiffFile))
		})
	}
}

// TestHostRoleReplayIPv6 is TestHostRoleReplayReproducesSimulatedHost over
// IPv6: the profile is learnt from an IPv6-only capture (a /64, the peer
// as a static neighbour), the peer's Neighbor Solicitations and segments
// are fed, and our stack's segments match the recorded ones.
func TestHostRoleReplayIPv6(t *testing.T) {
	t.Parallel()
	capture := recordSimEchoAt(t, impair.Config{Delay: 5 * time.Millisecond}, 64<<10, true)
	res, err := hostrole.Run(capture, hostrole.Config{As: hrOurAddr6, EchoPort: 7})
	require.NoError(t, err)
	assert.Equal(t, ether.Addr(hrOurMAC).String(), res.Profile.MAC)
	assert.Equal(t, netip.MustParsePrefix("2001:db8:18::/64"), res.Profile.Prefix)
	assert.Equal(t, []uint16{7}, res.Profile.TCPPorts)
	require.NotEmpty(t, res.Profile.Neighbors)
	assert.Equal(t, hrPeerAddr6, res.Profile.Neighbors[0].IP)
	var tcpFlows int
	for _, f := range res.Report.Flows {
		if f.Proto == diff.TCP {
			tcpFlows++
			assert.Greater(t, f.Matched, 40, f.Flow)
		}
	}
	assert.Equal(t, 1, tcpFlows)
	var sum bytes.Buffer
	require.NoError(t, res.Report.WriteSummary(&sum, 10))
	assert.True(t, res.Report.Empty(), "diff not empty:\n%s", sum.String())
	t.Logf("stats %+v\n%s", res.Stats, sum.String())
}

// captureTotals returns the number of frames of a capture and the sum of
// their lengths.
func captureTotals(t *testing.T, path string) (int, int64) {
	t.Helper()
	r, err := input.Open(path)
	require.NoError(t, err)
	defer r.Close()
	var f input.Frame
	n, bytes := 0, int64(0)
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			return n, bytes
		}
		require.NoError(t, err)
		n++
		bytes += int64(len(f.Data))
	}
}

// startTcpdump runs tcpdump on dev in ns writing to path, and waits until it
// listens.
func startTcpdump(t *testing.T, ns *netns.NS, dev, path string, args ...string) *netns.Proc {
	t.Helper()
	p := ns.Start(t, "tcpdump", append([]string{"-i", dev, "-n", "-U", "--immediate-mode", "-B", "16384", "-s", "0", "-w", path}, args...)...)
	p.WaitOutput(t, "listening on", 15*time.Second)
	return p
}

// stopTcpdump stops tcpdump and waits until it has written its file.
func stopTcpdump(t *testing.T, p *netns.Proc) {
	t.Helper()
	require.NoError(t, p.Signal(os.Interrupt))
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Stop()
	}
}

// TestReplayToTap sends a simulator capture out of a tap in a namespace
// with `simnet replay --to-tap --speed 0`; tcpdump on the tap sees every
// frame, byte for byte in total.
func TestReplayToTap(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "tcpdump")
	ns := netns.New(t)
	ns.AddTap(t, "tap0", "192.0.2.1/24")
	capture := recordSimEcho(t, impair.Config{Delay: time.Millisecond}, 32<<10)
	wantN, wantBytes := captureTotals(t, capture)
	require.Greater(t, wantN, 20)

	dump := filepath.Join(t.TempDir(), "tap0.pcap")
	td := startTcpdump(t, ns, "tap0", dump, "-Q", "in")
	out := ns.Run(t, simnetBinary(t), "replay", capture, "--to-tap", "tap0", "--speed", "0")
	assert.Contains(t, out, fmt.Sprintf("sent %d frames (%d bytes) to tap0", wantN, wantBytes))
	waitCapture(t, dump, 10*time.Second, fmt.Sprintf("%d frames", wantN), func(st captureStats) bool { return st.frames >= wantN })
	stopTcpdump(t, td)
	gotN, gotBytes := captureTotals(t, dump)
	assert.Equal(t, wantN, gotN, "frames seen on tap0")
	assert.Equal(t, wantBytes, gotBytes, "bytes seen on tap0")
}

// linuxEchoExplained lists the kinds of difference between Linux's TCP and
// ours that TestHostRoleReplayLinuxServer accepts, and why (docs/replay.md
// has the same list):
//   - window: Linux advertises a window that grows with its receive-buffer
//     autotuning (tcp_rmem); ours advertises the free space of its buffer.
//   - options: the SYN-ACKs offer different window shifts (Linux's follows
//     its tcp_rmem maximum, ours our receive buffer).
//   - ack, missing, extra: Linux's delayed-ACK and quick-ACK heuristics
//     differ from ours, so the number and the position of pure
//     acknowledgements differ; data segments may be cut at other
//     boundaries (the Python loop echoes each recv, whose size depends on
//     timing) as long as the byte streams agree, and a FIN may ride on the
//     last data segment on one side and stand alone on the other, at the
//     same stream position; SYN and RST segments must match.
//   - flags: PSH is set by Linux on the last segment of each write; ours sets
//     it on the last segment of what is sent.
//
// Behind most of them is the application: our echo answers each segment as
// it arrives, while the Python server read the whole request before
// answering, so Linux acknowledged the request with pure ACKs and then sent
// the echo, where ours piggybacks its acknowledgements on the echo.
//   - retransmission: on a loaded machine the recording's timing varies
//     (the peer's ACKs are fed at their recorded instants), so one side may
//     resend a segment the other did not; the byte streams must still agree.
var linuxEchoExplained = map[diff.Kind]bool{
	diff.Window: true, diff.Options: true, diff.Ack: true, diff.Missing: true, diff.Extra: true, diff.Flags: true,
	diff.Retransmission: true,
}

// linuxEchoServer is a TCP echo server on port 7 on Linux's stack (ncat
// --exec /bin/cat drops the echo when the client half-closes first). It
// reads the whole request before answering, so Linux's segmentation of the
// answer does not depend on how the request's reads were timed.
const linuxEchoServer = `
import socket
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("0.0.0.0", 7))
l.listen(8)
print("ready")
while True:
    c, _ = l.accept()
    req = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        req += b
    c.sendall(req)
    c.close()
`

// TestHostRoleReplayLinuxServer records a Linux TCP echo server (a Python
// socket loop) serving a client across a veth pair between two
// namespaces, replays the capture with our stack in the server's role, and
// checks that every difference is of an explained kind: no data, SYN, FIN
// or RST segment missing or extra, no payload difference.
func TestHostRoleReplayLinuxServer(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "tcpdump", "python3")
	srv, cli := vethPair(t)

	dir := t.TempDir()
	capture := filepath.Join(dir, "linux.pcap")
	td := startTcpdump(t, srv, "veth0", capture, "tcp or arp")
	echo := srv.Start(t, "python3", "-u", "-c", linuxEchoServer)
	echo.WaitOutput(t, "ready", 15*time.Second)
	const size = 64 << 10
	client := `
import socket, sys, time
data = bytes((i * 7) % 251 for i in range(` + fmt.Sprint(size) + `))
for attempt in range(100):
    try:
        s = socket.create_connection(("192.0.2.1", 7), timeout=10)
        break
    except OSError:
        time.sleep(0.05)
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
s.close()
print("echoed", len(got), got == data)
`
	out := cli.Run(t, "python3", "-c", client)
	require.Contains(t, out, fmt.Sprintf("echoed %d True", size))
	waitCapture(t, capture, 10*time.Second, "the close of the connection", closedConns(1))
	stopTcpdump(t, td)

	res, err := hostrole.Run(capture, hostrole.Config{As: netip.MustParseAddr("192.0.2.1"), OutDir: filepath.Join(dir, "out"), EchoPort: 7})
	require.NoError(t, err)
	var sum bytes.Buffer
	require.NoError(t, res.Report.WriteSummary(&sum, 15))
	t.Logf("profile %+v stats %+v\n%s", res.Profile, res.Stats, sum.String())
	assert.Equal(t, netip.MustParsePrefix("192.0.2.0/24"), res.Profile.Prefix)
	assert.Equal(t, []uint16{7}, res.Profile.TCPPorts)
	require.Len(t, res.Report.Flows, 1)
	f := res.Report.Flows[0]
	assert.Greater(t, f.Matched, 40, "most segments pair up")
	for _, k := range res.Report.KindsSeen() {
		assert.True(t, linuxEchoExplained[k], "unexplained kind of difference %q", k)
	}
	assert.Zero(t, f.Counts[diff.Payload], "payload differences")
	if f.Counts[diff.Retransmission] > 0 {
		assert.Zero(t, f.Counts[diff.Stream], "retransmissions and the byte streams differ")
	}
	assert.Zero(t, f.Omitted, "all differences listed")
	// A FIN listed as missing on one side must be listed as extra on the
	// other at the same stream position: Linux sent it alone, ours rode on
	// the last data segment (or the reverse), depending on when the
	// client's FIN reached the recorded server.
	finAt := map[diff.Kind]map[uint32]bool{diff.Missing: {}, diff.Extra: {}}
	for _, d := range f.Differences {
		for _, s := range []*diff.Segment{d.Recorded, d.Ours} {
			if s != nil && finAt[d.Kind] != nil && s.Flags&diff.FlagFIN != 0 {
				finAt[d.Kind][s.Seq+uint32(s.Len)] = true
			}
		}
	}
	assert.Equal(t, finAt[diff.Missing], finAt[diff.Extra], "FINs at other stream positions")
	for _, d := range f.Differences {
		for _, s := range []*diff.Segment{d.Recorded, d.Ours} {
			if s != nil && (d.Kind == diff.Missing || d.Kind == diff.Extra) {
				// A data segment may be cut at other boundaries than
				// Linux's (the Python loop echoes each recv, whose size
				// depends on timing), but the byte streams must agree.
				if s.Len > 0 {
					assert.Zero(t, f.Counts[diff.Stream], "%s: data segment %s and the byte streams differ", d.Kind, s)
				}
				assert.Zero(t, s.Flags&(diff.FlagSYN|diff.FlagRST), "%s: %s", d.Kind, s)
			}
		}
		if d.Kind == diff.Flags {
			assert.Equal(t, d.Recorded.Flags&^diff.FlagPSH, d.Ours.Flags&^diff.FlagPSH, "only PSH differs: %s", d.Detail)
		}
	}
}

// TestReplayCLIHostRole runs `simnet replay --as` on a simulator capture:
// it prints an empty diff and writes the outputs.
func TestReplayCLIHostRole(t *testing.T) {
	t.Parallel()
	capture := recordSimEcho(t, impair.Config{Delay: time.Millisecond}, 16<<10)
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(simnetBinary(t), "replay", capture, "--as", hrOurAddr.String(), "--out", out, "--echo", "7")
	stdout, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", stdout)
	assert.Contains(t, string(stdout), "host 198.18.0.1 mac 02:00:00:00:10:01 prefix 198.18.0.0/24")
	assert.Contains(t, string(stdout), "no differences in 1 flows")
	for _, name := range []string{hostrole.CaptureFile, hostrole.DiffFile, hostrole.SummaryFile} {
		assert.FileExists(t, filepath.Join(out, name))
	}

	cmd = exec.Command(simnetBinary(t), "replay", capture, "--as", "not-an-address", "--out", out)
	stdout, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, string(stdout), "not a unicast IPv4 or IPv6 address")
}

// vethPair makes two namespaces joined by a veth pair, 192.0.2.1/24 on the
// server side and 192.0.2.2/24 on the client side, without segmentation
// offload (tcpdump must see the segments that go on the wire).
func vethPair(t *testing.T) (srv, cli *netns.NS) {
	t.Helper()
	srv, cli = netns.New(t), netns.New(t)
	srv.Run(t, "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", cli.Name())
	for _, side := range []struct {
		ns   *netns.NS
		dev  string
		cidr string
	}{{srv, "veth0", "192.0.2.1/24"}, {cli, "veth1", "192.0.2.2/24"}} {
		side.ns.Run(t, "ip", "link", "set", side.dev, "gso_max_segs", "1", "gso_max_size", "1500")
		side.ns.Run(t, "ip", "addr", "add", side.cidr, "dev", side.dev)
		side.ns.Run(t, "ip", "link", "set", side.dev, "up")
	}
	return srv, cli
}

// TestHostRoleReplayLinuxHTTPServer records Python's http.server (HTTP/1.0,
// on Linux's TCP) sending a 16000-byte file to curl, and replays it with our
// HTTP server on the same file. The response heads differ (status line
// version, Server, Content-type, Last-Modified), so the byte streams part in
// the head, but the body is the same (their common suffix), and the
// connection opens the same way. Explained kinds, beyond the echo test's:
//   - stream: the response heads differ;
//   - missing/extra data segments: the head lengths differ, so every later
//     segment boundary shifts;
//   - extra FIN and RST: Python closes after the response (HTTP/1.0), ours
//     keeps the connection until the client's FIN, and the recorded client
//     never acknowledges our FIN, which is retransmitted and reset.
func TestHostRoleReplayLinuxHTTPServer(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "tcpdump", "python3", "curl")
	srv, cli := vethPair(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	require.NoError(t, os.MkdirAll(root, 0o755))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	require.NoError(t, os.WriteFile(filepath.Join(root, "data.txt"), body, 0o644))
	capture := filepath.Join(dir, "linux-http.pcap")
	td := startTcpdump(t, srv, "veth0", capture, "tcp or arp")
	web := srv.Start(t, "python3", "-u", "-m", "http.server", "80", "--bind", "192.0.2.1", "--directory", root)
	web.WaitOutput(t, "Serving HTTP", 15*time.Second)
	out := cli.Run(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://192.0.2.1/data.txt")
	require.Equal(t, "200 16000", out)
	waitCapture(t, capture, 10*time.Second, "the close of the connection", closedConns(1))
	stopTcpdump(t, td)

	res, err := hostrole.Run(capture, hostrole.Config{As: netip.MustParseAddr("192.0.2.1"), OutDir: filepath.Join(dir, "out"),
		HTTPPort: 80, HTTPRoot: os.DirFS(root)})
	require.NoError(t, err)
	var sum bytes.Buffer
	require.NoError(t, res.Report.WriteSummary(&sum, 40))
	t.Logf("stats %+v\n%s", res.Stats, sum.String())
	require.Len(t, res.Report.Flows, 1)
	f := res.Report.Flows[0]
	require.NotNil(t, f.Stream, "the heads differ")
	assert.Less(t, f.Stream.Offset, 200, "the streams part in the head")
	assert.GreaterOrEqual(t, f.Stream.CommonSuffix, len(body), "same body")
	assert.Greater(t, f.Matched, 0)
	explained := map[diff.Kind]bool{diff.Stream: true, diff.Missing: true, diff.Extra: true, diff.Retransmission: true,
		diff.Window: true, diff.Options: true, diff.Ack: true, diff.Flags: true}
	for _, k := range res.Report.KindsSeen() {
		assert.True(t, explained[k], "unexplained kind of difference %q", k)
	}
	assert.Zero(t, f.Counts[diff.Payload], "paired segments carry the same bytes")
	for _, d := range f.Differences {
		if d.Recorded != nil && d.Kind == diff.Missing {
			assert.Zero(t, d.Recorded.Flags&(diff.FlagSYN|diff.FlagRST), "%s", d.Detail)
		}
		if d.Ours != nil && d.Kind == diff.Extra {
			assert.Zero(t, d.Ours.Flags&diff.FlagSYN, "%s", d.Detail)
		}
	}
}
