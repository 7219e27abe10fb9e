package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Transport is the transport a query arrived on; it decides truncation.
type Transport uint8

// Transports.
const (
	// UDP limits responses to 512 octets or the EDNS0 payload size.
	UDP Transport = iota
	// TCP allows responses up to 65535 octets.
	TCP
)

// Sizes from RFC 1035 section 4.2.1 and RFC 6891 section 6.2.5.
const (
	// MinUDPSize is the largest response sent over UDP without EDNS0.
	MinUDPSize = 512
	// DefaultUDPSize is the payload size a Server advertises in its OPT
	// record (the DNS flag day 2020 recommendation).
	DefaultUDPSize = 1232
	// maxChase bounds CNAME chasing inside the server's zones.
	maxChase = 8
)

// ServerStats counts what a Server did with its queries.
type ServerStats struct {
	Queries   uint64 // answered queries, any rcode
	Dropped   uint64 // not answered: shorter than a header, or a response
	FormErr   uint64 // answered FORMERR
	Refused   uint64 // answered REFUSED
	NXDomain  uint64 // answered NXDOMAIN
	Truncated uint64 // answered with TC over UDP
}

type rrset struct {
	typ Type
	rrs []RR
}

type node struct {
	name   []byte // owner in wire form, case as in the zone
	sets   []rrset
	target []byte // lowercase wire form of the CNAME target, if any
}

func (n *node) find(t Type) *rrset {
	for i := range n.sets {
		if n.sets[i].typ == t {
			return &n.sets[i]
		}
	}
	return nil
}

type zoneData struct {
	apex  []byte
	soa   RR
	nodes map[string]*node // key: lowercase wire name
}

// Server is an authoritative name server core. It answers queries for its
// zones from bytes to bytes, reusing one response buffer, so it must be
// used by one goroutine at a time (the driver's loop).
//
// It implements: the AA bit, NXDOMAIN and NODATA with the zone's SOA in
// the authority section (RFC 2308 sections 2 and 3), CNAME chasing inside
// its zones (RFC 1034 section 4.3.2), REFUSED outside them, FORMERR for
// malformed queries, NOTIMP for opcodes other than QUERY and for zone
// transfers, TC over UDP (RFC 2181 section 9) and EDNS0 (RFC 6891).
type Server struct {
	zones  map[string]*zoneData // key: lowercase wire apex
	b      builder
	out    []byte
	maxUDP uint16

	// Stats counts the queries handled so far.
	Stats ServerStats
}

// NewServer returns a server authoritative for zones. Each zone needs
// exactly one SOA at its origin, every record must be at or below the
// origin, and a CNAME owner may hold no other data (RFC 1034 section 3.6.2).
func NewServer(zones ...*Zone) (*Server, error) {
	s := &Server{zones: make(map[string]*zoneData), out: make([]byte, 0, 4096), maxUDP: DefaultUDPSize}
	for _, z := range zones {
		if err := s.addZone(z); err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.Origin, err)
		}
	}
	return s, nil
}

// SetUDPSize sets the payload size the server advertises and honours over
// UDP with EDNS0 (at least 512).
func (s *Server) SetUDPSize(n uint16) { s.maxUDP = max(n, MinUDPSize) }

func lowerWire(s string) ([]byte, error) {
	w, err := wireName(nil, s)
	if err != nil {
		return nil, err
	}
	lowerName(w)
	return w, nil
}

// isSubdomain reports whether lowercase wire name n is at or below apex.
func isSubdomain(n, apex []byte) bool {
	for i := 0; i < len(n); i += int(n[i]) + 1 {
		if string(n[i:]) == string(apex) {
			return true
		}
		if n[i] == 0 {
			break
		}
	}
	return false
}

func (s *Server) addZone(z *Zone) error {
	apex, err := lowerWire(z.Origin)
	if err != nil {
		return err
	}
	if _, dup := s.zones[string(apex)]; dup {
		return errors.New("duplicate zone")
	}
	zd := &zoneData{apex: apex, nodes: make(map[string]*node)}
	nsoa := 0
	for i := range z.Records {
		rr := z.Records[i]
		if rr.Type == TypeOPT {
			return errors.New("OPT record in zone")
		}
		key, err := lowerWire(rr.Name)
		if err != nil {
			return err
		}
		if !isSubdomain(key, apex) {
			return fmt.Errorf("record %s is outside the zone", rr.Name)
		}
		n := zd.nodes[string(key)]
		if n == nil {
			w, _ := wireName(nil, rr.Name)
			n = &node{name: w}
			zd.nodes[string(key)] = n
			// Empty non-terminals between the owner and the apex exist
			// (RFC 4592 section 2.2.2): NODATA, not NXDOMAIN.
			for j := int(key[0]) + 1; j < len(key) && string(key[j:]) != string(apex); j += int(key[j]) + 1 {
				if zd.nodes[string(key[j:])] == nil {
					w, _ := wireName(nil, rr.Name)
					zd.nodes[string(key[j:])] = &node{name: w[j:]}
				}
			}
		}
		if rr.Type == TypeSOA {
			if string(key) != string(apex) {
				return fmt.Errorf("SOA at %s is not at the origin", rr.Name)
			}
			nsoa++
			zd.soa = rr
		}
		set := n.find(rr.Type)
		if set == nil {
			n.sets = append(n.sets, rrset{typ: rr.Type})
			set = &n.sets[len(n.sets)-1]
		}
		set.rrs = append(set.rrs, rr)
		if rr.Type == TypeCNAME {
			t, err := lowerWire(rr.Data.(*CNAME).Target)
			if err != nil {
				return err
			}
			n.target = t
		}
	}
	if nsoa != 1 {
		return fmt.Errorf("%d SOA records at the origin, want 1", nsoa)
	}
	for k, n := range zd.nodes {
		if c := n.find(TypeCNAME); c != nil && (len(n.sets) > 1 || len(c.rrs) > 1) {
			return fmt.Errorf("CNAME at %s shares its owner with other data", nameString([]byte(k)))
		}
	}
	s.zones[string(apex)] = zd
	return nil
}

// findZone returns the zone with the longest apex that is a suffix of the
// lowercase wire name n.
func (s *Server) findZone(n []byte) *zoneData {
	for i := 0; i < len(n); i += int(n[i]) + 1 {
		if z := s.zones[string(n[i:])]; z != nil {
			return z
		}
		if n[i] == 0 {
			break
		}
	}
	return nil
}

// query is what the server needs from a parsed query.
type query struct {
	id     uint16
	flags  uint16
	qname  []byte
	qtype  Type
	qclass Class
	edns   bool
	size   uint16
	ver    uint8
	do     bool
}

// parseQuery reads the question and the OPT record of a query into q and
// returns the question name, read into nb. It returns an rcode other than
// success when the query is malformed. (The name is returned rather than
// stored through q so that nb stays on the caller's stack.)
func parseQuery(b []byte, q *query, nb []byte) ([]byte, Rcode) {
	qd := binary.BigEndian.Uint16(b[4:])
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	if Opcode(q.flags>>11)&0xF != OpcodeQuery {
		return nil, RcodeNotImplemented
	}
	// RFC 9619: a query carries exactly one question.
	if qd != 1 {
		return nil, RcodeFormatError
	}
	w, off, err := readName(nb, b, HeaderLen)
	if err != nil || off+4 > len(b) {
		return nil, RcodeFormatError
	}
	q.qtype = Type(binary.BigEndian.Uint16(b[off:]))
	q.qclass = Class(binary.BigEndian.Uint16(b[off+2:]))
	off += 4
	for i := 0; i < an+ns+ar; i++ {
		next, err := skipName(b, off)
		if err != nil || next+10 > len(b) {
			return nil, RcodeFormatError
		}
		t := Type(binary.BigEndian.Uint16(b[next:]))
		rdlen := int(binary.BigEndian.Uint16(b[next+8:]))
		end := next + 10 + rdlen
		if end > len(b) {
			return nil, RcodeFormatError
		}
		if t == TypeOPT {
			// RFC 6891 section 6.1.1: one OPT, in the additional
			// section, owned by the root.
			if q.edns || i < an+ns || next != off+1 {
				return nil, RcodeFormatError
			}
			q.edns = true
			q.size = max(binary.BigEndian.Uint16(b[next+2:]), MinUDPSize)
			q.ver = b[next+5]
			q.do = b[next+6]&0x80 != 0
		}
		off = end
	}
	if q.qtype == TypeOPT {
		return nil, RcodeFormatError
	}
	return w, RcodeSuccess
}

// Answer returns the response to the query in b, or nil when the query
// must be dropped (shorter than a header, or itself a response). The
// result lives in a buffer the server reuses: it is valid until the next
// call. Answer does not allocate in steady state.
func (s *Server) Answer(b []byte, tr Transport) []byte {
	if len(b) < HeaderLen || b[2]&0x80 != 0 {
		s.Stats.Dropped++
		return nil
	}
	s.Stats.Queries++
	var nb [MaxNameLen + 1]byte
	q := query{id: binary.BigEndian.Uint16(b), flags: binary.BigEndian.Uint16(b[2:])}
	qname, rc := parseQuery(b, &q, nb[:0])
	q.qname = qname
	limit := 0xFFFF
	if tr == UDP {
		limit = MinUDPSize
		if q.edns {
			limit = int(min(q.size, s.maxUDP))
		}
	}
	if rc != RcodeSuccess {
		if rc == RcodeFormatError {
			s.Stats.FormErr++
		}
		// Echo only the header: the question may be what is broken.
		s.b.reset(s.out[:0])
		s.respHeader(&q, rc, false)
		s.out = s.b.buf
		return s.out
	}
	if q.edns && q.ver != 0 {
		// RFC 6891 section 6.1.3: unknown version, BADVERS.
		s.b.reset(s.out[:0])
		s.respHeader(&q, RcodeBadVers, false)
		s.question(&q)
		s.opt(&q, RcodeBadVers)
		s.out = s.b.buf
		return s.out
	}
	s.b.reset(s.out[:0])
	s.resolve(&q)
	if len(s.b.buf) > limit {
		// RFC 2181 section 9: set TC and send what fits; the client
		// retries over TCP, so the header, question and OPT suffice.
		s.Stats.Truncated++
		rcode := Rcode(s.b.buf[3] & 0xF)
		aa := s.b.buf[2]&0x04 != 0
		s.b.reset(s.b.buf[:0])
		s.respHeader(&q, rcode, aa)
		s.b.buf[2] |= 0x02
		s.question(&q)
		if q.edns {
			s.opt(&q, RcodeSuccess)
		}
	}
	s.out = s.b.buf
	return s.out
}

// respHeader appends a response header for q with zero counts.
func (s *Server) respHeader(q *query, rc Rcode, aa bool) {
	h := Header{
		ID:               q.id,
		Response:         true,
		Opcode:           Opcode(q.flags>>11) & 0xF,
		Authoritative:    aa,
		RecursionDesired: q.flags&(1<<8) != 0,
		CheckingDisabled: q.flags&(1<<4) != 0,
		Rcode:            rc & 0xF,
	}
	s.b.header(&h, 0, 0, 0, 0)
}

func (s *Server) question(q *query) {
	s.b.name(q.qname, true)
	s.b.u16(uint16(q.qtype))
	s.b.u16(uint16(q.qclass))
	s.b.setCount(0, 1)
}

// opt appends the server's OPT record to the additional section. The DO
// bit of the query is copied into it (RFC 3225 section 3).
func (s *Server) opt(q *query, rc Rcode) {
	s.b.buf = append(s.b.buf, 0)
	s.b.u16(uint16(TypeOPT))
	s.b.u16(s.maxUDP)
	ttl := uint32(rc>>4) << 24
	if q.do {
		ttl |= 1 << 15
	}
	s.b.u32(ttl)
	s.b.u16(0)
	n := binary.BigEndian.Uint16(s.b.buf[s.b.base+10:])
	s.b.setCount(3, int(n)+1)
}

// resolve appends the full (untruncated) response for a well-formed query.
func (s *Server) resolve(q *query) {
	var lb [MaxNameLen + 1]byte
	lname := append(lb[:0], q.qname...)
	lowerName(lname)
	z := s.findZone(lname)
	if z == nil || (q.qclass != ClassINET && q.qclass != ClassANY) {
		s.Stats.Refused++
		s.respHeader(q, RcodeRefused, false)
		s.question(q)
		if q.edns {
			s.opt(q, RcodeSuccess)
		}
		return
	}
	if q.qtype == TypeAXFR || q.qtype == 251 {
		s.respHeader(q, RcodeNotImplemented, false)
		s.question(q)
		if q.edns {
			s.opt(q, RcodeSuccess)
		}
		return
	}
	s.respHeader(q, RcodeSuccess, true)
	s.question(q)
	an := 0
	rcode := RcodeSuccess
	owner := q.qname
	name := lname
	negative := false
	for hop := 0; ; hop++ {
		n := z.nodes[string(name)]
		if n == nil {
			rcode, negative = RcodeNameError, true
			break
		}
		if q.qtype == TypeANY {
			for i := range n.sets {
				an += s.rrs(owner, n.sets[i].rrs)
			}
			negative = len(n.sets) == 0
			break
		}
		if set := n.find(q.qtype); set != nil {
			an += s.rrs(owner, set.rrs)
			break
		}
		if n.target == nil {
			negative = true
			break
		}
		an += s.rrs(owner, n.find(TypeCNAME).rrs)
		if hop == maxChase {
			break
		}
		// RFC 1034 section 4.3.2 step 3a: restart at the canonical name
		// if it is in our authority; otherwise the client follows it.
		z = s.findZone(n.target)
		if z == nil {
			break
		}
		name = n.target
		t := z.nodes[string(name)]
		if t == nil {
			// RFC 6604 section 2.1: the rcode reflects the last name.
			rcode, negative = RcodeNameError, true
			break
		}
		owner = t.name
	}
	s.b.setCount(1, an)
	if negative {
		// RFC 2308 section 3: the SOA's TTL is the minimum of its own TTL
		// and its MINIMUM field.
		soa := z.soa
		if m := soa.Data.(*SOA).Minimum; m < soa.TTL {
			soa.TTL = m
		}
		if err := s.b.rr(&soa); err == nil {
			s.b.setCount(2, 1)
		}
	}
	if rcode != RcodeSuccess {
		s.b.buf[s.b.base+3] = s.b.buf[s.b.base+3]&0xF0 | byte(rcode)
		if rcode == RcodeNameError {
			s.Stats.NXDomain++
		}
	}
	if q.edns {
		s.opt(q, RcodeSuccess)
	}
}

// rrs appends records under the wire owner name and returns how many.
func (s *Server) rrs(owner []byte, rrs []RR) int {
	n := 0
	for i := range rrs {
		mark := len(s.b.buf)
		ncomp := s.b.ncomp
		s.b.name(owner, true)
		if err := s.b.rrBody(&rrs[i]); err != nil {
			// Zone data was validated when loaded; a record that still
			// fails to encode is left out rather than sent half-written.
			s.b.buf = s.b.buf[:mark]
			s.b.ncomp = ncomp
			continue
		}
		n++
	}
	return n
}

// AnswerMsg is Answer for a decoded query: it packs q, answers it and
// decodes the response. It returns nil, nil when the query is dropped.
// It allocates; the byte path is for the driver's hot loop.
func (s *Server) AnswerMsg(q *Msg, tr Transport) (*Msg, error) {
	b, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack query: %w", err)
	}
	out := s.Answer(b, tr)
	if out == nil {
		return nil, nil
	}
	var m Msg
	if err := m.Unpack(out); err != nil {
		return nil, fmt.Errorf("unpack response: %w", err)
	}
	return &m, nil
}
