package analyze

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay/input"
)

// Crafted-packet builders for the tests and the benchmark, written with
// simnet's own encoders.

var (
	macA = ether.Addr{2, 0, 0, 0, 0, 0xa}
	macB = ether.Addr{2, 0, 0, 0, 0, 0xb}
	ipA  = netip.MustParseAddr("10.0.0.1")
	ipB  = netip.MustParseAddr("10.0.0.2")
)

// ipFrame wraps an IPv4 payload in IPv4 and Ethernet headers. mod may
// adjust the IPv4 fields.
func ipFrame(tb testing.TB, src, dst netip.Addr, proto uint8, payload []byte, mod func(*ipv4.Fields)) []byte {
	tb.Helper()
	f := ipv4.Fields{TTL: 64, Protocol: proto, Src: src, Dst: dst, ID: 7}
	if mod != nil {
		mod(&f)
	}
	b := make([]byte, ether.HeaderLen+f.HeaderLen()+len(payload))
	ether.Encode(b, macB, macA, ether.TypeIPv4)
	copy(b[ether.HeaderLen+f.HeaderLen():], payload)
	_, err := ipv4.Encode(b[ether.HeaderLen:], &f, len(payload))
	require.NoError(tb, err)
	return b
}

// segment builds an Ethernet/IPv4/TCP frame.
func segment(tb testing.TB, src, dst netip.Addr, sp, dp uint16, seq, ack uint32, flags uint8, payload []byte) []byte {
	tb.Helper()
	b := make([]byte, tcp.HeaderLen+len(payload))
	n, err := tcp.Encode(b, tcp.Fields{SrcPort: sp, DstPort: dp, Seq: seq, Ack: ack, Flags: flags, Window: 65535}, nil, payload, src, dst)
	require.NoError(tb, err)
	return ipFrame(tb, src, dst, ipv4.ProtoTCP, b[:n], nil)
}

// udpFrame builds an Ethernet/IPv4/UDP frame.
func udpFrame(tb testing.TB, src, dst netip.Addr, sp, dp uint16, payload []byte) []byte {
	tb.Helper()
	b := make([]byte, udp.HeaderLen+len(payload))
	h, err := udp.Encode(b, sp, dp, len(payload))
	require.NoError(tb, err)
	copy(h.Payload(), payload)
	h.SetChecksum(src, dst)
	return ipFrame(tb, src, dst, ipv4.ProtoUDP, h, nil)
}

// analyzeFrames runs the analysis over Ethernet frames and returns the
// result and each frame's protocols.
func analyzeFrames(frames ...[]byte) (*Result, []Protocols) {
	a := New()
	var ps []Protocols
	for i, b := range frames {
		f := input.Frame{Index: i, LinkType: input.LinkEthernet, Data: b, CapLen: len(b), OrigLen: len(b)}
		var err error
		if nerr := input.Normalise(&f); nerr != nil {
			err = &input.FrameError{Index: i, Err: nerr}
		}
		ps = append(ps, a.Frame(&f, err))
	}
	return a.Result(), ps
}

// pcapOf writes frames as an Ethernet pcap.
func pcapOf(tb testing.TB, frames ...[]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	require.NoError(tb, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		require.NoError(tb, w.WritePacket(ci, f))
	}
	return buf.Bytes()
}
