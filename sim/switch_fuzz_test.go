package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
)

// FuzzSwitchForward feeds arbitrary bytes into a switch port: the switch
// must count or forward them, never panic, and never send a frame back out
// of its ingress port.
func FuzzSwitchForward(f *testing.F) {
	f.Add(uint8(0), []byte{})
	f.Add(uint8(1), []byte{1, 2, 3})
	f.Add(uint8(2), append(append(broadcast[:], 0x02, 0, 0, 0, 0, 9), 0x08, 0x00))
	f.Add(uint8(0), append(append([]byte{0x02, 0, 0, 0, 0, 9}, 0x02, 0, 0, 0, 0, 8), 0x08, 0x06, 0xff))
	f.Add(uint8(1), append(append([]byte{0x01, 0, 0x5e, 0, 0, 1}, 0x03, 0, 0, 0, 0, 8), 0x08, 0x00))
	f.Fuzz(func(t *testing.T, port uint8, frame []byte) {
		w, err := New(Config{Seed: 1})
		require.NoError(t, err)
		sw, err := w.NewSwitch("sw", SwitchConfig{TableSize: 2})
		require.NoError(t, err)
		got := make([]int, 3)
		for i := range got {
			l, err := w.NewLink("l"+itoa(i), LinkConfig{})
			require.NoError(t, err)
			sw.AddPort(l.B())
			l.A().SetReceiver(link.ReceiverFunc(func([]byte, link.Note) { got[i]++ }))
		}
		in := int(port) % 3
		// The same frame twice: the second time the source is known.
		sw.forward(in, frame, link.Note{})
		sw.forward(in, frame, link.Note{})
		for w.Step() {
		}
		st := sw.Stats()
		assert.Zero(t, got[in], "nothing goes back out of the ingress port")
		assert.Equal(t, uint64(2), st.Runts+st.Forwarded+st.Flooded+st.Filtered)
		assert.LessOrEqual(t, st.Table, 2)
		if len(frame) < 14 {
			assert.Equal(t, uint64(2), st.Runts)
		}
	})
}
