package totap

import (
	"encoding/binary"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/ether"
)

// IP protocol numbers the rewriter knows the checksum of.
const (
	protoICMP = 1
	protoTCP  = 6
	protoUDP  = 17
)

// Rewriter edits frames on their way to the tap, as tcprewrite does:
// IPv4 addresses (--rewrite-ip, in the IPv4 header, ARP, and the IPv4
// header quoted by an ICMP error) and Ethernet addresses (--rewrite-mac, in
// the Ethernet header and ARP), with every checksum the change touches
// updated incrementally (RFC 1624 section 3), or recomputed from scratch
// with FixCsum. A nil or empty Rewriter leaves frames alone.
type Rewriter struct {
	// IP maps old IPv4 addresses to new ones.
	IP map[[4]byte][4]byte
	// MAC maps old Ethernet addresses to new ones.
	MAC map[ether.Addr]ether.Addr
	// FixCsum recomputes the IPv4 header checksum and the TCP, UDP and
	// ICMP checksums of every whole, unfragmented IPv4 packet (tcprewrite
	// --fixcsum), instead of updating them.
	FixCsum bool
}

// Active reports whether the rewriter changes anything.
func (r *Rewriter) Active() bool {
	return r != nil && (len(r.IP) > 0 || len(r.MAC) > 0 || r.FixCsum)
}

// Rewrite edits the Ethernet frame in place. Frames too short for a header
// are left as they are; a cut-off capture (snap length) is rewritten as far
// as it goes.
func (r *Rewriter) Rewrite(frame []byte) {
	if !r.Active() || len(frame) < ether.HeaderLen {
		return
	}
	r.mac(frame[0:6])
	r.mac(frame[6:12])
	et := ether.EtherType(binary.BigEndian.Uint16(frame[12:]))
	off := ether.HeaderLen
	for i := 0; i < ether.MaxTags && et.IsVLAN() && len(frame) >= off+4; i++ {
		et = ether.EtherType(binary.BigEndian.Uint16(frame[off+2:]))
		off += 4
	}
	switch et {
	case ether.TypeARP:
		r.arp(frame[off:])
	case ether.TypeIPv4:
		r.ipv4(frame[off:])
	}
}

// mac maps the 6-byte address at b.
func (r *Rewriter) mac(b []byte) {
	if n, ok := r.MAC[ether.Addr(b)]; ok {
		copy(b, n[:])
	}
}

// addr maps the 4-byte IPv4 address at b and returns the old and new value
// as 32-bit words.
func (r *Rewriter) addr(b []byte) (old, new uint32) {
	old = binary.BigEndian.Uint32(b)
	if n, ok := r.IP[[4]byte(b)]; ok {
		copy(b, n[:])
	}
	return old, binary.BigEndian.Uint32(b)
}

// arp rewrites an Ethernet/IPv4 ARP message (RFC 826): sender and target
// hardware and protocol addresses.
func (r *Rewriter) arp(b []byte) {
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != uint16(ether.TypeIPv4) ||
		b[4] != 6 || b[5] != 4 {
		return
	}
	r.mac(b[8:14])
	r.addr(b[14:18])
	r.mac(b[18:24])
	r.addr(b[24:28])
}

// ipv4 rewrites an IPv4 packet (b may be cut short by the snap length).
func (r *Rewriter) ipv4(b []byte) {
	if len(b) < 20 || b[0]>>4 != 4 {
		return
	}
	ihl := int(b[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || len(b) < ihl || total < ihl {
		return
	}
	oldSrc, newSrc := r.addr(b[12:16])
	oldDst, newDst := r.addr(b[16:20])
	fo := binary.BigEndian.Uint16(b[6:])
	firstFragment := fo&0x1fff == 0
	whole := fo&0x3fff == 0 && len(b) >= total
	end := min(total, len(b))
	l4 := b[ihl:end]
	if r.FixCsum {
		binary.BigEndian.PutUint16(b[10:], 0)
		binary.BigEndian.PutUint16(b[10:], checksum.Checksum(b[:ihl]))
		if whole {
			fixL4(b, l4)
		}
		return
	}
	if oldSrc == newSrc && oldDst == newDst {
		if b[9] == protoICMP && firstFragment {
			r.icmpQuote(l4)
		}
		return
	}
	// RFC 1624 section 3: HC' = ~(~HC + ~m + m') for each changed word.
	update := func(at []byte) {
		c := binary.BigEndian.Uint16(at)
		c = checksum.Update32(c, oldSrc, newSrc)
		c = checksum.Update32(c, oldDst, newDst)
		binary.BigEndian.PutUint16(at, c)
	}
	update(b[10:12])
	if !firstFragment {
		return // later fragments carry no transport header
	}
	switch b[9] {
	case protoTCP:
		if len(l4) >= 18 {
			update(l4[16:18]) // the pseudo-header covers both addresses (RFC 9293 section 3.1)
		}
	case protoUDP:
		if len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) != 0 { // 0: no checksum (RFC 768)
			update(l4[6:8])
			if binary.BigEndian.Uint16(l4[6:]) == 0 {
				binary.BigEndian.PutUint16(l4[6:], 0xffff) // RFC 768: a computed 0 is sent as all ones
			}
		}
	case protoICMP:
		// The ICMP checksum covers no pseudo-header (RFC 792); only a
		// quoted header changes it.
		r.icmpQuote(l4)
	}
}

// icmpQuote rewrites the addresses of the IPv4 header an ICMP error quotes
// (RFC 792: destination unreachable, source quench, redirect, time
// exceeded, parameter problem), updating the quoted IPv4 and TCP or UDP
// checksums and the ICMP checksum incrementally.
func (r *Rewriter) icmpQuote(m []byte) {
	if len(m) < 8+20 || len(r.IP) == 0 {
		return
	}
	switch m[0] {
	case 3, 4, 5, 11, 12:
	default:
		return
	}
	q := m[8:]
	if q[0]>>4 != 4 {
		return
	}
	oldSrc, newSrc := r.addr(q[12:16])
	oldDst, newDst := r.addr(q[16:20])
	if oldSrc == newSrc && oldDst == newDst {
		return
	}
	c := binary.BigEndian.Uint16(m[2:])
	c = checksum.Update32(checksum.Update32(c, oldSrc, newSrc), oldDst, newDst)
	// fix updates a checksum field of the quote for the new addresses, and
	// the ICMP checksum for the changed field.
	fix := func(at []byte) {
		old := binary.BigEndian.Uint16(at)
		n := checksum.Update32(checksum.Update32(old, oldSrc, newSrc), oldDst, newDst)
		binary.BigEndian.PutUint16(at, n)
		c = checksum.Update(c, old, n)
	}
	fix(q[10:12])
	// The quoted transport header's checksum covers the addresses too
	// (pseudo-header); update it when the quote holds it.
	ihl := int(q[0]&0xf) * 4
	if ihl >= 20 && binary.BigEndian.Uint16(q[6:])&0x1fff == 0 {
		switch t := q[min(ihl, len(q)):]; q[9] {
		case protoTCP:
			if len(t) >= 18 {
				fix(t[16:18])
			}
		case protoUDP:
			if len(t) >= 8 && binary.BigEndian.Uint16(t[6:]) != 0 {
				fix(t[6:8])
				if binary.BigEndian.Uint16(t[6:]) == 0 {
					c = checksum.Update(c, 0, 0xffff)
					binary.BigEndian.PutUint16(t[6:], 0xffff)
				}
			}
		}
	}
	binary.BigEndian.PutUint16(m[2:], c)
}

// fixL4 recomputes the TCP, UDP or ICMP checksum of the whole,
// unfragmented packet b whose transport bytes are l4.
func fixL4(b, l4 []byte) {
	switch b[9] {
	case protoTCP, protoUDP:
		at := 16
		if b[9] == protoUDP {
			at = 6
		}
		if len(l4) < at+2 {
			return
		}
		binary.BigEndian.PutUint16(l4[at:], 0)
		ph := checksum.PseudoHeaderIPv4([4]byte(b[12:16]), [4]byte(b[16:20]), b[9], uint16(len(l4)))
		c := ^checksum.Sum(l4, ph)
		if c == 0 && b[9] == protoUDP {
			c = 0xffff // RFC 768
		}
		binary.BigEndian.PutUint16(l4[at:], c)
	case protoICMP:
		if len(l4) < 4 {
			return
		}
		binary.BigEndian.PutUint16(l4[2:], 0)
		binary.BigEndian.PutUint16(l4[2:], checksum.Checksum(l4))
	}
}
