package icmpv6

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ipv6"
)

var (
	hostA = netip.MustParseAddr("2001:db8::a")
	hostB = netip.MustParseAddr("2001:db8::b")
)

// gopacketICMPv6 serializes an ICMPv6 message with gopacket, checksum
// computed over the pseudo-header, and returns the ICMPv6 bytes.
func gopacketICMPv6(t *testing.T, src, dst netip.Addr, tc layers.ICMPv6TypeCode, body ...gopacket.SerializableLayer) []byte {
	t.Helper()
	ip := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolICMPv6, HopLimit: 255, SrcIP: net.IP(src.AsSlice()), DstIP: net.IP(dst.AsSlice())}
	ic := &layers.ICMPv6{TypeCode: tc}
	require.NoError(t, ic.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	ls := append([]gopacket.SerializableLayer{ip, ic}, body...)
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ls...))
	return buf.Bytes()[ipv6.HeaderLen:]
}

func TestParse(t *testing.T) {
	t.Parallel()
	m, err := Echo(make([]byte, 64), TypeEchoRequest, 7, 9, []byte("hello"), hostA, hostB)
	require.NoError(t, err)
	tests := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		want     error
	}{
		{"valid", m, hostA, hostB, nil},
		{"addresses swapped still verify", m, hostB, hostA, nil},
		{"other destination", m, hostA, netip.MustParseAddr("2001:db8::c"), ErrChecksum},
		{"corrupt", append(append([]byte(nil), m[:9]...), m[9]^1, m[10], m[11], m[12]), hostA, hostB, ErrChecksum},
		{"truncated", m[:7], hostA, hostB, ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tc.b, tc.src, tc.dst)
			if tc.want != nil {
				assert.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, TypeEchoRequest, got.Type())
			assert.Equal(t, uint16(7), got.ID())
			assert.Equal(t, uint16(9), got.Seq())
			assert.Equal(t, []byte("hello"), got.Body())
		})
	}
}

func TestEchoMatchesGopacket(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 56, 3952} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i)
		}
		m, err := Echo(make([]byte, HeaderLen+n), TypeEchoRequest, 0x1234, 0x0102, data, hostA, hostB)
		require.NoError(t, err)
		want := gopacketICMPv6(t, hostA, hostB, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0),
			&layers.ICMPv6Echo{Identifier: 0x1234, SeqNumber: 0x0102}, gopacket.Payload(data))
		assert.Equal(t, want, []byte(m), "n=%d", n)
		// The reply built in place keeps a valid checksum.
		m.SetType(TypeEchoReply)
		assert.True(t, m.VerifyChecksum(hostB, hostA), "n=%d", n)
		want = gopacketICMPv6(t, hostB, hostA, layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0),
			&layers.ICMPv6Echo{Identifier: 0x1234, SeqNumber: 0x0102}, gopacket.Payload(data))
		assert.Equal(t, want, []byte(m), "n=%d reply", n)
	}
}

func TestErrorQuote(t *testing.T) {
	t.Parallel()
	invoking := make([]byte, 2000)
	invoking[0] = 0x60
	m, err := Error(make([]byte, 2000), TypePacketTooBig, 0, 1280, invoking, hostA, hostB)
	require.NoError(t, err)
	assert.Len(t, m, ipv6.MinMTU-ipv6.HeaderLen, "RFC 4443 2.4 (c): the error fits in the minimum MTU")
	assert.Equal(t, uint32(1280), m.Rest())
	assert.True(t, m.VerifyChecksum(hostA, hostB))
	small, err := Error(make([]byte, 100), TypeDestUnreach, CodePortUnreachable, 0, invoking[:48], hostA, hostB)
	require.NoError(t, err)
	assert.Len(t, small, 56)
	_, err = Error(make([]byte, 10), TypeDestUnreach, 0, 0, invoking[:48], hostA, hostB)
	assert.ErrorIs(t, err, ErrShortBuffer)
	assert.True(t, TypeParamProblem.IsError())
	assert.False(t, TypeEchoRequest.IsError())
	assert.Equal(t, "neighbor solicitation", TypeNeighborSolict.String())
}

func TestMaySendError(t *testing.T) {
	t.Parallel()
	pkt := func(src, dst string) ipv6.Header {
		b := make([]byte, ipv6.HeaderLen)
		h, err := ipv6.Encode(b, &ipv6.Fields{NextHeader: ipv6.ProtoUDP, HopLimit: 1, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst)}, 0)
		require.NoError(t, err)
		return h
	}
	uni := pkt("2001:db8::1", "2001:db8::2")
	multi := pkt("2001:db8::1", "ff02::1")
	tests := []struct {
		name        string
		invoking    ipv6.Header
		carried     Type
		t           Type
		code        uint8
		linkMulti   bool
		multicastOK bool
		want        bool
	}{
		{"unicast udp", uni, 0, TypeDestUnreach, CodePortUnreachable, false, false, true},
		{"about an error", uni, TypeDestUnreach, TypeParamProblem, 0, false, false, false},
		{"about a redirect", uni, TypeRedirect, TypeParamProblem, 0, false, false, false},
		{"about an echo request", uni, TypeEchoRequest, TypeTimeExceeded, 0, false, false, true},
		{"multicast destination", multi, 0, TypeDestUnreach, CodePortUnreachable, false, false, false},
		{"link multicast", uni, 0, TypeDestUnreach, CodePortUnreachable, true, false, false},
		{"too big to multicast", multi, 0, TypePacketTooBig, 0, false, false, true},
		{"option 10 to multicast", multi, 0, TypeParamProblem, 2, false, true, true},
		{"option 11 to multicast", multi, 0, TypeParamProblem, 2, false, false, false},
		{"unspecified source", pkt("::", "2001:db8::2"), 0, TypeDestUnreach, 0, false, false, false},
		{"multicast source", pkt("ff02::1", "2001:db8::2"), 0, TypeDestUnreach, 0, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, MaySendError(tc.invoking, tc.carried, tc.t, tc.code, tc.linkMulti, tc.multicastOK))
		})
	}
}

// TestRateLimiter checks the token bucket of RFC 4443 section 2.4 (f):
// a burst, then one token per interval, never more than the burst.
func TestRateLimiter(t *testing.T) {
	t.Parallel()
	start := clock.Time(time.Hour)
	r := NewRateLimiter(10, 3) // a token every 100 ms
	allowed := func(at clock.Time, n int) int {
		k := 0
		for range n {
			if r.Allow(at) {
				k++
			}
		}
		return k
	}
	assert.Equal(t, 3, allowed(start, 10), "the burst")
	assert.Equal(t, 0, allowed(start.Add(99*time.Millisecond), 5))
	assert.Equal(t, 1, allowed(start.Add(100*time.Millisecond), 5))
	assert.Equal(t, 2, allowed(start.Add(350*time.Millisecond), 5), "tokens at 200 and 300 ms")
	assert.Equal(t, 1, allowed(start.Add(400*time.Millisecond), 5), "the 50 ms remainder is kept")
	assert.Equal(t, 3, allowed(start.Add(time.Hour), 10), "never more than the burst")
	d := NewRateLimiter(0, 0)
	assert.Equal(t, DefaultErrorBurst, func() int {
		k := 0
		for d.Allow(start) {
			k++
		}
		return k
	}())
}
