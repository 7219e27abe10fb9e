package icmpv6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/ether"
)

// Neighbor Discovery option types (RFC 4861 section 4.6; RFC 8106 for
// RDNSS).
const (
	OptSourceLinkAddr uint8 = 1
	OptTargetLinkAddr uint8 = 2
	OptPrefixInfo     uint8 = 3
	OptRedirected     uint8 = 4
	OptMTU            uint8 = 5
	OptRDNSS          uint8 = 25
)

// Fixed lengths of the Neighbor Discovery messages before their options
// (RFC 4861 section 4), ICMPv6 header included.
const (
	RSLen = 8
	RALen = 16
	NSLen = 24
	NALen = 24
	// RedirectLen is the fixed part of a Redirect (section 4.5).
	RedirectLen = 40
	// HopLimit is the hop limit every Neighbor Discovery message is sent
	// with and must arrive with (sections 6.1 and 7.1).
	HopLimit = 255
	// PrefixInfoLen is the length of a Prefix Information option.
	PrefixInfoLen = 32
)

// Neighbor Advertisement flags (RFC 4861 section 4.4).
const (
	FlagRouter    uint8 = 0x80
	FlagSolicited uint8 = 0x40
	FlagOverride  uint8 = 0x20
)

// Router Advertisement flags (RFC 4861 section 4.2).
const (
	FlagManaged uint8 = 0x80
	FlagOther   uint8 = 0x40
)

// Errors from Neighbor Discovery validation.
var (
	ErrOption  = errors.New("icmpv6: malformed neighbor discovery option")
	ErrInvalid = errors.New("icmpv6: invalid neighbor discovery message")
)

// Target returns the target address of a Neighbor Solicitation,
// Advertisement or Redirect (bytes 8-23).
func (m Message) Target() netip.Addr { return netip.AddrFrom16([16]byte(m[8:24])) }

// NAFlags returns the R, S and O flags of a Neighbor Advertisement.
func (m Message) NAFlags() uint8 { return m[4] & 0xe0 }

// CurHopLimit returns a Router Advertisement's Cur Hop Limit.
func (m Message) CurHopLimit() uint8 { return m[4] }

// RAFlags returns the M and O flags of a Router Advertisement.
func (m Message) RAFlags() uint8 { return m[5] & 0xc0 }

// RouterLifetime returns a Router Advertisement's router lifetime; zero
// means the sender is not a default router.
func (m Message) RouterLifetime() time.Duration {
	return time.Duration(binary.BigEndian.Uint16(m[6:])) * time.Second
}

// ReachableTime returns a Router Advertisement's Reachable Time; zero
// means unspecified.
func (m Message) ReachableTime() time.Duration {
	return time.Duration(binary.BigEndian.Uint32(m[8:])) * time.Millisecond
}

// RetransTimer returns a Router Advertisement's Retrans Timer; zero means
// unspecified.
func (m Message) RetransTimer() time.Duration {
	return time.Duration(binary.BigEndian.Uint32(m[12:])) * time.Millisecond
}

// NDOptions returns the option bytes of a Neighbor Discovery message, or
// nil when m is not one or is shorter than its fixed part.
func (m Message) NDOptions() []byte {
	var n int
	switch m.Type() {
	case TypeRouterSolicit:
		n = RSLen
	case TypeRouterAdvert:
		n = RALen
	case TypeNeighborSolict:
		n = NSLen
	case TypeNeighborAdvert:
		n = NALen
	case TypeRedirect:
		n = RedirectLen
	default:
		return nil
	}
	if len(m) < n {
		return nil
	}
	return m[n:]
}

// Option is a view of one Neighbor Discovery option: type, length in
// units of 8 bytes, data.
type Option []byte

// Type returns the option type.
func (o Option) Type() uint8 { return o[0] }

// Data returns the bytes after the type and length.
func (o Option) Data() []byte { return o[2:] }

// LinkAddr returns the Ethernet address of a Source or Target Link-Layer
// Address option (RFC 4861 section 4.6.1, RFC 2464 section 6), false when
// the option is too short.
func (o Option) LinkAddr() (ether.Addr, bool) {
	if len(o) < 8 {
		return ether.Addr{}, false
	}
	return ether.Addr(o[2:8]), true
}

// MTU returns the MTU of an MTU option (section 4.6.4).
func (o Option) MTU() uint32 { return binary.BigEndian.Uint32(o[4:]) }

// PrefixInfo is the content of a Prefix Information option (RFC 4861
// section 4.6.2).
type PrefixInfo struct {
	Prefix     netip.Prefix
	OnLink     bool // L flag
	Autonomous bool // A flag: usable for SLAAC (RFC 4862)
	// Lifetimes are in seconds; 0xffffffff is infinity.
	ValidLifetime     uint32
	PreferredLifetime uint32
}

// Infinite is the lifetime value meaning "forever" (RFC 4861 section
// 4.6.2).
const Infinite = 0xffffffff

// PrefixInfo decodes a Prefix Information option; false when the option
// is not 32 bytes or its prefix length exceeds 128.
func (o Option) PrefixInfo() (PrefixInfo, bool) {
	if len(o) != PrefixInfoLen || o[2] > 128 {
		return PrefixInfo{}, false
	}
	p, err := netip.AddrFrom16([16]byte(o[16:32])).Prefix(int(o[2]))
	if err != nil {
		return PrefixInfo{}, false
	}
	return PrefixInfo{
		Prefix: p, OnLink: o[3]&0x80 != 0, Autonomous: o[3]&0x40 != 0,
		ValidLifetime: binary.BigEndian.Uint32(o[4:]), PreferredLifetime: binary.BigEndian.Uint32(o[8:]),
	}, true
}

// OptionIter walks the options of a Neighbor Discovery message.
type OptionIter struct {
	b   []byte
	err error
}

// Options returns an iterator over the options in b.
func Options(b []byte) OptionIter { return OptionIter{b: b} }

// Next returns the next option, false at the end or on a malformed option
// (then Err says which).
func (it *OptionIter) Next() (Option, bool) {
	if len(it.b) == 0 || it.err != nil {
		return nil, false
	}
	if len(it.b) < 2 || it.b[1] == 0 || int(it.b[1])*8 > len(it.b) {
		// RFC 4861 section 4.6: a length of zero means the packet must be
		// silently discarded.
		it.err = fmt.Errorf("option at %d bytes before the end: %w", len(it.b), ErrOption)
		return nil, false
	}
	n := int(it.b[1]) * 8
	o := Option(it.b[:n])
	it.b = it.b[n:]
	return o, true
}

// Err returns the error that ended the walk, if any.
func (it *OptionIter) Err() error { return it.err }

// FindOption returns the first option of type t in b.
func FindOption(b []byte, t uint8) (Option, bool) {
	it := Options(b)
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() == t {
			return o, true
		}
	}
	return nil, false
}

// AppendLinkAddr appends a Source (OptSourceLinkAddr) or Target
// (OptTargetLinkAddr) Link-Layer Address option for an Ethernet address.
func AppendLinkAddr(b []byte, t uint8, a ether.Addr) []byte {
	return append(b, t, 1, a[0], a[1], a[2], a[3], a[4], a[5])
}

// AppendMTU appends an MTU option.
func AppendMTU(b []byte, mtu uint32) []byte {
	return binary.BigEndian.AppendUint32(append(b, OptMTU, 1, 0, 0), mtu)
}

// AppendPrefixInfo appends a Prefix Information option.
func AppendPrefixInfo(b []byte, p PrefixInfo) []byte {
	var fl uint8
	if p.OnLink {
		fl |= 0x80
	}
	if p.Autonomous {
		fl |= 0x40
	}
	b = append(b, OptPrefixInfo, 4, uint8(p.Prefix.Bits()), fl)
	b = binary.BigEndian.AppendUint32(b, p.ValidLifetime)
	b = binary.BigEndian.AppendUint32(b, p.PreferredLifetime)
	b = append(b, 0, 0, 0, 0)
	a := p.Prefix.Masked().Addr().As16()
	return append(b, a[:]...)
}

// RAFields is the fixed content of a Router Advertisement.
type RAFields struct {
	CurHopLimit uint8
	Flags       uint8 // FlagManaged, FlagOther
	// RouterLifetime is rounded down to seconds, at most 9000 s (RFC 4861
	// section 6.2.1 MaxRtrAdvInterval bound on AdvDefaultLifetime).
	RouterLifetime time.Duration
	ReachableTime  time.Duration // milliseconds on the wire
	RetransTimer   time.Duration // milliseconds on the wire
}

// encodeND writes a message of type t whose fixed part fixed (after the
// 4-byte ICMPv6 header) is followed by opts.
func encodeND(b []byte, t Type, fixed, opts []byte, src, dst netip.Addr) (Message, error) {
	n := 4 + len(fixed) + len(opts)
	if len(b) < n {
		return nil, fmt.Errorf("encode icmpv6 %v (%d bytes needed, %d available): %w", t, n, len(b), ErrShortBuffer)
	}
	m := Message(b[:n])
	m[0], m[1] = uint8(t), 0
	copy(m[4:], fixed)
	copy(m[4+len(fixed):], opts)
	m.SetChecksum(src, dst)
	return m, nil
}

// NeighborSolicitation writes an NS for target (RFC 4861 section 4.3)
// with the options opts (a Source Link-Layer Address, unless src is the
// unspecified address of Duplicate Address Detection).
func NeighborSolicitation(b []byte, src, dst, target netip.Addr, opts []byte) (Message, error) {
	var fixed [20]byte
	a := target.As16()
	copy(fixed[4:], a[:])
	return encodeND(b, TypeNeighborSolict, fixed[:], opts, src, dst)
}

// NeighborAdvertisement writes an NA for target with flags (FlagRouter,
// FlagSolicited, FlagOverride) and options opts (RFC 4861 section 4.4).
func NeighborAdvertisement(b []byte, src, dst, target netip.Addr, flags uint8, opts []byte) (Message, error) {
	var fixed [20]byte
	fixed[0] = flags & 0xe0
	a := target.As16()
	copy(fixed[4:], a[:])
	return encodeND(b, TypeNeighborAdvert, fixed[:], opts, src, dst)
}

// RouterSolicitation writes an RS with options opts (RFC 4861 section
// 4.1).
func RouterSolicitation(b []byte, src, dst netip.Addr, opts []byte) (Message, error) {
	return encodeND(b, TypeRouterSolicit, make([]byte, 4), opts, src, dst)
}

// RouterAdvertisement writes an RA with fields f and options opts (RFC
// 4861 section 4.2).
func RouterAdvertisement(b []byte, src, dst netip.Addr, f *RAFields, opts []byte) (Message, error) {
	var fixed [12]byte
	fixed[0], fixed[1] = f.CurHopLimit, f.Flags&0xc0
	binary.BigEndian.PutUint16(fixed[2:], uint16(min(f.RouterLifetime/time.Second, 0xffff)))
	binary.BigEndian.PutUint32(fixed[4:], uint32(f.ReachableTime/time.Millisecond))
	binary.BigEndian.PutUint32(fixed[8:], uint32(f.RetransTimer/time.Millisecond))
	return encodeND(b, TypeRouterAdvert, fixed[:], opts, src, dst)
}

// ValidateND applies the validity checks of RFC 4861 sections 6.1.1
// (RS), 6.1.2 (RA), 7.1.1 (NS), 7.1.2 (NA) and 8.1 (Redirect) to m,
// received with IPv6 hop limit hopLimit from src to dst. The checksum is
// checked by Parse. A message that fails must be silently discarded.
func ValidateND(m Message, hopLimit uint8, src, dst netip.Addr) error {
	bad := func(why string) error {
		return fmt.Errorf("%v from %v: %s: %w", m.Type(), src, why, ErrInvalid)
	}
	if hopLimit != HopLimit {
		return bad("hop limit not 255")
	}
	if m.Code() != 0 {
		return bad("code not 0")
	}
	opts := m.NDOptions()
	if opts == nil {
		return bad("not neighbor discovery, or shorter than its fixed part")
	}
	it := Options(opts)
	hasSLL := false
	for o, ok := it.Next(); ok; o, ok = it.Next() {
		if o.Type() == OptSourceLinkAddr {
			hasSLL = true
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("%v from %v: %w", m.Type(), src, err)
	}
	switch m.Type() {
	case TypeRouterSolicit:
		if src.IsUnspecified() && hasSLL {
			return bad("source link-layer address from the unspecified address")
		}
	case TypeRouterAdvert:
		if !src.IsLinkLocalUnicast() {
			return bad("source not link-local")
		}
	case TypeNeighborSolict:
		if m.Target().IsMulticast() {
			return bad("multicast target")
		}
		if src.IsUnspecified() {
			if !isSolicitedNode(dst) {
				return bad("unspecified source to a non solicited-node address")
			}
			if hasSLL {
				return bad("source link-layer address from the unspecified address")
			}
		}
	case TypeNeighborAdvert:
		if m.Target().IsMulticast() {
			return bad("multicast target")
		}
		if dst.IsMulticast() && m.NAFlags()&FlagSolicited != 0 {
			return bad("solicited flag on a multicast advertisement")
		}
	case TypeRedirect:
		if !src.IsLinkLocalUnicast() {
			return bad("source not link-local")
		}
		if a := netip.AddrFrom16([16]byte(m[24:40])); a.IsMulticast() {
			return bad("multicast destination")
		}
	}
	return nil
}

// isSolicitedNode reports whether a is in ff02::1:ff00:0/104.
func isSolicitedNode(a netip.Addr) bool {
	b := a.As16()
	return a.Is6() && b[0] == 0xff && b[1] == 0x02 && b[11] == 0x01 && b[12] == 0xff &&
		[9]byte(b[2:11]) == [9]byte{}
}
