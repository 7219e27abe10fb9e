// Package ipv4 implements the RFC 791 Internet Protocol header: a zero-copy
// view over packet bytes, validation, and a builder that fills and
// checksums a header in place.
//
// Options are carried and checksummed but not interpreted; fragmentation
// and reassembly are done by proto/stack using the fragment fields here.
package ipv4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
)

// Header sizes and limits (RFC 791 section 3.1).
const (
	MinHeaderLen = 20    // IHL 5
	MaxHeaderLen = 60    // IHL 15
	MaxTotalLen  = 65535 // the 16-bit Total Length field
	Version      = 4
	// MaxFragmentOffset is the largest fragment offset in bytes (13 bits of
	// 8-byte units).
	MaxFragmentOffset = 0x1fff * 8
)

// Protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoICMP uint8 = 1
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
)

// Bits of the flags/fragment-offset word (RFC 791 section 3.1).
const (
	flagReserved   = 0x8000
	flagDF         = 0x4000
	flagMF         = 0x2000
	fragOffsetMask = 0x1fff
)

// Errors returned by Parse and Encode.
var (
	ErrTruncated   = errors.New("ipv4: truncated packet")
	ErrVersion     = errors.New("ipv4: not version 4")
	ErrHeaderLen   = errors.New("ipv4: bad header length")
	ErrTotalLen    = errors.New("ipv4: bad total length")
	ErrChecksum    = errors.New("ipv4: bad header checksum")
	ErrFragment    = errors.New("ipv4: fragment extends past 65535 bytes")
	ErrBadField    = errors.New("ipv4: field out of range")
	ErrShortBuffer = errors.New("ipv4: buffer too short")
)

// Header is a view of an IPv4 packet: the header followed by the payload.
// Accessors assume the bytes passed Parse (or were written by Encode).
type Header []byte

// Parse validates b as an IPv4 packet and returns the view over
// b[:TotalLen]; bytes past the total length (link padding) are excluded.
// Checks, per RFC 791 section 3.1 and RFC 1122 section 3.2.1.1-2: version 4,
// IHL at least 5, the header within b, total length at least the header
// length and within b, a header checksum that verifies, and a fragment that
// does not extend past the largest datagram.
func Parse(b []byte) (Header, error) {
	h, err := parse(b)
	if err != nil {
		return nil, err
	}
	// RFC 1122 section 3.2.1.2: a host MUST verify the header checksum and
	// silently discard a datagram whose checksum is bad.
	if checksum.Sum(h[:h.HeaderLen()], 0) != 0xffff {
		return nil, fmt.Errorf("parse ipv4 header %v -> %v: %w", h.Src(), h.Dst(), ErrChecksum)
	}
	return h, nil
}

// ParseUnchecked is Parse without the header checksum verification, for
// tools that inspect captures taken with checksum offload.
func ParseUnchecked(b []byte) (Header, error) { return parse(b) }

func parse(b []byte) (Header, error) {
	if len(b) < MinHeaderLen {
		return nil, fmt.Errorf("parse ipv4 header (%d bytes): %w", len(b), ErrTruncated)
	}
	if v := b[0] >> 4; v != Version {
		return nil, fmt.Errorf("parse ipv4 header (version %d): %w", v, ErrVersion)
	}
	hl := int(b[0]&0xf) * 4
	if hl < MinHeaderLen || hl > len(b) {
		return nil, fmt.Errorf("parse ipv4 header (IHL %d bytes, %d available): %w", hl, len(b), ErrHeaderLen)
	}
	tl := int(binary.BigEndian.Uint16(b[2:]))
	if tl < hl || tl > len(b) {
		return nil, fmt.Errorf("parse ipv4 header (total length %d, header %d, %d available): %w", tl, hl, len(b), ErrTotalLen)
	}
	h := Header(b[:tl])
	if h.FragmentOffset()+tl-hl > MaxTotalLen-hl {
		return nil, fmt.Errorf("parse ipv4 header (offset %d, %d payload bytes): %w", h.FragmentOffset(), tl-hl, ErrFragment)
	}
	return h, nil
}

// Version returns the version field.
func (h Header) Version() uint8 { return h[0] >> 4 }

// HeaderLen returns the header length in bytes (IHL*4).
func (h Header) HeaderLen() int { return int(h[0]&0xf) * 4 }

// TOS returns the type-of-service byte (DSCP and ECN).
func (h Header) TOS() uint8 { return h[1] }

// TotalLen returns the total length field.
func (h Header) TotalLen() int { return int(binary.BigEndian.Uint16(h[2:])) }

// ID returns the identification field.
func (h Header) ID() uint16 { return binary.BigEndian.Uint16(h[4:]) }

func (h Header) flagsOffset() uint16 { return binary.BigEndian.Uint16(h[6:]) }

// DF reports whether the Don't Fragment flag is set.
func (h Header) DF() bool { return h.flagsOffset()&flagDF != 0 }

// MF reports whether the More Fragments flag is set.
func (h Header) MF() bool { return h.flagsOffset()&flagMF != 0 }

// ReservedFlag reports whether the reserved (must be zero) flag is set.
func (h Header) ReservedFlag() bool { return h.flagsOffset()&flagReserved != 0 }

// FragmentOffset returns the fragment offset in bytes (the field is in
// 8-byte units).
func (h Header) FragmentOffset() int { return int(h.flagsOffset()&fragOffsetMask) * 8 }

// IsFragment reports whether h is a fragment: MF set or a non-zero offset.
func (h Header) IsFragment() bool { return h.flagsOffset()&(flagMF|fragOffsetMask) != 0 }

// TTL returns the time-to-live field.
func (h Header) TTL() uint8 { return h[8] }

// Protocol returns the protocol field.
func (h Header) Protocol() uint8 { return h[9] }

// Checksum returns the header checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[10:]) }

// Src4 returns the source address bytes.
func (h Header) Src4() [4]byte { return [4]byte(h[12:16]) }

// Dst4 returns the destination address bytes.
func (h Header) Dst4() [4]byte { return [4]byte(h[16:20]) }

// Src returns the source address.
func (h Header) Src() netip.Addr { return netip.AddrFrom4(h.Src4()) }

// Dst returns the destination address.
func (h Header) Dst() netip.Addr { return netip.AddrFrom4(h.Dst4()) }

// Options returns the option bytes between the fixed header and the
// payload.
func (h Header) Options() []byte { return h[MinHeaderLen:h.HeaderLen()] }

// Payload returns the bytes after the header, up to the total length.
func (h Header) Payload() []byte { return h[h.HeaderLen():h.TotalLen()] }

// SetTTL sets the TTL and updates the checksum incrementally (RFC 1624).
func (h Header) SetTTL(ttl uint8) {
	old := binary.BigEndian.Uint16(h[8:])
	h[8] = ttl
	binary.BigEndian.PutUint16(h[10:], checksum.Update(h.Checksum(), old, binary.BigEndian.Uint16(h[8:])))
}

// SetChecksum computes and stores the header checksum.
func (h Header) SetChecksum() {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:], checksum.Checksum(h[:h.HeaderLen()]))
}

// VerifyChecksum reports whether the header checksum is correct.
func (h Header) VerifyChecksum() bool { return checksum.Sum(h[:h.HeaderLen()], 0) == 0xffff }

// PseudoHeaderSum returns the partial sum of the pseudo-header that UDP and
// TCP include in their checksums, for a transport segment of length n.
func (h Header) PseudoHeaderSum(n int) uint16 {
	return checksum.PseudoHeaderIPv4(h.Src4(), h.Dst4(), h.Protocol(), uint16(n))
}

// Fields is the decoded content of an IPv4 header; Encode writes it.
type Fields struct {
	TOS          uint8
	ID           uint16
	DF           bool
	MF           bool
	ReservedFlag bool
	// FragmentOffset is in bytes and must be a multiple of 8.
	FragmentOffset int
	TTL            uint8
	Protocol       uint8
	Src            netip.Addr
	Dst            netip.Addr
	// Options must be a multiple of 4 bytes long, at most 40.
	Options []byte
}

// Fields returns the header's fields. Options aliases h.
func (h Header) Fields() Fields {
	return Fields{
		TOS: h.TOS(), ID: h.ID(), DF: h.DF(), MF: h.MF(), ReservedFlag: h.ReservedFlag(),
		FragmentOffset: h.FragmentOffset(), TTL: h.TTL(), Protocol: h.Protocol(),
		Src: h.Src(), Dst: h.Dst(), Options: h.Options(),
	}
}

// HeaderLen returns the header length Encode writes for f.
func (f *Fields) HeaderLen() int { return MinHeaderLen + len(f.Options) }

// Encode writes the header for f, followed by payloadLen bytes of payload
// the caller has placed (or will place) after it, into b, sets the total
// length and the checksum, and returns the view over the packet. The
// payload bytes are not touched.
func Encode(b []byte, f *Fields, payloadLen int) (Header, error) {
	hl := f.HeaderLen()
	switch {
	case len(f.Options)%4 != 0 || hl > MaxHeaderLen:
		return nil, fmt.Errorf("encode ipv4 header (%d option bytes): %w", len(f.Options), ErrHeaderLen)
	case payloadLen < 0 || hl+payloadLen > MaxTotalLen:
		return nil, fmt.Errorf("encode ipv4 header (%d payload bytes): %w", payloadLen, ErrTotalLen)
	case f.FragmentOffset < 0 || f.FragmentOffset%8 != 0 || f.FragmentOffset > MaxFragmentOffset:
		return nil, fmt.Errorf("encode ipv4 header (fragment offset %d): %w", f.FragmentOffset, ErrBadField)
	case !f.Src.Unmap().Is4() || !f.Dst.Unmap().Is4():
		return nil, fmt.Errorf("encode ipv4 header (%v -> %v): %w", f.Src, f.Dst, ErrBadField)
	case len(b) < hl+payloadLen:
		return nil, fmt.Errorf("encode ipv4 header (%d bytes needed, %d available): %w", hl+payloadLen, len(b), ErrShortBuffer)
	}
	h := Header(b[:hl+payloadLen])
	h[0] = Version<<4 | uint8(hl/4)
	h[1] = f.TOS
	binary.BigEndian.PutUint16(h[2:], uint16(hl+payloadLen))
	binary.BigEndian.PutUint16(h[4:], f.ID)
	fo := uint16(f.FragmentOffset / 8)
	if f.DF {
		fo |= flagDF
	}
	if f.MF {
		fo |= flagMF
	}
	if f.ReservedFlag {
		fo |= flagReserved
	}
	binary.BigEndian.PutUint16(h[6:], fo)
	h[8] = f.TTL
	h[9] = f.Protocol
	src, dst := f.Src.Unmap().As4(), f.Dst.Unmap().As4()
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	copy(h[MinHeaderLen:hl], f.Options)
	h.SetChecksum()
	return h, nil
}
