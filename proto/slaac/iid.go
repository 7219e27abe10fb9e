// Package slaac implements IPv6 Stateless Address Autoconfiguration (RFC
// 4862) for one interface: stable, semantically opaque interface
// identifiers (RFC 7217), Duplicate Address Detection (section 5.4) and the
// processing of Prefix Information from Router Advertisements with their
// lifetimes (section 5.5.3). It is driven by received Neighbor
// Solicitations and Advertisements, received prefixes and timers on
// proto/clock; the messages it needs are asked of a Sink.
//
// Limits: no temporary addresses (RFC 8981), no Optimistic DAD (RFC 4429),
// no Enhanced DAD loopback detection (RFC 7527); the link-local address
// and every prefix use /64 with 64-bit identifiers.
package slaac

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
)

// StableIID returns the RFC 7217 section 5 interface identifier for a
// /64 prefix: the low 64 bits of the prefix are ignored, and RID = F(Prefix,
// Net_Iface, Network_ID, DAD_Counter, secret_key) with F the first 64 bits
// of SHA-256. An identifier that RFC 5453 reserves is skipped by counting
// DAD_Counter up (section 5, "if the resulting Interface Identifier is
// reserved"); the counter used is returned.
func StableIID(prefix netip.Prefix, netIface string, networkID []byte, dadCounter uint8, secret []byte) ([8]byte, uint8) {
	p := prefix.Masked().Addr().As16()
	for {
		h := sha256.New()
		h.Write(p[:8])
		h.Write([]byte(netIface))
		h.Write([]byte{0}) // separates Net_Iface from Network_ID
		h.Write(networkID)
		h.Write([]byte{dadCounter})
		h.Write(secret)
		var iid [8]byte
		copy(iid[:], h.Sum(nil))
		if !Reserved(iid) || dadCounter == 255 {
			return iid, dadCounter
		}
		dadCounter++
	}
}

// Reserved reports whether iid is a reserved interface identifier (RFC
// 5453 section 3): the Subnet-Router Anycast identifier (all zeros), the
// range 0200:5EFF:FE00:0000-0200:5EFF:FEFF:FFFF, and the subnet anycast
// range FDFF:FFFF:FFFF:FF80-FDFF:FFFF:FFFF:FFFF (RFC 2526).
func Reserved(iid [8]byte) bool {
	v := binary.BigEndian.Uint64(iid[:])
	switch {
	case v == 0:
		return true
	case v>>24 == 0x02005efffe:
		return true
	case v >= 0xfdffffffffffff80:
		return true
	}
	return false
}

// Address joins a /64 prefix and an interface identifier.
func Address(prefix netip.Prefix, iid [8]byte) netip.Addr {
	b := prefix.Masked().Addr().As16()
	copy(b[8:], iid[:])
	return netip.AddrFrom16(b)
}
