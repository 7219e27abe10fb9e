package tcptest

import (
	"encoding/binary"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
)

// headerLen is the TCP header without options (RFC 9293 section 3.1).
const headerLen = 20

// protocolTCP is TCP's IP protocol number.
const protocolTCP = 6

// Craft is a segment from the peer as a script writes it: header fields,
// options as raw bytes in the script's order and layout, and payload.
// Nothing is checked, so malformed segments can be crafted too.
type Craft struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window, Urgent   uint16
	// Options are the option bytes; Encode pads them with EOL to a
	// multiple of four (RFC 9293 section 3.1).
	Options []byte
	Payload []byte
}

// Encode returns the segment with its checksum for the pseudo-header of
// src and dst.
func (f Craft) Encode(src, dst netip.Addr) []byte {
	opts := f.Options
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	hl := headerLen + len(opts)
	b := make([]byte, hl+len(f.Payload))
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint32(b[4:], f.Seq)
	binary.BigEndian.PutUint32(b[8:], f.Ack)
	b[12] = byte(hl/4) << 4
	b[13] = f.Flags
	binary.BigEndian.PutUint16(b[14:], f.Window)
	binary.BigEndian.PutUint16(b[18:], f.Urgent)
	copy(b[headerLen:], opts)
	copy(b[hl:], f.Payload)
	binary.BigEndian.PutUint16(b[16:], Checksum(src, dst, b))
	return b
}

// Checksum returns the TCP checksum of seg (its checksum field included
// as it is) with the IPv4 or IPv6 pseudo-header of src and dst (RFC 9293
// section 3.1, RFC 8200 section 8.1): the field value for a segment whose
// field is zero, and zero for a segment whose checksum is right.
func Checksum(src, dst netip.Addr, seg []byte) uint16 {
	var ph []byte
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		ph = append(append(ph, s[:]...), d[:]...)
		ph = append(ph, 0, protocolTCP)
		ph = binary.BigEndian.AppendUint16(ph, uint16(len(seg)))
	} else {
		s, d := src.As16(), dst.As16()
		ph = append(append(ph, s[:]...), d[:]...)
		ph = binary.BigEndian.AppendUint32(ph, uint32(len(seg)))
		ph = append(ph, 0, 0, 0, protocolTCP)
	}
	return checksum.Finish(checksum.Sum(seg, checksum.Sum(ph, 0)))
}

// ChecksumOK reports whether seg's checksum is right for src and dst.
func ChecksumOK(src, dst netip.Addr, seg []byte) bool { return Checksum(src, dst, seg) == 0 }
