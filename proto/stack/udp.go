package stack

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/udp"
)

// Ephemeral port range (RFC 6335 section 6: the Dynamic Ports).
const (
	ephemeralFirst = 49152
	ephemeralCount = 65536 - ephemeralFirst
)

// UDPHandler receives the datagrams of a UDP socket. payload is valid only
// during the call.
type UDPHandler interface {
	HandleUDP(s *UDPSocket, src, dst netip.AddrPort, payload []byte)
}

// UDPHandlerFunc adapts a function to UDPHandler.
type UDPHandlerFunc func(s *UDPSocket, src, dst netip.AddrPort, payload []byte)

// HandleUDP calls f(s, src, dst, payload).
func (f UDPHandlerFunc) HandleUDP(s *UDPSocket, src, dst netip.AddrPort, payload []byte) {
	f(s, src, dst, payload)
}

// UDPErrorHandler may be implemented by a UDPHandler to learn about ICMP
// errors (port unreachable, for instance) about datagrams the socket sent
// to dst; from is the host that reported it.
type UDPErrorHandler interface {
	HandleUDPError(s *UDPSocket, from netip.Addr, dst netip.AddrPort, typ, code uint8)
}

// udpKey is the demultiplexing key of a socket: a local address (the
// unspecified address for a wildcard bind) and port.
type udpKey struct {
	addr netip.Addr
	port uint16
}

// UDPSocket is a UDP endpoint bound on a host.
type UDPSocket struct {
	h      *Host
	key    udpKey
	hnd    UDPHandler
	closed bool
}

// BindUDP opens a UDP socket on local. An unspecified (or zero) address
// receives on every address of the host, including broadcasts; port 0
// picks a free ephemeral port at random (49152-65535) from the host's
// random source. Binding an address and port already bound fails with
// ErrAddrInUse; a specific address may share a port with a wildcard bind,
// and then receives its datagrams first.
func (h *Host) BindUDP(local netip.AddrPort, hnd UDPHandler) (*UDPSocket, error) {
	addr := local.Addr().Unmap()
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	if !addr.Is4() && (!addr.Is6() || addr.IsLoopback()) {
		// IPv6 sockets (ipv6_udp.go); ::1 is not an address of the host.
		return nil, fmt.Errorf("bind udp %v: %w", local, ErrInvalidAddr)
	}
	k := udpKey{addr: addr, port: local.Port()}
	if k.port == 0 {
		p, ok := h.ephemeralPort()
		if !ok {
			return nil, fmt.Errorf("bind udp %v: %w", local, ErrNoPorts)
		}
		k.port = p
	}
	if _, dup := h.udp[k]; dup {
		return nil, fmt.Errorf("bind udp %v: %w", netip.AddrPortFrom(k.addr, k.port), ErrAddrInUse)
	}
	s := &UDPSocket{h: h, key: k, hnd: hnd}
	h.udp[k] = s
	h.udpPorts[k.port]++
	return s, nil
}

// ephemeralPort draws a free port: random tries first, then a scan from a
// random start, so the choice depends only on the host's random source.
func (h *Host) ephemeralPort() (uint16, bool) {
	for range 32 {
		p := uint16(ephemeralFirst + h.rnd.IntN(ephemeralCount))
		if h.udpPorts[p] == 0 {
			return p, true
		}
	}
	start := h.rnd.IntN(ephemeralCount)
	for k := range ephemeralCount {
		p := uint16(ephemeralFirst + (start+k)%ephemeralCount)
		if h.udpPorts[p] == 0 {
			return p, true
		}
	}
	return 0, false
}

// LocalAddr returns the address and port the socket is bound to.
func (s *UDPSocket) LocalAddr() netip.AddrPort { return netip.AddrPortFrom(s.key.addr, s.key.port) }

// Host returns the host the socket is bound on.
func (s *UDPSocket) Host() *Host { return s.h }

// Close unbinds the socket. Closing twice does nothing.
func (s *UDPSocket) Close() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.h.udp, s.key)
	if s.h.udpPorts[s.key.port]--; s.h.udpPorts[s.key.port] <= 0 {
		delete(s.h.udpPorts, s.key.port)
	}
}

// SendTo sends payload to dst from the socket's address (or, for a
// wildcard socket, the address of the egress interface).
func (s *UDPSocket) SendTo(dst netip.AddrPort, payload []byte) error {
	return s.SendToWith(dst, payload, SendOptions{})
}

// SendToWith is SendTo with per-datagram options, such as the TTL of a
// traceroute probe.
func (s *UDPSocket) SendToWith(dst netip.AddrPort, payload []byte, o SendOptions) error {
	h := s.h
	if s.closed {
		return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, ErrClosed)
	}
	if a := dst.Addr(); a.Is6() && !a.Is4In6() {
		return s.sendTo6(dst, payload, o.TTL) // ipv6_udp.go
	}
	daddr := dst.Addr().Unmap()
	src := s.key.addr
	if src.IsUnspecified() {
		var ok bool
		if src, ok = h.SourceFor(daddr); !ok {
			h.stats.IPNoRoute++
			return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, ErrNoRoute)
		}
	}
	frame, b, err := s.build(src, netip.AddrPortFrom(daddr, dst.Port()), payload)
	defer h.release()
	if err != nil {
		return err
	}
	if err := h.sendIP(ipv4.ProtoUDP, src, daddr, b, o, frame); err != nil {
		return fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, err)
	}
	h.hot.UDPOut++
	return nil
}

// SendVia sends payload out of ifc from src, which may be 0.0.0.0, to dst,
// bypassing the routing table. A broadcast dst (255.255.255.255 or ifc's
// subnet broadcast) goes to the Ethernet broadcast address without ARP:
// this is how a DHCP client talks before it has an address (RFC 2131
// section 4.1).
func (s *UDPSocket) SendVia(ifc *Interface, src netip.Addr, dst netip.AddrPort, payload []byte) error {
	h := s.h
	if s.closed {
		return fmt.Errorf("udp send %v -> %v via %s: %w", src, dst, ifc.name, ErrClosed)
	}
	src = src.Unmap()
	if !src.IsValid() {
		src = netip.IPv4Unspecified()
	}
	daddr := dst.Addr().Unmap()
	if !src.Is4() || !daddr.Is4() || daddr.IsUnspecified() {
		return fmt.Errorf("udp send %v -> %v via %s: %w", src, dst, ifc.name, ErrInvalidAddr)
	}
	frame, b, err := s.build(src, netip.AddrPortFrom(daddr, dst.Port()), payload)
	defer h.release()
	if err != nil {
		return err
	}
	if ipv4.MinHeaderLen+len(b) > ipv4.MaxTotalLen {
		return fmt.Errorf("udp send %v -> %v via %s: %w", src, dst, ifc.name, ErrMessageTooBig)
	}
	if err := h.output(ifc, ipv4.ProtoUDP, src, daddr, daddr, b, SendOptions{}, frame); err != nil {
		return fmt.Errorf("udp send %v -> %v via %s: %w", src, dst, ifc.name, err)
	}
	h.hot.UDPOut++
	return nil
}

// build writes the datagram into a scratch buffer after room for the
// Ethernet and IP headers, and returns the buffer and the datagram, its
// tail; the caller releases the buffer.
func (s *UDPSocket) build(src netip.Addr, dst netip.AddrPort, payload []byte) (frame, dgram []byte, err error) {
	frame = s.h.acquire(headroom + udp.HeaderLen + len(payload))
	b := frame[headroom:]
	copy(b[udp.HeaderLen:], payload)
	u, err := udp.Encode(b, s.key.port, dst.Port(), len(payload))
	if err != nil {
		return nil, nil, fmt.Errorf("udp send %v -> %v: %w", s.LocalAddr(), dst, err)
	}
	u.SetChecksum(src, dst.Addr())
	return frame, u, nil
}

// udpInput handles a UDP datagram (RFC 768; RFC 1122 section 4.1.3).
func (h *Host) udpInput(hdr ipv4.Header, payload []byte, bcast bool) {
	u, err := udp.Parse(payload)
	if err != nil {
		h.stats.DropMalformed++
		return
	}
	src, dst := hdr.Src(), hdr.Dst()
	if !u.VerifyChecksum(src, dst) {
		h.stats.UDPBadChecksum++
		return
	}
	h.hot.UDPIn++
	s := h.udp[udpKey{addr: dst, port: u.DstPort()}]
	if s == nil {
		s = h.udp[udpKey{addr: netip.IPv4Unspecified(), port: u.DstPort()}]
	}
	if s == nil {
		h.stats.UDPNoPort++
		// RFC 1122 section 4.1.3.1: a datagram to a port with no listener
		// SHOULD draw a port unreachable, never for a broadcast.
		h.sendICMPError(hdr, payload, bcast, icmp.TypeDestUnreach, icmp.CodePortUnreachable, 0)
		return
	}
	s.hnd.HandleUDP(s, netip.AddrPortFrom(src, u.SrcPort()), netip.AddrPortFrom(dst, u.DstPort()), u.Payload())
}

// udpError hands an ICMP error quoting one of our UDP datagrams (q holds
// its IP header and at least 8 bytes) to the socket that sent it.
func (h *Host) udpError(from netip.Addr, typ, code uint8, q []byte) {
	qh := ipv4.Header(q)
	hl := qh.HeaderLen()
	u := udp.Header(q[hl : hl+udp.HeaderLen])
	s := h.udp[udpKey{addr: qh.Src(), port: u.SrcPort()}]
	if s == nil {
		s = h.udp[udpKey{addr: netip.IPv4Unspecified(), port: u.SrcPort()}]
	}
	if s == nil {
		return
	}
	if eh, ok := s.hnd.(UDPErrorHandler); ok {
		eh.HandleUDPError(s, from, netip.AddrPortFrom(qh.Dst(), u.DstPort()), typ, code)
	}
}
