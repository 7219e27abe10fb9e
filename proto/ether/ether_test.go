package ether

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/simnet-go/simnet/internal/capturetest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    Addr
		wantErr bool
	}{
		{"02:00:5e:10:00:01", Addr{2, 0, 0x5e, 0x10, 0, 1}, false},
		{"FF-FF-FF-FF-FF-FF", Broadcast, false},
		{"aa:bb:cc:dd:ee:0F", Addr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x0f}, false},
		{"", Addr{}, true},
		{"02:00:5e:10:00", Addr{}, true},
		{"02:00:5e:10:00:0g", Addr{}, true},
		{"02:00-5e:10:00:01", Addr{}, true},
		{"02.00.5e.10.00.01", Addr{}, true},
		{"02:00:5e:10:00:011", Addr{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAddr(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrBadAddr))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := ParseAddr(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestAddrPredicates(t *testing.T) {
	a := Addr{0x02, 0, 0, 0, 0, 1}
	assert.Equal(t, "02:00:00:00:00:01", a.String())
	assert.False(t, a.IsMulticast())
	assert.False(t, a.IsBroadcast())
	assert.True(t, Broadcast.IsMulticast())
	assert.True(t, Broadcast.IsBroadcast())
	assert.True(t, Addr{0x01, 0x00, 0x5e, 0, 0, 1}.IsMulticast())
	assert.True(t, Addr{}.IsZero())
	assert.Equal(t, "ff:ff:ff:ff:ff:ff", Broadcast.String())
}

func TestParseAndEncode(t *testing.T) {
	_, err := Parse(make([]byte, 13))
	require.ErrorIs(t, err, ErrTruncated)

	buf := make([]byte, 20)
	dst := Addr{1, 2, 3, 4, 5, 6}
	src := Addr{0xa, 0xb, 0xc, 0xd, 0xe, 0xf}
	Encode(buf, dst, src, TypeARP)
	copy(buf[HeaderLen:], "abcdef")
	f, err := Parse(buf)
	require.NoError(t, err)
	assert.Equal(t, dst, f.Dst())
	assert.Equal(t, src, f.Src())
	assert.Equal(t, TypeARP, f.EtherType())
	assert.Equal(t, []byte("abcdef"), f.Payload())
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x08, 0x06}, buf[:HeaderLen])
}

func TestInner(t *testing.T) {
	hdr := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tests := []struct {
		name     string
		rest     []byte
		wantType EtherType
		wantTags []uint16
		wantPay  []byte
		wantErr  error
	}{
		{"untagged", []byte{0x08, 0x00, 0x45}, TypeIPv4, nil, []byte{0x45}, nil},
		{"dot1q", []byte{0x81, 0x00, 0x20, 0x64, 0x08, 0x06, 0xaa}, TypeARP, []uint16{100}, []byte{0xaa}, nil},
		{"qinq", []byte{0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00}, TypeIPv4, []uint16{10, 20}, []byte{}, nil},
		{"truncated tag", []byte{0x81, 0x00, 0x00}, TypeVLAN, nil, nil, ErrTruncated},
		{"three tags", []byte{0x81, 0x00, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00}, TypeVLAN, nil, nil, ErrTooManyTags},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse(append(append([]byte{}, hdr...), tc.rest...))
			require.NoError(t, err)
			typ, pay, tags, n, err := f.Inner()
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantType, typ)
			assert.Equal(t, tc.wantPay, pay)
			assert.Equal(t, len(tc.wantTags), n)
			for i, id := range tc.wantTags {
				assert.Equal(t, id, tags[i])
			}
		})
	}
}

func TestEtherTypeString(t *testing.T) {
	assert.Equal(t, "IPv4", TypeIPv4.String())
	assert.Equal(t, "ARP", TypeARP.String())
	assert.Equal(t, "802.1Q", TypeVLAN.String())
	assert.Equal(t, "0x1234", EtherType(0x1234).String())
}

var captureNames = []string{"arkime__cloudshark-arp.pcap", "arkime__twovlan.pcap", "pcapplusplus__ArpRequestWithVlan.pcap", "dpkt__nb6-http.pcap"}

// TestDifferentialGopacket decodes the same frames with gopacket's layers
// and with Frame and compares every field.
func TestDifferentialGopacket(t *testing.T) {
	frames := capturetest.Frames(t, captureNames...)
	frames = append(frames, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1})
	for i, b := range frames {
		var eth layers.Ethernet
		gerr := eth.DecodeFromBytes(b, gopacket.NilDecodeFeedback)
		f, err := Parse(b)
		if gerr != nil {
			assert.Error(t, err, "frame %d", i)
			continue
		}
		require.NoError(t, err, "frame %d", i)
		dst, srcMAC := f.Dst(), f.Src()
		assert.Equal(t, []byte(eth.DstMAC), dst[:])
		assert.Equal(t, []byte(eth.SrcMAC), srcMAC[:])
		assert.Equal(t, uint16(eth.EthernetType), uint16(f.EtherType()))
		if !f.EtherType().IsVLAN() {
			continue
		}
		var tag layers.Dot1Q
		require.NoError(t, tag.DecodeFromBytes(eth.Payload, gopacket.NilDecodeFeedback))
		typ, _, tags, n, err := f.Inner()
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 1)
		assert.Equal(t, tag.VLANIdentifier, tags[0])
		if n == 1 {
			assert.Equal(t, uint16(tag.Type), uint16(typ))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 14))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x00, 0, 5, 0x88, 0xa8, 0, 6, 0x08, 0x00})
	for _, b := range captureFramesOrNil(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			return
		}
		_, _, _, n, err := fr.Inner()
		if err == nil && (n < 0 || n > MaxTags) {
			t.Fatalf("Inner returned %d tags", n)
		}
		out := make([]byte, HeaderLen)
		Encode(out, fr.Dst(), fr.Src(), fr.EtherType())
		if !bytes.Equal(out, b[:HeaderLen]) {
			t.Fatalf("re-encoded header %x differs from %x", out, b[:HeaderLen])
		}
	})
}

// captureFramesOrNil is captureFrames for seed corpora: no captures, no
// seeds, no skip.
func captureFramesOrNil(f *testing.F) [][]byte {
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "captures")); err != nil {
		return nil
	}
	return capturetest.Frames(f, captureNames...)
}
