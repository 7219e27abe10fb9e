package ipv6

import (
	"net/netip"

	"github.com/simnet-go/simnet/proto/ether"
)

// Well-known multicast addresses (RFC 4291 section 2.7.1).
var (
	AllNodes   = netip.MustParseAddr("ff02::1")
	AllRouters = netip.MustParseAddr("ff02::2")
)

// SolicitedNode returns the solicited-node multicast address of a
// (RFC 4291 section 2.7.1): ff02::1:ff00:0/104 with the low 24 bits of a.
func SolicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// MulticastMAC returns the Ethernet address an IPv6 multicast address maps
// to (RFC 2464 section 7): 33:33 followed by its last four bytes.
func MulticastMAC(a netip.Addr) ether.Addr {
	b := a.As16()
	return ether.Addr{0x33, 0x33, b[12], b[13], b[14], b[15]}
}

// LinkLocal returns the link-local address fe80::/64 with interface
// identifier iid (RFC 4291 section 2.5.6).
func LinkLocal(iid [8]byte) netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	copy(b[8:], iid[:])
	return netip.AddrFrom16(b)
}

// EUI64 returns the modified EUI-64 interface identifier of a MAC address
// (RFC 4291 appendix A): ff:fe inserted in the middle and the
// universal/local bit inverted. RFC 8064 recommends stable opaque
// identifiers (RFC 7217) for addresses instead.
func EUI64(mac ether.Addr) [8]byte {
	return [8]byte{mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
}
