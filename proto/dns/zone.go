package dns

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// MaxZoneSize bounds the size of a master file ParseZone reads.
const MaxZoneSize = 16 << 20

// ParseError is a master file error located at file:line.
type ParseError struct {
	File string
	Line int
	Err  error
}

// Error formats the error as file:line: message.
func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// ErrNoOrigin reports a master file whose zone name cannot be known: no
// origin was given and the file sets no $ORIGIN before a relative SOA
// owner (or has no SOA at all). Drivers add the name of their origin
// option to it.
var ErrNoOrigin = errors.New("the zone's name is unknown: no origin was given and the file has no $ORIGIN or absolute owner for its SOA record")

// Zone is the content of a master file: its name and its records in file
// order.
type Zone struct {
	// Origin is the zone's name, fully qualified: the origin given to
	// ParseZone, or else the owner of the file's SOA record.
	Origin  string
	Records []RR
	// Warnings lists what the loader changed (RRset TTLs normalised,
	// RFC 2181 section 5.2).
	Warnings []Warning
}

// Warning is a change the loader made to a master file's data, located at
// file:line.
type Warning struct {
	File string
	Line int
	Msg  string
}

// String formats the warning as file:line: message.
func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

type token struct {
	text   string
	quoted bool
}

type entry struct {
	line   int
	blank  bool // the entry began with white space: owner omitted
	tokens []token
}

// ParseZone reads an RFC 1035 section 5 master file; file names the input
// in errors. It is the one zone loader of every driver, with one rule for
// the origin, BIND's: the zone's name is the initial $ORIGIN, so relative
// owners and relative names in RDATA (NS, CNAME, PTR, MX exchange, SRV
// target, SOA names) are completed with it until a $ORIGIN directive
// changes it. origin is the zone's name; when it is empty the name is the
// owner of the file's SOA record, which must then be absolute or follow a
// $ORIGIN (otherwise the error wraps ErrNoOrigin).
//
// Records of one RRset with different TTLs get the TTL of the set's first
// record, with a warning in Zone.Warnings (RFC 2181 section 5.2; BIND does
// the same). Supported: $ORIGIN, $TTL,
// relative names, @, parentheses across lines, comments, quoted strings,
// optional class IN, omitted owner and TTL, TTL units (1h30m, BIND style) and
// the RFC 3597 generic form (TYPEnnn \# len hex). $INCLUDE and classes
// other than IN are rejected.
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxZoneSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read zone: %w", file, err)
	}
	if len(data) > MaxZoneSize {
		return nil, fmt.Errorf("%s: zone larger than %d octets", file, MaxZoneSize)
	}
	if origin == "" {
		// First pass with the origin unknown, to find the SOA owner.
		p, err := parseZoneText(data, "", file)
		if err != nil {
			return nil, err
		}
		if p.soaOwner == "" || p.soaGuessed {
			return nil, fmt.Errorf("%s: %w", file, ErrNoOrigin)
		}
		if !p.guessed {
			p.z.Origin = p.soaOwner
			p.normaliseTTLs()
			return p.z, nil
		}
		origin = p.soaOwner
	}
	origin, err = CanonicalName(origin)
	if err != nil {
		return nil, fmt.Errorf("%s: origin: %w", file, err)
	}
	p, err := parseZoneText(data, origin, file)
	if err != nil {
		return nil, err
	}
	p.normaliseTTLs()
	return p.z, nil
}

// parseZoneText parses data with the initial origin ("" when unknown: then
// relative names are completed with the root and marked as guessed).
func parseZoneText(data []byte, origin, file string) (*zoneParser, error) {
	p := &zoneParser{file: file, origin: origin, z: &Zone{Origin: origin}}
	if origin == "" {
		p.origin, p.unknown = ".", true
	}
	if err := lexZone(string(data), p.entry); err != nil {
		var pe *ParseError
		if errors.As(err, &pe) {
			pe.File = file
			return nil, pe
		}
		return nil, err
	}
	return p, nil
}

// normaliseTTLs gives every record of an RRset the TTL of the set's first
// record (RFC 2181 section 5.2) and records a warning for each change.
func (p *zoneParser) normaliseTTLs() {
	type key struct {
		name string
		typ  Type
	}
	first := make(map[key]int)
	for i := range p.z.Records {
		rr := &p.z.Records[i]
		k := key{strings.ToLower(rr.Name), rr.Type}
		j, ok := first[k]
		if !ok {
			first[k] = i
			continue
		}
		if want := p.z.Records[j].TTL; rr.TTL != want {
			p.z.Warnings = append(p.z.Warnings, Warning{File: p.file, Line: p.lines[i],
				Msg: fmt.Sprintf("%s %s: TTL %d set to %d, the TTL of the RRset's first record (line %d; RFC 2181 section 5.2)", rr.Name, rr.Type, rr.TTL, want, p.lines[j])})
			rr.TTL = want
		}
	}
}

// lexZone splits the master file into entries (logical lines) and calls fn
// for each.
func lexZone(s string, fn func(e *entry) error) error {
	line := 1
	depth := 0
	var e entry
	parenLine := 0
	atLineStart := true
	flush := func() error {
		if len(e.tokens) > 0 {
			if err := fn(&e); err != nil {
				return err
			}
		}
		e = entry{tokens: e.tokens[:0]}
		return nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		if atLineStart && depth == 0 {
			e.line = line
			e.blank = c == ' ' || c == '\t'
			atLineStart = false
		}
		switch {
		case c == '\n':
			line++
			i++
			if depth == 0 {
				if err := flush(); err != nil {
					return err
				}
				atLineStart = true
			}
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == ';':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '(':
			if depth == 0 {
				parenLine = line
			}
			depth++
			i++
		case c == ')':
			if depth == 0 {
				return &ParseError{Line: line, Err: errors.New("unbalanced ')'")}
			}
			depth--
			i++
		case c == '"':
			j := i + 1
			qline := line
			var sb strings.Builder
			for {
				if j >= len(s) {
					return &ParseError{Line: qline, Err: errors.New("unterminated quoted string")}
				}
				if s[j] == '"' {
					break
				}
				if s[j] == '\n' {
					line++
				}
				if s[j] == '\\' && j+1 < len(s) {
					sb.WriteByte(s[j])
					j++
				}
				sb.WriteByte(s[j])
				j++
			}
			e.tokens = append(e.tokens, token{text: sb.String(), quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(s) {
				d := s[j]
				if d == '\\' && j+1 < len(s) {
					j += 2
					continue
				}
				if d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == ';' || d == '(' || d == ')' || d == '"' {
					break
				}
				j++
			}
			e.tokens = append(e.tokens, token{text: s[i:j]})
			i = j
		}
	}
	if depth > 0 {
		return &ParseError{Line: parenLine, Err: errors.New("unclosed '('")}
	}
	return flush()
}

type zoneParser struct {
	file   string
	origin string
	z      *Zone
	lines  []int // line of each record in z.Records
	// unknown is set while the origin is not known (no origin given and
	// no $ORIGIN yet); guessed records that a relative name was completed
	// meanwhile.
	unknown, guessed bool
	// soaOwner is the owner of the first SOA record; soaGuessed tells
	// that it was completed with an unknown origin.
	soaOwner   string
	soaGuessed bool
	// ownerGuessed tells that the current owner was completed with an
	// unknown origin.
	ownerGuessed bool
	owner        string
	ttl          uint32
	ttlSet       bool
	defTTL       uint32
	defTTLOK     bool
}

func (p *zoneParser) entry(e *entry) error {
	if err := p.parseEntry(e); err != nil {
		return &ParseError{File: p.file, Line: e.line, Err: err}
	}
	return nil
}

func (p *zoneParser) parseEntry(e *entry) error {
	t := e.tokens
	if !e.blank && !t[0].quoted && strings.HasPrefix(t[0].text, "$") {
		switch strings.ToUpper(t[0].text) {
		case "$ORIGIN":
			if len(t) != 2 {
				return errors.New("$ORIGIN takes one name")
			}
			o, err := p.name(t[1].text)
			if err != nil {
				return fmt.Errorf("$ORIGIN: %w", err)
			}
			p.origin = o
			if absolute(t[1].text) {
				p.unknown = false
			}
			return nil
		case "$TTL":
			if len(t) != 2 {
				return errors.New("$TTL takes one value")
			}
			v, err := parseTTL(t[1].text)
			if err != nil {
				return fmt.Errorf("$TTL: %w", err)
			}
			p.defTTL, p.defTTLOK = v, true
			return nil
		default:
			return fmt.Errorf("unsupported directive %s", t[0].text)
		}
	}
	var rr RR
	if e.blank {
		if p.owner == "" {
			return errors.New("no previous owner name")
		}
		rr.Name = p.owner
	} else {
		g := p.guessed
		p.guessed = false
		n, err := p.name(t[0].text)
		if err != nil {
			return fmt.Errorf("owner: %w", err)
		}
		rr.Name = n
		p.owner = n
		p.ownerGuessed = p.guessed
		p.guessed = p.guessed || g
		t = t[1:]
	}
	rr.Class = ClassINET
	haveTTL := false
	for len(t) > 0 && !t[0].quoted {
		s := t[0].text
		if v, err := parseTTL(s); err == nil && !haveTTL {
			rr.TTL, haveTTL = v, true
			t = t[1:]
			continue
		}
		if strings.EqualFold(s, "IN") || strings.EqualFold(s, "CLASS1") {
			t = t[1:]
			continue
		}
		if strings.EqualFold(s, "CH") || strings.EqualFold(s, "HS") || strings.EqualFold(s, "CS") || strings.HasPrefix(strings.ToUpper(s), "CLASS") {
			return fmt.Errorf("unsupported class %s", s)
		}
		break
	}
	if len(t) == 0 {
		return errors.New("missing type")
	}
	typ, ok := ParseType(t[0].text)
	if !ok || t[0].quoted {
		return fmt.Errorf("unknown type %q", t[0].text)
	}
	rr.Type = typ
	switch {
	case haveTTL:
		p.ttl, p.ttlSet = rr.TTL, true
	case p.defTTLOK:
		rr.TTL = p.defTTL
	case p.ttlSet:
		rr.TTL = p.ttl
	default:
		return errors.New("no TTL and no $TTL")
	}
	d, err := p.rdata(typ, t[1:])
	if err != nil {
		return fmt.Errorf("%s rdata: %w", typ, err)
	}
	rr.Data = d
	if typ == TypeSOA && p.soaOwner == "" {
		p.soaOwner, p.soaGuessed = rr.Name, p.ownerGuessed
	}
	p.z.Records = append(p.z.Records, rr)
	p.lines = append(p.lines, e.line)
	return nil
}

// name makes s absolute against the current origin (RFC 1035 section 5.1).
func (p *zoneParser) name(s string) (string, error) {
	if p.unknown && !absolute(s) {
		p.guessed = true
	}
	if s == "@" {
		return p.origin, nil
	}
	if !absolute(s) {
		if p.origin == "." {
			s += "."
		} else {
			s += "." + p.origin
		}
	}
	var nb [MaxNameLen + 1]byte
	w, err := wireName(nb[:0], s)
	if err != nil {
		return "", err
	}
	return nameString(w), nil
}

// absolute reports whether s ends in an unescaped dot.
func absolute(s string) bool {
	if !strings.HasSuffix(s, ".") {
		return false
	}
	n := 0
	for i := len(s) - 2; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 0
}

// parseTTL reads a decimal TTL or a BIND-style duration such as 1h30m.
func parseTTL(s string) (uint32, error) {
	if s == "" || !isDigit(s[0]) {
		return 0, fmt.Errorf("bad TTL %q", s)
	}
	var total, cur uint64
	unit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isDigit(c) {
			cur = cur*10 + uint64(c-'0')
			unit = false
			if cur > 1<<32 {
				return 0, fmt.Errorf("TTL %q out of range", s)
			}
			continue
		}
		var m uint64
		switch lower(c) {
		case 's':
			m = 1
		case 'm':
			m = 60
		case 'h':
			m = 3600
		case 'd':
			m = 86400
		case 'w':
			m = 604800
		default:
			return 0, fmt.Errorf("bad TTL %q", s)
		}
		if unit {
			return 0, fmt.Errorf("bad TTL %q", s)
		}
		total += cur * m
		cur = 0
		unit = true
		if total > 0xFFFFFFFF {
			return 0, fmt.Errorf("TTL %q out of range", s)
		}
	}
	total += cur
	if total > 0xFFFFFFFF {
		return 0, fmt.Errorf("TTL %q out of range", s)
	}
	return uint32(total), nil
}

func parseU16(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	return uint16(v), nil
}

// unescape resolves \c and \DDD in a character-string (RFC 1035 section 5.1).
func unescape(s string) (string, error) {
	if !strings.Contains(s, "\\") {
		return s, nil
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("trailing backslash")
		}
		if isDigit(s[i+1]) {
			if i+3 >= len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
				return "", errors.New("bad \\DDD escape")
			}
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v > 255 {
				return "", errors.New("escape out of range")
			}
			sb.WriteByte(byte(v))
			i += 3
			continue
		}
		sb.WriteByte(s[i+1])
		i++
	}
	return sb.String(), nil
}

func (p *zoneParser) rdata(typ Type, t []token) (RData, error) {
	want := func(n int) error {
		if len(t) != n {
			return fmt.Errorf("want %d fields, have %d", n, len(t))
		}
		return nil
	}
	if len(t) > 0 && t[0].text == `\#` && !t[0].quoted {
		return p.generic(typ, t[1:])
	}
	switch typ {
	case TypeA, TypeAAAA:
		if err := want(1); err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(t[0].text)
		if err != nil {
			return nil, fmt.Errorf("address: %w", err)
		}
		if typ == TypeA {
			if !a.Is4() {
				return nil, fmt.Errorf("%s is not IPv4", a)
			}
			return &A{a}, nil
		}
		if !a.Is6() || a.Zone() != "" {
			return nil, fmt.Errorf("%s is not IPv6", a)
		}
		return &AAAA{a}, nil
	case TypeNS, TypeCNAME, TypePTR:
		if err := want(1); err != nil {
			return nil, err
		}
		n, err := p.name(t[0].text)
		if err != nil {
			return nil, err
		}
		switch typ {
		case TypeNS:
			return &NS{n}, nil
		case TypeCNAME:
			return &CNAME{n}, nil
		}
		return &PTR{n}, nil
	case TypeMX:
		if err := want(2); err != nil {
			return nil, err
		}
		pref, err := parseU16(t[0].text)
		if err != nil {
			return nil, err
		}
		n, err := p.name(t[1].text)
		if err != nil {
			return nil, err
		}
		return &MX{pref, n}, nil
	case TypeSRV:
		if err := want(4); err != nil {
			return nil, err
		}
		var v [3]uint16
		for i := range v {
			x, err := parseU16(t[i].text)
			if err != nil {
				return nil, err
			}
			v[i] = x
		}
		n, err := p.name(t[3].text)
		if err != nil {
			return nil, err
		}
		return &SRV{v[0], v[1], v[2], n}, nil
	case TypeSOA:
		if err := want(7); err != nil {
			return nil, err
		}
		ns, err := p.name(t[0].text)
		if err != nil {
			return nil, err
		}
		mbox, err := p.name(t[1].text)
		if err != nil {
			return nil, err
		}
		var v [5]uint32
		for i := range v {
			if v[i], err = parseTTL(t[2+i].text); err != nil {
				return nil, err
			}
		}
		return &SOA{ns, mbox, v[0], v[1], v[2], v[3], v[4]}, nil
	case TypeTXT:
		if len(t) == 0 {
			return nil, errors.New("no strings")
		}
		txt := &TXT{Txt: make([]string, 0, len(t))}
		for _, tok := range t {
			s, err := unescape(tok.text)
			if err != nil {
				return nil, err
			}
			if len(s) > 255 {
				return nil, fmt.Errorf("string of %d octets exceeds 255", len(s))
			}
			txt.Txt = append(txt.Txt, s)
		}
		return txt, nil
	}
	return nil, fmt.Errorf("type %s needs the generic \\# form", typ)
}

// generic parses RFC 3597 section 5 "\# length hex...".
func (p *zoneParser) generic(typ Type, t []token) (RData, error) {
	if len(t) == 0 {
		return nil, errors.New(`\# without length`)
	}
	n, err := parseU16(t[0].text)
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	for _, tok := range t[1:] {
		sb.WriteString(tok.text)
	}
	data, err := hex.DecodeString(sb.String())
	if err != nil {
		return nil, fmt.Errorf("hex: %w", err)
	}
	if len(data) != int(n) {
		return nil, fmt.Errorf(`\# length %d but %d octets`, n, len(data))
	}
	// Known types must still decode: check by unpacking a standalone RDATA.
	if typ != TypeOPT {
		rd, err := unpackRData(typ, data, 0, len(data))
		if err != nil {
			return nil, err
		}
		return rd, nil
	}
	return nil, errors.New("OPT is not allowed in a zone")
}
