// Package arp implements the RFC 826 Address Resolution Protocol packet for
// Ethernet hardware addresses and IPv4 protocol addresses: a zero-copy view,
// validation and builders for requests, replies and RFC 5227 announcements.
//
// Other hardware or protocol types are rejected by Parse; RARP and InARP
// are not implemented.
package arp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/ether"
)

// PacketLen is the length of an Ethernet/IPv4 ARP packet.
const PacketLen = 28

// Field values for Ethernet/IPv4 ARP (RFC 826, "Packet format").
const (
	HardwareEthernet = 1      // ar$hrd
	ProtocolIPv4     = 0x0800 // ar$pro
	hlen             = 6
	plen             = 4
)

// Op is the ARP opcode (ar$op).
type Op uint16

// Opcodes defined by RFC 826.
const (
	OpRequest Op = 1
	OpReply   Op = 2
)

// String names the opcode.
func (o Op) String() string {
	switch o {
	case OpRequest:
		return "request"
	case OpReply:
		return "reply"
	}
	return fmt.Sprintf("op %d", uint16(o))
}

// Errors returned by Parse.
var (
	ErrTruncated   = errors.New("arp: truncated packet")
	ErrUnsupported = errors.New("arp: unsupported hardware or protocol type")
	ErrBadOp       = errors.New("arp: unknown opcode")
)

// Packet is a view of an Ethernet/IPv4 ARP packet. Accessors assume at least
// PacketLen bytes, which Parse checks.
type Packet []byte

// Parse validates b as an Ethernet/IPv4 ARP packet (htype 1, ptype 0x0800,
// hlen 6, plen 4, opcode request or reply) and returns the view over its
// first PacketLen bytes; trailing bytes (Ethernet padding) are ignored.
func Parse(b []byte) (Packet, error) {
	if len(b) < PacketLen {
		return nil, fmt.Errorf("parse arp packet (%d bytes): %w", len(b), ErrTruncated)
	}
	p := Packet(b[:PacketLen])
	if p.HardwareType() != HardwareEthernet || p.ProtocolType() != ProtocolIPv4 || b[4] != hlen || b[5] != plen {
		return nil, fmt.Errorf("parse arp packet (htype %d ptype %#04x hlen %d plen %d): %w",
			p.HardwareType(), p.ProtocolType(), b[4], b[5], ErrUnsupported)
	}
	if op := p.Op(); op != OpRequest && op != OpReply {
		return nil, fmt.Errorf("parse arp packet (%v): %w", op, ErrBadOp)
	}
	return p, nil
}

// HardwareType returns ar$hrd.
func (p Packet) HardwareType() uint16 { return binary.BigEndian.Uint16(p[0:]) }

// ProtocolType returns ar$pro.
func (p Packet) ProtocolType() uint16 { return binary.BigEndian.Uint16(p[2:]) }

// Op returns ar$op.
func (p Packet) Op() Op { return Op(binary.BigEndian.Uint16(p[6:])) }

// SenderHW returns ar$sha.
func (p Packet) SenderHW() ether.Addr { return ether.Addr(p[8:14]) }

// SenderIP4 returns ar$spa as bytes.
func (p Packet) SenderIP4() [4]byte { return [4]byte(p[14:18]) }

// SenderIP returns ar$spa.
func (p Packet) SenderIP() netip.Addr { return netip.AddrFrom4(p.SenderIP4()) }

// TargetHW returns ar$tha.
func (p Packet) TargetHW() ether.Addr { return ether.Addr(p[18:24]) }

// TargetIP4 returns ar$tpa as bytes.
func (p Packet) TargetIP4() [4]byte { return [4]byte(p[24:28]) }

// TargetIP returns ar$tpa.
func (p Packet) TargetIP() netip.Addr { return netip.AddrFrom4(p.TargetIP4()) }

// IsGratuitous reports whether p announces its sender's own binding: sender
// and target protocol address are equal (RFC 5227 section 2.3; RFC 5944
// section 4.6).
func (p Packet) IsGratuitous() bool { return p.SenderIP4() == p.TargetIP4() }

// Fields is the decoded content of an ARP packet.
type Fields struct {
	Op       Op
	SenderHW ether.Addr
	SenderIP [4]byte
	TargetHW ether.Addr
	TargetIP [4]byte
}

// Fields returns the packet's opcode and addresses.
func (p Packet) Fields() Fields {
	return Fields{Op: p.Op(), SenderHW: p.SenderHW(), SenderIP: p.SenderIP4(), TargetHW: p.TargetHW(), TargetIP: p.TargetIP4()}
}

// Encode writes an Ethernet/IPv4 ARP packet with fields f into b[:PacketLen]
// and returns the view. b must hold at least PacketLen bytes.
func Encode(b []byte, f Fields) Packet {
	p := Packet(b[:PacketLen])
	binary.BigEndian.PutUint16(p[0:], HardwareEthernet)
	binary.BigEndian.PutUint16(p[2:], ProtocolIPv4)
	p[4], p[5] = hlen, plen
	binary.BigEndian.PutUint16(p[6:], uint16(f.Op))
	copy(p[8:14], f.SenderHW[:])
	copy(p[14:18], f.SenderIP[:])
	copy(p[18:24], f.TargetHW[:])
	copy(p[24:28], f.TargetIP[:])
	return p
}

// Request writes a request asking who has tpa, from sha/spa. The target
// hardware address is zero (RFC 826: "it does not know").
func Request(b []byte, sha ether.Addr, spa, tpa netip.Addr) Packet {
	return Encode(b, Fields{Op: OpRequest, SenderHW: sha, SenderIP: as4(spa), TargetIP: as4(tpa)})
}

// Reply writes a reply telling tha/tpa that spa is at sha.
func Reply(b []byte, sha ether.Addr, spa netip.Addr, tha ether.Addr, tpa netip.Addr) Packet {
	return Encode(b, Fields{Op: OpReply, SenderHW: sha, SenderIP: as4(spa), TargetHW: tha, TargetIP: as4(tpa)})
}

// Gratuitous writes an ARP announcement of ip at sha: a request whose sender
// and target protocol addresses are both ip and whose target hardware
// address is zero (RFC 5227 section 2.3).
func Gratuitous(b []byte, sha ether.Addr, ip netip.Addr) Packet {
	return Request(b, sha, ip, ip)
}

// as4 returns a's IPv4 bytes, unmapping ::ffff:a.b.c.d; other addresses
// give 0.0.0.0.
func as4(a netip.Addr) [4]byte {
	a = a.Unmap()
	if a.Is4() {
		return a.As4()
	}
	return [4]byte{}
}
