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
	// targets holds, for NS, MX and SRV sets, the lowercase wire form of
	// each record's host name: the names additional-section processing
	// looks up (RFC 1034 section 4.3.2 step 6).
	targets [][]byte
}

type node struct {
	name    []byte // owner in wire form, case as in the zone
	sets    []rrset
	target  []byte // lowercase wire form of the CNAME target, if any
	targetW []byte // the CNAME target in wire form, case as in the zone
	// cut marks a delegation point: an NS set below the apex (RFC 1034
	// section 4.2.1). Data at and below it, other than the NS set, is
	// glue, never an authoritative answer.
	cut bool
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
// its zones and referrals with glue below zone cuts (RFC 1034 section
// 4.3.2), wildcards (RFC 4592), additional-section addresses for NS, MX
// and SRV targets (RFC 1034 section 4.3.2 step 6), REFUSED outside its
// zones and for zone transfers (as NSD does by default, and BIND for
// clients outside allow-transfer), FORMERR
// for malformed queries, NOTIMP for opcodes other than QUERY, TC over UDP
// (RFC 2181 section 9) and EDNS0 (RFC 6891).
type Server struct {
	zones  map[string]*zoneData // key: lowercase wire apex
	b      builder
	out    []byte
	maxUDP uint16
	// addl holds the answer RRsets of the current query whose targets
	// get additional-section processing; seen the targets already added.
	addl []*rrset
	seen [][]byte

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
		var host string
		switch d := rr.Data.(type) {
		case *CNAME:
			t, err := lowerWire(d.Target)
			if err != nil {
				return err
			}
			n.target = t
			n.targetW, _ = wireName(nil, d.Target)
		case *NS:
			host = d.Host
		case *MX:
			host = d.Host
		case *SRV:
			host = d.Target
		}
		if rr.Type == TypeNS || rr.Type == TypeMX || rr.Type == TypeSRV {
			t, err := lowerWire(host)
			if err != nil {
				return err
			}
			set.targets = append(set.targets, t)
		}
	}
	for k, n := range zd.nodes {
		n.cut = k != string(apex) && n.find(TypeNS) != nil
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
// success when the query is malformed or not a QUERY; q.edns is set
// whenever an OPT record was found, so that even those replies carry OPT
// (RFC 6891 section 6.1.1). (The name is returned rather than stored
// through q so that nb stays on the caller's stack.)
func parseQuery(b []byte, q *query, nb []byte) ([]byte, Rcode) {
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	var w []byte
	off := HeaderLen
	for i := 0; i < qd; i++ {
		var next int
		var err error
		if i == 0 {
			w, next, err = readName(nb, b, off)
		} else {
			next, err = skipName(b, off)
		}
		if err != nil || next+4 > len(b) {
			return nil, RcodeFormatError
		}
		if i == 0 {
			q.qtype = Type(binary.BigEndian.Uint16(b[next:]))
			q.qclass = Class(binary.BigEndian.Uint16(b[next+2:]))
		}
		off = next + 4
	}
	rc := RcodeSuccess
	for i := 0; i < an+ns+ar; i++ {
		next, err := skipName(b, off)
		if err != nil || next+10 > len(b) {
			return w, RcodeFormatError
		}
		t := Type(binary.BigEndian.Uint16(b[next:]))
		rdlen := int(binary.BigEndian.Uint16(b[next+8:]))
		end := next + 10 + rdlen
		if end > len(b) {
			return w, RcodeFormatError
		}
		if t == TypeOPT {
			// RFC 6891 section 6.1.1: one OPT, in the additional
			// section, owned by the root.
			if q.edns || i < an+ns || next != off+1 {
				rc = RcodeFormatError
			}
			q.edns = true
			q.size = max(binary.BigEndian.Uint16(b[next+2:]), MinUDPSize)
			q.ver = b[next+5]
			q.do = b[next+6]&0x80 != 0
			// RFC 6891 section 6.1.2: options are {code, length,
			// data}; one that overruns the RDATA is malformed (BIND
			// answers FORMERR).
			for o := next + 10; o < end; {
				if o+4 > end || o+4+int(binary.BigEndian.Uint16(b[o+2:])) > end {
					rc = RcodeFormatError
					break
				}
				o += 4 + int(binary.BigEndian.Uint16(b[o+2:]))
			}
		}
		off = end
	}
	// Octets after the last record, or a question count other than one
	// (RFC 9619), make the query malformed.
	if off != len(b) || qd != 1 || q.qtype == TypeOPT {
		rc = RcodeFormatError
	}
	if rc == RcodeSuccess && Opcode(q.flags>>11)&0xF != OpcodeQuery {
		rc = RcodeNotImplemented
	}
	return w, rc
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
		// Echo the question only when there was exactly one that
		// parsed; the OPT whenever the query had one.
		s.b.reset(s.out[:0])
		s.respHeader(&q, rc, false)
		if qname != nil && binary.BigEndian.Uint16(b[4:]) == 1 {
			s.question(&q)
		}
		if q.edns {
			s.opt(&q, rc)
		}
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
	s.resolve(&q, limit)
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

// lookupKind is what a zone holds for a name.
type lookupKind uint8

const (
	found       lookupKind = iota // the name's own node
	synthesised                   // a wildcard's node (RFC 4592)
	delegated                     // at or below a zone cut
	noName                        // NXDOMAIN
)

// lookup finds the lowercase wire name, which is at or below z's apex, as
// RFC 1034 section 4.3.2 step 3 does: a zone cut above the name (or at it,
// except for DS, which the parent holds) gives a referral from the cut's
// node; then the name's own node (an empty non-terminal included, RFC
// 4592 section 2.2.2); then the wildcard at the closest encloser (RFC
// 4592 section 3.3.1). off is the offset of the cut in name.
func (z *zoneData) lookup(name []byte, qtype Type) (n *node, kind lookupKind, off int) {
	apexOff := len(name) - len(z.apex)
	var cut *node
	for i := 0; i < apexOff; i += int(name[i]) + 1 {
		if c := z.nodes[string(name[i:])]; c != nil && c.cut && (i > 0 || qtype != TypeDS) {
			cut, off = c, i // keep going: the cut nearest the apex wins
		}
	}
	if cut != nil {
		return cut, delegated, off
	}
	if n := z.nodes[string(name)]; n != nil {
		return n, found, 0
	}
	// The closest encloser is the longest existing ancestor; the source
	// of synthesis is "*" under it (RFC 4592 section 3.3.1).
	for i := int(name[0]) + 1; i <= apexOff; i += int(name[i]) + 1 {
		if z.nodes[string(name[i:])] == nil {
			continue
		}
		var wb [MaxNameLen + 1]byte
		w := append(append(wb[:0], 1, '*'), name[i:]...)
		if src := z.nodes[string(w)]; src != nil {
			return src, synthesised, 0
		}
		break
	}
	return nil, noName, 0
}

// resolve appends the full (untruncated) response for a well-formed
// query; additional data that would take it over limit is left out.
func (s *Server) resolve(q *query, limit int) {
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
	if q.qtype == TypeAXFR || q.qtype == TypeIXFR {
		// Zone transfers are refused, as BIND and NSD do for clients
		// not in their allow-transfer / provide-xfr lists.
		s.Stats.Refused++
		s.respHeader(q, RcodeRefused, false)
		s.question(q)
		if q.edns {
			s.opt(q, RcodeSuccess)
		}
		return
	}
	s.respHeader(q, RcodeSuccess, true)
	s.question(q)
	s.addl = s.addl[:0]
	s.seen = s.seen[:0]
	an := 0
	rcode := RcodeSuccess
	owner := q.qname
	name := lname
	negative := false
	var ref *node
	var refOwner []byte
chase:
	for hop := 0; ; hop++ {
		n, kind, off := z.lookup(name, q.qtype)
		switch kind {
		case delegated:
			ref, refOwner = n, owner[off:]
			break chase
		case noName:
			// RFC 6604 section 2.1: after a CNAME the rcode reflects
			// the last name.
			rcode, negative = RcodeNameError, true
			break chase
		}
		if q.qtype == TypeANY {
			for i := range n.sets {
				an += s.answerSet(owner, &n.sets[i])
			}
			negative = len(n.sets) == 0
			break
		}
		if set := n.find(q.qtype); set != nil {
			an += s.answerSet(owner, set)
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
		if z = s.findZone(n.target); z == nil {
			break
		}
		name, owner = n.target, n.targetW
	}
	s.b.setCount(1, an)
	ns, ar := 0, 0
	switch {
	case ref != nil:
		// RFC 1034 section 4.3.2 step 3b: a referral. AA is off unless
		// a CNAME of ours is in the answer; the cut's NS set goes in the
		// authority section and its in-zone addresses, glue included,
		// in the additional section (required: if they do not fit, the
		// response is truncated, RFC 9471).
		if an == 0 {
			s.b.buf[s.b.base+2] &^= 0x04
		}
		set := ref.find(TypeNS)
		ns = s.rrs(refOwner, set.rrs)
		for _, t := range set.targets {
			if isSubdomain(t, z.apex) && s.firstSeen(t) {
				if g := z.nodes[string(t)]; g != nil {
					ar += s.addresses(g, 0)
				}
			}
		}
	case negative:
		// RFC 2308 section 3: the SOA's TTL is the minimum of its own TTL
		// and its MINIMUM field.
		soa := z.soa
		if m := soa.Data.(*SOA).Minimum; m < soa.TTL {
			soa.TTL = m
		}
		if err := s.b.rr(&soa); err == nil {
			ns = 1
		}
	}
	s.b.setCount(2, ns)
	if rcode != RcodeSuccess {
		s.b.buf[s.b.base+3] = s.b.buf[s.b.base+3]&0xF0 | byte(rcode)
		if rcode == RcodeNameError {
			s.Stats.NXDomain++
		}
	}
	// RFC 1034 section 4.3.2 step 6: the addresses of the answer's NS,
	// MX and SRV hosts where we hold them authoritatively, while they
	// fit (RFC 2181 section 9: additional data never causes TC).
	room := limit
	if q.edns {
		room -= 11 // our OPT record
	}
	for _, set := range s.addl {
		for _, t := range set.targets {
			zz := s.findZone(t)
			if zz == nil || !s.firstSeen(t) {
				continue
			}
			if n, kind, _ := zz.lookup(t, TypeA); kind == found {
				ar += s.addresses(n, room)
			}
		}
	}
	s.b.setCount(3, ar)
	if q.edns {
		s.opt(q, RcodeSuccess)
	}
}

// answerSet appends set to the answer section under owner and notes it
// for additional-section processing.
func (s *Server) answerSet(owner []byte, set *rrset) int {
	if len(set.targets) > 0 {
		s.addl = append(s.addl, set)
	}
	return s.rrs(owner, set.rrs)
}

// firstSeen reports whether the target t is met for the first time in
// this response, and remembers it.
func (s *Server) firstSeen(t []byte) bool {
	for _, o := range s.seen {
		if string(o) == string(t) {
			return false
		}
	}
	s.seen = append(s.seen, t)
	return true
}

// addresses appends n's A and AAAA sets under n's own name and returns
// how many records it added. With room > 0, a set that would take the
// message past room octets is taken back out.
func (s *Server) addresses(n *node, room int) int {
	added := 0
	for _, t := range [...]Type{TypeA, TypeAAAA} {
		set := n.find(t)
		if set == nil {
			continue
		}
		mark, ncomp := len(s.b.buf), s.b.ncomp
		k := s.rrs(n.name, set.rrs)
		if room > 0 && len(s.b.buf)-s.b.base > room {
			s.b.buf, s.b.ncomp = s.b.buf[:mark], ncomp
			continue
		}
		added += k
	}
	return added
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
