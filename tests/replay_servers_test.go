package tests

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/hostrole"
	"github.com/simnet-go/simnet/replay/input"
)

// serversZone is the zone dnsmasq answers from in the servers capture
// (--host-record, --local) and our DNS server is given.
const serversZone = `$ORIGIN example.
$TTL 0
@   IN SOA ns.example. hostmaster.example. 1 3600 600 86400 0
www IN A 192.0.2.80
`

// udhcpcScript configures the leased address, so that udhcpc can unicast
// its RELEASE from it.
const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew) ip addr add "$ip/${mask:-24}" dev "$interface" ;;
deconfig) ip addr flush dev "$interface" scope global label "$interface" 2>/dev/null; ip addr add 192.0.2.2/24 dev "$interface" ;;
esac
exit 0
`

// echoClient sends 20000 bytes to the ncat echo server and reads them back
// before closing (ncat 7.93 drops the echo of a client that half-closes).
const echoClient = `
import socket
d = bytes((i * 7) % 251 for i in range(20000))
s = socket.create_connection(("192.0.2.1", 7), timeout=10)
s.sendall(d)
g = b""
while len(g) < len(d):
    b = s.recv(65536)
    if not b:
        break
    g += b
s.close()
print("echoed", len(g), g == d)
`

// countDHCP counts the DHCP messages of type mt in the capture at path.
func countDHCP(path string, mt dhcp.MessageType) int {
	r, err := input.Open(path)
	if err != nil {
		return 0
	}
	defer r.Close()
	n := 0
	var f input.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) || (err != nil && !isFrameErr(err)) {
			return n
		}
		if err != nil || f.Proto != ether.TypeIPv4 {
			continue
		}
		h, err := ipv4.ParseUnchecked(f.Network)
		if err != nil || h.Protocol() != 17 {
			continue
		}
		u, err := udp.Parse(h.Payload())
		var m dhcp.Message
		if err == nil && m.Unmarshal(u.Payload()) == nil && m.Type() == mt {
			n++
		}
	}
}

// icmpFrom counts the ICMP messages addr sent in the capture at path.
func icmpFrom(t *testing.T, path string, addr netip.Addr) int {
	t.Helper()
	r, err := input.Open(path)
	require.NoError(t, err)
	defer r.Close()
	n := 0
	var f input.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			return n
		}
		require.NoError(t, err)
		if f.Proto != ether.TypeIPv4 {
			continue
		}
		if h, err := ipv4.ParseUnchecked(f.Network); err == nil && h.Src() == addr && h.Protocol() == 1 {
			n++
		}
	}
}

// recordLinuxServers records, on the server side of a veth pair, a Linux
// host running Python's http.server (port 80), an ncat echo server (port
// 7) and dnsmasq (DNS on 53, DHCP on 67) while a client namespace gets a
// lease with udhcpc, fetches a file with curl, echoes 20000 bytes, asks
// dig twice and releases its lease. It returns the capture, the web root
// and the zone file.
func recordLinuxServers(t *testing.T) (capture, root, zone string) {
	netns.RequireTools(t, "tcpdump", "python3", "curl", "ncat", "dnsmasq", "dig", "udhcpc")
	srv, cli := vethPair(t)
	dir := t.TempDir()
	root = filepath.Join(dir, "www")
	require.NoError(t, os.MkdirAll(root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "data.txt"), bytes.Repeat([]byte("0123456789abcdef"), 1000), 0o644))
	zone = filepath.Join(dir, "example.zone")
	require.NoError(t, os.WriteFile(zone, []byte(serversZone), 0o644))
	script := filepath.Join(dir, "udhcpc.sh")
	require.NoError(t, os.WriteFile(script, []byte(udhcpcScript), 0o755))

	capture = filepath.Join(dir, "servers.pcap")
	td := startTcpdump(t, srv, "veth0", capture, "ip or arp")
	web := srv.Start(t, "python3", "-u", "-m", "http.server", "80", "--bind", "192.0.2.1", "--directory", root)
	srv.Start(t, "ncat", "-l", "-k", "-e", "/bin/cat", "192.0.2.1", "7")
	dm := srv.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-ping",
		"--interface=veth0", "--bind-interfaces", "--log-dhcp", "--log-facility=-",
		"--host-record=www.example,192.0.2.80", "--local=/example/",
		"--dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,2m",
		"--dhcp-option=option:router,192.0.2.1", "--dhcp-option=option:dns-server,192.0.2.1",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "dnsmasq.pid"))
	web.WaitOutput(t, "Serving HTTP", 15*time.Second)
	dm.WaitOutput(t, "DHCP, IP range", 15*time.Second)

	dc := cli.Start(t, "udhcpc", "-i", "veth1", "-f", "-R", "-n", "-t", "5", "-T", "1", "-s", script)
	dc.WaitOutput(t, "obtained", 20*time.Second)
	out := cli.Run(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://192.0.2.1/data.txt")
	require.Equal(t, "200 16000", out)
	require.Contains(t, cli.Run(t, "python3", "-c", echoClient), "echoed 20000 True")
	require.Equal(t, "192.0.2.80", strings.TrimSpace(cli.Run(t, "dig", "+short", "+tries=1", "+time=3", "@192.0.2.1", "www.example", "A")))
	cli.Run(t, "dig", "+tries=1", "+time=3", "@192.0.2.1", "nope.example", "A")
	require.NoError(t, dc.Signal(syscall.SIGTERM)) // -R: release the lease on exit
	select {
	case <-dc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("udhcpc did not exit on SIGTERM")
	}
	deadline := time.Now().Add(10 * time.Second)
	for countDHCP(capture, dhcp.Release) == 0 {
		require.True(t, time.Now().Before(deadline), "no DHCP RELEASE in the capture")
		time.Sleep(20 * time.Millisecond)
	}
	stopTcpdump(t, td)
	return capture, root, zone
}

// TestHostRoleReplayLinuxServers is the must-show of issue 16 item 1 and
// 2: a Linux host serving HTTP, echo, DNS and DHCP, replayed with the
// services learnt from the capture, gives a short list of causes, each
// explained in docs/replay.md; our DHCP server answers every DISCOVER and
// REQUEST the recorded one answered; every ICMP message our host sent is
// in the report. Without the learnt services, the port unreachable our
// host sends for the client's DHCP RELEASE is reported as a cause.
func TestHostRoleReplayLinuxServers(t *testing.T) {
	t.Parallel()
	capture, root, zonePath := recordLinuxServers(t)
	zf, err := os.Open(zonePath)
	require.NoError(t, err)
	zone, err := dns.ParseZone(zf, "", zonePath)
	require.NoError(t, zf.Close())
	require.NoError(t, err)
	as := netip.MustParseAddr("192.0.2.1")
	out := filepath.Join(t.TempDir(), "out")
	res, err := hostrole.Run(capture, hostrole.Config{As: as, OutDir: out, LearnServices: true,
		HTTPRoot: os.DirFS(root), Zones: []*dns.Zone{zone}})
	require.NoError(t, err)
	var sum bytes.Buffer
	require.NoError(t, res.Report.WriteSummary(&sum, 5))
	t.Logf("services %v\n%s", res.Services, sum.String())

	served := map[string]bool{}
	for _, u := range res.Services {
		if u.Served {
			served[u.Service.String()] = true
		}
	}
	for _, s := range []string{"http on tcp/80", "echo on tcp/7", "dns on udp/53", "dhcp on udp/67"} {
		assert.True(t, served[s], "%s learnt and served: %v", s, res.Services)
	}
	require.Len(t, res.Profile.DHCP, 1)
	assert.Equal(t, uint32(120), res.Profile.DHCP[0].LeaseTime)
	assert.Equal(t, as, res.Profile.DHCP[0].Router)

	// A cause list a person can read in one screen, every kind explained.
	assert.LessOrEqual(t, len(res.Report.Causes), 15, "causes")
	docs, err := os.ReadFile("../docs/replay.md")
	require.NoError(t, err)
	total := 0
	for _, c := range res.Report.Causes {
		total += c.Count
		assert.Contains(t, string(docs), "| `"+string(c.Kind)+"` |", "cause kind %q explained in docs/replay.md", c.Kind)
		assert.NotEmpty(t, c.Reason)
		assert.NotEqual(t, diff.CauseNotReplayed, c.Kind, "%s", c.Reason)
	}
	assert.Equal(t, res.Report.Total(), total, "every difference has a cause")

	flows := map[string]*diff.FlowReport{}
	for i := range res.Report.Flows {
		f := &res.Report.Flows[i]
		flows[f.Flow] = f
	}
	// DHCP: our server answered every DISCOVER and REQUEST the recorded
	// one did, with the same message types and addresses.
	offers, acks := countDHCP(capture, dhcp.Offer), countDHCP(capture, dhcp.Ack)
	require.Positive(t, offers)
	require.Positive(t, acks)
	d := flows["udp 192.0.2.1:67 <-> DHCP clients"]
	require.NotNil(t, d, "the DHCP flow")
	assert.Equal(t, offers+acks, d.Recorded)
	assert.Equal(t, d.Recorded, d.Ours, "our DHCP server answered as often")
	assert.Zero(t, d.Counts[diff.Missing]+d.Counts[diff.Extra])
	for _, df := range d.Differences {
		for _, f := range df.Fields {
			assert.False(t, strings.HasPrefix(f, "message type") || strings.HasPrefix(f, "yiaddr"), "%s", f)
		}
	}
	// The echo streams are identical; the HTTP response differs in its
	// head only.
	var echo, web int
	for name, f := range flows {
		switch {
		case strings.HasPrefix(name, "tcp 192.0.2.1:7 "):
			echo++
			assert.True(t, f.StreamsIdentical, "%s: streams identical", name)
		case strings.HasPrefix(name, "tcp 192.0.2.1:80 "):
			web++
			require.NotNil(t, f.Stream, name)
			assert.GreaterOrEqual(t, f.Stream.CommonSuffix, 16000, "same body")
		}
	}
	assert.Equal(t, 1, echo)
	assert.Equal(t, 1, web)

	// No ICMP message our host sent goes unreported: each is paired with
	// a recorded one or listed.
	ours := icmpFrom(t, filepath.Join(out, hostrole.CaptureFile), as)
	if f := flows["icmp 192.0.2.1"]; f != nil {
		assert.Equal(t, ours, f.Ours)
	} else {
		assert.Equal(t, icmpFrom(t, capture, as), ours, "no ICMP flow: ours and the recorded ones pair up")
	}

	// Without the learnt services our host answers the client's unicast
	// RELEASE with a port unreachable: the report says so.
	bare, err := hostrole.Run(capture, hostrole.Config{As: as})
	require.NoError(t, err)
	found := false
	for _, c := range bare.Report.Causes {
		if c.Kind == diff.CauseICMP && strings.Contains(c.Reason, "port unreachable for udp 192.0.2.1:67") {
			found = true
		}
	}
	assert.True(t, found, "the port unreachable for the RELEASE is a cause: %+v", bare.Report.Causes)
}
