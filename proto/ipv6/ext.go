package ipv6

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxExtHeaders bounds the extension headers Walk follows, so that a chain
// of thousands of tiny headers costs bounded work.
const MaxExtHeaders = 16

// FragmentHeaderLen is the length of the Fragment header (RFC 8200 section
// 4.5).
const FragmentHeaderLen = 8

// ICMPv6 Parameter Problem codes (RFC 4443 section 3.4; code 3 RFC 7112).
const (
	ProblemHeaderField     uint8 = 0 // erroneous header field encountered
	ProblemNextHeader      uint8 = 1 // unrecognized Next Header type
	ProblemOption          uint8 = 2 // unrecognized IPv6 option
	ProblemIncompleteChain uint8 = 3 // first fragment has incomplete header chain
)

// Errors wrapped by ProblemError.
var (
	ErrExtTruncated    = errors.New("ipv6: truncated extension header")
	ErrHopByHopPlace   = errors.New("ipv6: hop-by-hop options header not first")
	ErrTooManyHeaders  = errors.New("ipv6: too many extension headers")
	ErrOption          = errors.New("ipv6: option requires discarding the packet")
	ErrOptionLen       = errors.New("ipv6: option overruns its header")
	ErrRoutingType     = errors.New("ipv6: routing header with segments left")
	ErrFragmented      = errors.New("ipv6: packet already has a fragment header")
	ErrIncompleteChain = errors.New("ipv6: first fragment without the whole header chain")
)

// ProblemError is a packet the walk refused, with what RFC 8200 says to
// tell the source: an ICMPv6 Parameter Problem (RFC 4443 section 3.4)
// with Code and Pointer, the offset of the offending byte from the start
// of the IPv6 header.
type ProblemError struct {
	Code    uint8
	Pointer uint32
	// Silent is set when the packet is dropped without an ICMPv6 message
	// (option action 01, malformed option lengths).
	Silent bool
	// MulticastOK is set when the message is sent even if the packet's
	// destination was multicast (RFC 8200 section 4.2, action 10; RFC 4443
	// section 2.4 (e.3)).
	MulticastOK bool
	Err         error
}

// Error describes the problem.
func (e *ProblemError) Error() string {
	return fmt.Sprintf("ipv6 parameter problem code %d at byte %d: %v", e.Code, e.Pointer, e.Err)
}

// Unwrap returns the underlying error.
func (e *ProblemError) Unwrap() error { return e.Err }

// Chain describes where a packet's headers are, as Walk found them. All
// offsets count from the start of the IPv6 header.
type Chain struct {
	// Proto is the upper-layer protocol (or ProtoNoNext, ProtoESP,
	// ProtoAH, or an unknown value), or ProtoFragment when the packet is
	// a fragment: the walk stops at the Fragment header.
	Proto uint8
	// Offset is where the header named by Proto starts.
	Offset int
	// NextOff is the offset of the Next Header byte that names Proto (6
	// for the IPv6 header).
	NextOff int
	// UnfragLen is the length of the unfragmentable part (RFC 8200
	// section 4.5): the IPv6 header and the extension headers up to and
	// including the Routing header, or the Hop-by-Hop header when there is
	// no Routing header.
	UnfragLen int
	// UnfragNext is the offset of the Next Header byte that names the
	// first header after the unfragmentable part (6 for the IPv6 header).
	UnfragNext int
	// N is the number of extension headers walked.
	N int
	// Ordered reports whether the extension headers follow the order RFC
	// 8200 section 4.1 recommends, each at most once (Destination Options
	// at most twice).
	Ordered bool
}

// IsExtension reports whether proto is an extension header Walk steps over.
func IsExtension(proto uint8) bool {
	switch proto {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoDestOpts:
		return true
	}
	return false
}

// order ranks of RFC 8200 section 4.1.
const (
	rankHopByHop = iota
	rankDestFirst
	rankRouting
	rankFragment
	rankDestLast
)

// Walk follows the extension headers of h (RFC 8200 section 4) to the
// upper-layer header or the Fragment header. It applies the rules a
// destination node must apply: Hop-by-Hop only right after the IPv6
// header (section 4.3), option types whose action bits demand a discard
// (section 4.2), a Routing header with Segments Left above zero (section
// 4.4: this host knows no routing type). Errors are *ProblemError.
func Walk(h Header) (Chain, error) {
	c := Chain{UnfragLen: HeaderLen, UnfragNext: 6, Ordered: true}
	next, off, nextOff := h.NextHeader(), HeaderLen, 6
	var ranks [MaxExtHeaders]uint8
	routing := -1
	for IsExtension(next) {
		if c.N == MaxExtHeaders {
			return c, &ProblemError{Code: ProblemHeaderField, Pointer: uint32(nextOff), Silent: true, Err: ErrTooManyHeaders}
		}
		if next == ProtoHopByHop && off != HeaderLen {
			// Section 4: a Next Header of zero in any header but the IPv6
			// header is an unrecognized Next Header.
			return c, &ProblemError{Code: ProblemNextHeader, Pointer: uint32(nextOff), Err: ErrHopByHopPlace}
		}
		if next == ProtoFragment {
			if len(h)-off < FragmentHeaderLen {
				return c, &ProblemError{Code: ProblemHeaderField, Pointer: 4, Silent: true, Err: ErrExtTruncated}
			}
			ranks[c.N] = rankFragment
			c.N++
			c.Proto, c.Offset, c.NextOff = ProtoFragment, off, nextOff
			c.finish(ranks[:c.N], routing)
			return c, nil
		}
		if len(h)-off < 8 || len(h)-off < 8+int(h[off+1])*8 {
			// The Payload Length does not cover the header.
			return c, &ProblemError{Code: ProblemHeaderField, Pointer: 4, Silent: true, Err: ErrExtTruncated}
		}
		n := 8 + int(h[off+1])*8
		switch next {
		case ProtoHopByHop:
			ranks[c.N] = rankHopByHop
			if err := checkOptions(h[off+2:off+n], off+2, true); err != nil {
				return c, err
			}
			c.UnfragLen, c.UnfragNext = off+n, off
		case ProtoDestOpts:
			ranks[c.N] = rankDestLast
			if err := checkOptions(h[off+2:off+n], off+2, false); err != nil {
				return c, err
			}
		case ProtoRouting:
			ranks[c.N] = rankRouting
			routing = c.N
			if h[off+3] != 0 {
				// Section 4.4: an unrecognized Routing Type with Segments
				// Left non-zero; the pointer names the Routing Type.
				return c, &ProblemError{Code: ProblemHeaderField, Pointer: uint32(off + 2), Err: ErrRoutingType}
			}
			c.UnfragLen, c.UnfragNext = off+n, off
		}
		c.N++
		next, nextOff, off = h[off], off, off+n
	}
	c.Proto, c.Offset, c.NextOff = next, off, nextOff
	c.finish(ranks[:c.N], routing)
	return c, nil
}

// finish decides Ordered: each rank strictly above the one before, where
// a Destination Options header before the Routing header takes the second
// rank and any other the last.
func (c *Chain) finish(ranks []uint8, routing int) {
	prev := -1
	for i, r := range ranks {
		if r == rankDestLast && i < routing {
			r = rankDestFirst
		}
		if int(r) <= prev {
			c.Ordered = false
		}
		prev = int(r)
	}
}

// Option types (RFC 8200 section 4.2; RFC 2711; RFC 2473).
const (
	OptPad1        uint8 = 0
	OptPadN        uint8 = 1
	OptTunnelLimit uint8 = 4
	OptRouterAlert uint8 = 5
)

// checkOptions walks the TLV-encoded options of a Hop-by-Hop (hbh) or
// Destination Options header. base is the packet offset of b. An
// unrecognized option is handled by the two high bits of its type (RFC
// 8200 section 4.2): 00 skip, 01 discard, 10 discard and send a Parameter
// Problem code 2 even to multicast, 11 discard and send it unless the
// destination was multicast.
func checkOptions(b []byte, base int, hbh bool) error {
	for i := 0; i < len(b); {
		t := b[i]
		if t == OptPad1 {
			i++
			continue
		}
		if i+2 > len(b) || i+2+int(b[i+1]) > len(b) {
			return &ProblemError{Code: ProblemHeaderField, Pointer: uint32(base + i), Silent: true, Err: ErrOptionLen}
		}
		known := t == OptPadN || (hbh && t == OptRouterAlert) || (!hbh && t == OptTunnelLimit)
		if !known {
			p := &ProblemError{Code: ProblemOption, Pointer: uint32(base + i), Err: fmt.Errorf("option type %#02x: %w", t, ErrOption)}
			switch t >> 6 {
			case 1:
				p.Silent = true
				return p
			case 2:
				p.MulticastOK = true
				return p
			case 3:
				return p
			}
		}
		i += 2 + int(b[i+1])
	}
	return nil
}

// FragmentHeader is a view of the 8-byte Fragment header (RFC 8200 section
// 4.5).
type FragmentHeader []byte

// NextHeader returns the type of the first header of the fragmentable part.
func (f FragmentHeader) NextHeader() uint8 { return f[0] }

// Offset returns the fragment offset in bytes (the field is in 8-byte
// units).
func (f FragmentHeader) Offset() int { return int(binary.BigEndian.Uint16(f[2:]) &^ 7) }

// More reports whether the M (more fragments) flag is set.
func (f FragmentHeader) More() bool { return f[3]&1 != 0 }

// ID returns the identification.
func (f FragmentHeader) ID() uint32 { return binary.BigEndian.Uint32(f[4:]) }

// IsAtomic reports whether f is an atomic fragment (RFC 6946): offset 0
// and no more fragments.
func (f FragmentHeader) IsAtomic() bool { return binary.BigEndian.Uint16(f[2:])&^6 == 0 }

// PutFragmentHeader writes a Fragment header into b.
func PutFragmentHeader(b []byte, next uint8, offset int, more bool, id uint32) {
	b[0], b[1] = next, 0
	v := uint16(offset) &^ 7
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], id)
}
