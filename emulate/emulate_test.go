package emulate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/sim/scenario"
)

func TestParseTap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Tap
		err  string
	}{
		{in: "tap0:lan", want: Tap{Name: "tap0", Switch: "lan"}},
		{in: "emu-1:sw.a", want: Tap{Name: "emu-1", Switch: "sw.a"}},
		{in: "tap0", err: `--tap "tap0": want NAME:SWITCH, such as tap0:lan`},
		{in: ":lan", err: `want NAME:SWITCH`},
		{in: "tap0:", err: `want NAME:SWITCH`},
		{in: "tap0:lan:x", err: `want NAME:SWITCH`},
		{in: "a-very-long-device:lan", err: `"a-very-long-device" is not a valid device name`},
		{in: "../x:lan", err: `is not a valid device name`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTap(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, got.String())
		})
	}
}

func TestCheckTaps(t *testing.T) {
	t.Parallel()
	s := &scenario.Scenario{Name: "emu", Switches: []scenario.Switch{{Name: "lan"}, {Name: "dc"}}}
	for _, tc := range []struct {
		name string
		taps []Tap
		err  string
	}{
		{"none", nil, ""},
		{"two switches", []Tap{{"tap0", "lan"}, {"tap1", "dc"}}, ""},
		{"two taps on one switch", []Tap{{"tap0", "lan"}, {"tap1", "lan"}}, ""},
		{"unknown switch", []Tap{{"tap0", "wan"}}, `--tap tap0:wan: scenario "emu" has no switch "wan" (it has lan, dc)`},
		{"device twice", []Tap{{"tap0", "lan"}, {"tap0", "dc"}}, `--tap tap0:dc: device "tap0" is bridged twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckTaps(s, tc.taps)
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.err)
		})
	}
	err := CheckTaps(&scenario.Scenario{Name: "p2p"}, []Tap{{"tap0", "lan"}})
	assert.EqualError(t, err, `--tap tap0:lan: scenario "p2p" has no switch "lan" (it has none)`)
}

func TestNewNeedsATap(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	assert.Error(t, err)
}
