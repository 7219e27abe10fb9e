// Package udpapp holds the built-in UDP apps: a sender that emits numbered
// datagrams at a fixed interval and a sink that verifies them byte by byte
// and counts losses, duplicates and reordering.
//
// Every datagram carries its sequence number and length, and the rest of
// its bytes are a pattern derived from the sequence number, so the sink can
// check each datagram on its own:
//
//	0       8          12         16
//	| seq   | length   | check    | pattern(seq) ...
//
// where check and pattern are derived from a 64-bit mix of seq, so a change
// to any byte is detected.
package udpapp

import "encoding/binary"

// HeaderLen is the smallest datagram the apps send: sequence number,
// length and check word.
const HeaderLen = 16

// magic marks a simnet UDP app datagram (mixed into the check word).
const magic = 0x736e7564 // "snud"

// Fill writes the datagram with sequence number seq into b (len(b) >=
// HeaderLen).
func Fill(b []byte, seq uint64) {
	binary.BigEndian.PutUint64(b[0:8], seq)
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)))
	x := mix(seq)
	binary.BigEndian.PutUint32(b[12:16], magic^uint32(x>>32))
	i := HeaderLen
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], patternWord(x, i))
	}
	for ; i < len(b); i++ {
		b[i] = patternByte(x, i)
	}
}

// patternByte is byte i of the pattern for mix x.
func patternByte(x uint64, i int) byte { return byte(x>>(8*(i&7))) ^ byte(i) }

// patternWord is bytes i..i+7 of the pattern (i a multiple of 8), little
// endian: byte(i)+k never carries into the next byte for k < 8.
func patternWord(x uint64, i int) uint64 {
	return x ^ (uint64(byte(i))*0x0101010101010101 + 0x0706050403020100)
}

// Check returns the sequence number of datagram b and whether every byte of
// b is what Fill wrote for it.
func Check(b []byte) (seq uint64, ok bool) {
	if len(b) < HeaderLen {
		return 0, false
	}
	seq = binary.BigEndian.Uint64(b[0:8])
	x := mix(seq)
	if binary.BigEndian.Uint32(b[8:12]) != uint32(len(b)) || binary.BigEndian.Uint32(b[12:16]) != magic^uint32(x>>32) {
		return seq, false
	}
	i := HeaderLen
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != patternWord(x, i) {
			return seq, false
		}
	}
	for ; i < len(b); i++ {
		if b[i] != patternByte(x, i) {
			return seq, false
		}
	}
	return seq, true
}

// mix is SplitMix64's finaliser: a change to any bit of seq changes the
// whole pattern.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
