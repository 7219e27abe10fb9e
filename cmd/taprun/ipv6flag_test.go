package main

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIPFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		values  []string
		setErr  bool
		checkOK bool
		want4   netip.Prefix
		want6   []netip.Prefix
	}{
		{"dual stack", []string{"192.0.2.2/24", "2001:db8::2/64", "2001:db8:1::2/64"}, false, true,
			netip.MustParsePrefix("192.0.2.2/24"), []netip.Prefix{netip.MustParsePrefix("2001:db8::2/64"), netip.MustParsePrefix("2001:db8:1::2/64")}},
		{"ipv6 only", []string{"2001:db8::2/64"}, false, true, netip.Prefix{}, []netip.Prefix{netip.MustParsePrefix("2001:db8::2/64")}},
		{"two ipv4", []string{"192.0.2.2/24", "192.0.2.3/24"}, true, false, netip.Prefix{}, nil},
		{"ipv6 without length", []string{"2001:db8::2"}, false, false, netip.Prefix{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := options{tap: "tap0"}
			f := &ipFlag{o: &o}
			var err error
			for _, v := range tc.values {
				if err = f.Set(v); err != nil {
					break
				}
			}
			if tc.setErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "CIDR", f.Type())
			a, err := o.check()
			if !tc.checkOK {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want4, a.prefix)
			assert.Equal(t, tc.want6, a.prefix6)
		})
	}
}
