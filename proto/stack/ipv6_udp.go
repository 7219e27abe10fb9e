package stack

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/udp"
)

// sendTo6 sends a UDP datagram over IPv6 (RFC 8200 section 8.1: the
// checksum covers the IPv6 pseudo-header and is mandatory).
func (s *UDPSocket) sendTo6(dst netip.AddrPort, payload []byte, hopLimit uint8) error {
	h := s.h
	if hopLimit == 0 {
		hopLimit = h.ttl
	}
	loop := h.own6(dst.Addr())
	v, next, ok := h.route6(dst.Addr())
	if !ok {
		h.stats.IPNoRoute++
		return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, ErrNoIPv6)
	}
	src := s.key.addr
	switch {
	case src.Is6() && !src.IsUnspecified():
	case loop != nil:
		src = dst.Addr()
	default:
		src = v.source(dst.Addr())
	}
	if src.IsUnspecified() {
		return fmt.Errorf("udp send %v -> %v: no IPv6 address yet: %w", s.LocalAddr(), dst, ErrNoRoute)
	}
	n := udp.HeaderLen + len(payload)
	if n > ipv6.MaxPayloadLen {
		return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, ErrMessageTooBig)
	}
	b := h.acquire(v6Headroom + n)
	defer h.release()
	copy(b[v6Headroom+udp.HeaderLen:], payload)
	u, err := udp.Encode(b[v6Headroom:], s.key.port, dst.Port(), len(payload))
	if err != nil {
		return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, err)
	}
	c := ipv6.UpperChecksum(src.As16(), dst.Addr().As16(), ipv6.ProtoUDP, u)
	if c == 0 {
		c = 0xffff // RFC 8200 section 8.1
	}
	binary.BigEndian.PutUint16(u[6:], c)
	if loop != nil {
		if err := h.loopback6(ipv6.ProtoUDP, src, dst.Addr(), u, hopLimit); err != nil {
			return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, err)
		}
	} else {
		v.sendVia(b, n, src, dst.Addr(), next, ipv6.ProtoUDP, hopLimit)
	}
	h.hot.UDPOut++
	return nil
}

// udpInput handles a UDP datagram b carried by the IPv6 packet pkt. It
// goes to the socket bound to its destination address and port, else to
// the one bound to [::] on the port, else to the one bound to 0.0.0.0
// (a wildcard socket is dual-stack); a port without a socket draws an
// ICMPv6 port unreachable (RFC 4443 section 3.1).
func (v *v6Iface) udpInput(pkt ipv6.Header, b []byte, linkMulticast bool) {
	h := v.i.h
	u, err := udp.Parse(b)
	if err != nil {
		v.stats.DropMalformed++
		return
	}
	src, dst := pkt.Src(), pkt.Dst()
	// RFC 8200 section 8.1: a zero UDP checksum over IPv6 is discarded.
	if u.Checksum() == 0 || !ipv6.VerifyUpper(pkt.Src16(), pkt.Dst16(), ipv6.ProtoUDP, u) {
		h.stats.UDPBadChecksum++
		return
	}
	h.hot.UDPIn++
	s := h.udp[udpKey{addr: dst, port: u.DstPort()}]
	if s == nil {
		s = h.udp[udpKey{addr: netip.IPv6Unspecified(), port: u.DstPort()}]
	}
	if s == nil {
		s = h.udp[udpKey{addr: netip.IPv4Unspecified(), port: u.DstPort()}]
	}
	if s == nil {
		h.stats.UDPNoPort++
		v.sendError(pkt, icmpv6.TypeDestUnreach, icmpv6.CodePortUnreachable, 0, linkMulticast, false)
		return
	}
	s.hnd.HandleUDP(s, netip.AddrPortFrom(src, u.SrcPort()), netip.AddrPortFrom(dst, u.DstPort()), u.Payload())
}

// udpError6 hands an ICMPv6 error quoting one of our UDP datagrams to the
// socket that sent it (RFC 4443 section 2.4 (a)); typ and code are
// ICMPv6's.
func (h *Host) udpError6(from netip.Addr, typ, code uint8, q []byte) {
	if len(q) < ipv6.HeaderLen || q[0]>>4 != ipv6.Version {
		return
	}
	qh := ipv6.Header(q[:ipv6.HeaderLen])
	// The quote may be cut short of the payload length: walk a copy of
	// the header whose payload length matches what was quoted.
	quoted := append([]byte(nil), q...)
	ipv6.Header(quoted).SetPayloadLen(len(q) - ipv6.HeaderLen)
	c, err := ipv6.Walk(ipv6.Header(quoted))
	if err != nil || c.Proto != ipv6.ProtoUDP || c.Offset+udp.HeaderLen > len(q) {
		return
	}
	sport := binary.BigEndian.Uint16(q[c.Offset:])
	dport := binary.BigEndian.Uint16(q[c.Offset+2:])
	s := h.udp[udpKey{addr: qh.Src(), port: sport}]
	if s == nil {
		s = h.udp[udpKey{addr: netip.IPv6Unspecified(), port: sport}]
	}
	if s == nil {
		s = h.udp[udpKey{addr: netip.IPv4Unspecified(), port: sport}]
	}
	if s == nil {
		return
	}
	if eh, ok := s.hnd.(UDPErrorHandler); ok {
		eh.HandleUDPError(s, from, netip.AddrPortFrom(qh.Dst(), dport), typ, code)
	}
}
