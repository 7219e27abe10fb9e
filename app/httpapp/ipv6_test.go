package httpapp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
)

const testZone6 = `$TTL 300
@	SOA	ns hostmaster 1 3600 600 86400 60
	NS	ns
ns	AAAA	2001:db8::1
v6	AAAA	2001:db8::1
both	A	10.0.0.1
both	AAAA	2001:db8::1
`

// HTTP over IPv6: a bracketed literal URL, and names resolved through a
// DNS server reached over IPv6, by AAAA record when there is no A record
// (or first with PreferIPv6).
func TestClientIPv6(t *testing.T) {
	t.Parallel()
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	n.server.host.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::1/64"))
	n.client.host.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::2/64"))
	dnsServe(t, n, testZone6)
	startServer(t, n, ServerConfig{Name: "web"})
	dnsSrv := []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:53")}
	for _, tc := range []struct {
		url, addr string
		prefer6   bool
	}{
		{"http://[2001:db8::1]/", "[2001:db8::1]:80", false},
		{"http://v6.example.com/", "[2001:db8::1]:80", false},
		{"http://both.example.com/", "10.0.0.1:80", false},
		{"http://both.example.com/", "[2001:db8::1]:80", true},
	} {
		cfg := ClientConfig{Name: "get", URL: tc.url, Count: 2, DNSServers: dnsSrv}
		if tc.prefer6 {
			d, err := NewDNSResolver(n.client.env, dnsSrv...)
			require.NoError(t, err)
			d.PreferIPv6 = true
			cfg.Resolver = d
		}
		r := get(t, n, cfg)
		require.Empty(t, r.Error, tc.url)
		assert.Equal(t, tc.addr, r.Address, tc.url)
		assert.Equal(t, 200, r.Status, tc.url)
		assert.Equal(t, 2, r.Requests, tc.url)
		assert.Equal(t, sha(DefaultPage()), r.BodySHA256, tc.url)
	}
}
