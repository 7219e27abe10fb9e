package input

import (
	"bytes"
	"io"
	"runtime"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
)

// TestSmallCaptureSmallBuffers checks that a capture of known size gets
// buffers no larger than itself: reading a three-frame in-memory pcap with
// read-ahead allocates about the 64 KiB packet buffer pcapgo takes for its
// snapshot length, where a stream of unknown size gets 320 KiB of read
// buffers and 2 MiB of read-ahead batches. (Not parallel: it counts the
// bytes the whole process allocates.)
func TestSmallCaptureSmallBuffers(t *testing.T) {
	f := ethFrame(ether.TypeIPv4, 40)
	b := pcapBytes(t, layers.LinkTypeEthernet, f, f, f)
	alloc := func(src io.Reader) uint64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		r, err := NewReader(src)
		require.NoError(t, err)
		r.ReadAhead()
		frames, _, err := readAll(t, r)
		require.NoError(t, err)
		require.Len(t, frames, 3)
		require.NoError(t, r.Close())
		runtime.ReadMemStats(&m1)
		return m1.TotalAlloc - m0.TotalAlloc
	}
	assert.Less(t, alloc(bytes.NewReader(b)), uint64(160<<10), "known size")
	assert.Greater(t, alloc(struct{ io.Reader }{bytes.NewReader(b)}), uint64(2<<20), "unknown size")
}
