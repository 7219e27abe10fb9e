package scenario

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
)

// frameKinds counts the ARP and ICMP frames of a pcapng capture.
func frameKinds(t *testing.T, path string) (arp, icmp int) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	for {
		b, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return arp, icmp
		}
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(b), 14)
		switch binary.BigEndian.Uint16(b[12:]) {
		case 0x0806:
			arp++
		case 0x0800:
			if len(b) >= 34 && b[23] == 1 {
				icmp++
			}
		}
	}
}

// TestPingGroup runs examples/scale/ping-10k.yaml with 1,000 clients
// instead of 10,000, capturing the server and client1: every client's
// ping is answered, and the captures hold no ARP beyond what RFC 826 and
// RFC 5227 call for: each host's two announcements, and one request from
// each client for the server with its reply (the server learns each
// client from its request; nothing is retried). On one LAN every host
// receives every broadcast: client1's capture holds the announcements and
// requests of all the others.
func TestPingGroup(t *testing.T) {
	t.Parallel()
	const n = 1000
	raw, err := os.ReadFile("../../examples/scale/ping-10k.yaml")
	require.NoError(t, err)
	src := string(raw)
	require.Contains(t, src, "count: 10000")
	require.Contains(t, src, "capture: {hosts: [], switches: []}")
	src = strings.Replace(src, "count: 10000", "count: 1000", 1)
	src = strings.Replace(src, "capture: {hosts: [], switches: []}", "capture: {hosts: [server, client1], switches: []}", 1)
	s, err := Parse("ping-1k.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, s.Hosts, n+1)
	dir := t.TempDir()
	rep, err := Run(s, Options{OutDir: dir, Format: pcap.PcapNG})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Failed())
	require.Len(t, rep.Expectations, n)
	for _, e := range rep.Expectations {
		require.True(t, e.Passed, "%s", e)
	}
	require.Equal(t, "server", rep.Hosts[0].Name)
	assert.Equal(t, uint64(n), rep.Hosts[0].IP.EchoRequestsIn)
	assert.Equal(t, uint64(n), rep.Hosts[0].IP.EchoRepliesOut)
	assert.ElementsMatch(t, []string{"server.pcapng", "client1.pcapng"}, rep.Captures)

	arp, icmp := frameKinds(t, filepath.Join(dir, "server.pcapng"))
	// In: n requests for the server, 2n announcements; out: n replies
	// and the server's 2 announcements.
	assert.Equal(t, 4*n+2, arp, "ARP frames in the server's capture")
	assert.Equal(t, 2*n, icmp, "ICMP frames in the server's capture: every echo request and reply")
	arp, icmp = frameKinds(t, filepath.Join(dir, "client1.pcapng"))
	// In: 2 announcements from each of the n other hosts and the other
	// clients' n-1 requests for the server, the server's reply; out:
	// 2 announcements and 1 request.
	assert.Equal(t, 2*n+(n-1)+1+3, arp, "ARP frames in client1's capture")
	assert.Equal(t, 2, icmp, "ICMP frames in client1's capture")
}
