package qdisc

import (
	"encoding/binary"

	"github.com/simnet-go/simnet/proto/checksum"
)

// ECN codepoints of the IP header's two ECN bits (RFC 3168 section 5).
const (
	NotECT = 0b00
	ECT1   = 0b01
	ECT0   = 0b10
	CE     = 0b11
)

const (
	etherHeaderLen = 14
	etherTypeIPv4  = 0x0800
	etherTypeIPv6  = 0x86dd
)

// ECNField returns the ECN codepoint of an Ethernet frame's IPv4 or IPv6
// packet, and false when the frame carries neither.
func ECNField(frame []byte) (uint8, bool) {
	if len(frame) < etherHeaderLen+2 {
		return 0, false
	}
	ip := frame[etherHeaderLen:]
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case etherTypeIPv4:
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return 0, false
		}
		return ip[1] & 3, true
	case etherTypeIPv6:
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return 0, false
		}
		return (ip[1] >> 4) & 3, true
	}
	return 0, false
}

// MarkCE sets Congestion Experienced in an Ethernet frame's IP header when
// the packet is ECN-capable, as Linux's INET_ECN_set_ce does, and reports
// whether the frame now carries CE. A Not-ECT packet is left alone (the
// caller drops it instead, RFC 3168 section 5); a packet already CE counts
// as marked. IPv4's header checksum is updated incrementally (RFC 1624
// equation 3), so the rest of the header is never summed again.
func MarkCE(frame []byte) bool {
	ecn, ok := ECNField(frame)
	if !ok || ecn == NotECT {
		return false
	}
	if ecn == CE {
		return true
	}
	ip := frame[etherHeaderLen:]
	if ip[0]>>4 == 4 {
		old := binary.BigEndian.Uint16(ip[0:2])
		ip[1] |= CE
		hc := checksum.Update(binary.BigEndian.Uint16(ip[10:12]), old, binary.BigEndian.Uint16(ip[0:2]))
		binary.BigEndian.PutUint16(ip[10:12], hc)
		return true
	}
	ip[1] |= CE << 4
	return true
}

// flowHash hashes an Ethernet frame's flow: the IP addresses, the protocol
// and, for TCP, UDP, SCTP and DCCP on an unfragmented IPv4 packet or an IPv6
// packet without extension headers, the ports. Other frames hash their
// Ethernet addresses and type. perturb is mixed in as Linux's flow hash
// mixes its random key.
func flowHash(frame []byte, perturb uint64) uint64 {
	h := perturb ^ 0xcbf29ce484222325
	mix := func(v uint64) {
		h ^= v
		h *= 0x100000001b3
		h ^= h >> 29
	}
	if len(frame) < etherHeaderLen {
		mix(uint64(len(frame)))
		return h
	}
	ip := frame[etherHeaderLen:]
	var l4 []byte
	proto := uint8(0)
	switch et := binary.BigEndian.Uint16(frame[12:14]); {
	case et == etherTypeIPv4 && len(ip) >= 20 && ip[0]>>4 == 4:
		proto = ip[9]
		mix(uint64(binary.BigEndian.Uint32(ip[12:16]))<<32 | uint64(binary.BigEndian.Uint32(ip[16:20])))
		ihl := int(ip[0]&15) * 4
		fragmented := binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0
		if !fragmented && ihl >= 20 && len(ip) >= ihl+4 {
			l4 = ip[ihl:]
		}
	case et == etherTypeIPv6 && len(ip) >= 40 && ip[0]>>4 == 6:
		proto = ip[6]
		for i := 8; i < 40; i += 8 {
			mix(binary.BigEndian.Uint64(ip[i : i+8]))
		}
		if len(ip) >= 44 {
			l4 = ip[40:]
		}
	default:
		mix(uint64(binary.BigEndian.Uint32(frame[0:4])))
		mix(uint64(binary.BigEndian.Uint64(frame[4:12])))
		mix(uint64(et))
		return h
	}
	mix(uint64(proto))
	switch proto {
	case 6, 17, 33, 132: // TCP, UDP, DCCP, SCTP: ports first
		if l4 != nil {
			mix(uint64(binary.BigEndian.Uint32(l4[0:4])))
		}
	}
	return h
}
