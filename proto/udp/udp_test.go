package udp

import (
	"bytes"
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
	"github.com/simnet-go/simnet/proto/ipv4"
)

var (
	srcIP = netip.MustParseAddr("192.168.1.10")
	dstIP = netip.MustParseAddr("192.168.1.1")
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		wantPay []byte
	}{
		{"valid", []byte{0x30, 0x39, 0x00, 0x35, 0x00, 0x0b, 0, 0, 'a', 'b', 'c'}, nil, []byte("abc")},
		{"trailing padding", []byte{0x30, 0x39, 0x00, 0x35, 0x00, 0x09, 0, 0, 'a', 0, 0}, nil, []byte("a")},
		{"empty payload", []byte{0, 1, 0, 2, 0, 8, 0, 0}, nil, []byte{}},
		{"truncated", []byte{0, 1, 0, 2, 0, 8, 0}, ErrTruncated, nil},
		{"length below header", []byte{0, 1, 0, 2, 0, 7, 0, 0}, ErrLength, nil},
		{"length past buffer", []byte{0, 1, 0, 2, 0, 10, 0, 0, 1}, ErrLength, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantPay, h.Payload())
			assert.Equal(t, HeaderLen+len(tc.wantPay), h.Length())
		})
	}
}

func TestChecksum(t *testing.T) {
	b := make([]byte, 64)
	copy(b[HeaderLen:], "hello")
	h, err := Encode(b, 12345, 53, 5)
	require.NoError(t, err)
	assert.True(t, h.VerifyChecksum(srcIP, dstIP), "zero checksum means none")
	h.SetChecksum(srcIP, dstIP)
	assert.NotZero(t, h.Checksum())
	assert.True(t, h.VerifyChecksum(srcIP, dstIP))
	assert.False(t, h.VerifyChecksum(srcIP, netip.MustParseAddr("192.168.1.2")))
	h[HeaderLen] ^= 1
	assert.False(t, h.VerifyChecksum(srcIP, dstIP))

	_, err = Encode(make([]byte, 10), 1, 2, 5)
	assert.ErrorIs(t, err, ErrShortBuffer)
	_, err = Encode(make([]byte, 70000), 1, 2, 65530)
	assert.ErrorIs(t, err, ErrLength)
}

// TestChecksumZeroSentAsOnes finds a payload whose checksum computes to
// zero and checks that 0xffff is transmitted instead (RFC 768).
func TestChecksumZeroSentAsOnes(t *testing.T) {
	b := make([]byte, HeaderLen+2)
	h, err := Encode(b, 1, 2, 2)
	require.NoError(t, err)
	found := false
	for v := 0; v < 0x10000; v++ {
		b[8], b[9] = byte(v>>8), byte(v)
		h[6], h[7] = 0, 0
		// With the payload word chosen so the whole sum is 0xffff, the
		// complement is 0.
		if c := h.ComputeChecksum(srcIP, dstIP); c == 0xffff {
			h.SetChecksum(srcIP, dstIP)
			assert.Equal(t, uint16(0xffff), h.Checksum())
			assert.True(t, h.VerifyChecksum(srcIP, dstIP))
			found = true
			break
		}
	}
	require.True(t, found)
}

var captureNames = []string{"dpkt__dns_icmp.pcap", "chrissanders__dns.pcap", "arkime__wireshark-dhcp.pcap",
	"chrissanders__dhcp_nolease_initialization.pcapng", "pcapplusplus__DnsPackets.pcap", "dpkt__truncated_dns.pcap"}

type datagram struct {
	src, dst netip.Addr
	b        []byte
}

func datagrams(frames [][]byte) []datagram {
	var out []datagram
	for _, pay := range capturetest.Payloads(frames, uint16(ether.TypeIPv4)) {
		h, err := ipv4.ParseUnchecked(pay)
		if err != nil || h.IsFragment() || h.Protocol() != ipv4.ProtoUDP {
			continue
		}
		out = append(out, datagram{h.Src(), h.Dst(), h.Payload()})
	}
	return out
}

func TestDifferentialGopacket(t *testing.T) {
	ds := datagrams(capturetest.Frames(t, captureNames...))
	require.GreaterOrEqual(t, len(ds), 20)
	good := 0
	for i, d := range ds {
		h, err := Parse(d.b)
		var g layers.UDP
		gerr := g.DecodeFromBytes(d.b, gopacket.NilDecodeFeedback)
		if err != nil {
			continue
		}
		require.NoError(t, gerr, "datagram %d", i)
		assert.Equal(t, uint16(g.SrcPort), h.SrcPort())
		assert.Equal(t, uint16(g.DstPort), h.DstPort())
		assert.Equal(t, int(g.Length), h.Length())
		assert.Equal(t, g.Checksum, h.Checksum())
		assert.Equal(t, g.Payload, h.Payload())

		ip := layers.IPv4{SrcIP: d.src.AsSlice(), DstIP: d.dst.AsSlice(), Protocol: layers.IPProtocolUDP}
		require.NoError(t, g.SetNetworkLayerForChecksum(&ip))
		verr, res := g.VerifyChecksum()
		require.NoError(t, verr)
		if h.Checksum() != 0 {
			assert.Equal(t, res.Valid, h.VerifyChecksum(d.src, d.dst), "datagram %d", i)
			if res.Valid {
				good++
				assert.Equal(t, h.Checksum(), h.ComputeChecksum(d.src, d.dst))
			}
		}
	}
	assert.Greater(t, good, 10)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0x30, 0x39, 0x00, 0x35, 0x00, 0x0b, 0, 0, 'a', 'b', 'c'}, []byte{10, 0, 0, 1, 10, 0, 0, 2})
	f.Add([]byte{0, 1, 0, 2, 0, 7, 0}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "captures")); err == nil {
		for _, d := range datagrams(capturetest.Frames(f, captureNames...)) {
			s, ds := d.src.As4(), d.dst.As4()
			f.Add(d.b, append(s[:], ds[:]...))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, addrs []byte) {
		h, err := Parse(in)
		if err != nil {
			return
		}
		var src, dst netip.Addr
		if len(addrs) >= 8 {
			src, dst = netip.AddrFrom4([4]byte(addrs[:4])), netip.AddrFrom4([4]byte(addrs[4:8]))
		}
		verified := h.VerifyChecksum(src, dst)
		out := make([]byte, h.Length())
		copy(out[HeaderLen:], h.Payload())
		o, err := Encode(out, h.SrcPort(), h.DstPort(), len(h.Payload()))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		o.SetChecksum(src, dst)
		if !o.VerifyChecksum(src, dst) {
			t.Fatal("re-encoded datagram does not verify")
		}
		if !bytes.Equal(o[:6], h[:6]) || !bytes.Equal(o.Payload(), h.Payload()) {
			t.Fatalf("re-encoded %x, parsed %x", []byte(o), []byte(h))
		}
		if h.Checksum() != 0 && verified != (h.Checksum() == o.Checksum()) {
			t.Fatalf("verified checksum %#x, computed %#x", h.Checksum(), o.Checksum())
		}
	})
}
