package dns

import "strconv"

// Type is a resource record TYPE or a query QTYPE (RFC 1035 section 3.2.2).
type Type uint16

// Resource record types this package understands.
const (
	TypeA     Type = 1
	TypeNS    Type = 2
	TypeCNAME Type = 5
	TypeSOA   Type = 6
	TypePTR   Type = 12
	TypeMX    Type = 15
	TypeTXT   Type = 16
	TypeAAAA  Type = 28
	TypeSRV   Type = 33
	TypeDS    Type = 43
	TypeOPT   Type = 41
	TypeIXFR  Type = 251
	TypeAXFR  Type = 252
	TypeANY   Type = 255
)

var typeNames = [...]struct {
	t Type
	s string
}{
	{TypeA, "A"}, {TypeNS, "NS"}, {TypeCNAME, "CNAME"}, {TypeSOA, "SOA"},
	{TypePTR, "PTR"}, {TypeMX, "MX"}, {TypeTXT, "TXT"}, {TypeAAAA, "AAAA"},
	{TypeSRV, "SRV"}, {TypeDS, "DS"}, {TypeOPT, "OPT"}, {TypeIXFR, "IXFR"}, {TypeAXFR, "AXFR"}, {TypeANY, "ANY"},
}

// String returns the mnemonic of t, or TYPEnnn (RFC 3597) when unknown.
func (t Type) String() string {
	for _, n := range typeNames {
		if n.t == t {
			return n.s
		}
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// ParseType returns the Type named by s (a mnemonic or TYPEnnn).
func ParseType(s string) (Type, bool) {
	for _, n := range typeNames {
		if equalFoldASCII(n.s, s) {
			return n.t, true
		}
	}
	if len(s) > 4 && equalFoldASCII(s[:4], "TYPE") {
		v, err := strconv.ParseUint(s[4:], 10, 16)
		if err == nil {
			return Type(v), true
		}
	}
	return 0, false
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// Class is a resource record CLASS (RFC 1035 section 3.2.4).
type Class uint16

// Classes.
const (
	// ClassINET is the Internet class, IN.
	ClassINET Class = 1
	// ClassANY is the QCLASS matching any class.
	ClassANY Class = 255
)

// String returns "IN" for the Internet class and CLASSnnn otherwise.
func (c Class) String() string {
	switch c {
	case ClassINET:
		return "IN"
	case ClassANY:
		return "ANY"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

// Opcode is the kind of query in a message header (RFC 1035 section 4.1.1).
type Opcode uint8

// OpcodeQuery is a standard query.
const OpcodeQuery Opcode = 0

// Rcode is a response code. Values above 15 are extended codes whose upper
// eight bits travel in the OPT record (RFC 6891 section 6.1.3).
type Rcode uint16

// Response codes.
const (
	RcodeSuccess        Rcode = 0
	RcodeFormatError    Rcode = 1
	RcodeServerFailure  Rcode = 2
	RcodeNameError      Rcode = 3
	RcodeNotImplemented Rcode = 4
	RcodeRefused        Rcode = 5
	RcodeBadVers        Rcode = 16
)

// String returns the mnemonic of r.
func (r Rcode) String() string {
	switch r {
	case RcodeSuccess:
		return "NOERROR"
	case RcodeFormatError:
		return "FORMERR"
	case RcodeServerFailure:
		return "SERVFAIL"
	case RcodeNameError:
		return "NXDOMAIN"
	case RcodeNotImplemented:
		return "NOTIMP"
	case RcodeRefused:
		return "REFUSED"
	case RcodeBadVers:
		return "BADVERS"
	}
	return "RCODE" + strconv.Itoa(int(r))
}
