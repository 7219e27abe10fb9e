package stack

import (
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// forward routes a datagram that is not for the host (Config.Forwarding),
// following RFC 1812 section 5.3.1 (TTL), 5.2.7.1 (destination
// unreachable) and RFC 791 section 3.2 (fragmentation in transit). The
// received frame is never modified: the datagram is copied out.
func (h *Host) forward(ip ipv4.Header) {
	hl := ip.HeaderLen()
	hdr, data := ip[:hl], ip.Payload()
	if !forwardable(ip.Src4(), ip.Dst4()) {
		h.stats.ForwardRefused++
		return
	}
	if ip.TTL() <= 1 {
		// RFC 792 time exceeded, code 0 "time to live exceeded in
		// transit".
		h.stats.TTLExceeded++
		h.sendICMPError(hdr, data, false, icmp.TypeTimeExceeded, icmp.CodeTTLExceeded, 0)
		return
	}
	dst := ip.Dst()
	out, hop, ok := h.lookup(dst)
	if !ok {
		h.stats.IPNoRoute++
		h.sendICMPError(hdr, data, false, icmp.TypeDestUnreach, icmp.CodeNetUnreachable, 0)
		return
	}
	d4, hop4 := ip.Dst4(), hop.As4()
	bcast := out.isBroadcast(d4)
	if bcast {
		// RFC 2644 section 3 (updating RFC 1812 section 5.3.5.2): a
		// router MUST by default drop directed broadcasts.
		h.stats.ForwardRefused++
		return
	}
	if ip.TotalLen() <= out.mtu {
		frame := h.acquire(ether.HeaderLen + ip.TotalLen())
		defer h.release()
		copy(frame[ether.HeaderLen:], ip)
		// RFC 1624 incremental update of the header checksum.
		ipv4.Header(frame[ether.HeaderLen:]).SetTTL(ip.TTL() - 1)
		h.stats.Forwarded++
		out.emit(frame, hop4, bcast)
		return
	}
	if ip.DF() {
		// RFC 1191 section 4: fragmentation needed, with the next-hop MTU
		// in the low-order 16 bits of the second word.
		h.stats.IPTooBig++
		h.sendICMPError(hdr, data, false, icmp.TypeDestUnreach, icmp.CodeFragNeeded, uint32(out.mtu))
		return
	}
	f := ip.Fields()
	f.TTL--
	origMF, base := f.MF, f.FragmentOffset
	var later [ipv4.MaxHeaderLen - ipv4.MinHeaderLen]byte
	laterOpts := later[:copiedOptions(later[:], ip.Options())]
	h.stats.Forwarded++
	for off := 0; off < len(data); {
		if off > 0 {
			f.Options = laterOpts
		}
		fhl := f.HeaderLen()
		end := min(off+((out.mtu-fhl)&^7), len(data))
		f.FragmentOffset = base + off
		f.MF = end < len(data) || origMF
		frame := h.acquire(ether.HeaderLen + fhl + end - off)
		copy(frame[ether.HeaderLen+fhl:], data[off:end])
		if _, err := ipv4.Encode(frame[ether.HeaderLen:], &f, end-off); err == nil {
			h.stats.FragmentsOut++
			out.emit(frame, hop4, bcast)
		}
		h.release()
		off = end
	}
}

// forwardable reports whether a router may forward a datagram from src to
// dst. RFC 1812 section 5.3.7 forbids forwarding datagrams with a source
// or destination on network 0 or 127 (and with a broadcast, multicast or
// class E source, which ipInput already discards); RFC 3927 section 2.7
// forbids forwarding datagrams with an IPv4 link-local (169.254/16) source
// or destination.
func forwardable(src, dst [4]byte) bool {
	for _, a := range [2][4]byte{src, dst} {
		if a[0] == 0 || a[0] == 127 || (a[0] == 169 && a[1] == 254) {
			return false
		}
	}
	return dst[0] < 224
}

// copiedOptions writes into dst the options of opts whose copied flag is set
// (RFC 791 section 3.1: they go into every fragment; the others only into
// the first), padded with End of Option List to a multiple of 4 bytes, and
// returns the length written.
func copiedOptions(dst, opts []byte) int {
	n := 0
	for k := 0; k < len(opts); {
		t := opts[k]
		if t == 0 { // End of Option List
			break
		}
		if t == 1 { // No Operation
			k++
			continue
		}
		if k+1 >= len(opts) || opts[k+1] < 2 || k+int(opts[k+1]) > len(opts) {
			break // malformed: copy nothing more
		}
		l := int(opts[k+1])
		if t&0x80 != 0 {
			n += copy(dst[n:], opts[k:k+l])
		}
		k += l
	}
	for n%4 != 0 {
		dst[n] = 0
		n++
	}
	return n
}
