package follow

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSelector(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddrPort("192.0.2.1:80"), netip.MustParseAddrPort("192.0.2.2:4000")
	tests := []struct {
		in   string
		want Selector
		err  bool
	}{
		{"3", Selector{Proto: "tcp", Index: 3}, false},
		{"udp,0", Selector{Proto: "udp"}, false},
		{"192.0.2.1:80,192.0.2.2:4000", Selector{Proto: "tcp", A: a, B: b}, false},
		{"udp,192.0.2.1:80,192.0.2.2:4000", Selector{Proto: "udp", A: a, B: b}, false},
		{"-1", Selector{}, true},
		{"tcp,192.0.2.1,192.0.2.2", Selector{}, true},
		{"", Selector{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSelector(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
