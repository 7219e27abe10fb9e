// Package ether implements Ethernet II framing (IEEE 802.3 with an EtherType,
// RFC 894): 6-byte MAC addresses and a zero-copy header view over frame bytes.
//
// Frames carry no preamble and no FCS. IEEE 802.1Q (0x8100) and 802.1ad
// (0x88a8) tags are recognised and can be skipped with Frame.Inner; nothing
// else about VLANs is implemented.
package ether

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Addr is a 48-bit IEEE MAC address.
type Addr [6]byte

// Broadcast is the all-ones broadcast address.
var Broadcast = Addr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

const hexDigits = "0123456789abcdef"

// String formats a as six colon-separated lower-case hex bytes.
func (a Addr) String() string {
	var b [17]byte
	for i, v := range a {
		if i > 0 {
			b[3*i-1] = ':'
		}
		b[3*i] = hexDigits[v>>4]
		b[3*i+1] = hexDigits[v&0xf]
	}
	return string(b[:])
}

// IsBroadcast reports whether a is ff:ff:ff:ff:ff:ff.
func (a Addr) IsBroadcast() bool { return a == Broadcast }

// IsMulticast reports whether a is a group address (the I/G bit, the least
// significant bit of the first byte, is set). Broadcast is multicast too.
func (a Addr) IsMulticast() bool { return a[0]&1 == 1 }

// IsZero reports whether a is 00:00:00:00:00:00.
func (a Addr) IsZero() bool { return a == Addr{} }

// ErrBadAddr is returned by ParseAddr for text that is not a MAC address.
var ErrBadAddr = errors.New("ether: invalid MAC address")

// ParseAddr parses six hex bytes separated by ':' or '-'
// ("02:00:5e:10:00:01").
func ParseAddr(s string) (Addr, error) {
	var a Addr
	if len(s) != 17 {
		return a, fmt.Errorf("parse %q: %w", s, ErrBadAddr)
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return a, fmt.Errorf("parse %q: %w", s, ErrBadAddr)
	}
	for i := range a {
		if i > 0 && s[3*i-1] != sep {
			return a, fmt.Errorf("parse %q: %w", s, ErrBadAddr)
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return a, fmt.Errorf("parse %q: %w", s, ErrBadAddr)
		}
		a[i] = hi<<4 | lo
	}
	return a, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// EtherType identifies the protocol carried in a frame's payload.
type EtherType uint16

// EtherType values known to simnet.
const (
	TypeIPv4 EtherType = 0x0800
	TypeARP  EtherType = 0x0806
	TypeVLAN EtherType = 0x8100 // IEEE 802.1Q customer tag
	TypeQinQ EtherType = 0x88a8 // IEEE 802.1ad service tag
	TypeIPv6 EtherType = 0x86dd
)

// String names well-known EtherTypes and prints others in hex.
func (t EtherType) String() string {
	switch t {
	case TypeIPv4:
		return "IPv4"
	case TypeARP:
		return "ARP"
	case TypeVLAN:
		return "802.1Q"
	case TypeQinQ:
		return "802.1ad"
	case TypeIPv6:
		return "IPv6"
	}
	return fmt.Sprintf("0x%04x", uint16(t))
}

// IsVLAN reports whether t is an 802.1Q or 802.1ad tag protocol identifier.
func (t EtherType) IsVLAN() bool { return t == TypeVLAN || t == TypeQinQ }

// Sizes of Ethernet framing.
const (
	HeaderLen = 14 // destination, source, EtherType
	TagLen    = 4  // one 802.1Q/802.1ad tag
	// MaxTags is how many stacked VLAN tags Inner skips.
	MaxTags = 2
)

// Errors returned when parsing frames.
var (
	ErrTruncated   = errors.New("ether: truncated frame")
	ErrTooManyTags = errors.New("ether: too many VLAN tags")
)

// Frame is a view of an Ethernet II frame. Accessors assume the frame holds
// at least HeaderLen bytes, which Parse checks.
type Frame []byte

// Parse checks that b is long enough to hold an Ethernet header and returns
// the view over it.
func Parse(b []byte) (Frame, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("parse ethernet header (%d bytes): %w", len(b), ErrTruncated)
	}
	return Frame(b), nil
}

// Dst returns the destination address.
func (f Frame) Dst() Addr { return Addr(f[0:6]) }

// Src returns the source address.
func (f Frame) Src() Addr { return Addr(f[6:12]) }

// EtherType returns the outer EtherType (a tag protocol identifier for tagged
// frames).
func (f Frame) EtherType() EtherType { return EtherType(binary.BigEndian.Uint16(f[12:])) }

// Payload returns the bytes after the 14-byte header.
func (f Frame) Payload() []byte { return f[HeaderLen:] }

// SetDst sets the destination address.
func (f Frame) SetDst(a Addr) { copy(f[0:6], a[:]) }

// SetSrc sets the source address.
func (f Frame) SetSrc(a Addr) { copy(f[6:12], a[:]) }

// SetEtherType sets the outer EtherType.
func (f Frame) SetEtherType(t EtherType) { binary.BigEndian.PutUint16(f[12:], uint16(t)) }

// Inner skips up to MaxTags VLAN tags and returns the EtherType of the
// payload, the payload, and the VLAN ID (low 12 bits of the TCI) of each tag
// skipped, outermost first. tags[:n] are valid.
func (f Frame) Inner() (t EtherType, payload []byte, tags [MaxTags]uint16, n int, err error) {
	t = f.EtherType()
	off := HeaderLen
	for t.IsVLAN() {
		if n == MaxTags {
			return t, nil, tags, n, fmt.Errorf("parse ethernet tags: %w", ErrTooManyTags)
		}
		if len(f) < off+TagLen {
			return t, nil, tags, n, fmt.Errorf("parse ethernet tag %d: %w", n, ErrTruncated)
		}
		tags[n] = binary.BigEndian.Uint16(f[off:]) & 0x0fff
		t = EtherType(binary.BigEndian.Uint16(f[off+2:]))
		off += TagLen
		n++
	}
	return t, f[off:], tags, n, nil
}

// Encode writes an untagged Ethernet header into b[:HeaderLen] and returns
// the frame view over b. b must hold at least HeaderLen bytes.
func Encode(b []byte, dst, src Addr, t EtherType) Frame {
	f := Frame(b)
	f.SetDst(dst)
	f.SetSrc(src)
	f.SetEtherType(t)
	return f
}
