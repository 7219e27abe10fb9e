package tcp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRingGrowKeepsOffsets(t *testing.T) {
	var r ring
	r.reserve(10, 1<<20)
	assert.Equal(t, minRing, len(r.buf))
	// Wrap the head around, with out-of-order bytes beyond the committed
	// ones.
	fill := bytes.Repeat([]byte{'x'}, minRing-100)
	require.Equal(t, len(fill), r.append(fill))
	r.discard(len(fill))
	require.Equal(t, 30, r.append([]byte("0123456789abcdefghijABCDEFGHIJ")))
	r.writeAt(200, []byte("ooo"))
	r.reserve(minRing+500, 1<<20)
	assert.Equal(t, 2*minRing, len(r.buf))
	got := make([]byte, 30)
	assert.Equal(t, 30, r.readAt(0, got))
	assert.Equal(t, "0123456789abcdefghijABCDEFGHIJ", string(got))
	r.commit(230 - 30 + 3)
	out := make([]byte, 233)
	require.Equal(t, 233, r.read(out))
	assert.Equal(t, "ooo", string(out[230:]))
	r.reserve(10<<20, 100<<10)
	assert.Equal(t, 100<<10, len(r.buf), "capped at the limit")
}

func TestRingReserveAtLimitDoesNotReallocate(t *testing.T) {
	var r ring
	r.reserve(64<<10, 64<<10)
	b := &r.buf[0]
	r.reserve(1<<20, 64<<10)
	assert.Same(t, b, &r.buf[0])
}
