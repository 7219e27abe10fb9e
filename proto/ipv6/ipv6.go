// Package ipv6 implements the RFC 8200 Internet Protocol, Version 6: a
// zero-copy header view, a builder, extension-header walking (section 4),
// fragmentation on send and bounded reassembly (section 4.5, RFC 5722,
// RFC 6946, RFC 7112) and the upper-layer pseudo-header checksum (section
// 8.1).
//
// Limits: jumbograms (RFC 2675) are refused; Hop-by-Hop and Destination
// options are walked and checked for the action their type demands (section
// 4.2) but none is interpreted; a Routing header with Segments Left above
// zero is refused (a host is never an intermediate node of a source route,
// and type 0 is deprecated by RFC 5095); AH and ESP end the walk like an
// upper-layer protocol.
package ipv6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
)

// Sizes and limits (RFC 8200 sections 3 and 5).
const (
	HeaderLen = 40
	Version   = 6
	// MinMTU is the smallest link MTU IPv6 requires (section 5).
	MinMTU = 1280
	// MaxPayloadLen is the largest Payload Length field.
	MaxPayloadLen = 65535
)

// Next Header values (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoHopByHop uint8 = 0
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoESP      uint8 = 50
	ProtoAH       uint8 = 51
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDestOpts uint8 = 60
)

// Errors returned by Parse and Encode.
var (
	ErrTruncated   = errors.New("ipv6: truncated packet")
	ErrVersion     = errors.New("ipv6: not version 6")
	ErrPayloadLen  = errors.New("ipv6: bad payload length")
	ErrJumbo       = errors.New("ipv6: jumbograms are not supported")
	ErrBadField    = errors.New("ipv6: field out of range")
	ErrShortBuffer = errors.New("ipv6: buffer too short")
)

// Header is a view of an IPv6 packet: the fixed header followed by the
// payload (extension headers and upper-layer data). Accessors assume the
// bytes passed Parse (or were written by Encode).
type Header []byte

// Parse validates b as an IPv6 packet and returns the view over
// b[:40+PayloadLen]; bytes past the payload length (link padding) are
// excluded. Checks: version 6, the fixed header within b, and the payload
// length within b. A zero payload length with a Hop-by-Hop header is a
// jumbogram (RFC 2675) and is refused.
func Parse(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("parse ipv6 header (%d bytes): %w", len(b), ErrTruncated)
	}
	if v := b[0] >> 4; v != Version {
		return nil, fmt.Errorf("parse ipv6 header (version %d): %w", v, ErrVersion)
	}
	pl := int(binary.BigEndian.Uint16(b[4:]))
	if pl == 0 && b[6] == ProtoHopByHop {
		return nil, fmt.Errorf("parse ipv6 header: %w", ErrJumbo)
	}
	if HeaderLen+pl > len(b) {
		return nil, fmt.Errorf("parse ipv6 header (payload length %d, %d available): %w", pl, len(b)-HeaderLen, ErrPayloadLen)
	}
	return Header(b[:HeaderLen+pl]), nil
}

// Version returns the version field.
func (h Header) Version() uint8 { return h[0] >> 4 }

// TrafficClass returns the traffic class (DSCP and ECN, RFC 8200 section 7).
func (h Header) TrafficClass() uint8 { return uint8(binary.BigEndian.Uint16(h[0:]) >> 4) }

// FlowLabel returns the 20-bit flow label (RFC 6437).
func (h Header) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[0:]) & 0xfffff }

// PayloadLen returns the payload length field: the bytes after the fixed
// header, extension headers included.
func (h Header) PayloadLen() int { return int(binary.BigEndian.Uint16(h[4:])) }

// NextHeader returns the type of the header after the fixed header.
func (h Header) NextHeader() uint8 { return h[6] }

// HopLimit returns the hop limit.
func (h Header) HopLimit() uint8 { return h[7] }

// Src16 returns the source address bytes.
func (h Header) Src16() [16]byte { return [16]byte(h[8:24]) }

// Dst16 returns the destination address bytes.
func (h Header) Dst16() [16]byte { return [16]byte(h[24:40]) }

// Src returns the source address.
func (h Header) Src() netip.Addr { return netip.AddrFrom16(h.Src16()) }

// Dst returns the destination address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom16(h.Dst16()) }

// Payload returns the bytes after the fixed header, up to the payload
// length.
func (h Header) Payload() []byte { return h[HeaderLen : HeaderLen+h.PayloadLen()] }

// SetHopLimit sets the hop limit (IPv6 has no header checksum to update).
func (h Header) SetHopLimit(v uint8) { h[7] = v }

// SetPayloadLen sets the payload length field.
func (h Header) SetPayloadLen(n int) { binary.BigEndian.PutUint16(h[4:], uint16(n)) }

// PseudoHeaderSum returns the partial sum of the pseudo-header (RFC 8200
// section 8.1) for an upper-layer packet of length n and protocol proto,
// using the header's source and destination. proto is the upper-layer
// protocol, which differs from NextHeader when extension headers are
// present. A host never forwards along a Routing header, so the
// destination here is the final one.
func (h Header) PseudoHeaderSum(proto uint8, n int) uint16 {
	return PseudoHeaderSum(h.Src16(), h.Dst16(), proto, uint32(n))
}

// PseudoHeaderSum returns the partial sum of the IPv6 pseudo-header (RFC
// 8200 section 8.1): source address, destination address, the 32-bit
// upper-layer packet length, three zero bytes and the next header value.
// Add it to the sum of the upper-layer packet and complement the result
// (checksum.Finish) to get the checksum UDP, TCP and ICMPv6 carry.
func PseudoHeaderSum(src, dst [16]byte, proto uint8, length uint32) uint16 {
	var s uint64
	for i := 0; i < 16; i += 4 {
		s += uint64(binary.BigEndian.Uint32(src[i:]))
		s += uint64(binary.BigEndian.Uint32(dst[i:]))
	}
	s += uint64(length) + uint64(proto)
	// Fold the 64-bit sum of 32-bit words to 16 bits with end-around carry.
	s = s>>32 + s&0xffffffff
	s = s>>32 + s&0xffffffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	return uint16(s)
}

// UpperChecksum returns the checksum an upper-layer packet b of protocol
// proto carries between src and dst: the complement of the pseudo-header
// sum plus the sum of b, with b's checksum field zeroed by the caller.
// UDP turns a result of 0 into 0xffff itself (RFC 8200 section 8.1).
func UpperChecksum(src, dst [16]byte, proto uint8, b []byte) uint16 {
	return checksum.Finish(checksum.Sum(b, PseudoHeaderSum(src, dst, proto, uint32(len(b)))))
}

// VerifyUpper reports whether the upper-layer packet b of protocol proto,
// checksum field included, verifies between src and dst.
func VerifyUpper(src, dst [16]byte, proto uint8, b []byte) bool {
	return checksum.Sum(b, PseudoHeaderSum(src, dst, proto, uint32(len(b)))) == 0xffff
}

// Fields is the decoded content of the fixed IPv6 header; Encode writes it.
type Fields struct {
	TrafficClass uint8
	// FlowLabel must fit in 20 bits.
	FlowLabel  uint32
	NextHeader uint8
	HopLimit   uint8
	Src        netip.Addr
	Dst        netip.Addr
}

// Fields returns the header's fields.
func (h Header) Fields() Fields {
	return Fields{TrafficClass: h.TrafficClass(), FlowLabel: h.FlowLabel(), NextHeader: h.NextHeader(),
		HopLimit: h.HopLimit(), Src: h.Src(), Dst: h.Dst()}
}

// Encode writes the fixed header for f, followed by payloadLen bytes of
// payload the caller has placed (or will place) after it, into b, and
// returns the view over the packet. The payload bytes are not touched.
func Encode(b []byte, f *Fields, payloadLen int) (Header, error) {
	switch {
	case payloadLen < 0 || payloadLen > MaxPayloadLen:
		return nil, fmt.Errorf("encode ipv6 header (%d payload bytes): %w", payloadLen, ErrPayloadLen)
	case f.FlowLabel > 0xfffff:
		return nil, fmt.Errorf("encode ipv6 header (flow label %#x): %w", f.FlowLabel, ErrBadField)
	case !f.Src.Is6() || f.Src.Is4In6() || !f.Dst.Is6() || f.Dst.Is4In6():
		return nil, fmt.Errorf("encode ipv6 header (%v -> %v): %w", f.Src, f.Dst, ErrBadField)
	case len(b) < HeaderLen+payloadLen:
		return nil, fmt.Errorf("encode ipv6 header (%d bytes needed, %d available): %w", HeaderLen+payloadLen, len(b), ErrShortBuffer)
	}
	h := Header(b[:HeaderLen+payloadLen])
	binary.BigEndian.PutUint32(h[0:], uint32(Version)<<28|uint32(f.TrafficClass)<<20|f.FlowLabel)
	binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
	h[6] = f.NextHeader
	h[7] = f.HopLimit
	src, dst := f.Src.As16(), f.Dst.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])
	return h, nil
}
