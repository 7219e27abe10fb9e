// Package dns implements the Domain Name System wire format (RFC 1035, with
// RFC 2181 clarifications, AAAA from RFC 3596 and EDNS0 from RFC 6891), a
// master file parser, an authoritative server core and a stub resolver
// state machine.
//
// Everything here is driven by the caller: bytes in, bytes out, time from a
// clock.Clock and randomness from a *rand.Rand. The package never starts
// goroutines or does I/O; files named *_stack.go wire the cores to
// proto/stack sockets.
//
// Not implemented: DNSSEC, zone transfers (refused), NOTIFY (NOTIMP),
// dynamic update, name compression on encode for
// RDATA of types newer than RFC 1035 (RFC 3597 section 4 forbids it).
package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// HeaderLen is the length of the fixed message header.
const HeaderLen = 12

// Header is the fixed message header (RFC 1035 section 4.1.1).
type Header struct {
	ID                 uint16
	Response           bool // QR
	Opcode             Opcode
	Authoritative      bool // AA
	Truncated          bool // TC
	RecursionDesired   bool // RD
	RecursionAvailable bool // RA
	Zero               bool // Z, must be zero
	AuthenticData      bool // AD (RFC 4035)
	CheckingDisabled   bool // CD (RFC 4035)
	// Rcode holds the low four bits carried in the header.
	Rcode Rcode
}

func (h *Header) flags() uint16 {
	f := uint16(h.Opcode&0xF)<<11 | uint16(h.Rcode&0xF)
	for _, b := range [...]struct {
		on  bool
		bit uint16
	}{{h.Response, 1 << 15}, {h.Authoritative, 1 << 10}, {h.Truncated, 1 << 9},
		{h.RecursionDesired, 1 << 8}, {h.RecursionAvailable, 1 << 7}, {h.Zero, 1 << 6},
		{h.AuthenticData, 1 << 5}, {h.CheckingDisabled, 1 << 4}} {
		if b.on {
			f |= b.bit
		}
	}
	return f
}

func (h *Header) setFlags(f uint16) {
	h.Response = f&(1<<15) != 0
	h.Opcode = Opcode(f>>11) & 0xF
	h.Authoritative = f&(1<<10) != 0
	h.Truncated = f&(1<<9) != 0
	h.RecursionDesired = f&(1<<8) != 0
	h.RecursionAvailable = f&(1<<7) != 0
	h.Zero = f&(1<<6) != 0
	h.AuthenticData = f&(1<<5) != 0
	h.CheckingDisabled = f&(1<<4) != 0
	h.Rcode = Rcode(f & 0xF)
}

// Question is one entry of the question section (RFC 1035 section 4.1.2).
type Question struct {
	Name  string
	Type  Type
	Class Class
}

// RR is a resource record (RFC 1035 section 4.1.3). For OPT (RFC 6891
// section 6.1.2) Class holds the requestor's UDP payload size and TTL the
// extended RCODE, version and flags; see EDNS.
type RR struct {
	Name  string
	Type  Type
	Class Class
	TTL   uint32
	Data  RData
}

// String renders rr in master file form.
func (rr *RR) String() string {
	d := ""
	if rr.Data != nil {
		d = rr.Data.String()
	}
	return fmt.Sprintf("%s\t%d\t%s\t%s\t%s", rr.Name, rr.TTL, rr.Class, rr.Type, d)
}

// EDNS returns the fields of an OPT record: the advertised UDP payload
// size, the upper eight bits of the extended RCODE, the version and the DO
// bit (RFC 6891 section 6.1.3).
func (rr *RR) EDNS() (size uint16, extRcode, version uint8, do bool) {
	return uint16(rr.Class), uint8(rr.TTL >> 24), uint8(rr.TTL >> 16), rr.TTL&(1<<15) != 0
}

// NewOPT returns an OPT record advertising size with the given extended
// RCODE (a full Rcode; only its upper eight bits are stored) and version 0.
func NewOPT(size uint16, rcode Rcode, do bool) RR {
	ttl := uint32(rcode>>4) << 24
	if do {
		ttl |= 1 << 15
	}
	return RR{Name: ".", Type: TypeOPT, Class: Class(size), TTL: ttl, Data: &OPT{}}
}

// Msg is a whole DNS message.
type Msg struct {
	Header
	Question   []Question
	Answer     []RR
	Authority  []RR
	Additional []RR
}

// OPT returns the message's OPT record, or nil.
func (m *Msg) OPT() *RR {
	for i := range m.Additional {
		if m.Additional[i].Type == TypeOPT {
			return &m.Additional[i]
		}
	}
	return nil
}

// RData is the typed RDATA of a resource record.
type RData interface {
	// String renders the RDATA in master file form.
	String() string
	pack(b *builder) error
}

// A is an IPv4 host address (RFC 1035 section 3.4.1).
type A struct{ Addr netip.Addr }

// AAAA is an IPv6 host address (RFC 3596 section 2.2).
type AAAA struct{ Addr netip.Addr }

// NS names an authoritative name server (RFC 1035 section 3.3.11).
type NS struct{ Host string }

// CNAME names the canonical name of an alias (RFC 1035 section 3.3.1).
type CNAME struct{ Target string }

// PTR points to another name (RFC 1035 section 3.3.12).
type PTR struct{ Ptr string }

// MX names a mail exchange (RFC 1035 section 3.3.9).
type MX struct {
	Preference uint16
	Host       string
}

// TXT holds character strings (RFC 1035 section 3.3.14).
type TXT struct{ Txt []string }

// SOA marks the start of a zone of authority (RFC 1035 section 3.3.13).
type SOA struct {
	NS      string
	Mbox    string
	Serial  uint32
	Refresh uint32
	Retry   uint32
	Expire  uint32
	Minimum uint32
}

// SRV locates a service (RFC 2782).
type SRV struct {
	Priority uint16
	Weight   uint16
	Port     uint16
	Target   string
}

// EDNSOption is one {code, data} pair of an OPT record.
type EDNSOption struct {
	Code uint16
	Data []byte
}

// OPT is the RDATA of the EDNS0 pseudo-record (RFC 6891 section 6.1.2).
type OPT struct{ Options []EDNSOption }

// Raw is the RDATA of a type this package does not decode (RFC 3597).
type Raw struct{ Data []byte }

// String implements RData.
func (r *A) String() string { return r.Addr.String() }

// String implements RData.
func (r *AAAA) String() string { return r.Addr.String() }

// String implements RData.
func (r *NS) String() string { return r.Host }

// String implements RData.
func (r *CNAME) String() string { return r.Target }

// String implements RData.
func (r *PTR) String() string { return r.Ptr }

// String implements RData.
func (r *MX) String() string { return strconv.Itoa(int(r.Preference)) + " " + r.Host }

// String implements RData.
func (r *TXT) String() string {
	parts := make([]string, len(r.Txt))
	for i, t := range r.Txt {
		parts[i] = strconv.Quote(t)
	}
	return strings.Join(parts, " ")
}

// String implements RData.
func (r *SOA) String() string {
	return fmt.Sprintf("%s %s %d %d %d %d %d", r.NS, r.Mbox, r.Serial, r.Refresh, r.Retry, r.Expire, r.Minimum)
}

// String implements RData.
func (r *SRV) String() string {
	return fmt.Sprintf("%d %d %d %s", r.Priority, r.Weight, r.Port, r.Target)
}

// String implements RData.
func (r *OPT) String() string {
	var sb strings.Builder
	for i, o := range r.Options {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%d:%x", o.Code, o.Data)
	}
	return sb.String()
}

// String implements RData in the RFC 3597 generic form.
func (r *Raw) String() string { return fmt.Sprintf("\\# %d %x", len(r.Data), r.Data) }

// Errors reported by the message codec.
var (
	// ErrCounts reports section counts that exceed what the message holds.
	ErrCounts = errors.New("dns: section count exceeds message")
	// ErrRdata reports RDATA whose length does not match its type.
	ErrRdata = errors.New("dns: bad rdata")
	// ErrTooLarge reports a message that would exceed 65535 octets.
	ErrTooLarge = errors.New("dns: message too large")
	// ErrTrailing reports octets after the last record.
	ErrTrailing = errors.New("dns: trailing data after message")
)

// Unpack decodes a whole message from b. It never retains b: every field
// is copied. Trailing octets after the last record are an error.
func (m *Msg) Unpack(b []byte) error {
	if len(b) < HeaderLen {
		return fmt.Errorf("header: %w", ErrShort)
	}
	m.ID = binary.BigEndian.Uint16(b)
	m.setFlags(binary.BigEndian.Uint16(b[2:]))
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	// Each question takes at least 5 octets and each record 11, so the
	// counts bound allocation by the message length.
	rest := len(b) - HeaderLen
	if qd*5+(an+ns+ar)*11 > rest {
		return fmt.Errorf("qd=%d an=%d ns=%d ar=%d in %d octets: %w", qd, an, ns, ar, len(b), ErrCounts)
	}
	off := HeaderLen
	var nb [MaxNameLen + 1]byte
	m.Question = nil
	if qd > 0 {
		m.Question = make([]Question, qd)
	}
	for i := range m.Question {
		w, next, err := readName(nb[:0], b, off)
		if err != nil {
			return fmt.Errorf("question %d name: %w", i, err)
		}
		if next+4 > len(b) {
			return fmt.Errorf("question %d: %w", i, ErrShort)
		}
		m.Question[i] = Question{
			Name:  nameString(w),
			Type:  Type(binary.BigEndian.Uint16(b[next:])),
			Class: Class(binary.BigEndian.Uint16(b[next+2:])),
		}
		off = next + 4
	}
	var err error
	for _, sec := range [...]struct {
		dst  *[]RR
		n    int
		name string
	}{{&m.Answer, an, "answer"}, {&m.Authority, ns, "authority"}, {&m.Additional, ar, "additional"}} {
		*sec.dst = nil
		if sec.n == 0 {
			continue
		}
		rrs := make([]RR, sec.n)
		for i := range rrs {
			off, err = unpackRR(&rrs[i], b, off)
			if err != nil {
				return fmt.Errorf("%s record %d: %w", sec.name, i, err)
			}
		}
		*sec.dst = rrs
	}
	if off != len(b) {
		return fmt.Errorf("%d octets at offset %d: %w", len(b)-off, off, ErrTrailing)
	}
	return nil
}

func unpackRR(rr *RR, b []byte, off int) (int, error) {
	var nb [MaxNameLen + 1]byte
	w, next, err := readName(nb[:0], b, off)
	if err != nil {
		return 0, fmt.Errorf("owner: %w", err)
	}
	if next+10 > len(b) {
		return 0, ErrShort
	}
	rr.Name = nameString(w)
	rr.Type = Type(binary.BigEndian.Uint16(b[next:]))
	rr.Class = Class(binary.BigEndian.Uint16(b[next+2:]))
	rr.TTL = binary.BigEndian.Uint32(b[next+4:])
	rdlen := int(binary.BigEndian.Uint16(b[next+8:]))
	start := next + 10
	end := start + rdlen
	if end > len(b) {
		return 0, fmt.Errorf("rdata of %d octets: %w", rdlen, ErrShort)
	}
	rr.Data, err = unpackRData(rr.Type, b, start, end)
	if err != nil {
		return 0, fmt.Errorf("%s rdata: %w", rr.Type, err)
	}
	return end, nil
}

// rdName reads a name inside RDATA that must end by end.
func rdName(b []byte, off, end int) (string, int, error) {
	var nb [MaxNameLen + 1]byte
	w, next, err := readName(nb[:0], b[:end], off)
	if err != nil {
		return "", 0, err
	}
	return nameString(w), next, nil
}

func unpackRData(t Type, b []byte, off, end int) (RData, error) {
	rd := b[off:end]
	var (
		r   RData
		err error
		n   = off
	)
	switch t {
	case TypeA:
		if len(rd) != 4 {
			return nil, ErrRdata
		}
		return &A{netip.AddrFrom4([4]byte(rd))}, nil
	case TypeAAAA:
		if len(rd) != 16 {
			return nil, ErrRdata
		}
		return &AAAA{netip.AddrFrom16([16]byte(rd))}, nil
	case TypeNS, TypeCNAME, TypePTR:
		var s string
		s, n, err = rdName(b, off, end)
		switch t {
		case TypeNS:
			r = &NS{s}
		case TypeCNAME:
			r = &CNAME{s}
		default:
			r = &PTR{s}
		}
	case TypeMX:
		if len(rd) < 3 {
			return nil, ErrRdata
		}
		mx := &MX{Preference: binary.BigEndian.Uint16(rd)}
		mx.Host, n, err = rdName(b, off+2, end)
		r = mx
	case TypeSRV:
		if len(rd) < 7 {
			return nil, ErrRdata
		}
		srv := &SRV{Priority: binary.BigEndian.Uint16(rd), Weight: binary.BigEndian.Uint16(rd[2:]), Port: binary.BigEndian.Uint16(rd[4:])}
		srv.Target, n, err = rdName(b, off+6, end)
		r = srv
	case TypeSOA:
		soa := &SOA{}
		soa.NS, n, err = rdName(b, off, end)
		if err != nil {
			return nil, err
		}
		soa.Mbox, n, err = rdName(b, n, end)
		if err != nil {
			return nil, err
		}
		if end-n != 20 {
			return nil, ErrRdata
		}
		soa.Serial = binary.BigEndian.Uint32(b[n:])
		soa.Refresh = binary.BigEndian.Uint32(b[n+4:])
		soa.Retry = binary.BigEndian.Uint32(b[n+8:])
		soa.Expire = binary.BigEndian.Uint32(b[n+12:])
		soa.Minimum = binary.BigEndian.Uint32(b[n+16:])
		return soa, nil
	case TypeTXT:
		txt := &TXT{}
		for i := 0; i < len(rd); {
			l := int(rd[i])
			if i+1+l > len(rd) {
				return nil, ErrRdata
			}
			txt.Txt = append(txt.Txt, string(rd[i+1:i+1+l]))
			i += 1 + l
		}
		return txt, nil
	case TypeOPT:
		opt := &OPT{}
		for i := 0; i < len(rd); {
			if i+4 > len(rd) {
				return nil, ErrRdata
			}
			l := int(binary.BigEndian.Uint16(rd[i+2:]))
			if i+4+l > len(rd) {
				return nil, ErrRdata
			}
			opt.Options = append(opt.Options, EDNSOption{Code: binary.BigEndian.Uint16(rd[i:]), Data: append([]byte{}, rd[i+4:i+4+l]...)})
			i += 4 + l
		}
		return opt, nil
	default:
		return &Raw{append([]byte{}, rd...)}, nil
	}
	if err != nil {
		return nil, err
	}
	if n != end {
		return nil, ErrRdata
	}
	return r, nil
}

// Pack encodes m with name compression.
func (m *Msg) Pack() ([]byte, error) { return m.AppendPack(nil) }

// AppendPack appends the encoding of m to dst. Compression pointers are
// relative to the start of the message, at len(dst).
func (m *Msg) AppendPack(dst []byte) ([]byte, error) {
	if len(m.Question) > 0xFFFF || len(m.Answer) > 0xFFFF || len(m.Authority) > 0xFFFF || len(m.Additional) > 0xFFFF {
		return dst, ErrTooLarge
	}
	var b builder
	b.reset(dst)
	b.header(&m.Header, len(m.Question), len(m.Answer), len(m.Authority), len(m.Additional))
	var nb [MaxNameLen + 1]byte
	for i := range m.Question {
		q := &m.Question[i]
		w, err := wireName(nb[:0], q.Name)
		if err != nil {
			return dst, fmt.Errorf("question %d: %w", i, err)
		}
		b.name(w, true)
		b.u16(uint16(q.Type))
		b.u16(uint16(q.Class))
	}
	for _, sec := range [...][]RR{m.Answer, m.Authority, m.Additional} {
		for i := range sec {
			if err := b.rr(&sec[i]); err != nil {
				return dst, fmt.Errorf("record %s %s: %w", sec[i].Name, sec[i].Type, err)
			}
		}
	}
	if len(b.buf)-b.base > 0xFFFF {
		return dst, ErrTooLarge
	}
	return b.buf, nil
}

// maxComp is how many name offsets a builder remembers for compression.
const maxComp = 64

// builder appends a message, compressing names against those already
// written. It allocates only when its buffer grows.
type builder struct {
	buf   []byte
	base  int // offset of the message start in buf
	comp  [maxComp]uint16
	ncomp int
}

func (b *builder) reset(dst []byte) {
	b.buf = dst
	b.base = len(dst)
	b.ncomp = 0
}

func (b *builder) u16(v uint16) { b.buf = binary.BigEndian.AppendUint16(b.buf, v) }
func (b *builder) u32(v uint32) { b.buf = binary.BigEndian.AppendUint32(b.buf, v) }

func (b *builder) header(h *Header, qd, an, ns, ar int) {
	b.u16(h.ID)
	b.u16(h.flags())
	b.u16(uint16(qd))
	b.u16(uint16(an))
	b.u16(uint16(ns))
	b.u16(uint16(ar))
}

// setCount overwrites section count i (0 question .. 3 additional).
func (b *builder) setCount(i int, n int) {
	binary.BigEndian.PutUint16(b.buf[b.base+4+2*i:], uint16(n))
}

// name appends the uncompressed wire name w, replacing its longest suffix
// already in the message with a pointer when compress is set (RFC 1035
// section 4.1.4). Matching is exact (case-sensitive) so a decoded message
// re-encodes to the same names.
func (b *builder) name(w []byte, compress bool) {
	for i := 0; i < len(w) && w[i] != 0; i += int(w[i]) + 1 {
		if compress {
			if p, ok := b.find(w[i:]); ok {
				b.buf = append(b.buf, w[:i]...)
				b.remember(len(b.buf)-i, w[:i])
				b.u16(0xC000 | p)
				return
			}
		}
	}
	at := len(b.buf)
	b.buf = append(b.buf, w...)
	if compress {
		b.remember(at, w)
	}
}

// remember records the label starts of labels (written at at) as pointer
// targets.
func (b *builder) remember(at int, labels []byte) {
	for i := 0; i < len(labels) && labels[i] != 0; i += int(labels[i]) + 1 {
		off := at + i - b.base
		if off > 0x3FFF || b.ncomp == maxComp {
			return
		}
		b.comp[b.ncomp] = uint16(off)
		b.ncomp++
	}
}

// find returns the offset of a name in the message equal to suffix.
func (b *builder) find(suffix []byte) (uint16, bool) {
	msg := b.buf[b.base:]
	for _, off := range b.comp[:b.ncomp] {
		if msg[off] == suffix[0] && nameAtEqual(msg, int(off), suffix) {
			return off, true
		}
	}
	return 0, false
}

// nameAtEqual compares the name at msg[off:] (which the builder wrote, so
// its pointers are valid) with the uncompressed wire name w.
func nameAtEqual(msg []byte, off int, w []byte) bool {
	j := 0
	for {
		c := int(msg[off])
		if c&0xC0 == 0xC0 {
			off = (c&0x3F)<<8 | int(msg[off+1])
			continue
		}
		if j >= len(w) || int(w[j]) != c {
			return false
		}
		if c == 0 {
			return true
		}
		if string(msg[off+1:off+1+c]) != string(w[j+1:j+1+c]) {
			return false
		}
		off += c + 1
		j += c + 1
	}
}

// strName appends the presentation name s.
func (b *builder) strName(s string, compress bool) error {
	var nb [MaxNameLen + 1]byte
	w, err := wireName(nb[:0], s)
	if err != nil {
		return err
	}
	b.name(w, compress)
	return nil
}

func (b *builder) rr(rr *RR) error {
	if err := b.strName(rr.Name, true); err != nil {
		return err
	}
	return b.rrBody(rr)
}

// rrBody appends TYPE, CLASS, TTL, RDLENGTH and RDATA after an owner name.
func (b *builder) rrBody(rr *RR) error {
	b.u16(uint16(rr.Type))
	b.u16(uint16(rr.Class))
	b.u32(rr.TTL)
	at := len(b.buf)
	b.u16(0)
	if rr.Data != nil {
		if err := rr.Data.pack(b); err != nil {
			return err
		}
	}
	n := len(b.buf) - at - 2
	if n > 0xFFFF {
		return ErrTooLarge
	}
	binary.BigEndian.PutUint16(b.buf[at:], uint16(n))
	return nil
}

func (r *A) pack(b *builder) error {
	if !r.Addr.Is4() {
		return fmt.Errorf("A %v: %w", r.Addr, ErrRdata)
	}
	a := r.Addr.As4()
	b.buf = append(b.buf, a[:]...)
	return nil
}

func (r *AAAA) pack(b *builder) error {
	if !r.Addr.Is6() {
		return fmt.Errorf("AAAA %v: %w", r.Addr, ErrRdata)
	}
	a := r.Addr.As16()
	b.buf = append(b.buf, a[:]...)
	return nil
}

func (r *NS) pack(b *builder) error    { return b.strName(r.Host, true) }
func (r *CNAME) pack(b *builder) error { return b.strName(r.Target, true) }
func (r *PTR) pack(b *builder) error   { return b.strName(r.Ptr, true) }

func (r *MX) pack(b *builder) error {
	b.u16(r.Preference)
	return b.strName(r.Host, true)
}

func (r *SRV) pack(b *builder) error {
	b.u16(r.Priority)
	b.u16(r.Weight)
	b.u16(r.Port)
	// RFC 2782: the target is not compressed.
	return b.strName(r.Target, false)
}

func (r *SOA) pack(b *builder) error {
	if err := b.strName(r.NS, true); err != nil {
		return err
	}
	if err := b.strName(r.Mbox, true); err != nil {
		return err
	}
	b.u32(r.Serial)
	b.u32(r.Refresh)
	b.u32(r.Retry)
	b.u32(r.Expire)
	b.u32(r.Minimum)
	return nil
}

func (r *TXT) pack(b *builder) error {
	for _, t := range r.Txt {
		if len(t) > 255 {
			return fmt.Errorf("TXT string of %d octets: %w", len(t), ErrRdata)
		}
		b.buf = append(b.buf, byte(len(t)))
		b.buf = append(b.buf, t...)
	}
	return nil
}

func (r *OPT) pack(b *builder) error {
	for _, o := range r.Options {
		if len(o.Data) > 0xFFFF {
			return fmt.Errorf("EDNS option %d: %w", o.Code, ErrRdata)
		}
		b.u16(o.Code)
		b.u16(uint16(len(o.Data)))
		b.buf = append(b.buf, o.Data...)
	}
	return nil
}

func (r *Raw) pack(b *builder) error {
	b.buf = append(b.buf, r.Data...)
	return nil
}
