package dnsstack

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/simnet-go/simnet/proto/dns"
	"github.com/stretchr/testify/require"
)

var (
	cliIP = netip.MustParseAddr("192.0.2.10")
	srvIP = netip.MustParseAddr("192.0.2.53")
)

// testZone is a small zone with a name whose TXT answer exceeds 512
// octets, so UDP answers for it are truncated.
var testZone = `$ORIGIN example.com.
$TTL 1h
@	IN	SOA	ns1 hostmaster 1 2h 15m 2w 300
	IN	NS	ns1
ns1	A	192.0.2.53
web	A	192.0.2.80
mail	A	192.0.2.25
big	TXT	"` + strings.Repeat("x", 200) + `" "` + strings.Repeat("y", 200) + `" "` + strings.Repeat("z", 200) + `"
`

func testServer(t testing.TB) *dns.Server {
	z, err := dns.ParseZone(strings.NewReader(testZone), "example.com.", "example.zone")
	require.NoError(t, err)
	s, err := dns.NewServer(z)
	require.NoError(t, err)
	return s
}

// recordUDP is a dns.UDPTransport that keeps what it is asked to send.
type recordUDP struct {
	sent [][]byte
}

func (f *recordUDP) SendUDP(_ netip.AddrPort, msg []byte) error {
	f.sent = append(f.sent, append([]byte(nil), msg...))
	return nil
}
