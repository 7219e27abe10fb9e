package hostrole

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
)

// icmpLabel identifies an ICMP message the host sent, without values that
// differ between stacks by design: an echo reply by its destination,
// identifier and sequence number; an error by its type, code and the
// datagram it quotes (protocol, destination address and port).
func icmpLabel(dst netip.Addr, b []byte) (string, bool) {
	m, err := icmp.ParseUnchecked(b)
	if err != nil {
		return "", false
	}
	t := m.Type()
	if !t.IsError() {
		if t == icmp.TypeEchoReply || t == icmp.TypeEcho {
			return fmt.Sprintf("%s to %s id %d seq %d", t, dst, m.ID(), m.Seq()), true
		}
		return fmt.Sprintf("%s to %s", t, dst), true
	}
	what := fmt.Sprintf("%s code %d", t, m.Code())
	if t == icmp.TypeDestUnreach {
		switch m.Code() {
		case 2:
			what = "protocol unreachable"
		case 3:
			what = "port unreachable"
		}
	}
	q := m.Payload()
	if len(q) < ipv4.MinHeaderLen || q[0]>>4 != ipv4.Version {
		return fmt.Sprintf("%s to %s", what, dst), true
	}
	hl := int(q[0]&0xf) * 4
	qdst := netip.AddrFrom4([4]byte(q[16:20]))
	proto := q[9]
	if len(q) >= hl+4 && (proto == tcp.ProtocolNumber || proto == ipProtoUDP) {
		name := "udp"
		if proto == tcp.ProtocolNumber {
			name = "tcp"
		}
		port := binary.BigEndian.Uint16(q[hl+2:])
		return fmt.Sprintf("%s for %s %s from %s", what, name, netip.AddrPortFrom(qdst, port), dst), true
	}
	return fmt.Sprintf("%s for protocol %d to %s from %s", what, proto, qdst, dst), true
}

// arpAnnouncement starts the label of a gratuitous ARP packet.
const arpAnnouncement = "announcement of"

// arpLabel identifies an ARP packet the host sent.
func arpLabel(b []byte) (string, bool) {
	p, err := arp.Parse(b)
	if err != nil {
		return "", false
	}
	if p.IsGratuitous() {
		return fmt.Sprintf("%s %s", arpAnnouncement, p.SenderIP()), true
	}
	if p.Op() == arp.OpReply {
		return fmt.Sprintf("reply to %s", p.TargetIP()), true
	}
	return fmt.Sprintf("request for %s", p.TargetIP()), true
}
