// Package icmp implements ICMP for IPv4 (RFC 792): a zero-copy message view
// with checksum validation, and builders for echo request/reply and for the
// error messages a host sends (destination unreachable, time exceeded).
//
// Timestamp, information, redirect and source-quench messages parse as
// generic messages; nothing specific to them is implemented.
package icmp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/simnet-go/simnet/proto/checksum"
)

// HeaderLen is the length of the fixed ICMP header: type, code, checksum and
// the four type-specific bytes.
const HeaderLen = 8

// Type is the ICMP message type.
type Type uint8

// Message types (RFC 792).
const (
	TypeEchoReply      Type = 0
	TypeDestUnreach    Type = 3
	TypeSourceQuench   Type = 4
	TypeRedirect       Type = 5
	TypeEcho           Type = 8
	TypeTimeExceeded   Type = 11
	TypeParamProblem   Type = 12
	TypeTimestamp      Type = 13
	TypeTimestampReply Type = 14
)

// String names the type.
func (t Type) String() string {
	switch t {
	case TypeEchoReply:
		return "echo reply"
	case TypeDestUnreach:
		return "destination unreachable"
	case TypeSourceQuench:
		return "source quench"
	case TypeRedirect:
		return "redirect"
	case TypeEcho:
		return "echo request"
	case TypeTimeExceeded:
		return "time exceeded"
	case TypeParamProblem:
		return "parameter problem"
	case TypeTimestamp:
		return "timestamp"
	case TypeTimestampReply:
		return "timestamp reply"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// IsError reports whether t is an ICMP error message type, to which no ICMP
// error is ever sent (RFC 1122 section 3.2.2).
func (t Type) IsError() bool {
	switch t {
	case TypeDestUnreach, TypeSourceQuench, TypeRedirect, TypeTimeExceeded, TypeParamProblem:
		return true
	}
	return false
}

// Destination unreachable codes (RFC 792; RFC 1191 for CodeFragNeeded).
const (
	CodeNetUnreachable   uint8 = 0
	CodeHostUnreachable  uint8 = 1
	CodeProtoUnreachable uint8 = 2
	CodePortUnreachable  uint8 = 3
	CodeFragNeeded       uint8 = 4
)

// Time exceeded codes (RFC 792).
const (
	CodeTTLExceeded        uint8 = 0
	CodeReassemblyExceeded uint8 = 1
)

// Errors returned by Parse and the builders.
var (
	ErrTruncated   = errors.New("icmp: truncated message")
	ErrChecksum    = errors.New("icmp: bad checksum")
	ErrShortBuffer = errors.New("icmp: buffer too short")
)

// Message is a view of an ICMP message (header and data). Accessors assume at
// least HeaderLen bytes, which Parse checks.
type Message []byte

// Parse checks that b holds an ICMP header and that the checksum over the
// whole message verifies (RFC 792: "the 16-bit one's complement of the
// one's complement sum of the ICMP message").
func Parse(b []byte) (Message, error) {
	m, err := ParseUnchecked(b)
	if err != nil {
		return nil, err
	}
	if !m.VerifyChecksum() {
		return nil, fmt.Errorf("parse icmp %v: %w", m.Type(), ErrChecksum)
	}
	return m, nil
}

// ParseUnchecked is Parse without checksum verification.
func ParseUnchecked(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("parse icmp header (%d bytes): %w", len(b), ErrTruncated)
	}
	return Message(b), nil
}

// Type returns the message type.
func (m Message) Type() Type { return Type(m[0]) }

// Code returns the message code.
func (m Message) Code() uint8 { return m[1] }

// Checksum returns the checksum field.
func (m Message) Checksum() uint16 { return binary.BigEndian.Uint16(m[2:]) }

// Rest returns the four type-specific header bytes as a word.
func (m Message) Rest() uint32 { return binary.BigEndian.Uint32(m[4:]) }

// ID returns the echo identifier (bytes 4-5).
func (m Message) ID() uint16 { return binary.BigEndian.Uint16(m[4:]) }

// Seq returns the echo sequence number (bytes 6-7).
func (m Message) Seq() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// NextHopMTU returns the next-hop MTU of a fragmentation-needed message
// (RFC 1191 section 4), or 0.
func (m Message) NextHopMTU() uint16 { return binary.BigEndian.Uint16(m[6:]) }

// Payload returns the data after the header: echo data, or the quoted
// original datagram of an error message.
func (m Message) Payload() []byte { return m[HeaderLen:] }

// VerifyChecksum reports whether the checksum over the message verifies.
func (m Message) VerifyChecksum() bool { return checksum.Sum(m, 0) == 0xffff }

// SetChecksum computes and stores the checksum.
func (m Message) SetChecksum() {
	m[2], m[3] = 0, 0
	binary.BigEndian.PutUint16(m[2:], checksum.Checksum(m))
}

// SetType sets the type and updates the checksum incrementally (RFC 1624),
// as when an echo request is turned into a reply in place.
func (m Message) SetType(t Type) {
	old := binary.BigEndian.Uint16(m[0:])
	m[0] = uint8(t)
	binary.BigEndian.PutUint16(m[2:], checksum.Update(m.Checksum(), old, binary.BigEndian.Uint16(m[0:])))
}

// Encode writes a message of type t and code c with the type-specific word
// rest and the given data into b, computes the checksum and returns the
// view over b[:HeaderLen+len(data)]. data may alias b[HeaderLen:].
func Encode(b []byte, t Type, c uint8, rest uint32, data []byte) (Message, error) {
	n := HeaderLen + len(data)
	if len(b) < n {
		return nil, fmt.Errorf("encode icmp %v (%d bytes needed, %d available): %w", t, n, len(b), ErrShortBuffer)
	}
	m := Message(b[:n])
	copy(m[HeaderLen:], data)
	m[0], m[1] = uint8(t), c
	binary.BigEndian.PutUint32(m[4:], rest)
	m.SetChecksum()
	return m, nil
}

// Echo writes an echo request or reply (t is TypeEcho or TypeEchoReply).
func Echo(b []byte, t Type, id, seq uint16, data []byte) (Message, error) {
	return Encode(b, t, 0, uint32(id)<<16|uint32(seq), data)
}

// QuoteLen returns how much of the offending datagram orig an error message
// quotes: its IP header plus the first 64 bits of its data (RFC 792), capped
// at len(orig).
func QuoteLen(orig []byte) int {
	if len(orig) == 0 {
		return 0
	}
	n := int(orig[0]&0xf)*4 + 8
	if n > len(orig) {
		n = len(orig)
	}
	return n
}

// Error writes an error message of type t and code c quoting
// orig[:QuoteLen(orig)]. rest is the type-specific word (the next-hop MTU
// for CodeFragNeeded, zero otherwise).
func Error(b []byte, t Type, c uint8, rest uint32, orig []byte) (Message, error) {
	return Encode(b, t, c, rest, orig[:QuoteLen(orig)])
}
