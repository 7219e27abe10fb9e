package ipv6

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/ether"
)

var (
	srcA = netip.MustParseAddr("2001:db8::1")
	dstA = netip.MustParseAddr("2001:db8:1::2")
)

// packet builds an IPv6 packet with the given next header and payload.
func packet(t testing.TB, next uint8, payload []byte) Header {
	t.Helper()
	b := make([]byte, HeaderLen+len(payload))
	copy(b[HeaderLen:], payload)
	h, err := Encode(b, &Fields{TrafficClass: 0xb8, FlowLabel: 0x12345, NextHeader: next, HopLimit: 64, Src: srcA, Dst: dstA}, len(payload))
	require.NoError(t, err)
	return h
}

// udp returns a UDP datagram of n data bytes with a valid checksum.
func udp(n int) []byte {
	b := make([]byte, 8+n)
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], 9999)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	for i := 8; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	binary.BigEndian.PutUint16(b[6:], UpperChecksum(srcA.As16(), dstA.As16(), ProtoUDP, b))
	return b
}

func TestParse(t *testing.T) {
	t.Parallel()
	good := packet(t, ProtoUDP, udp(20))
	mut := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		wantLen int
	}{
		{"valid", good, nil, len(good)},
		{"padded", append(append([]byte(nil), good...), 0, 0, 0), nil, len(good)},
		{"truncated header", good[:39], ErrTruncated, 0},
		{"payload past buffer", good[:len(good)-1], ErrPayloadLen, 0},
		{"version 4", mut(func(b []byte) []byte { b[0] = 0x45; return b }), ErrVersion, 0},
		{"jumbogram", mut(func(b []byte) []byte { b[4], b[5], b[6] = 0, 0, ProtoHopByHop; return b }), ErrJumbo, 0},
		{"empty payload", mut(func(b []byte) []byte { b[4], b[5], b[6] = 0, 0, ProtoNoNext; return b }), nil, HeaderLen},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := Parse(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, h, tc.wantLen)
			assert.Equal(t, srcA, h.Src())
			assert.Equal(t, dstA, h.Dst())
			assert.Equal(t, uint8(0xb8), h.TrafficClass())
			assert.Equal(t, uint32(0x12345), h.FlowLabel())
			assert.Equal(t, uint8(64), h.HopLimit())
			assert.Len(t, h.Payload(), tc.wantLen-HeaderLen)
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		f    Fields
		n    int
		buf  int
		want error
	}{
		{"flow label", Fields{FlowLabel: 1 << 20, Src: srcA, Dst: dstA}, 0, 64, ErrBadField},
		{"ipv4 source", Fields{Src: netip.MustParseAddr("192.0.2.1"), Dst: dstA}, 0, 64, ErrBadField},
		{"mapped destination", Fields{Src: srcA, Dst: netip.MustParseAddr("::ffff:192.0.2.1")}, 0, 64, ErrBadField},
		{"payload too long", Fields{Src: srcA, Dst: dstA}, 65536, 70000, ErrPayloadLen},
		{"short buffer", Fields{Src: srcA, Dst: dstA}, 10, 49, ErrShortBuffer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Encode(make([]byte, tc.buf), &tc.f, tc.n)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

// TestEncodeMatchesGopacket decodes what Encode writes with gopacket and
// checks that gopacket computes the same UDP checksum over the
// pseudo-header (RFC 8200 section 8.1) as UpperChecksum.
func TestEncodeMatchesGopacket(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 100, 1451} {
		h := packet(t, ProtoUDP, udp(n))
		p := gopacket.NewPacket(h, layers.LayerTypeIPv6, gopacket.Default)
		require.Nil(t, p.ErrorLayer(), "n=%d", n)
		ip := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		assert.Equal(t, uint8(6), ip.Version)
		assert.Equal(t, uint8(0xb8), ip.TrafficClass)
		assert.Equal(t, uint32(0x12345), ip.FlowLabel)
		assert.Equal(t, uint16(8+n), ip.Length)
		assert.Equal(t, layers.IPProtocolUDP, ip.NextHeader)
		assert.Equal(t, uint8(64), ip.HopLimit)
		assert.Equal(t, srcA.AsSlice(), []byte(ip.SrcIP.To16()))
		assert.Equal(t, dstA.AsSlice(), []byte(ip.DstIP.To16()))
		u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		want := u.Checksum
		require.NoError(t, u.SetNetworkLayerForChecksum(ip))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, u, gopacket.Payload(u.Payload)))
		assert.Equal(t, binary.BigEndian.Uint16(buf.Bytes()[6:]), want, "n=%d", n)
		assert.True(t, VerifyUpper(h.Src16(), h.Dst16(), ProtoUDP, h.Payload()), "n=%d", n)
		h.Payload()[8%len(h.Payload())] ^= 0x40
		assert.False(t, VerifyUpper(h.Src16(), h.Dst16(), ProtoUDP, h.Payload()), "n=%d: corrupted", n)
	}
}

// TestPseudoHeaderSum checks the pseudo-header sum against the plain sum
// of the 40 bytes RFC 8200 section 8.1 draws.
func TestPseudoHeaderSum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, dst string
		proto    uint8
		n        uint32
	}{
		{"2001:db8::1", "2001:db8::2", ProtoUDP, 8},
		{"fe80::1", "ff02::1:ff00:1", ProtoICMPv6, 32},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0xff, 0xffffffff},
		{"::", "::", ProtoTCP, 70000},
	}
	for _, tc := range tests {
		src, dst := netip.MustParseAddr(tc.src).As16(), netip.MustParseAddr(tc.dst).As16()
		var ph [40]byte
		copy(ph[:], src[:])
		copy(ph[16:], dst[:])
		binary.BigEndian.PutUint32(ph[32:], tc.n)
		ph[39] = tc.proto
		assert.Equal(t, checksum.Sum(ph[:], 0), PseudoHeaderSum(src, dst, tc.proto, tc.n), "%+v", tc)
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr("2001:db8::abcd:1234:5678")
	assert.Equal(t, netip.MustParseAddr("ff02::1:ff34:5678"), SolicitedNode(a))
	assert.Equal(t, ether.Addr{0x33, 0x33, 0xff, 0x34, 0x56, 0x78}, MulticastMAC(SolicitedNode(a)))
	assert.Equal(t, ether.Addr{0x33, 0x33, 0, 0, 0, 1}, MulticastMAC(AllNodes))
	mac := ether.Addr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	assert.Equal(t, netip.MustParseAddr("fe80::5054:ff:fe12:3456"), LinkLocal(EUI64(mac)))
}
