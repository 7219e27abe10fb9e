package tcp

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// isnKey is the secret of RFC 6528's F(): a 128-bit SipHash key drawn from
// the stack's random source.
type isnKey struct{ k0, k1 uint64 }

// hash4 returns SipHash-2-4 of the connection's four-tuple under key.
func (k isnKey) hash4(la netip.Addr, lp uint16, ra netip.Addr, rp uint16) uint64 {
	var b [40]byte
	l16, r16 := la.As16(), ra.As16()
	copy(b[0:], l16[:])
	copy(b[16:], r16[:])
	binary.BigEndian.PutUint16(b[32:], lp)
	binary.BigEndian.PutUint16(b[34:], rp)
	return siphash(k.k0, k.k1, b[:36])
}

// siphash is SipHash-2-4 (Aumasson and Bernstein) over msg.
func siphash(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		round()
		round()
		v0 ^= m
		msg = msg[8:]
	}
	var last [8]byte
	copy(last[:], msg)
	last[7] = byte(n)
	m := binary.LittleEndian.Uint64(last[:])
	v3 ^= m
	round()
	round()
	v0 ^= m
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
