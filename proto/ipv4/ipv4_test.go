package ipv4

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/simnet-go/simnet/internal/capturetest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
)

// sample is a UDP packet from 192.168.0.1 to 192.168.0.199 with header
// checksum 0xb861 (the classic worked example), total length 0x73.
func sample() []byte {
	b := make([]byte, 0x73)
	copy(b, []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7})
	for i := 20; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

func TestParse(t *testing.T) {
	mut := func(f func(b []byte)) []byte {
		b := sample()
		f(b)
		return b
	}
	fix := func(b []byte) { Header(b).SetChecksum() }
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		wantLen int
	}{
		{"valid", sample(), nil, 0x73},
		{"padded", append(sample(), 0, 0, 0, 0), nil, 0x73},
		{"truncated header", sample()[:19], ErrTruncated, 0},
		{"truncated payload", sample()[:0x72], ErrTotalLen, 0},
		{"version 6", mut(func(b []byte) { b[0] = 0x65; fix(b) }), ErrVersion, 0},
		{"ihl 4", mut(func(b []byte) { b[0] = 0x44 }), ErrHeaderLen, 0},
		{"ihl past buffer", append([]byte{0x4f}, sample()[1:30]...), ErrHeaderLen, 0},
		{"total below ihl", mut(func(b []byte) { b[2], b[3] = 0, 19; fix(b) }), ErrTotalLen, 0},
		{"bad checksum", mut(func(b []byte) { b[11] ^= 1 }), ErrChecksum, 0},
		{"fragment past 64k", mut(func(b []byte) { b[6], b[7] = 0x1f, 0xff; fix(b) }), ErrFragment, 0},
		{"ttl zero still parses", mut(func(b []byte) { b[8] = 0; fix(b) }), nil, 0x73},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, h, tc.wantLen)
			assert.Equal(t, netip.MustParseAddr("192.168.0.1"), h.Src())
			assert.Equal(t, netip.MustParseAddr("192.168.0.199"), h.Dst())
			assert.Equal(t, ProtoUDP, h.Protocol())
			assert.True(t, h.DF())
			assert.False(t, h.MF())
			assert.False(t, h.IsFragment())
			assert.Equal(t, 20, h.HeaderLen())
			assert.Len(t, h.Payload(), 0x73-20)
			assert.Empty(t, h.Options())
		})
	}
}

func TestParseUnchecked(t *testing.T) {
	b := sample()
	b[11] ^= 0xff
	_, err := Parse(b)
	require.ErrorIs(t, err, ErrChecksum)
	h, err := ParseUnchecked(b)
	require.NoError(t, err)
	assert.False(t, h.VerifyChecksum())
}

func TestEncodeRoundTrip(t *testing.T) {
	f := Fields{
		TOS: 0xb8, ID: 0xbeef, MF: true, FragmentOffset: 1480, TTL: 7, Protocol: ProtoICMP,
		Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.MustParseAddr("10.9.8.7"),
		Options: []byte{0x94, 0x04, 0x00, 0x00}, // router alert
	}
	b := make([]byte, 100)
	h, err := Encode(b, &f, 50)
	require.NoError(t, err)
	assert.Len(t, h, 74)
	p, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, f, p.Fields())
	assert.Equal(t, 24, p.HeaderLen())
	assert.True(t, p.IsFragment())
	assert.Equal(t, uint16(0x20b9), binary.BigEndian.Uint16(b[6:])) // MF | 185
}

func TestEncodeErrors(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name    string
		f       Fields
		pay     int
		buf     int
		wantErr error
	}{
		{"odd options", Fields{Src: a, Dst: a, Options: []byte{1, 1, 1}}, 0, 100, ErrHeaderLen},
		{"long options", Fields{Src: a, Dst: a, Options: make([]byte, 44)}, 0, 100, ErrHeaderLen},
		{"too big", Fields{Src: a, Dst: a}, 65516, 70000, ErrTotalLen},
		{"negative payload", Fields{Src: a, Dst: a}, -1, 100, ErrTotalLen},
		{"offset not multiple of 8", Fields{Src: a, Dst: a, FragmentOffset: 9}, 0, 100, ErrBadField},
		{"offset too large", Fields{Src: a, Dst: a, FragmentOffset: 65536}, 0, 100, ErrBadField},
		{"ipv6 source", Fields{Src: netip.MustParseAddr("::1"), Dst: a}, 0, 100, ErrBadField},
		{"invalid dest", Fields{Src: a}, 0, 100, ErrBadField},
		{"short buffer", Fields{Src: a, Dst: a}, 10, 29, ErrShortBuffer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(make([]byte, tc.buf), &tc.f, tc.pay)
			assert.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestSetTTLIncremental(t *testing.T) {
	b := sample()
	h, err := Parse(b)
	require.NoError(t, err)
	for ttl := 64; ttl >= 0; ttl-- {
		h.SetTTL(uint8(ttl))
		require.True(t, h.VerifyChecksum(), "ttl %d", ttl)
		c := h.Checksum()
		h.SetChecksum()
		require.Equal(t, h.Checksum(), c, "ttl %d", ttl)
	}
}

var captureNames = []string{"pcapplusplus__IPv4Frag.pcap", "chrissanders__ip_frag_source.pcapng",
	"pcapplusplus__ipv4-malformed.pcap", "tcpdump__ipv4_invalid_hdr_length.pcap",
	"tcpdump__ipv4_invalid_total_length.pcap", "dpkt__dns_icmp.pcap", "arkime__twovlan.pcap",
	"pcapplusplus__ip4_bad_fragment.pcap", "chrissanders__tcp_handshake.pcapng"}

func TestDifferentialGopacket(t *testing.T) {
	pkts := capturetest.Payloads(capturetest.Frames(t, captureNames...), uint16(ether.TypeIPv4))
	require.NotEmpty(t, pkts)
	ok := 0
	for i, b := range pkts {
		h, err := ParseUnchecked(b)
		if err != nil {
			continue
		}
		ok++
		var g layers.IPv4
		require.NoError(t, g.DecodeFromBytes(b, gopacket.NilDecodeFeedback), "packet %d", i)
		assert.Equal(t, g.Version, h.Version())
		assert.Equal(t, int(g.IHL)*4, h.HeaderLen())
		assert.Equal(t, g.TOS, h.TOS())
		assert.Equal(t, int(g.Length), h.TotalLen())
		assert.Equal(t, g.Id, h.ID())
		assert.Equal(t, g.Flags&layers.IPv4DontFragment != 0, h.DF())
		assert.Equal(t, g.Flags&layers.IPv4MoreFragments != 0, h.MF())
		assert.Equal(t, int(g.FragOffset)*8, h.FragmentOffset())
		assert.Equal(t, g.TTL, h.TTL())
		assert.Equal(t, uint8(g.Protocol), h.Protocol())
		assert.Equal(t, g.Checksum, h.Checksum())
		src, dst := h.Src4(), h.Dst4()
		assert.Equal(t, []byte(g.SrcIP.To4()), src[:])
		assert.Equal(t, []byte(g.DstIP.To4()), dst[:])
		assert.Equal(t, g.Payload, h.Payload())
	}
	assert.Greater(t, ok, 10)
}

func FuzzParse(f *testing.F) {
	f.Add(sample())
	f.Add([]byte{0x46, 0, 0, 24, 0, 1, 0x20, 0, 1, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 0, 0})
	f.Add([]byte{0x45})
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "captures")); err == nil {
		for _, p := range capturetest.Payloads(capturetest.Frames(f, captureNames...), uint16(ether.TypeIPv4)) {
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseUnchecked(in)
		if err != nil {
			return
		}
		_ = h.Payload()
		fl := h.Fields()
		out := make([]byte, h.TotalLen())
		copy(out[h.HeaderLen():], h.Payload())
		o, err := Encode(out, &fl, len(h.Payload()))
		if err != nil {
			t.Fatalf("re-encode of a parsed header failed: %v", err)
		}
		// Encode computes a fresh checksum; compare everything else and
		// check the checksum verifies.
		want := append([]byte{}, h...)
		want[10], want[11] = o[10], o[11]
		if !bytes.Equal(o, want) {
			t.Fatalf("re-encoded %x, parsed %x", []byte(o), []byte(h))
		}
		if _, err := Parse(o); err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		if h.VerifyChecksum() != (o.Checksum() == h.Checksum() || h.Checksum() == 0xffff && o.Checksum() == 0) {
			t.Fatalf("checksum %#x, parsed %#x", o.Checksum(), h.Checksum())
		}
	})
}
