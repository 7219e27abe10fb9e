package stack

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// Ping sends an ICMP echo request to dst with identifier id, sequence
// number seq and data payload. Replies go to the EchoReplyHandler. An
// IPv6 dst draws an ICMPv6 echo request (RFC 4443 section 4.1), routed
// like any IPv6 packet; its replies carry the hop limit as the TTL.
func (h *Host) Ping(dst netip.Addr, id, seq uint16, payload []byte) error {
	if dst.Is6() && !dst.Is4In6() {
		return h.ping6(dst, id, seq, payload) // ipv6_ip.go
	}
	// The message is built after room for the headers, so that output
	// sends it in place.
	b := h.acquire(headroom + icmp.HeaderLen + len(payload))
	defer h.release()
	m, err := icmp.Echo(b[headroom:], icmp.TypeEcho, id, seq, payload)
	if err != nil {
		return fmt.Errorf("ping %v: %w", dst, err)
	}
	if err := h.sendIP(ipv4.ProtoICMP, netip.Addr{}, dst, m, SendOptions{}, b); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	h.hot.EchoRequestsOut++
	return nil
}

// icmpInput handles an ICMP message (RFC 792, RFC 1122 section 3.2.2).
func (h *Host) icmpInput(hdr ipv4.Header, payload []byte, bcast bool) {
	m, err := icmp.Parse(payload)
	if err != nil {
		if errors.Is(err, icmp.ErrChecksum) {
			h.stats.ICMPBadChecksum++
		} else {
			h.stats.DropMalformed++
		}
		return
	}
	h.hot.ICMPIn++
	switch t := m.Type(); {
	case t == icmp.TypeEcho:
		h.hot.EchoRequestsIn++
		if bcast {
			// RFC 1122 section 3.2.2.6: an echo request to a broadcast
			// address MAY be silently discarded.
			h.stats.EchoBroadcastIgnored++
			return
		}
		// RFC 792: "the source and destination addresses are simply
		// reversed, the type code changed to 0, and the checksum
		// recomputed"; identifier, sequence number and data are returned
		// unchanged (RFC 1122 section 3.2.2.6).
		b := h.acquire(headroom + len(m))
		defer h.release()
		r := icmp.Message(b[headroom:])
		copy(r, m)
		r[0], r[1] = uint8(icmp.TypeEchoReply), 0
		r.SetChecksum()
		if h.sendIP(ipv4.ProtoICMP, hdr.Dst(), hdr.Src(), r, SendOptions{}, b) == nil {
			h.hot.EchoRepliesOut++
		}
	case t == icmp.TypeEchoReply:
		h.hot.EchoRepliesIn++
		if h.echo != nil {
			h.echo.HandleEchoReply(hdr.Src(), m.ID(), m.Seq(), m.Payload(), hdr.TTL())
		}
	case t.IsError():
		h.stats.ICMPErrorsIn++
		q := m.Payload()
		// The quoted datagram must hold an IP header and 8 bytes (RFC 792)
		// to say which protocol and connection it concerns.
		if len(q) < ipv4.MinHeaderLen || q[0]>>4 != ipv4.Version || int(q[0]&0xf)*4+8 > len(q) {
			h.stats.DropMalformed++
			return
		}
		if t == icmp.TypeDestUnreach && m.Code() == icmp.CodeFragNeeded {
			h.fragNeeded(m, q) // pmtu.go
		}
		if q[9] == ipv4.ProtoUDP {
			h.udpError(hdr.Src(), uint8(t), m.Code(), q)
			return
		}
		h.transportError(hdr.Src(), uint8(t), m.Code(), m.Rest(), q)
	}
}

// sendICMPError sends an ICMP error about the datagram with header hdr and
// payload, quoting the header and the first 8 payload bytes (RFC 792). It
// follows RFC 1122 section 3.2.2: no error about an ICMP error, a datagram
// to a broadcast or multicast address, a non-initial fragment, or a
// datagram whose source does not name a single host.
func (h *Host) sendICMPError(hdr ipv4.Header, payload []byte, bcast bool, t icmp.Type, code uint8, rest uint32) {
	if bcast || hdr.FragmentOffset() != 0 {
		return
	}
	src4, dst4 := hdr.Src4(), hdr.Dst4()
	if src4 == ([4]byte{}) || badSource(src4) || src4[0] == 127 || dst4[0] >= 224 || dst4 == limitedBroadcast {
		return
	}
	if hdr.Protocol() == ipv4.ProtoICMP && (len(payload) < 1 || icmp.Type(payload[0]).IsError()) {
		return
	}
	hl := hdr.HeaderLen()
	q := min(len(payload), 8)
	b := h.acquire(icmp.HeaderLen + hl + q)
	defer h.release()
	copy(b[icmp.HeaderLen:], hdr[:hl])
	copy(b[icmp.HeaderLen+hl:], payload[:q])
	m, err := icmp.Encode(b, t, code, rest, b[icmp.HeaderLen:])
	if err != nil {
		return
	}
	var src netip.Addr
	if h.ownAddr(dst4) {
		src = hdr.Dst()
	}
	if h.SendIP(ipv4.ProtoICMP, src, hdr.Src(), m) != nil {
		return
	}
	switch t {
	case icmp.TypeDestUnreach:
		h.stats.UnreachableOut++
	case icmp.TypeTimeExceeded:
		h.stats.TimeExceededOut++
	}
}
