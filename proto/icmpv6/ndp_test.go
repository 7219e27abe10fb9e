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

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv6"
)

var (
	macA    = ether.Addr{0x02, 0, 0, 0, 0, 0x0a}
	macB    = ether.Addr{0x02, 0, 0, 0, 0, 0x0b}
	llA     = netip.MustParseAddr("fe80::a")
	llB     = netip.MustParseAddr("fe80::b")
	prefix  = netip.MustParsePrefix("2001:db8:1::/64")
	snodeB  = ipv6.SolicitedNode(hostB)
	noAddr  = netip.IPv6Unspecified()
	optSLLA = AppendLinkAddr(nil, OptSourceLinkAddr, macA)
)

func ip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

// TestNDMatchesGopacket builds each Neighbor Discovery message with ours
// and with gopacket, compares the bytes (checksum included), and decodes
// ours with gopacket.
func TestNDMatchesGopacket(t *testing.T) {
	t.Parallel()
	pi := PrefixInfo{Prefix: prefix, OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400}
	// gopacket writes options in reverse order.
	raOpts := AppendLinkAddr(AppendPrefixInfo(AppendMTU(nil, 1500), pi), OptSourceLinkAddr, macA)
	gpPI := make([]byte, 30)
	copy(gpPI, raOpts[10:40])
	tests := []struct {
		name     string
		src, dst netip.Addr
		build    func(b []byte) (Message, error)
		tc       uint8
		body     gopacket.SerializableLayer
	}{
		{"neighbor solicitation", hostA, snodeB, func(b []byte) (Message, error) {
			return NeighborSolicitation(b, hostA, snodeB, hostB, optSLLA)
		}, layers.ICMPv6TypeNeighborSolicitation, &layers.ICMPv6NeighborSolicitation{TargetAddress: ip(hostB),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macA[:]}}}},
		{"duplicate address detection", noAddr, snodeB, func(b []byte) (Message, error) {
			return NeighborSolicitation(b, noAddr, snodeB, hostB, nil)
		}, layers.ICMPv6TypeNeighborSolicitation, &layers.ICMPv6NeighborSolicitation{TargetAddress: ip(hostB)}},
		{"neighbor advertisement", hostB, hostA, func(b []byte) (Message, error) {
			return NeighborAdvertisement(b, hostB, hostA, hostB, FlagSolicited|FlagOverride, AppendLinkAddr(nil, OptTargetLinkAddr, macB))
		}, layers.ICMPv6TypeNeighborAdvertisement, &layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: ip(hostB),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: macB[:]}}}},
		{"router solicitation", llB, ipv6.AllRouters, func(b []byte) (Message, error) {
			return RouterSolicitation(b, llB, ipv6.AllRouters, AppendLinkAddr(nil, OptSourceLinkAddr, macB))
		}, layers.ICMPv6TypeRouterSolicitation, &layers.ICMPv6RouterSolicitation{
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: macB[:]}}}},
		{"router advertisement", llA, ipv6.AllNodes, func(b []byte) (Message, error) {
			return RouterAdvertisement(b, llA, ipv6.AllNodes, &RAFields{CurHopLimit: 64, Flags: FlagOther,
				RouterLifetime: 1800 * time.Second, ReachableTime: 30 * time.Second, RetransTimer: time.Second}, raOpts)
		}, layers.ICMPv6TypeRouterAdvertisement, &layers.ICMPv6RouterAdvertisement{HopLimit: 64, Flags: 0x40,
			RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000, Options: layers.ICMPv6Options{
				{Type: layers.ICMPv6OptSourceAddress, Data: macA[:]},
				{Type: layers.ICMPv6OptPrefixInfo, Data: gpPI},
				{Type: layers.ICMPv6OptMTU, Data: []byte{0, 0, 0, 0, 5, 0xdc}},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := tc.build(make([]byte, 256))
			require.NoError(t, err)
			want := gopacketICMPv6(t, tc.src, tc.dst, layers.CreateICMPv6TypeCode(tc.tc, 0), tc.body)
			assert.Equal(t, want, []byte(m))
			_, err = Parse(m, tc.src, tc.dst)
			require.NoError(t, err)
			require.NoError(t, ValidateND(m, HopLimit, tc.src, tc.dst))
			p := gopacket.NewPacket(m, layers.LayerTypeICMPv6, gopacket.Default)
			require.Nil(t, p.ErrorLayer())
			assert.Equal(t, tc.tc, p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6).TypeCode.Type())
		})
	}
}

// TestNDViews reads back what the builders wrote through the views.
func TestNDViews(t *testing.T) {
	t.Parallel()
	pi := PrefixInfo{Prefix: prefix, OnLink: true, Autonomous: true, ValidLifetime: Infinite, PreferredLifetime: 600}
	opts := AppendMTU(AppendPrefixInfo(AppendLinkAddr(nil, OptSourceLinkAddr, macA), pi), 1400)
	ra, err := RouterAdvertisement(make([]byte, 128), llA, ipv6.AllNodes, &RAFields{CurHopLimit: 64, Flags: FlagManaged,
		RouterLifetime: 9000 * time.Second, ReachableTime: 1500 * time.Millisecond, RetransTimer: 2 * time.Second}, opts)
	require.NoError(t, err)
	assert.Equal(t, uint8(64), ra.CurHopLimit())
	assert.Equal(t, FlagManaged, ra.RAFlags())
	assert.Equal(t, 9000*time.Second, ra.RouterLifetime())
	assert.Equal(t, 1500*time.Millisecond, ra.ReachableTime())
	assert.Equal(t, 2*time.Second, ra.RetransTimer())
	it := Options(ra.NDOptions())
	var types []uint8
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		types = append(types, o.Type())
		switch o.Type() {
		case OptSourceLinkAddr:
			mac, ok := o.LinkAddr()
			assert.True(t, ok)
			assert.Equal(t, macA, mac)
		case OptPrefixInfo:
			got, ok := o.PrefixInfo()
			assert.True(t, ok)
			assert.Equal(t, pi, got)
		case OptMTU:
			assert.Equal(t, uint32(1400), o.MTU())
		}
	}
	require.NoError(t, it.Err())
	assert.Equal(t, []uint8{OptSourceLinkAddr, OptPrefixInfo, OptMTU}, types)
	o, ok := FindOption(ra.NDOptions(), OptMTU)
	require.True(t, ok)
	assert.Equal(t, uint32(1400), o.MTU())
	_, ok = FindOption(ra.NDOptions(), OptTargetLinkAddr)
	assert.False(t, ok)

	na, err := NeighborAdvertisement(make([]byte, 64), hostB, ipv6.AllNodes, hostB, FlagRouter|FlagOverride, nil)
	require.NoError(t, err)
	assert.Equal(t, FlagRouter|FlagOverride, na.NAFlags())
	assert.Equal(t, hostB, na.Target())
	assert.Empty(t, na.NDOptions())
	_, err = NeighborAdvertisement(make([]byte, 20), hostB, ipv6.AllNodes, hostB, 0, nil)
	assert.ErrorIs(t, err, ErrShortBuffer)
}

// TestValidateND covers the silent-discard rules of RFC 4861 sections
// 6.1 and 7.1.
func TestValidateND(t *testing.T) {
	t.Parallel()
	mk := func(f func(b []byte) (Message, error)) Message {
		m, err := f(make([]byte, 128))
		require.NoError(t, err)
		return m
	}
	ns := mk(func(b []byte) (Message, error) { return NeighborSolicitation(b, hostA, snodeB, hostB, optSLLA) })
	dad := mk(func(b []byte) (Message, error) { return NeighborSolicitation(b, noAddr, snodeB, hostB, nil) })
	dadSLL := mk(func(b []byte) (Message, error) { return NeighborSolicitation(b, noAddr, snodeB, hostB, optSLLA) })
	nsMcastTarget := mk(func(b []byte) (Message, error) { return NeighborSolicitation(b, hostA, snodeB, ipv6.AllNodes, nil) })
	naSolMcast := mk(func(b []byte) (Message, error) {
		return NeighborAdvertisement(b, hostB, ipv6.AllNodes, hostB, FlagSolicited, nil)
	})
	naUnsol := mk(func(b []byte) (Message, error) {
		return NeighborAdvertisement(b, hostB, ipv6.AllNodes, hostB, FlagOverride, nil)
	})
	ra := mk(func(b []byte) (Message, error) { return RouterAdvertisement(b, llA, ipv6.AllNodes, &RAFields{}, nil) })
	rsSLL := mk(func(b []byte) (Message, error) { return RouterSolicitation(b, noAddr, ipv6.AllRouters, optSLLA) })
	zeroLen := append(append(Message(nil), ns[:NSLen]...), OptSourceLinkAddr, 0, 0, 0, 0, 0, 0, 0)
	code1 := append(Message(nil), ns...)
	code1[1] = 1
	echo := mk(func(b []byte) (Message, error) { return Echo(b, TypeEchoRequest, 1, 1, nil, hostA, hostB) })
	tests := []struct {
		name     string
		m        Message
		hop      uint8
		src, dst netip.Addr
		ok       bool
	}{
		{"ns", ns, 255, hostA, snodeB, true},
		{"ns hop limit 64", ns, 64, hostA, snodeB, false},
		{"ns code 1", code1, 255, hostA, snodeB, false},
		{"ns truncated", ns[:20], 255, hostA, snodeB, false},
		{"ns option of length 0", zeroLen, 255, hostA, snodeB, false},
		{"ns multicast target", nsMcastTarget, 255, hostA, snodeB, false},
		{"dad", dad, 255, noAddr, snodeB, true},
		{"dad to all-nodes", dad, 255, noAddr, ipv6.AllNodes, false},
		{"dad with source link address", dadSLL, 255, noAddr, snodeB, false},
		{"solicited na to multicast", naSolMcast, 255, hostB, ipv6.AllNodes, false},
		{"unsolicited na to multicast", naUnsol, 255, hostB, ipv6.AllNodes, true},
		{"ra from link-local", ra, 255, llA, ipv6.AllNodes, true},
		{"ra from global", ra, 255, hostA, ipv6.AllNodes, false},
		{"rs unspecified with source link address", rsSLL, 255, noAddr, ipv6.AllRouters, false},
		{"not neighbor discovery", echo, 255, hostA, hostB, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateND(tc.m, tc.hop, tc.src, tc.dst)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		b    []byte
		n    int
	}{
		{"zero length", []byte{1, 0, 0, 0, 0, 0, 0, 0}, 0},
		{"overrun", []byte{1, 2, 0, 0, 0, 0, 0, 0}, 0},
		{"one byte", []byte{1}, 0},
		{"good then zero", append(AppendMTU(nil, 1500), 5, 0), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			it := Options(tc.b)
			n := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				n++
			}
			assert.Equal(t, tc.n, n)
			assert.ErrorIs(t, it.Err(), ErrOption)
		})
	}
	_, ok := Option([]byte{3, 4, 200}).PrefixInfo()
	assert.False(t, ok, "short prefix information")
	_, ok = Option([]byte{1, 1}).LinkAddr()
	assert.False(t, ok)
}
