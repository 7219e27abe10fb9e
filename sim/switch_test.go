package sim

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ethFrame crafts a minimal Ethernet II frame from src to dst.
func ethFrame(dst, src [6]byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:14], 0x88b5)
	return f
}

// TestSwitchTableReuse ages an address out and checks that the table entry
// it leaves is reused by the next address learned, without disturbing the
// others, and that a moved address follows its new port.
func TestSwitchTableReuse(t *testing.T) {
	w := newWorld(t, Config{Seed: 1})
	sw, _ := switched(t, w, 3, LinkConfig{})
	sw.forward(0, ethFrame(broadcast, mac(1)), link.Note{})
	w.RunFor(DefaultAging / 2)
	sw.forward(1, ethFrame(broadcast, mac(2)), link.Note{})
	w.RunFor(DefaultAging/2 + time.Second)

	// mac(1) is stale: a frame to it removes it and is flooded.
	sw.forward(1, ethFrame(mac(1), mac(2)), link.Note{})
	_, ok := sw.Lookup(mac(1))
	assert.False(t, ok)
	assert.Equal(t, 1, sw.Stats().Table)
	require.Len(t, sw.free, 1)

	sw.forward(2, ethFrame(broadcast, mac(3)), link.Note{})
	assert.Empty(t, sw.free, "the freed entry is reused")
	assert.Len(t, sw.ents, 2)
	for _, tc := range []struct {
		mac  [6]byte
		port int
	}{{mac(2), 1}, {mac(3), 2}} {
		port, ok := sw.Lookup(tc.mac)
		require.True(t, ok)
		assert.Equal(t, tc.port, port)
	}

	// mac(3) moves to port 0.
	sw.forward(0, ethFrame(mac(2), mac(3)), link.Note{})
	port, ok := sw.Lookup(mac(3))
	require.True(t, ok)
	assert.Equal(t, 0, port)
	st := sw.Stats()
	assert.Equal(t, uint64(1), st.Moves)
	assert.Equal(t, uint64(3), st.Learned)
	assert.Equal(t, uint64(1), st.Aged)
	assert.Equal(t, 2, st.Table)
}
