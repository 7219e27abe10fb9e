package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The attack app types and the host expectations that bound memory are
// read, and their mistakes named with their line.
func TestParseAttackApps(t *testing.T) {
	t.Parallel()
	const head = `name: a
duration: 1s
hosts:
  - {name: v, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: x, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: l, a: v:eth0, b: x:eth0}
apps:
`
	for _, tc := range []struct {
		name, body, err string
		check           func(t *testing.T, s *Scenario)
	}{
		{name: "syn_flood", body: `  - {name: f, type: syn_flood, host: x, target: 10.0.0.1:80, rate: 50000, count: 10, spoof: 198.18.0.0/15}
expect:
  - {host: v, max_tcp_connections: 300}
  - {host: v, max_reassembly_bytes: 64KiB}
`, check: func(t *testing.T, s *Scenario) {
			a := s.Apps[0]
			assert.Equal(t, AppSYNFlood, a.Type)
			assert.Equal(t, 50000, a.Rate)
			assert.Equal(t, 10, a.Count)
			assert.Equal(t, "198.18.0.0/15", a.Spoof.String())
			require.NotNil(t, s.Expect[0].MaxTCPConns)
			assert.Equal(t, 300, *s.Expect[0].MaxTCPConns)
			require.NotNil(t, s.Expect[1].MaxReassemblyBytes)
			assert.Equal(t, int64(64<<10), *s.Expect[1].MaxReassemblyBytes)
		}},
		{name: "arp_spoof defaults", body: "  - {name: s, type: arp_spoof, host: x, target: 10.0.0.1, claim: 10.0.0.9}\n",
			check: func(t *testing.T, s *Scenario) {
				assert.Equal(t, "10.0.0.9", s.Apps[0].Claim.String())
				assert.Equal(t, 10, s.Apps[0].Count)
			}},
		{name: "syn_flood without rate", body: "  - {name: f, type: syn_flood, host: x, target: 10.0.0.1:80, count: 10}\n",
			err: `a.yaml:9: field "apps[0].rate": required field is missing`},
		{name: "frag_flood with spoof", body: "  - {name: f, type: frag_flood, host: x, target: 10.0.0.1, rate: 5, count: 1, spoof: 10.0.0.0/8}\n",
			err: `a.yaml:9: field "apps[0].spoof": not used by a frag_flood app`},
		{name: "dhcp_rogue without offer", body: "  - {name: r, type: dhcp_rogue, host: x}\n",
			err: `a.yaml:9: field "apps[0].offer": required field is missing`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse("a.yaml", []byte(head+tc.body))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			tc.check(t, s)
		})
	}
}
