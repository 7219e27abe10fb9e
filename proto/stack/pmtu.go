package stack

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// PMTUTimeout is how long a path MTU learned from an ICMP "fragmentation
// needed" or ICMPv6 Packet Too Big message is kept before the interface
// MTU is tried again (RFC 1191 section 6.3 and RFC 8201 section 4 suggest
// 10 minutes, as Linux's mtu_expires).
const PMTUTimeout = 10 * time.Minute

// minPMTU4 is the smallest IPv4 path MTU a message may report: every
// IPv4 module must forward 68 bytes (RFC 791; RFC 1191 section 3).
const minPMTU4 = 68

// pmtuEntry is a path MTU toward one destination and when it expires.
type pmtuEntry struct {
	mtu   int
	until clock.Time
}

// rfc1191Plateaus is RFC 1191 section 7's table of MTU plateaus, used when
// a router reports no next-hop MTU (section 5).
var rfc1191Plateaus = [...]int{65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68}

// fragNeeded records the path MTU a Destination Unreachable "fragmentation
// needed and DF set" message reports for the destination of the datagram
// it quotes, when that datagram came from one of our addresses (RFC 1191
// section 4). A report below 68 bytes is ignored (RFC 1191 section 3, as
// Linux does); a router that reports zero (RFC 1191 section 5) gets the
// plateau below the quoted datagram's length; an increase is ignored
// (section 6.3).
func (h *Host) fragNeeded(m icmp.Message, q []byte) {
	src, dst := netip.AddrFrom4([4]byte(q[12:16])), netip.AddrFrom4([4]byte(q[16:20]))
	if !h.ownAddr(src.As4()) {
		return
	}
	mtu := int(m.NextHopMTU())
	if mtu == 0 {
		total := int(binary.BigEndian.Uint16(q[2:]))
		for _, p := range rfc1191Plateaus {
			if p < total {
				mtu = p
				break
			}
		}
	}
	if mtu < minPMTU4 || mtu >= h.PathMTU(dst) {
		return
	}
	if h.pmtu4 == nil || len(h.pmtu4) >= maxPMTUEntries {
		h.pmtu4 = make(map[netip.Addr]pmtuEntry)
	}
	h.pmtu4[dst] = pmtuEntry{mtu: mtu, until: h.clk.Now().Add(PMTUTimeout)}
	h.stats.PMTUUpdates++
}

// pmtu4For returns the learned path MTU toward the IPv4 address dst, if one
// is current.
func (h *Host) pmtu4For(dst netip.Addr) (int, bool) {
	if h.pmtu4 == nil {
		return 0, false
	}
	e, ok := h.pmtu4[dst]
	if !ok {
		return 0, false
	}
	if h.clk.Now() >= e.until {
		delete(h.pmtu4, dst)
		return 0, false
	}
	return e.mtu, true
}

// pmtuFor returns the path MTU a Packet Too Big message set for the IPv6
// address dst, if one is current.
func (v *v6Iface) pmtuFor(dst netip.Addr) (int, bool) {
	if v.pmtu == nil {
		return 0, false
	}
	e, ok := v.pmtu[dst]
	if !ok {
		return 0, false
	}
	if v.i.h.clk.Now() >= e.until {
		delete(v.pmtu, dst)
		return 0, false
	}
	return e.mtu, true
}

// transportError hands an ICMP error quoting an IPv4 datagram q (header
// and at least 8 payload bytes) to the handler of the quoted protocol.
func (h *Host) transportError(from netip.Addr, typ, code uint8, info uint32, q []byte) {
	if eh, ok := h.proto(q[9]).(ICMPErrorHandler); ok {
		eh.HandleICMPError(from, typ, code, info, q)
	}
}

// transportError6 hands an ICMPv6 error whose body quotes the IPv6 packet
// q to the ICMPErrorHandler registered for the quoted packet's upper-layer
// protocol (TCP). The handler sees the fixed IPv6 header with Next Header
// set to that protocol, followed directly by the quoted upper-layer bytes
// (extension headers removed), so it need not walk the chain.
func (h *Host) transportError6(from netip.Addr, typ, code uint8, info uint32, q []byte) {
	if len(q) < ipv6.HeaderLen+8 || q[0]>>4 != ipv6.Version {
		return
	}
	nh := q[6]
	off := ipv6.HeaderLen
	if h.proto(nh) == nil {
		// Extension headers: walk a copy whose payload length matches
		// what was quoted (the quote may be cut short).
		quoted := append([]byte(nil), q...)
		ipv6.Header(quoted).SetPayloadLen(len(q) - ipv6.HeaderLen)
		c, err := ipv6.Walk(ipv6.Header(quoted))
		if err != nil {
			return
		}
		nh, off = c.Proto, c.Offset
	}
	eh, ok := h.proto(nh).(ICMPErrorHandler)
	if !ok || off+8 > len(q) {
		return
	}
	n := ipv6.HeaderLen + len(q) - off
	b := h.acquire(n)
	defer h.release()
	copy(b, q[:ipv6.HeaderLen])
	copy(b[ipv6.HeaderLen:], q[off:])
	b[6] = nh
	ipv6.Header(b).SetPayloadLen(n - ipv6.HeaderLen)
	eh.HandleICMPError(from, typ, code, info, b[:n])
}
