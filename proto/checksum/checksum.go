// Package checksum implements the Internet checksum of RFC 1071: the 16-bit
// ones' complement of the ones' complement sum of the data taken as 16-bit
// big-endian words.
//
// Sums are computed word-at-a-time: eight bytes per step accumulated into a
// uint64 with end-around carry, which RFC 1071 section 2(C) allows because the
// ones' complement sum is independent of the word size as long as the result
// is folded back to 16 bits. Incremental update after a field rewrite follows
// RFC 1624.
package checksum

import (
	"encoding/binary"
	"math/bits"
)

// Sum returns the ones' complement sum of b, folded to 16 bits, added to
// initial. It is not complemented; use Checksum for the final value. b is
// taken to start at an even offset of the checksummed data: a trailing odd
// byte is padded with a zero byte on the right (RFC 1071 section 4.1).
func Sum(b []byte, initial uint16) uint16 {
	acc := uint64(initial)
	var c uint64
	for len(b) >= 32 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), c)
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, c = bits.Add64(acc, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint32(b)), c)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, c = bits.Add64(acc, uint64(binary.BigEndian.Uint16(b)), c)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, c = bits.Add64(acc, uint64(b[0])<<8, c)
	}
	// End-around carry: 2^64 = 1 modulo 2^64-1.
	acc, c = bits.Add64(acc, 0, c)
	acc += c
	return fold64(acc)
}

// fold64 folds a 64-bit end-around-carry sum to 16 bits.
func fold64(x uint64) uint16 {
	x = (x >> 32) + (x & 0xffffffff)
	x = (x >> 32) + (x & 0xffffffff)
	x = (x >> 16) + (x & 0xffff)
	x = (x >> 16) + (x & 0xffff)
	x = (x >> 16) + (x & 0xffff)
	return uint16(x)
}

// Combine returns the ones' complement sum of two folded partial sums.
func Combine(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s>>16 + s&0xffff)
}

// Checksum returns the Internet checksum of b: the complement of Sum(b, 0).
// Verifying data that includes its own checksum field yields 0.
func Checksum(b []byte) uint16 { return ^Sum(b, 0) }

// Finish complements a partial sum into the value written to the wire.
func Finish(sum uint16) uint16 { return ^sum }

// PseudoHeaderIPv4 returns the partial sum of the IPv4 pseudo-header used by
// UDP (RFC 768) and TCP (RFC 793 section 3.1): source and destination
// address, zero, protocol and the transport length.
func PseudoHeaderIPv4(src, dst [4]byte, proto uint8, length uint16) uint16 {
	s := uint32(binary.BigEndian.Uint16(src[:])) + uint32(binary.BigEndian.Uint16(src[2:]))
	s += uint32(binary.BigEndian.Uint16(dst[:])) + uint32(binary.BigEndian.Uint16(dst[2:]))
	s += uint32(proto) + uint32(length)
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// Update returns the checksum hc after a 16-bit field of the covered data
// changed from old to new, per RFC 1624 section 3 equation 3:
// HC' = ~(~HC + ~m + m'). Unlike equation 2 it never yields the -0
// (0xffff) form unless the true checksum is 0xffff.
func Update(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return ^uint16(s)
}

// Update32 is Update for a 32-bit field (an IPv4 address) made of two words.
func Update32(hc uint16, old, new uint32) uint16 {
	hc = Update(hc, uint16(old>>16), uint16(new>>16))
	return Update(hc, uint16(old), uint16(new))
}
