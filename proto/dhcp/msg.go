// Package dhcp implements DHCPv4 (RFC 2131, options from RFC 2132): a
// message codec, a client state machine and a server core for simulations.
//
// The cores take bytes in and give bytes out; time comes from a
// clock.Clock, randomness (transaction IDs, retransmission jitter) from a
// *rand.Rand, and everything else (sending, probing an address with ARP,
// configuring the interface) goes through small interfaces, so the package
// does no I/O and starts no goroutines. Files named *_stack.go bind the
// cores to proto/stack UDP sockets.
//
// Not implemented: relay agents (giaddr is honoured by the server but the
// client never relays), option overload on encode (decoding honours it),
// the client's optional 1-10 s initial delay (RFC 2131 section 4.4.1),
// collecting several offers (the first offer wins) and static bindings.
package dhcp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// UDP ports (RFC 2131 section 4.1).
const (
	ServerPort = 67
	ClientPort = 68
)

// Sizes of the fixed BOOTP header (RFC 2131 section 2).
const (
	fixedLen = 236
	// MinLen is the shortest valid message: the fixed header and the
	// magic cookie.
	MinLen = fixedLen + 4
	// minSendLen pads sent messages to the 300-octet BOOTP minimum
	// (RFC 1542 section 2.1).
	minSendLen = 300
	snameOff   = 44
	fileOff    = 108
)

var magicCookie = [4]byte{99, 130, 83, 99}

// OpCode is the BOOTP op field.
type OpCode uint8

// BOOTP operations.
const (
	BootRequest OpCode = 1
	BootReply   OpCode = 2
)

// MessageType is the DHCP message type carried in option 53.
type MessageType uint8

// DHCP message types (RFC 2132 section 9.6).
const (
	Discover MessageType = 1
	Offer    MessageType = 2
	Request  MessageType = 3
	Decline  MessageType = 4
	Ack      MessageType = 5
	Nak      MessageType = 6
	Release  MessageType = 7
	Inform   MessageType = 8
)

var typeNames = [...]string{"", "DISCOVER", "OFFER", "REQUEST", "DECLINE", "ACK", "NAK", "RELEASE", "INFORM"}

// String returns the RFC name of t, such as "DISCOVER".
func (t MessageType) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("TYPE%d", uint8(t))
}

// OptionCode is a DHCP option tag.
type OptionCode uint8

// Options this package knows (RFC 2132).
const (
	OptPad           OptionCode = 0
	OptSubnetMask    OptionCode = 1
	OptRouter        OptionCode = 3
	OptDNS           OptionCode = 6
	OptHostName      OptionCode = 12
	OptDomainName    OptionCode = 15
	OptRequestedIP   OptionCode = 50
	OptLeaseTime     OptionCode = 51
	OptOverload      OptionCode = 52
	OptMessageType   OptionCode = 53
	OptServerID      OptionCode = 54
	OptParamRequest  OptionCode = 55
	OptRenewalTime   OptionCode = 58
	OptRebindingTime OptionCode = 59
	OptClientID      OptionCode = 61
	OptEnd           OptionCode = 255
)

// Errors reported by the codec.
var (
	// ErrShort reports a message or option that ends too early.
	ErrShort = errors.New("dhcp: message truncated")
	// ErrCookie reports a missing magic cookie.
	ErrCookie = errors.New("dhcp: bad magic cookie")
	// ErrOption reports an option whose length is wrong for its code.
	ErrOption = errors.New("dhcp: malformed option")
	// ErrHLen reports a hardware address length over 16.
	ErrHLen = errors.New("dhcp: bad hardware address length")
)

// Option is one option: its code and data.
type Option struct {
	Code OptionCode
	Data []byte
}

// Options is an ordered option list with at most one entry per code.
type Options []Option

// Get returns the data of option c.
func (o Options) Get(c OptionCode) ([]byte, bool) {
	for i := range o {
		if o[i].Code == c {
			return o[i].Data, true
		}
	}
	return nil, false
}

// Set replaces option c's data, or appends the option.
func (o *Options) Set(c OptionCode, data []byte) {
	for i := range *o {
		if (*o)[i].Code == c {
			(*o)[i].Data = data
			return
		}
	}
	*o = append(*o, Option{c, data})
}

// Addr returns option c as one IPv4 address.
func (o Options) Addr(c OptionCode) (netip.Addr, bool) {
	d, ok := o.Get(c)
	if !ok || len(d) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(d)), true
}

// Addrs returns option c as a list of IPv4 addresses.
func (o Options) Addrs(c OptionCode) []netip.Addr {
	d, ok := o.Get(c)
	if !ok || len(d)%4 != 0 {
		return nil
	}
	out := make([]netip.Addr, 0, len(d)/4)
	for i := 0; i < len(d); i += 4 {
		out = append(out, netip.AddrFrom4([4]byte(d[i:i+4])))
	}
	return out
}

// Uint32 returns option c as a 32-bit number.
func (o Options) Uint32(c OptionCode) (uint32, bool) {
	d, ok := o.Get(c)
	if !ok || len(d) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(d), true
}

// Seconds returns option c, a time in seconds, as a duration.
func (o Options) Seconds(c OptionCode) (time.Duration, bool) {
	v, ok := o.Uint32(c)
	return time.Duration(v) * time.Second, ok
}

// SetAddrs sets option c to a list of IPv4 addresses.
func (o *Options) SetAddrs(c OptionCode, addrs ...netip.Addr) {
	d := make([]byte, 0, 4*len(addrs))
	for _, a := range addrs {
		a4 := a.As4()
		d = append(d, a4[:]...)
	}
	o.Set(c, d)
}

// SetUint32 sets option c to a 32-bit number.
func (o *Options) SetUint32(c OptionCode, v uint32) {
	o.Set(c, binary.BigEndian.AppendUint32(nil, v))
}

// SetSeconds sets option c to d in whole seconds (saturating at 2^32-1,
// which RFC 2132 section 9.2 reads as infinity).
func (o *Options) SetSeconds(c OptionCode, d time.Duration) {
	s := d / time.Second
	if s > 0xFFFFFFFF {
		s = 0xFFFFFFFF
	}
	o.SetUint32(c, uint32(s))
}

// Message is a DHCP message (RFC 2131 section 2).
type Message struct {
	Op     OpCode
	HType  uint8
	HLen   uint8
	Hops   uint8
	Xid    uint32
	Secs   uint16
	Flags  uint16
	CIAddr netip.Addr
	YIAddr netip.Addr
	SIAddr netip.Addr
	GIAddr netip.Addr
	CHAddr [16]byte
	// SName and File are zero when the overload option (52) made them
	// carry options; the decoded options are then in Options.
	SName   [64]byte
	File    [128]byte
	Options Options
}

// FlagBroadcast asks the server to broadcast its reply (RFC 2131 section 2).
const FlagBroadcast = 0x8000

// Type returns the message type from option 53, or 0.
func (m *Message) Type() MessageType {
	d, ok := m.Options.Get(OptMessageType)
	if !ok || len(d) != 1 {
		return 0
	}
	return MessageType(d[0])
}

// HWAddr returns the client hardware address (CHAddr[:HLen]).
func (m *Message) HWAddr() []byte { return m.CHAddr[:min(int(m.HLen), 16)] }

// optionLen checks the length rules of RFC 2132 for the known codes.
func optionLen(c OptionCode, n int) bool {
	switch c {
	case OptSubnetMask, OptRequestedIP, OptLeaseTime, OptServerID, OptRenewalTime, OptRebindingTime:
		return n == 4
	case OptRouter, OptDNS:
		return n >= 4 && n%4 == 0
	case OptHostName, OptDomainName, OptParamRequest:
		return n >= 1
	case OptMessageType, OptOverload:
		return n == 1
	case OptClientID:
		return n >= 2
	}
	return true
}

// parseOptions appends the options in b to opts, concatenating repeated
// codes (RFC 3396 section 7). It stops at End; running off the field
// without End is accepted. It returns the overload value if allowed.
func parseOptions(opts Options, b []byte, allowOverload bool) (Options, uint8, error) {
	var overload uint8
	for i := 0; i < len(b); {
		c := OptionCode(b[i])
		if c == OptPad {
			i++
			continue
		}
		if c == OptEnd {
			break
		}
		if i+1 >= len(b) {
			return opts, 0, fmt.Errorf("option %d length: %w", c, ErrShort)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return opts, 0, fmt.Errorf("option %d of %d octets: %w", c, n, ErrShort)
		}
		data := b[i+2 : i+2+n]
		i += 2 + n
		if c == OptOverload {
			// RFC 2131 section 4.1: only in the options field.
			if !allowOverload {
				continue
			}
			if n != 1 || data[0] < 1 || data[0] > 3 {
				return opts, 0, fmt.Errorf("overload: %w", ErrOption)
			}
			overload = data[0]
			continue
		}
		found := false
		for j := range opts {
			if opts[j].Code == c {
				opts[j].Data = append(opts[j].Data, data...)
				found = true
				break
			}
		}
		if !found {
			opts = append(opts, Option{c, append([]byte(nil), data...)})
		}
	}
	return opts, overload, nil
}

// ParseOptions decodes an options field (without the magic cookie) and
// checks the lengths of the options this package knows.
func ParseOptions(b []byte) (Options, error) {
	opts, _, err := parseOptions(nil, b, false)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	return opts, nil
}

func checkOptions(opts Options) error {
	for _, o := range opts {
		if !optionLen(o.Code, len(o.Data)) {
			return fmt.Errorf("option %d with %d octets: %w", o.Code, len(o.Data), ErrOption)
		}
	}
	return nil
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }

// Unmarshal decodes b into m. Options split over the options, file and
// sname fields (overload, RFC 2131 section 4.1) are joined in that order.
func (m *Message) Unmarshal(b []byte) error {
	if len(b) < MinLen {
		return fmt.Errorf("%d octets: %w", len(b), ErrShort)
	}
	if [4]byte(b[fixedLen:MinLen]) != magicCookie {
		return ErrCookie
	}
	if b[2] > 16 {
		return fmt.Errorf("hlen %d: %w", b[2], ErrHLen)
	}
	*m = Message{
		Op: OpCode(b[0]), HType: b[1], HLen: b[2], Hops: b[3],
		Xid:    binary.BigEndian.Uint32(b[4:]),
		Secs:   binary.BigEndian.Uint16(b[8:]),
		Flags:  binary.BigEndian.Uint16(b[10:]),
		CIAddr: addr4(b[12:16]), YIAddr: addr4(b[16:20]), SIAddr: addr4(b[20:24]), GIAddr: addr4(b[24:28]),
	}
	copy(m.CHAddr[:], b[28:44])
	copy(m.SName[:], b[snameOff:fileOff])
	copy(m.File[:], b[fileOff:fixedLen])
	opts, overload, err := parseOptions(nil, b[MinLen:], true)
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	if overload&1 != 0 {
		if opts, _, err = parseOptions(opts, b[fileOff:fixedLen], false); err != nil {
			return fmt.Errorf("file field options: %w", err)
		}
		m.File = [128]byte{}
	}
	if overload&2 != 0 {
		if opts, _, err = parseOptions(opts, b[snameOff:fileOff], false); err != nil {
			return fmt.Errorf("sname field options: %w", err)
		}
		m.SName = [64]byte{}
	}
	if err := checkOptions(opts); err != nil {
		return err
	}
	m.Options = opts
	return nil
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return append(dst, 0, 0, 0, 0)
	}
	a4 := a.As4()
	return append(dst, a4[:]...)
}

// Append appends the encoding of m to dst: the fixed header, the magic
// cookie, the options (those over 255 octets split per RFC 3396), End, and
// padding to 300 octets.
func (m *Message) Append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, byte(m.Op), m.HType, m.HLen, m.Hops)
	dst = binary.BigEndian.AppendUint32(dst, m.Xid)
	dst = binary.BigEndian.AppendUint16(dst, m.Secs)
	dst = binary.BigEndian.AppendUint16(dst, m.Flags)
	for _, a := range [...]netip.Addr{m.CIAddr, m.YIAddr, m.SIAddr, m.GIAddr} {
		dst = appendAddr(dst, a)
	}
	dst = append(dst, m.CHAddr[:]...)
	dst = append(dst, m.SName[:]...)
	dst = append(dst, m.File[:]...)
	dst = append(dst, magicCookie[:]...)
	for _, o := range m.Options {
		if o.Code == OptPad || o.Code == OptEnd || o.Code == OptOverload {
			continue
		}
		d := o.Data
		for {
			n := min(len(d), 255)
			dst = append(dst, byte(o.Code), byte(n))
			dst = append(dst, d[:n]...)
			d = d[n:]
			if len(d) == 0 {
				break
			}
		}
	}
	dst = append(dst, byte(OptEnd))
	for len(dst)-start < minSendLen {
		dst = append(dst, 0)
	}
	return dst
}

// Marshal returns the encoding of m.
func (m *Message) Marshal() []byte { return m.Append(make([]byte, 0, 512)) }

// View is a zero-copy view of the fixed header of an encoded message, for
// filtering before a full Unmarshal (a client drops the replies meant for
// other clients without decoding their options).
type View []byte

// ParseView checks that b is long enough and carries the magic cookie.
func ParseView(b []byte) (View, error) {
	if len(b) < MinLen {
		return nil, fmt.Errorf("%d octets: %w", len(b), ErrShort)
	}
	if [4]byte(b[fixedLen:MinLen]) != magicCookie {
		return nil, ErrCookie
	}
	return View(b), nil
}

// Op returns the op field.
func (v View) Op() OpCode { return OpCode(v[0]) }

// Xid returns the transaction ID.
func (v View) Xid() uint32 { return binary.BigEndian.Uint32(v[4:]) }

// HLen returns the hardware address length.
func (v View) HLen() uint8 { return v[2] }

// CHAddr returns the 16-octet client hardware address field.
func (v View) CHAddr() []byte { return v[28:44] }
