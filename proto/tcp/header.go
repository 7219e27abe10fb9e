package tcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
)

// Flag bits of the TCP header (RFC 9293 section 3.1).
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// HeaderLen is the length of a TCP header without options.
const HeaderLen = 20

// MaxOptionsLen is the largest options area a header can carry.
const MaxOptionsLen = 40

// Option kinds (RFC 9293 section 3.2, RFC 7323, RFC 2018).
const (
	OptEnd           = 0
	OptNOP           = 1
	OptMSS           = 2
	OptWindowScale   = 3
	OptSACKPermitted = 4
	OptSACK          = 5
	OptTimestamps    = 8
)

// MaxSACKBlocks is the most SACK blocks an option area can hold.
const MaxSACKBlocks = 4

// Errors returned by the parsers.
var (
	ErrTruncated   = errors.New("tcp: truncated segment")
	ErrBadOffset   = errors.New("tcp: bad data offset")
	ErrBadOption   = errors.New("tcp: malformed option")
	ErrBadChecksum = errors.New("tcp: bad checksum")
)

// Header is a zero-copy view of a TCP segment (header, options and payload)
// over the bytes it was parsed from.
type Header []byte

// ParseHeader checks that b holds a well-formed TCP header and returns a
// view over it. It does not verify the checksum.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("parse header of %d bytes: %w", len(b), ErrTruncated)
	}
	off := int(b[12]>>4) * 4
	if off < HeaderLen || off > len(b) {
		return nil, fmt.Errorf("parse header: offset %d with %d bytes: %w", off, len(b), ErrBadOffset)
	}
	return Header(b), nil
}

// SrcPort returns the source port.
func (h Header) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }

// DstPort returns the destination port.
func (h Header) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }

// Seq returns the sequence number.
func (h Header) Seq() uint32 { return binary.BigEndian.Uint32(h[4:]) }

// Ack returns the acknowledgment number.
func (h Header) Ack() uint32 { return binary.BigEndian.Uint32(h[8:]) }

// DataOffset returns the header length in bytes, options included.
func (h Header) DataOffset() int { return int(h[12]>>4) * 4 }

// Flags returns the flag bits.
func (h Header) Flags() uint8 { return h[13] }

// Window returns the raw (unscaled) window field.
func (h Header) Window() uint16 { return binary.BigEndian.Uint16(h[14:]) }

// Checksum returns the checksum field.
func (h Header) Checksum() uint16 { return binary.BigEndian.Uint16(h[16:]) }

// Urgent returns the urgent pointer.
func (h Header) Urgent() uint16 { return binary.BigEndian.Uint16(h[18:]) }

// Options returns the options area.
func (h Header) Options() []byte { return h[HeaderLen:h.DataOffset()] }

// Payload returns the segment's data.
func (h Header) Payload() []byte { return h[h.DataOffset():] }

// SACKBlock is one SACK block: the sequence range [Start, End) (RFC 2018
// section 3).
type SACKBlock struct {
	Start, End uint32
}

// Options holds the TCP options this stack understands.
type Options struct {
	// HasMSS is set when MSS holds a Maximum Segment Size option.
	HasMSS bool
	// MSS is the peer's maximum segment size.
	MSS uint16
	// HasWScale is set when WScale holds a Window Scale option (RFC 7323
	// section 2).
	HasWScale bool
	// WScale is the window shift count.
	WScale uint8
	// SACKPermitted is set by a SACK-Permitted option (RFC 2018 section 2).
	SACKPermitted bool
	// HasTS is set when TSVal and TSEcr hold a Timestamps option (RFC 7323
	// section 3).
	HasTS bool
	// TSVal is the sender's timestamp clock.
	TSVal uint32
	// TSEcr echoes the peer's latest timestamp.
	TSEcr uint32
	// NumSACK is the number of valid entries in SACK.
	NumSACK int
	// SACK holds SACK blocks (RFC 2018 section 3).
	SACK [MaxSACKBlocks]SACKBlock
}

// ParseOptions parses an options area into o, which it resets first. Unknown
// options are skipped; a malformed option is an error.
func ParseOptions(b []byte, o *Options) error {
	*o = Options{}
	for i := 0; i < len(b); {
		kind := b[i]
		switch kind {
		case OptEnd:
			return nil
		case OptNOP:
			i++
			continue
		}
		if i+1 >= len(b) {
			return fmt.Errorf("option %d at %d: %w", kind, i, ErrBadOption)
		}
		l := int(b[i+1])
		if l < 2 || i+l > len(b) {
			return fmt.Errorf("option %d at %d length %d: %w", kind, i, l, ErrBadOption)
		}
		v := b[i+2 : i+l]
		switch kind {
		case OptMSS:
			if l != 4 {
				return fmt.Errorf("mss option length %d: %w", l, ErrBadOption)
			}
			o.HasMSS = true
			o.MSS = binary.BigEndian.Uint16(v)
		case OptWindowScale:
			if l != 3 {
				return fmt.Errorf("window scale option length %d: %w", l, ErrBadOption)
			}
			o.HasWScale = true
			o.WScale = v[0]
			// RFC 7323 section 2.3: a shift above 14 is used as 14.
			if o.WScale > 14 {
				o.WScale = 14
			}
		case OptSACKPermitted:
			if l != 2 {
				return fmt.Errorf("sack-permitted option length %d: %w", l, ErrBadOption)
			}
			o.SACKPermitted = true
		case OptSACK:
			if (l-2)%8 != 0 || l == 2 {
				return fmt.Errorf("sack option length %d: %w", l, ErrBadOption)
			}
			for j := 0; j+8 <= len(v) && o.NumSACK < MaxSACKBlocks; j += 8 {
				o.SACK[o.NumSACK] = SACKBlock{
					Start: binary.BigEndian.Uint32(v[j:]),
					End:   binary.BigEndian.Uint32(v[j+4:]),
				}
				o.NumSACK++
			}
		case OptTimestamps:
			if l != 10 {
				return fmt.Errorf("timestamps option length %d: %w", l, ErrBadOption)
			}
			o.HasTS = true
			o.TSVal = binary.BigEndian.Uint32(v)
			o.TSEcr = binary.BigEndian.Uint32(v[4:])
		}
		i += l
	}
	return nil
}

// OptionsLen returns the number of bytes EncodeOptions writes for o.
func OptionsLen(o *Options) int {
	n := 0
	if o.HasMSS {
		n += 4
	}
	if o.HasWScale {
		n += 4
	}
	if o.SACKPermitted {
		n += 4
	}
	if o.HasTS {
		n += 12
	}
	if o.NumSACK > 0 {
		n += 4 + 8*o.NumSACK
	}
	return n
}

// EncodeOptions writes o into b, 4-byte aligned with NOP padding, and
// returns the number of bytes written. b must hold OptionsLen(o) bytes and
// the total must not exceed MaxOptionsLen.
func EncodeOptions(b []byte, o *Options) int {
	i := 0
	if o.HasMSS {
		b[i], b[i+1] = OptMSS, 4
		binary.BigEndian.PutUint16(b[i+2:], o.MSS)
		i += 4
	}
	if o.HasWScale {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptWindowScale, 3, o.WScale
		i += 4
	}
	if o.SACKPermitted {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptNOP, OptSACKPermitted, 2
		i += 4
	}
	if o.HasTS {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptNOP, OptTimestamps, 10
		binary.BigEndian.PutUint32(b[i+4:], o.TSVal)
		binary.BigEndian.PutUint32(b[i+8:], o.TSEcr)
		i += 12
	}
	if o.NumSACK > 0 {
		b[i], b[i+1], b[i+2], b[i+3] = OptNOP, OptNOP, OptSACK, byte(2+8*o.NumSACK)
		i += 4
		for j := 0; j < o.NumSACK; j++ {
			binary.BigEndian.PutUint32(b[i:], o.SACK[j].Start)
			binary.BigEndian.PutUint32(b[i+4:], o.SACK[j].End)
			i += 8
		}
	}
	return i
}

// Fields are the fixed header fields of a segment to encode.
type Fields struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	// Urgent is the urgent pointer, meaningful with FlagURG (RFC 9293
	// section 3.8.5).
	Urgent uint16
}

// Encode writes a complete segment (header, options, payload) into b with
// its checksum computed for the pseudo-header of src and dst, and returns
// its length. b must hold HeaderLen+OptionsLen(o)+len(payload) bytes; o may
// be nil.
func Encode(b []byte, f Fields, o *Options, payload []byte, src, dst netip.Addr) (int, error) {
	olen := 0
	if o != nil {
		olen = OptionsLen(o)
	}
	if olen > MaxOptionsLen {
		return 0, fmt.Errorf("encode segment: options of %d bytes: %w", olen, ErrBadOption)
	}
	n := HeaderLen + olen + len(payload)
	if len(b) < n {
		return 0, fmt.Errorf("encode segment of %d bytes into %d: %w", n, len(b), ErrTruncated)
	}
	putHeader(b, f, olen)
	if o != nil {
		EncodeOptions(b[HeaderLen:], o)
	}
	copy(b[HeaderLen+olen:], payload)
	binary.BigEndian.PutUint16(b[16:], Checksum(src, dst, b[:n]))
	return n, nil
}

func putHeader(b []byte, f Fields, olen int) {
	binary.BigEndian.PutUint16(b[0:], f.SrcPort)
	binary.BigEndian.PutUint16(b[2:], f.DstPort)
	binary.BigEndian.PutUint32(b[4:], f.Seq)
	binary.BigEndian.PutUint32(b[8:], f.Ack)
	b[12] = byte((HeaderLen+olen)/4) << 4
	b[13] = f.Flags
	binary.BigEndian.PutUint16(b[14:], f.Window)
	b[16], b[17] = 0, 0
	binary.BigEndian.PutUint16(b[18:], f.Urgent)
}

// Checksum returns the Internet checksum of seg with the IPv4 or IPv6
// pseudo-header of src and dst (RFC 9293 section 3.1). Computed over a
// segment whose checksum field is filled in, it returns 0 when the checksum
// is correct.
func Checksum(src, dst netip.Addr, seg []byte) uint16 {
	var sum uint64
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		sum += uint64(binary.BigEndian.Uint32(s[:]))
		sum += uint64(binary.BigEndian.Uint32(d[:]))
	} else {
		s, d := src.As16(), dst.As16()
		sum += sumBytes(s[:]) + sumBytes(d[:])
	}
	sum += 6 + uint64(len(seg))
	sum += sumBytes(seg)
	return ^fold(sum)
}

// sumBytes returns the ones' complement sum of b as big-endian 16-bit
// words, not yet folded to 16 bits (at most 33 bits wide). It adds 64-bit
// words with end-around carry, which is equivalent because 2^16-1 divides
// 2^64-1 (RFC 1071 section 2).
func sumBytes(b []byte) uint64 {
	var sum, carry uint64
	for len(b) >= 32 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[8:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[16:]), carry)
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		sum, carry = bits.Add64(sum, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	sum, carry = bits.Add64(sum, carry, 0)
	sum += carry
	s := sum>>32 + sum&0xffffffff
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(sum uint64) uint16 {
	for sum>>16 != 0 {
		sum = (sum & 0xffff) + (sum >> 16)
	}
	return uint16(sum)
}
