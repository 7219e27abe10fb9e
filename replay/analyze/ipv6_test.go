package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// v6Frame wraps an IPv6 packet in an Ethernet header.
func v6Frame(pkt []byte) []byte {
	f := make([]byte, ether.HeaderLen+len(pkt))
	ether.Encode(f, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv6)
	copy(f[ether.HeaderLen:], pkt)
	return f
}

// v6Packet builds an IPv6 packet around payload.
func v6Packet(tb testing.TB, src, dst netip.Addr, next uint8, payload []byte) ipv6.Header {
	tb.Helper()
	b := make([]byte, ipv6.HeaderLen+len(payload))
	copy(b[ipv6.HeaderLen:], payload)
	h, err := ipv6.Encode(b, &ipv6.Fields{NextHeader: next, HopLimit: 64, Src: src, Dst: dst}, len(payload))
	require.NoError(tb, err)
	return h
}

// TestIPv6Counts checks the ipv6, icmpv6 and ipv6_fragments counts on
// crafted frames: an echo in three fragments (ICMPv6 counts where it is
// reassembled, as in tshark), a Neighbor Solicitation, UDP, and an ICMPv6
// error quoting a fragment (its quoted Fragment header counts).
func TestIPv6Counts(t *testing.T) {
	t.Parallel()
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	echo, err := icmpv6.Echo(make([]byte, 4008), icmpv6.TypeEchoRequest, 1, 1, make([]byte, 4000), a, b)
	require.NoError(t, err)
	var frames [][]byte
	var frag0 []byte
	require.NoError(t, ipv6.Fragment(make([]byte, 1500), v6Packet(t, a, b, ipv6.ProtoICMPv6, echo), 1500, 9, func(f ipv6.Header) error {
		if frag0 == nil {
			frag0 = append([]byte(nil), f...)
		}
		frames = append(frames, v6Frame(f))
		return nil
	}))
	require.Len(t, frames, 3)
	sn := ipv6.SolicitedNode(b)
	ns, err := icmpv6.NeighborSolicitation(make([]byte, 64), a, sn, b, nil)
	require.NoError(t, err)
	frames = append(frames, v6Frame(v6Packet(t, a, sn, ipv6.ProtoICMPv6, ns)))
	frames = append(frames, udpV6(t, a, b))
	ptb, err := icmpv6.Error(make([]byte, 1500), icmpv6.TypePacketTooBig, 0, 1280, frag0, b, a)
	require.NoError(t, err)
	frames = append(frames, v6Frame(v6Packet(t, b, a, ipv6.ProtoICMPv6, ptb)))

	res, protos := analyzeFrames(frames...)
	c := res.Counts
	assert.Equal(t, 6, c.IPv6)
	assert.Equal(t, 3, c.ICMPv6, "the reassembled echo, the NS and the error")
	assert.Equal(t, 4, c.IPv6Fragments, "three fragments and the quoted one")
	assert.Equal(t, 1, c.UDP)
	want := []string{"ipv6 ipv6_fragments", "ipv6 ipv6_fragments", "ipv6 ipv6_fragments icmpv6", "ipv6 icmpv6", "ipv6 udp", "ipv6 icmpv6 ipv6_fragments"}
	for i, w := range want {
		for _, name := range []string{"ipv6", "icmpv6", "ipv6_fragments", "udp"} {
			assert.Equal(t, slices.Contains(strings.Fields(w), name), protos[i].Has(name), "frame %d: %s", i+1, name)
		}
	}
	assert.Equal(t, c.IPv6, c.Get("ipv6"))
	assert.Equal(t, c.ICMPv6, c.Get("icmpv6"))
	assert.Equal(t, c.IPv6Fragments, c.Get("ipv6_fragments"))
}

// udpV6 builds an Ethernet/IPv6/UDP frame with a valid checksum.
func udpV6(tb testing.TB, a, b netip.Addr) []byte {
	u := []byte{0x9c, 0x40, 0x27, 0x0f, 0, 12, 0, 0, 'p', 'i', 'n', 'g'}
	cs := ipv6.UpperChecksum(a.As16(), b.As16(), ipv6.ProtoUDP, u)
	u[6], u[7] = byte(cs>>8), byte(cs)
	return v6Frame(v6Packet(tb, a, b, ipv6.ProtoUDP, u))
}
