package dns

import "encoding/binary"

// Summary is what Scan reads of a message: the header, the section counts
// and the first question. Analysis tools that count and pair messages need
// no more, and Scan fills it without allocating.
type Summary struct {
	Header
	// Questions, Answers, Authorities and Additionals are the section
	// counts (QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT).
	Questions, Answers, Authorities, Additionals int
	// QType and QClass are the first question's type and class (zero
	// without a question).
	QType  Type
	QClass Class
	// qname holds the first question's name in uncompressed wire form.
	qname [MaxNameLen + 1]byte
	qlen  int
}

// QuestionName returns the first question's name in presentation form, as
// Msg.Unpack would have put in Question[0].Name, or "" without a question.
func (s *Summary) QuestionName() string {
	if s.Questions == 0 {
		return ""
	}
	return nameString(s.qname[:s.qlen])
}

// QuestionWire returns the first question's name in uncompressed wire form
// (valid until the next Scan), or nil without a question.
func (s *Summary) QuestionWire() []byte {
	if s.Questions == 0 {
		return nil
	}
	return s.qname[:s.qlen]
}

// Scan checks b as Msg.Unpack does, accepting and rejecting exactly the
// same messages with the same errors, and fills s from it. Unlike Unpack it
// neither builds strings nor allocates records: on a well-formed message it
// does not allocate at all (only an error's text is built, by Unpack).
func (s *Summary) Scan(b []byte) error {
	if s.scan(b) {
		return nil
	}
	// Rejected (or beyond what scan follows): Unpack gives the error, and
	// should it accept the message after all, the summary comes from it.
	var m Msg
	if err := m.Unpack(b); err != nil {
		return err
	}
	s.fromMsg(&m)
	return nil
}

// fromMsg fills s from a decoded message.
func (s *Summary) fromMsg(m *Msg) {
	s.Header = m.Header
	s.Questions, s.Answers, s.Authorities, s.Additionals = len(m.Question), len(m.Answer), len(m.Authority), len(m.Additional)
	s.QType, s.QClass, s.qlen = 0, 0, 0
	if len(m.Question) > 0 {
		q := m.Question[0]
		s.QType, s.QClass = q.Type, q.Class
		w, err := wireName(s.qname[:0], q.Name)
		if err == nil {
			s.qlen = len(w)
		}
	}
}

// scan is Unpack's walk without its results: it reports whether Unpack
// would accept b, filling s on the way.
func (s *Summary) scan(b []byte) bool {
	if len(b) < HeaderLen {
		return false
	}
	s.ID = binary.BigEndian.Uint16(b)
	s.setFlags(binary.BigEndian.Uint16(b[2:]))
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	s.Questions, s.Answers, s.Authorities, s.Additionals = qd, an, ns, ar
	s.QType, s.QClass, s.qlen = 0, 0, 0
	if qd*5+(an+ns+ar)*11 > len(b)-HeaderLen {
		return false
	}
	off := HeaderLen
	for i := range qd {
		var next int
		if i == 0 {
			w, n, err := readName(s.qname[:0], b, off)
			if err != nil {
				return false
			}
			s.qlen, next = len(w), n
		} else if next = checkName(b, off); next < 0 {
			return false
		}
		if next+4 > len(b) {
			return false
		}
		if i == 0 {
			s.QType = Type(binary.BigEndian.Uint16(b[next:]))
			s.QClass = Class(binary.BigEndian.Uint16(b[next+2:]))
		}
		off = next + 4
	}
	for range an + ns + ar {
		if off = checkRR(b, off); off < 0 {
			return false
		}
	}
	return off == len(b)
}

// checkRR checks the record at b[off:] as unpackRR does and returns the
// offset past it, or -1.
func checkRR(b []byte, off int) int {
	next := checkName(b, off)
	if next < 0 || next+10 > len(b) {
		return -1
	}
	t := Type(binary.BigEndian.Uint16(b[next:]))
	start := next + 10
	end := start + int(binary.BigEndian.Uint16(b[next+8:]))
	if end > len(b) || !checkRData(t, b, start, end) {
		return -1
	}
	return end
}

// checkRData checks RDATA as unpackRData does.
func checkRData(t Type, b []byte, off, end int) bool {
	rd := b[off:end]
	switch t {
	case TypeA:
		return len(rd) == 4
	case TypeAAAA:
		return len(rd) == 16
	case TypeNS, TypeCNAME, TypePTR:
		return checkName(b[:end], off) == end
	case TypeMX:
		return len(rd) >= 3 && checkName(b[:end], off+2) == end
	case TypeSRV:
		return len(rd) >= 7 && checkName(b[:end], off+6) == end
	case TypeSOA:
		n := checkName(b[:end], off)
		if n < 0 {
			return false
		}
		n = checkName(b[:end], n)
		return n >= 0 && end-n == 20
	case TypeTXT:
		for i := 0; i < len(rd); {
			i += 1 + int(rd[i])
			if i > len(rd) {
				return false
			}
		}
	case TypeOPT:
		for i := 0; i < len(rd); {
			if i+4 > len(rd) {
				return false
			}
			i += 4 + int(binary.BigEndian.Uint16(rd[i+2:]))
			if i > len(rd) {
				return false
			}
		}
	}
	return true
}

// checkName walks the name at msg[off:] exactly as readName does, without
// copying it, and returns the offset just past it, or -1 where readName
// fails.
func checkName(msg []byte, off int) int {
	n := 0 // the name's length in uncompressed wire form so far
	segStart := off
	next := -1
	hops := 0
	for {
		if off < 0 || off >= len(msg) {
			return -1
		}
		c := int(msg[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if n+1 > MaxNameLen {
					return -1
				}
				if next < 0 {
					next = off + 1
				}
				return next
			}
			if off+1+c > len(msg) || n+1+c+1 > MaxNameLen {
				return -1
			}
			n += 1 + c
			off += 1 + c
		case 0xC0:
			if off+1 >= len(msg) {
				return -1
			}
			ptr := (c&0x3F)<<8 | int(msg[off+1])
			if ptr >= segStart {
				return -1
			}
			hops++
			if hops > maxPointers {
				return -1
			}
			if next < 0 {
				next = off + 2
			}
			off = ptr
			segStart = ptr
		default:
			return -1
		}
	}
}
