package input

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
)

// mixedPcapNg writes n frames over three interfaces (Ethernet with and
// without VLAN tags, SLL2, and 802.11, which the reader does not
// normalise), of sizes from 14 bytes to over 9000, so that read-ahead
// batches fill up by frame count and by bytes.
func mixedPcapNg(t *testing.T, n int) []byte {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
		pcapgo.DefaultNgWriterOptions)
	require.NoError(t, err)
	sll2, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 65535})
	require.NoError(t, err)
	wifi, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeIEEE802_11, SnapLength: 65535})
	require.NoError(t, err)
	for i := range n {
		iface, data := 0, ethFrame(ether.TypeIPv4, (i*37)%1500)
		switch {
		case i%97 == 0:
			data = ethFrame(ether.TypeIPv6, 9000+i%50)
		case i%11 == 0:
			iface, data = sll2, make([]byte, 20+i%60)
			binary.BigEndian.PutUint16(data, uint16(ether.TypeIPv4))
		case i%13 == 0:
			iface, data = wifi, make([]byte, 24)
		case i%7 == 0:
			data = ethFrame(ether.TypeVLAN, 4+i%100)
			binary.BigEndian.PutUint16(data[ether.HeaderLen:], uint16(i%4096))
			binary.BigEndian.PutUint16(data[ether.HeaderLen+2:], uint16(ether.TypeARP))
		case i%17 == 0:
			data = make([]byte, 10) // shorter than an Ethernet header
		}
		data[len(data)-1] = byte(i)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(data),
			Length: len(data) + i%3, InterfaceIndex: iface}
		require.NoError(t, w.WritePacket(ci, data))
	}
	require.NoError(t, w.Flush())
	return buf.Bytes()
}

// trace reads r to the end and describes every frame and error.
func trace(t *testing.T, r *Reader) []string {
	var out []string
	var f Frame
	for {
		err := r.Next(&f)
		if err != nil {
			if _, ok := err.(*FrameError); !ok {
				out = append(out, fmt.Sprintf("end %v after %d", err, r.Frames()))
				// The error sticks.
				assert.Equal(t, err, r.Next(&f))
				return out
			}
		}
		out = append(out, fmt.Sprintf("%d %v if%d %v %d/%d data=%x ether=%x vlans=%v proto=%v net=%x err=%v frames=%d",
			f.Index, f.Time, f.Interface, f.LinkType, f.CapLen, f.OrigLen, f.Data, []byte(f.Ether),
			f.VLANs[:f.NVLAN], f.Proto, f.Network, err, r.Frames()))
	}
}

// TestReadAheadSameFrames checks that a reader decoding ahead on its own
// goroutine delivers exactly the frames and errors of one that does not,
// over a whole file, a file cut in the middle of a record, and a gzip file.
func TestReadAheadSameFrames(t *testing.T) {
	t.Parallel()
	raw := mixedPcapNg(t, 700)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"whole", raw},
		{"cut", raw[:len(raw)*2/3]},
		{"gzip", gzipped(t, raw[:len(raw)/3])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			plain, err := NewReader(bytes.NewReader(tc.in))
			require.NoError(t, err)
			want := trace(t, plain)
			ahead, err := NewReader(bytes.NewReader(tc.in))
			require.NoError(t, err)
			ahead.ReadAhead()
			got := trace(t, ahead)
			require.NoError(t, ahead.Close())
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.Equal(t, want[i], got[i], "frame %d", i)
			}
		})
	}
}

// TestReadAheadClose stops a reader decoding ahead in the middle of a
// stream that never ends: Close must return.
func TestReadAheadClose(t *testing.T) {
	t.Parallel()
	raw := mixedPcapNg(t, 10)
	rec := raw[len(mixedPcapNg(t, 0)):] // the frames without the headers
	endless := io.MultiReader(bytes.NewReader(raw), &repeat{b: rec})
	r, err := NewReader(endless)
	require.NoError(t, err)
	r.ReadAhead()
	var f Frame
	for range 2000 {
		err := r.Next(&f)
		if _, ok := err.(*FrameError); err != nil && !ok {
			require.NoError(t, err)
		}
	}
	done := make(chan error)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the read-ahead goroutine")
	}
	assert.Equal(t, 2000, r.Frames())
	// Reading on after Close is an error, not a hang.
	err = r.Next(&f)
	for err == nil || errors.As(err, new(*FrameError)) {
		err = r.Next(&f)
	}
	assert.ErrorIs(t, err, errClosed)
}

// gzipped compresses b.
func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// repeat reads b again and again.
type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}
