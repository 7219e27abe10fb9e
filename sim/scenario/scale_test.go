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
// ping is answered, and the captures hold no ARP beyond what RFC 826
// calls for: one request from each client for the server and its reply.
// Nobody announces a static address (Linux's arp_notify = 0), the server
// learns each client from its request (RFC 826's merge rule) instead of
// asking back, and nothing is retried, so the server's capture holds as
// many ICMP frames as ARP frames. On one LAN every host receives every
// broadcast: client1's capture holds the other clients' requests.
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
	// In: n requests for the server; out: n replies.
	assert.Equal(t, 2*n, arp, "ARP frames in the server's capture")
	assert.GreaterOrEqual(t, icmp, arp, "the scenario's traffic is not outnumbered by ARP")
	assert.Equal(t, 2*n, icmp, "ICMP frames in the server's capture: every echo request and reply")
	arp, icmp = frameKinds(t, filepath.Join(dir, "client1.pcapng"))
	// In: the other clients' n-1 requests for the server and the
	// server's reply; out: 1 request.
	assert.Equal(t, (n-1)+1+1, arp, "ARP frames in client1's capture")
	assert.Equal(t, 2, icmp, "ICMP frames in client1's capture")
}
