package main

import (
	"io"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsCheck(t *testing.T) {
	good := []struct {
		name string
		o    options
		want addressing
	}{
		{name: "static", o: options{tap: "tap0", ip: "192.0.2.2/24", gw: "192.0.2.1", dnsServer: "192.0.2.53"},
			want: addressing{prefix: netip.MustParsePrefix("192.0.2.2/24"), gw: netip.MustParseAddr("192.0.2.1"), dns: netip.MustParseAddr("192.0.2.53")}},
		{name: "dhcp", o: options{tap: "tap0", dhcp: true}},
		{name: "dhcp with a lease file", o: options{tap: "tap0", dhcp: true, leaseFile: "l"}},
		{name: "dns service", o: options{tap: "tap0", ip: "198.18.0.2/15", dns: 53, zone: "z"},
			want: addressing{prefix: netip.MustParsePrefix("198.18.0.2/15")}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.check()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	bad := map[string]options{
		"no tap":                  {ip: "192.0.2.2/24"},
		"no address":              {tap: "tap0"},
		"both":                    {tap: "tap0", ip: "192.0.2.2/24", dhcp: true},
		"gw with dhcp":            {tap: "tap0", dhcp: true, gw: "192.0.2.1"},
		"bad ip":                  {tap: "tap0", ip: "192.0.2.2"},
		"ipv6":                    {tap: "tap0", ip: "2001:db8::2/64"},
		"gw off subnet":           {tap: "tap0", ip: "192.0.2.2/24", gw: "198.18.0.1"},
		"bad gw":                  {tap: "tap0", ip: "192.0.2.2/24", gw: "gateway"},
		"bad dns server":          {tap: "tap0", ip: "192.0.2.2/24", dnsServer: "::1"},
		"dns without zone":        {tap: "tap0", ip: "192.0.2.2/24", dns: 53},
		"zone without dns":        {tap: "tap0", ip: "192.0.2.2/24", zone: "z"},
		"mtu":                     {tap: "tap0", ip: "192.0.2.2/24", mtu: 70000},
		"lease file without dhcp": {tap: "tap0", ip: "192.0.2.2/24", leaseFile: "l"},
	}
	for name, o := range bad {
		_, err := o.check()
		assert.Error(t, err, name)
	}
}

func TestDeriveMAC(t *testing.T) {
	a, b := deriveMAC("tap0"), deriveMAC("tap1")
	assert.Equal(t, a, deriveMAC("tap0"), "stable across runs")
	assert.NotEqual(t, a, b)
	for _, m := range []([6]byte){a, b} {
		assert.Equal(t, byte(0x02), m[0]&0x03, "unicast and locally administered: %x", m)
	}
}

// TestExitCodes is finding 12 of issue 11: taprun's usage errors exit 2,
// like simnet's, with no strconv internals; failures while running (here a
// tap device that does not exist) exit 1.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown flag", []string{"--nope"}, exitUsage, "unknown flag"},
		{"positional argument", []string{"extra"}, exitUsage, "unknown command"},
		{"bad seed", []string{"--tap", "t0", "--dhcp", "--seed", "x"}, exitUsage, "want an integer from 0 to 18446744073709551615"},
		{"bad port", []string{"--tap", "t0", "--dhcp", "--echo", "70000"}, exitUsage, `"--echo" flag: out of range`},
		{"no tap", []string{"--ip", "192.0.2.2/24"}, exitUsage, "--tap is required"},
		{"bad ip", []string{"--tap", "t0", "--ip", "192.0.2.2"}, exitUsage, "--ip"},
		{"bad impairment", []string{"--tap", "t0", "--dhcp", "--loss", "200%"}, exitUsage, "loss"},
		{"bad mac", []string{"--tap", "t0", "--dhcp", "--mac", "ff:ff:ff:ff:ff:ff"}, exitUsage, "unicast"},
		{"missing device", []string{"--tap", "simnetnone0", "--ip", "192.0.2.2/24"}, exitFailed, "simnetnone0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := newCommand()
			cmd.SetArgs(tt.args)
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			require.Error(t, err)
			assert.Equal(t, tt.code, exitCode(err), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "strconv")
		})
	}
}
