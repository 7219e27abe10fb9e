// Package icmpv6 implements ICMP for IPv6 (RFC 4443) and the Neighbor
// Discovery messages carried by it (RFC 4861): a zero-copy message view
// with the checksum over the IPv6 pseudo-header (RFC 4443 section 2.3),
// builders for echo and error messages, the rules on when an error may be
// sent (section 2.4 (e)) and a token-bucket rate limiter for errors
// (section 2.4 (f)) on proto/clock. Neighbor Discovery is in ndp.go.
//
// Limits: MLD (RFC 3810), Redirect sending, Router Renumbering and Node
// Information messages parse as generic messages and are not built.
package icmpv6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// HeaderLen is the length of the header every message used here has:
// type, code, checksum and four type-specific bytes.
const HeaderLen = 8

// MaxErrorLen is the longest error message: it must fit, with its IPv6
// header, in the IPv6 minimum MTU (RFC 4443 section 2.4 (c)).
const MaxErrorLen = ipv6.MinMTU - ipv6.HeaderLen

// Type is the ICMPv6 message type.
type Type uint8

// Message types (RFC 4443 section 2.1; RFC 4861 section 4; RFC 3810).
const (
	TypeDestUnreach    Type = 1
	TypePacketTooBig   Type = 2
	TypeTimeExceeded   Type = 3
	TypeParamProblem   Type = 4
	TypeEchoRequest    Type = 128
	TypeEchoReply      Type = 129
	TypeMLDQuery       Type = 130
	TypeMLDReport      Type = 131
	TypeMLDDone        Type = 132
	TypeRouterSolicit  Type = 133
	TypeRouterAdvert   Type = 134
	TypeNeighborSolict Type = 135
	TypeNeighborAdvert Type = 136
	TypeRedirect       Type = 137
	TypeMLDv2Report    Type = 143
)

// String names the type.
func (t Type) String() string {
	switch t {
	case TypeDestUnreach:
		return "destination unreachable"
	case TypePacketTooBig:
		return "packet too big"
	case TypeTimeExceeded:
		return "time exceeded"
	case TypeParamProblem:
		return "parameter problem"
	case TypeEchoRequest:
		return "echo request"
	case TypeEchoReply:
		return "echo reply"
	case TypeMLDQuery:
		return "multicast listener query"
	case TypeMLDReport, TypeMLDv2Report:
		return "multicast listener report"
	case TypeMLDDone:
		return "multicast listener done"
	case TypeRouterSolicit:
		return "router solicitation"
	case TypeRouterAdvert:
		return "router advertisement"
	case TypeNeighborSolict:
		return "neighbor solicitation"
	case TypeNeighborAdvert:
		return "neighbor advertisement"
	case TypeRedirect:
		return "redirect"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// IsError reports whether t is an error message: types 0-127 (RFC 4443
// section 2.1).
func (t Type) IsError() bool { return t < 128 }

// Destination Unreachable codes (RFC 4443 section 3.1).
const (
	CodeNoRoute          uint8 = 0
	CodeAdminProhibited  uint8 = 1
	CodeBeyondScope      uint8 = 2
	CodeAddrUnreachable  uint8 = 3
	CodePortUnreachable  uint8 = 4
	CodeSourcePolicy     uint8 = 5
	CodeRejectRoute      uint8 = 6
	CodeHopLimitExceeded uint8 = 0 // Time Exceeded (section 3.3)
	CodeReassemblyTime   uint8 = 1 // Time Exceeded (section 3.3)
)

// Errors returned by Parse and the builders.
var (
	ErrTruncated   = errors.New("icmpv6: truncated message")
	ErrChecksum    = errors.New("icmpv6: bad checksum")
	ErrShortBuffer = errors.New("icmpv6: buffer too short")
)

// Message is a view of an ICMPv6 message. Accessors assume at least
// HeaderLen bytes, which Parse checks.
type Message []byte

// Parse checks that b holds an ICMPv6 header and that the checksum over
// the pseudo-header of src and dst and the message verifies (RFC 4443
// section 2.3).
func Parse(b []byte, src, dst netip.Addr) (Message, error) {
	m, err := ParseUnchecked(b)
	if err != nil {
		return nil, err
	}
	if !m.VerifyChecksum(src, dst) {
		return nil, fmt.Errorf("parse icmpv6 %v %v -> %v: %w", m.Type(), src, dst, ErrChecksum)
	}
	return m, nil
}

// ParseUnchecked is Parse without checksum verification.
func ParseUnchecked(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("parse icmpv6 header (%d bytes): %w", len(b), ErrTruncated)
	}
	return Message(b), nil
}

// Type returns the message type.
func (m Message) Type() Type { return Type(m[0]) }

// Code returns the message code.
func (m Message) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m Message) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Rest returns the four type-specific header bytes as a word: the MTU of
// Packet Too Big, the pointer of Parameter Problem.
func (m Message) Rest() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// ID returns the echo identifier.
func (m Message) ID() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq returns the echo sequence number.
func (m Message) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// Body returns the bytes after the 8-byte header: echo data, or the
// invoking packet an error message quotes.
func (m Message) Body() []byte { return m[HeaderLen:] }

func sum(m []byte, src, dst netip.Addr) uint16 {
	return checksum.Sum(m, ipv6.PseudoHeaderSum(src.As16(), dst.As16(), ipv6.ProtoICMPv6, uint32(len(m))))
}

// VerifyChecksum reports whether the checksum verifies between src and dst.
func (m Message) VerifyChecksum(src, dst netip.Addr) bool { return sum(m, src, dst) == 0xffff }

// SetChecksum computes and stores the checksum for src and dst.
func (m Message) SetChecksum(src, dst netip.Addr) {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], checksum.Finish(sum(m, src, dst)))
}

// SetType sets the type and updates the checksum incrementally (RFC
// 1624), as when an echo request becomes a reply in place. The
// pseudo-header is unchanged when the addresses are swapped.
func (m Message) SetType(t Type) {
	old := binary.BigEndian.Uint16(m[0:])
	m[0] = uint8(t)
	binary.BigEndian.PutUint16(m[2:], checksum.Update(m.Checksum(), old, binary.BigEndian.Uint16(m[0:])))
}

// Encode writes a message of type t and code c with the type-specific word
// rest and data into b, computes the checksum for src and dst and returns
// the view over b[:HeaderLen+len(data)]. data may alias b[HeaderLen:].
func Encode(b []byte, t Type, c uint8, rest uint32, data []byte, src, dst netip.Addr) (Message, error) {
	n := HeaderLen + len(data)
	if len(b) < n {
		return nil, fmt.Errorf("encode icmpv6 %v (%d bytes needed, %d available): %w", t, n, len(b), ErrShortBuffer)
	}
	m := Message(b[:n])
	copy(m[HeaderLen:], data)
	m[0], m[1] = uint8(t), c
	binary.BigEndian.PutUint32(m[4:], rest)
	m.SetChecksum(src, dst)
	return m, nil
}

// Echo writes an Echo Request or Reply (RFC 4443 section 4).
func Echo(b []byte, t Type, id, seq uint16, data []byte, src, dst netip.Addr) (Message, error) {
	return Encode(b, t, 0, uint32(id)<<16|uint32(seq), data, src, dst)
}

// QuoteLen returns how much of the invoking packet an error message
// quotes: as much as fits in the minimum MTU (RFC 4443 section 2.4 (c)).
func QuoteLen(invoking []byte) int { return min(len(invoking), MaxErrorLen-HeaderLen) }

// Error writes an error message of type t and code c quoting
// invoking[:QuoteLen(invoking)]. rest is the MTU for Packet Too Big, the
// pointer for Parameter Problem, zero otherwise.
func Error(b []byte, t Type, c uint8, rest uint32, invoking []byte, src, dst netip.Addr) (Message, error) {
	return Encode(b, t, c, rest, invoking[:QuoteLen(invoking)], src, dst)
}

// MaySendError applies RFC 4443 section 2.4 (e) to an invoking packet:
// no error for an error message or a Redirect, none for a packet whose
// source is not a unicast address, and none for a packet sent to an IPv6
// multicast address or as link-layer multicast (linkMulticast) unless the
// error is Packet Too Big or a Parameter Problem code 2 whose option asked
// for it (multicastOK, see ipv6.ProblemError). invoking is the IPv6 packet
// as received; icmpType is the ICMPv6 type it carries, or 0 for none.
func MaySendError(invoking ipv6.Header, icmpType Type, t Type, code uint8, linkMulticast, multicastOK bool) bool {
	if icmpType.IsError() && icmpType != 0 || icmpType == TypeRedirect {
		return false
	}
	src := invoking.Src()
	if src.IsUnspecified() || src.IsMulticast() {
		return false
	}
	if invoking.Dst().IsMulticast() || linkMulticast {
		return t == TypePacketTooBig || (t == TypeParamProblem && code == 2 && multicastOK)
	}
	return true
}
