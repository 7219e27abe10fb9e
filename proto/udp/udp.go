// Package udp implements the RFC 768 User Datagram Protocol header: a
// zero-copy view, length validation and the checksum over the IPv4
// pseudo-header.
package udp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
)

// HeaderLen is the length of the UDP header.
const HeaderLen = 8

// protoUDP is UDP's IP protocol number, used in the pseudo-header.
const protoUDP = 17

// Errors returned by Parse and Encode.
var (
	ErrTruncated   = errors.New("udp: truncated datagram")
	ErrLength      = errors.New("udp: bad length field")
	ErrShortBuffer = errors.New("udp: buffer too short")
)

// Header is a view of a UDP datagram: header and payload. Accessors assume
// at least HeaderLen bytes, which Parse checks.
type Header []byte

// Parse checks that b holds a UDP header whose length field is at least
// HeaderLen and at most len(b), and returns the view over b[:Length]; bytes
// past the length field are excluded.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("parse udp header (%d bytes): %w", len(b), ErrTruncated)
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < HeaderLen || n > len(b) {
		return nil, fmt.Errorf("parse udp header (length %d, %d available): %w", n, len(b), ErrLength)
	}
	return Header(b[:n]), nil
}

// SrcPort returns the source port.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// DstPort returns the destination port.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Length returns the length field (header plus payload).
func (h Header) Length() int { return int(binary.BigEndian.Uint16(h[4:])) }

// Checksum returns the checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// Payload returns the data after the header.
func (h Header) Payload() []byte { return h[HeaderLen:h.Length()] }

// SetSrcPort sets the source port (the checksum is not updated).
func (h Header) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(h[0:], p) }

// SetDstPort sets the destination port (the checksum is not updated).
func (h Header) SetDstPort(p uint16) { binary.BigEndian.PutUint16(h[2:], p) }

func as4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if a.Is4() {
		return a.As4()
	}
	return [4]byte{}
}

// ComputeChecksum returns the checksum to transmit for h between src and
// dst: the complement of the sum over the pseudo-header and the datagram
// with the checksum field taken as zero. A computed zero is returned as
// 0xffff, since zero on the wire means "no checksum" (RFC 768).
func (h Header) ComputeChecksum(src, dst netip.Addr) uint16 {
	s := checksum.PseudoHeaderIPv4(as4(src), as4(dst), protoUDP, uint16(h.Length()))
	s = checksum.Sum(h[:6], s)
	s = checksum.Sum(h[HeaderLen:h.Length()], s)
	c := ^s
	if c == 0 {
		c = 0xffff
	}
	return c
}

// SetChecksum computes and stores the checksum for src and dst.
func (h Header) SetChecksum(src, dst netip.Addr) {
	binary.BigEndian.PutUint16(h[6:], h.ComputeChecksum(src, dst))
}

// VerifyChecksum reports whether the checksum verifies for src and dst. A
// zero checksum field means the sender computed none, which IPv4 allows
// (RFC 768; RFC 1122 section 4.1.3.4), and verifies.
func (h Header) VerifyChecksum(src, dst netip.Addr) bool {
	if h.Checksum() == 0 {
		return true
	}
	s := checksum.PseudoHeaderIPv4(as4(src), as4(dst), protoUDP, uint16(h.Length()))
	return checksum.Sum(h[:h.Length()], s) == 0xffff
}

// Encode writes a header for a datagram of payloadLen bytes the caller has
// placed (or will place) after it into b, with a zero checksum, and returns
// the view over b[:HeaderLen+payloadLen]. Call SetChecksum once the payload
// is in place.
func Encode(b []byte, srcPort, dstPort uint16, payloadLen int) (Header, error) {
	n := HeaderLen + payloadLen
	if payloadLen < 0 || n > 0xffff {
		return nil, fmt.Errorf("encode udp header (%d payload bytes): %w", payloadLen, ErrLength)
	}
	if len(b) < n {
		return nil, fmt.Errorf("encode udp header (%d bytes needed, %d available): %w", n, len(b), ErrShortBuffer)
	}
	h := Header(b[:n])
	binary.BigEndian.PutUint16(h[0:], srcPort)
	binary.BigEndian.PutUint16(h[2:], dstPort)
	binary.BigEndian.PutUint16(h[4:], uint16(n))
	h[6], h[7] = 0, 0
	return h, nil
}
