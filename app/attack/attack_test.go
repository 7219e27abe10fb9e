package attack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// Each attack refuses a configuration it cannot run, naming itself.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	v4 := netip.MustParseAddrPort("10.0.0.1:80")
	v6 := netip.MustParseAddrPort("[2001:db8::1]:80")
	for _, tc := range []struct {
		name string
		make func() error
		ok   bool
	}{
		{"syn_flood", func() error {
			_, err := NewSYNFlood(SYNFloodConfig{Name: "f", Target: v4, Rate: 50000, Count: 1})
			return err
		}, true},
		{"syn_flood ipv6", func() error {
			_, err := NewSYNFlood(SYNFloodConfig{Name: "f", Target: v6, Rate: 1, Count: 1})
			return err
		}, false},
		{"syn_flood rate 0", func() error { _, err := NewSYNFlood(SYNFloodConfig{Name: "f", Target: v4, Count: 1}); return err }, false},
		{"syn_flood spoof ipv6", func() error {
			_, err := NewSYNFlood(SYNFloodConfig{Name: "f", Target: v4, Rate: 1, Count: 1, Spoof: netip.MustParsePrefix("2001:db8::/32")})
			return err
		}, false},
		{"frag_flood", func() error {
			_, err := NewFragFlood(FragFloodConfig{Name: "f", Target: v4.Addr(), Rate: 1, Count: 1})
			return err
		}, true},
		{"frag_flood no count", func() error {
			_, err := NewFragFlood(FragFloodConfig{Name: "f", Target: v4.Addr(), Rate: 1})
			return err
		}, false},
		{"tcp_inject", func() error {
			_, err := NewTCPInject(TCPInjectConfig{Name: "i", Target: v4, Rate: 1, Count: 1})
			return err
		}, true},
		{"tcp_inject no port", func() error {
			_, err := NewTCPInject(TCPInjectConfig{Name: "i", Target: netip.AddrPortFrom(v4.Addr(), 0), Rate: 1, Count: 1})
			return err
		}, false},
		{"arp_spoof", func() error {
			_, err := NewARPSpoof(ARPSpoofConfig{Name: "s", Target: v4.Addr(), Claim: v4.Addr(), Count: 1, Interval: time.Millisecond})
			return err
		}, true},
		{"arp_spoof no interval", func() error {
			_, err := NewARPSpoof(ARPSpoofConfig{Name: "s", Target: v4.Addr(), Claim: v4.Addr(), Count: 1})
			return err
		}, false},
		{"dns_bad_query", func() error {
			_, err := NewDNSBadQuery(DNSBadQueryConfig{Name: "d", Target: v4, Count: 1, Interval: time.Millisecond})
			return err
		}, true},
		{"dns_bad_query no target", func() error {
			_, err := NewDNSBadQuery(DNSBadQueryConfig{Name: "d", Count: 1, Interval: 1})
			return err
		}, false},
		{"dhcp_rogue", func() error { _, err := NewDHCPRogue(DHCPRogueConfig{Name: "r", Offer: v4.Addr()}); return err }, true},
		{"dhcp_rogue no offer", func() error { _, err := NewDHCPRogue(DHCPRogueConfig{Name: "r"}); return err }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.make()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// The malformed DNS questions are what they claim: a pointer to the
// question's own offset, two pointers to each other, a pointer past the
// end, and a 300-octet name.
func TestDNSBadKinds(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []byte{0xc0, 12}, dnsBadKinds[0][:2])
	assert.Equal(t, []byte{0xc0, 14, 0xc0, 12}, dnsBadKinds[1][:4])
	assert.Greater(t, int(dnsBadKinds[2][1]), 12+len(dnsBadKinds[2]))
	assert.Equal(t, 300, len(dnsBadKinds[3])-4, "name octets, the root label included")
}
