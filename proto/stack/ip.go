package stack

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// maxLoopback bounds the datagrams queued to the host's own addresses.
const maxLoopback = 1024

var limitedBroadcast = [4]byte{255, 255, 255, 255}

// SendOptions tunes one datagram sent with SendIPWith. Zero fields take the
// defaults.
type SendOptions struct {
	// TTL is the time to live (default Config.DefaultTTL).
	TTL uint8
	// TOS is the type-of-service byte (DSCP and ECN).
	TOS uint8
	// DF sets Don't Fragment: a datagram over the MTU fails with
	// ErrMessageTooBig instead of being fragmented.
	DF bool
}

// SendIP sends payload to dst as an IP datagram of protocol proto. An
// invalid or unspecified src is replaced by the egress interface's address.
// dst may be unicast, the limited broadcast or a subnet broadcast, not
// multicast. An IPv6 dst sends an IPv6 packet with Next Header proto
// (SendOptions.TTL is then the hop limit; TOS and DF do not apply: IPv6
// routers never fragment).
// A datagram over the egress MTU is fragmented; a next hop that is not yet
// resolved queues it behind ARP. payload is not retained.
func (h *Host) SendIP(proto uint8, src, dst netip.Addr, payload []byte) error {
	return h.SendIPWith(proto, src, dst, payload, SendOptions{})
}

// SendIPWith is SendIP with per-datagram options.
func (h *Host) SendIPWith(proto uint8, src, dst netip.Addr, payload []byte, o SendOptions) error {
	return h.sendIP(proto, src, dst, payload, o, nil)
}

// SendIPTOS is SendIP with the given type-of-service byte (DSCP and ECN);
// TCP sends ECN-capable segments through it (proto/tcp's TOSSender).
func (h *Host) SendIPTOS(proto uint8, src, dst netip.Addr, payload []byte, tos uint8) error {
	return h.sendIP(proto, src, dst, payload, SendOptions{TOS: tos}, nil)
}

// SendIPDF is SendIPTOS with Don't Fragment set on an IPv4 datagram, for
// path MTU discovery (RFC 1191); TCP sends its segments through it as
// Linux does (proto/tcp's DFSender). IPv6 packets are never fragmented by
// routers, so for them it is SendIPTOS.
func (h *Host) SendIPDF(proto uint8, src, dst netip.Addr, payload []byte, tos uint8) error {
	return h.sendIP(proto, src, dst, payload, SendOptions{TOS: tos, DF: true}, nil)
}

// headroom is the space a scratch buffer leaves before a datagram's
// payload so that output can send it in place (see inPlace).
const headroom = ether.HeaderLen + ipv4.MinHeaderLen

// sendIP is SendIPWith for a payload that may sit in place in a frame
// buffer pre (see inPlace); pre may be nil.
func (h *Host) sendIP(proto uint8, src, dst netip.Addr, payload []byte, o SendOptions, pre []byte) error {
	if dst.Is6() && !dst.Is4In6() {
		return h.sendIP6(proto, src, dst, payload, o.TTL) // ipv6_ip.go
	}
	src, dst = src.Unmap(), dst.Unmap()
	if !dst.Is4() || dst.IsUnspecified() || dst.IsMulticast() || (src.IsValid() && !src.Is4()) {
		// Multicast sending (RFC 1112) is not implemented.
		return fmt.Errorf("send ip proto %d %v -> %v: %w", proto, src, dst, ErrInvalidAddr)
	}
	if ipv4.MinHeaderLen+len(payload) > ipv4.MaxTotalLen {
		return fmt.Errorf("send ip proto %d %v -> %v (%d bytes): %w", proto, src, dst, len(payload), ErrMessageTooBig)
	}
	d4 := dst.As4()
	if h.ownAddr(d4) || d4[0] == 127 {
		if !src.IsValid() || src.IsUnspecified() {
			src = dst
		}
		return h.loopback(proto, src, dst, payload, o)
	}
	var (
		ifc *Interface
		hop netip.Addr
	)
	if d4 == limitedBroadcast {
		// RFC 1122 section 3.3.6: the limited broadcast goes out on one
		// interface; we pick the first with an address, else the first.
		for _, i := range h.ifcs {
			if i.addr.IsValid() {
				ifc = i
				break
			}
		}
		if ifc == nil && len(h.ifcs) > 0 {
			ifc = h.ifcs[0]
		}
		hop = dst
	} else {
		var ok bool
		ifc, hop, ok = h.lookup(dst)
		if !ok {
			ifc = nil
		}
	}
	if ifc == nil {
		h.stats.IPNoRoute++
		return fmt.Errorf("send ip proto %d %v -> %v: %w", proto, src, dst, ErrNoRoute)
	}
	if !src.IsValid() || src.IsUnspecified() {
		if !ifc.addr.IsValid() {
			return fmt.Errorf("send ip proto %d -> %v on %s: %w", proto, dst, ifc.name, ErrNoSource)
		}
		src = ifc.addr.Addr()
	}
	return h.output(ifc, proto, src, dst, hop, payload, o, pre)
}

// inPlace reports whether payload is the tail of frame starting at offset
// off, so that the headers can be written in front of it without a copy.
func inPlace(frame, payload []byte, off int) bool {
	return len(payload) > 0 && len(frame) == off+len(payload) && &frame[off] == &payload[0]
}

// output sends a datagram on ifc toward the next hop hop, fragmenting it
// over the MTU (RFC 791 section 3.2, "Fragmentation and Reassembly").
// When payload already sits in a scratch buffer pre after room for the
// Ethernet and IP headers, an unfragmented datagram is built in pre
// instead of being copied into a new buffer; pre may be nil.
func (h *Host) output(ifc *Interface, proto uint8, src, dst, hop netip.Addr, payload []byte, o SendOptions, pre []byte) error {
	f := ipv4.Fields{TOS: o.TOS, ID: h.nextID, DF: o.DF, TTL: o.TTL, Protocol: proto, Src: src, Dst: dst}
	if f.TTL == 0 {
		f.TTL = h.ttl
	}
	h.nextID++
	h.hot.IPOut++
	d4, hop4 := dst.As4(), hop.Unmap().As4()
	bcast := ifc.isBroadcast(d4)
	hl := f.HeaderLen()
	if hl+len(payload) <= ifc.mtu {
		frame := pre
		if !inPlace(pre, payload, ether.HeaderLen+hl) {
			frame = h.acquire(ether.HeaderLen + hl + len(payload))
			defer h.release()
			copy(frame[ether.HeaderLen+hl:], payload)
		}
		if _, err := ipv4.Encode(frame[ether.HeaderLen:], &f, len(payload)); err != nil {
			return fmt.Errorf("send ip %v -> %v: %w", src, dst, err)
		}
		ifc.emit(frame, hop4, bcast)
		return nil
	}
	if o.DF {
		h.stats.IPTooBig++
		return fmt.Errorf("send ip %v -> %v (%d bytes, MTU %d, DF): %w", src, dst, hl+len(payload), ifc.mtu, ErrMessageTooBig)
	}
	// Every fragment but the last carries a multiple of 8 data bytes, since
	// the offset counts 8-byte units.
	chunk := (ifc.mtu - hl) &^ 7
	for off := 0; off < len(payload); off += chunk {
		end := min(off+chunk, len(payload))
		f.FragmentOffset = off
		f.MF = end < len(payload)
		frame := h.acquire(ether.HeaderLen + hl + end - off)
		copy(frame[ether.HeaderLen+hl:], payload[off:end])
		_, err := ipv4.Encode(frame[ether.HeaderLen:], &f, end-off)
		if err != nil {
			h.release()
			return fmt.Errorf("send ip fragment %v -> %v offset %d: %w", src, dst, off, err)
		}
		h.stats.FragmentsOut++
		ifc.emit(frame, hop4, bcast)
		h.release()
	}
	return nil
}

// emit sends an IPv4 frame to the Ethernet broadcast address or to the
// resolved next hop.
func (i *Interface) emit(frame []byte, hop [4]byte, bcast bool) {
	if bcast {
		i.send(frame, ether.Broadcast, ether.TypeIPv4)
		return
	}
	i.sendIPFrame(frame, hop)
}

// loopback queues a datagram to one of the host's own addresses; it is
// delivered on the next loop turn, never from inside the sending call.
func (h *Host) loopback(proto uint8, src, dst netip.Addr, payload []byte, o SendOptions) error {
	if len(h.loopQ) >= maxLoopback {
		h.stats.LinkDrops++
		return nil
	}
	f := ipv4.Fields{TOS: o.TOS, ID: h.nextID, DF: o.DF, TTL: o.TTL, Protocol: proto, Src: src, Dst: dst}
	if f.TTL == 0 {
		f.TTL = h.ttl
	}
	h.nextID++
	h.hot.IPOut++
	h.stats.IPLoopback++
	b := h.acquire(f.HeaderLen() + len(payload))
	defer h.release()
	copy(b[f.HeaderLen():], payload)
	if _, err := ipv4.Encode(b, &f, len(payload)); err != nil {
		return fmt.Errorf("send ip %v -> %v: %w", src, dst, err)
	}
	h.loopQ = append(h.loopQ, h.pool.Get(b))
	if !h.loopTimer.Pending() {
		h.clk.Schedule(&h.loopTimer, h.clk.Now())
	}
	return nil
}

// runLoopback delivers the datagrams queued to the host's own addresses;
// datagrams queued while it runs wait for the next turn.
func (h *Host) runLoopback(clock.Time) {
	n := len(h.loopQ)
	for k := 0; k < n; k++ {
		b := h.loopQ[k]
		h.loopQ[k] = nil
		if b[0]>>4 == 6 {
			h.loopInput6(b)
		} else {
			h.ipInput(nil, b, false)
		}
		h.pool.Put(b)
	}
	rest := copy(h.loopQ, h.loopQ[n:])
	for k := rest; k < len(h.loopQ); k++ {
		h.loopQ[k] = nil
	}
	h.loopQ = h.loopQ[:rest]
	if rest > 0 {
		h.clk.Schedule(&h.loopTimer, h.clk.Now())
	}
}

// badSource reports whether a datagram from a must be discarded: RFC 1122
// section 3.2.1.3 forbids broadcast, multicast and class E sources (and
// loopback sources arriving from a link, checked by the caller).
func badSource(a [4]byte) bool {
	return a == limitedBroadcast || a[0] >= 224
}

// ipInput handles an IPv4 packet received on ifc (nil for loopback).
// linkBcast says the frame was sent to the Ethernet broadcast address.
func (h *Host) ipInput(ifc *Interface, b []byte, linkBcast bool) {
	h.hot.IPIn++
	ip, err := ipv4.Parse(b)
	if err != nil {
		if errors.Is(err, ipv4.ErrChecksum) {
			h.stats.IPBadChecksum++
		} else {
			h.stats.DropMalformed++
		}
		return
	}
	src4, dst4 := ip.Src4(), ip.Dst4()
	if badSource(src4) || (ifc != nil && (src4[0] == 127 || ifc.isBroadcast(src4))) {
		h.stats.IPBadSource++
		return
	}
	bcast := false
	switch {
	case h.ownAddr(dst4), ifc == nil:
	case ifc.isBroadcast(dst4):
		bcast = true
	case dst4[0] >= 224 && dst4[0] < 240:
		h.stats.IPMulticast++
		return
	case !ifc.addr.IsValid() && !linkBcast:
		// An interface without an address accepts unicast datagrams sent
		// to its MAC: a DHCP server may unicast the offer to the address
		// it is offering (RFC 2131 section 4.1).
	case h.cfg.Forwarding && !linkBcast:
		h.forward(ip)
		return
	default:
		h.stats.IPNotForUs++
		return
	}
	if linkBcast && !bcast {
		// RFC 1122 section 3.3.6: a datagram received in a link-layer
		// broadcast but not addressed to an IP broadcast is discarded.
		h.stats.IPNotForUs++
		return
	}
	h.rx = ifc
	if ip.IsFragment() {
		h.reasm.add(ip, bcast)
	} else {
		h.deliver(ip[:ip.HeaderLen()], ip.Payload(), bcast)
	}
	h.rx = nil
}

// ReceivedTOS returns the type-of-service byte (DSCP and ECN) of the
// datagram being delivered; like ReceivingInterface it is meant for
// protocol handlers and valid only during their call (proto/tcp's
// TOSReceiver: TCP reads the CE mark of RFC 3168 from it).
func (h *Host) ReceivedTOS() uint8 { return h.rxTOS }

// ReceivingInterface returns the interface the datagram being delivered
// arrived on, or nil for one the host sent itself. It is meant for
// handlers (a DHCP relay agent must know where a broadcast came from, RFC
// 1542 section 4.1.1) and is valid only during their call.
func (h *Host) ReceivingInterface() *Interface { return h.rx }

// deliver hands a complete datagram to its protocol. hdr is the IP header
// (of the first fragment for a reassembled datagram).
func (h *Host) deliver(hdr ipv4.Header, payload []byte, bcast bool) {
	switch p := hdr.Protocol(); p {
	case ipv4.ProtoICMP:
		h.hot.IPDelivered++
		h.icmpInput(hdr, payload, bcast)
	case ipv4.ProtoUDP:
		h.hot.IPDelivered++
		h.udpInput(hdr, payload, bcast)
	default:
		ph := h.proto(p)
		if ph == nil {
			h.stats.IPUnknownProtocol++
			// RFC 1122 section 3.2.2.1: a host SHOULD send protocol
			// unreachable for a transport protocol it does not support.
			h.sendICMPError(hdr, payload, bcast, icmp.TypeDestUnreach, icmp.CodeProtoUnreachable, 0)
			return
		}
		if bcast {
			// Connection-oriented protocols never accept broadcasts (RFC
			// 1122 section 4.2.3.10 for TCP); only UDP and ICMP see them.
			h.stats.IPNotForUs++
			return
		}
		h.hot.IPDelivered++
		h.rxTOS = hdr.TOS()
		ph.HandleIP(hdr.Src(), hdr.Dst(), payload)
		h.rxTOS = 0
	}
}
