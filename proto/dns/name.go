package dns

import (
	"errors"
	"fmt"
	"strings"
)

// Limits from RFC 1035 section 2.3.4.
const (
	// MaxLabelLen is the longest label, in octets.
	MaxLabelLen = 63
	// MaxNameLen is the longest name in wire form, in octets, counting
	// length octets and the terminating root label.
	MaxNameLen = 255
	// maxPointers bounds how many compression pointers one name may follow.
	// Pointers must also go strictly backwards (see readName), so this is a
	// second guard, not the only one.
	maxPointers = 126
)

// Errors reported while decoding or encoding names.
var (
	// ErrLabelTooLong reports a label longer than 63 octets.
	ErrLabelTooLong = errors.New("dns: label longer than 63 octets")
	// ErrNameTooLong reports a name longer than 255 octets in wire form.
	ErrNameTooLong = errors.New("dns: name longer than 255 octets")
	// ErrPointer reports a compression pointer that does not point strictly
	// backwards (a loop or a forward pointer) or chains too many times.
	ErrPointer = errors.New("dns: bad compression pointer")
	// ErrLabelType reports the reserved label types 0x40 and 0x80.
	ErrLabelType = errors.New("dns: reserved label type")
	// ErrShort reports a message that ends in the middle of a field.
	ErrShort = errors.New("dns: message truncated")
	// ErrEmptyLabel reports an empty label inside a presentation name.
	ErrEmptyLabel = errors.New("dns: empty label")
)

// readName decodes the possibly compressed name at msg[off:], appending its
// uncompressed wire form to dst. It returns the extended dst and the offset
// just past the name as it appears at off (after the first pointer, if any).
//
// RFC 1035 section 4.1.4 lets a pointer refer to any prior occurrence of a
// name. Every pointer here must point strictly before the start of the
// segment that contains it, so the walk always moves backwards and ends:
// loops and forward pointers are rejected with ErrPointer. Work is bounded by
// the message length.
func readName(dst, msg []byte, off int) ([]byte, int, error) {
	start := len(dst)
	segStart := off
	next := -1
	hops := 0
	for {
		if off >= len(msg) {
			return dst, 0, ErrShort
		}
		c := int(msg[off])
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				dst = append(dst, 0)
				if len(dst)-start > MaxNameLen {
					return dst, 0, ErrNameTooLong
				}
				if next < 0 {
					next = off + 1
				}
				return dst, next, nil
			}
			if off+1+c > len(msg) {
				return dst, 0, ErrShort
			}
			if len(dst)-start+1+c+1 > MaxNameLen {
				return dst, 0, ErrNameTooLong
			}
			dst = append(dst, msg[off:off+1+c]...)
			off += 1 + c
		case 0xC0:
			if off+1 >= len(msg) {
				return dst, 0, ErrShort
			}
			ptr := (c&0x3F)<<8 | int(msg[off+1])
			if ptr >= segStart {
				return dst, 0, ErrPointer
			}
			hops++
			if hops > maxPointers {
				return dst, 0, ErrPointer
			}
			if next < 0 {
				next = off + 2
			}
			off = ptr
			segStart = ptr
		default:
			// 0x40 (RFC 6891 extended labels, obsolete) and 0x80 are
			// reserved.
			return dst, 0, ErrLabelType
		}
	}
}

// skipName returns the offset just past the name at msg[off:], checking its
// structure the same way readName does but without copying it.
func skipName(msg []byte, off int) (int, error) {
	var buf [MaxNameLen + 1]byte
	_, next, err := readName(buf[:0], msg, off)
	return next, err
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// lowerName lowercases the wire name in place. Length octets are below 64,
// so they are never changed.
func lowerName(b []byte) {
	for i := range b {
		b[i] = lower(b[i])
	}
}

// wireName converts a presentation name ("www.example.com." or relative
// "www") to uncompressed wire form appended to dst. A name without a final
// dot is taken as fully qualified. Escapes \c and \DDD are understood
// (RFC 1035 section 5.1).
func wireName(dst []byte, s string) ([]byte, error) {
	start := len(dst)
	if s == "." || s == "" {
		return append(dst, 0), nil
	}
	lenAt := len(dst)
	dst = append(dst, 0)
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '.':
			if n == 0 {
				return dst[:start], fmt.Errorf("name %q: %w", s, ErrEmptyLabel)
			}
			dst[lenAt] = byte(n)
			lenAt = len(dst)
			dst = append(dst, 0)
			n = 0
			continue
		case '\\':
			if i+1 >= len(s) {
				return dst[:start], fmt.Errorf("name %q: trailing backslash", s)
			}
			if isDigit(s[i+1]) {
				if i+3 >= len(s) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
					return dst[:start], fmt.Errorf("name %q: bad \\DDD escape", s)
				}
				v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
				if v > 255 {
					return dst[:start], fmt.Errorf("name %q: escape \\%03d out of range", s, v)
				}
				c = byte(v)
				i += 3
			} else {
				c = s[i+1]
				i++
			}
		}
		if n == MaxLabelLen {
			return dst[:start], fmt.Errorf("name %q: %w", s, ErrLabelTooLong)
		}
		dst = append(dst, c)
		n++
		if len(dst)-start+1 > MaxNameLen {
			return dst[:start], fmt.Errorf("name %q: %w", s, ErrNameTooLong)
		}
	}
	if n == 0 {
		// The name ended with a dot: the last length octet is the root.
		return dst, nil
	}
	dst[lenAt] = byte(n)
	dst = append(dst, 0)
	if len(dst)-start > MaxNameLen {
		return dst[:start], fmt.Errorf("name %q: %w", s, ErrNameTooLong)
	}
	return dst, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// nameString renders an uncompressed wire name in presentation form with a
// final dot, escaping special and non-printable octets.
func nameString(w []byte) string {
	if len(w) <= 1 {
		return "."
	}
	var sb strings.Builder
	sb.Grow(len(w) + 4)
	for i := 0; i < len(w) && w[i] != 0; {
		n := int(w[i])
		i++
		for _, c := range w[i : i+n] {
			appendEscaped(&sb, c)
		}
		sb.WriteByte('.')
		i += n
	}
	return sb.String()
}

func appendEscaped(sb *strings.Builder, c byte) {
	switch {
	case c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' || c == '$':
		sb.WriteByte('\\')
		sb.WriteByte(c)
	case c < 0x21 || c > 0x7E:
		sb.WriteByte('\\')
		sb.WriteByte('0' + c/100)
		sb.WriteByte('0' + c/10%10)
		sb.WriteByte('0' + c%10)
	default:
		sb.WriteByte(c)
	}
}

// CanonicalName returns s as a fully qualified presentation name (with a
// final dot), lowercased, or an error if s is not a valid name.
func CanonicalName(s string) (string, error) {
	var buf [MaxNameLen + 1]byte
	w, err := wireName(buf[:0], s)
	if err != nil {
		return "", err
	}
	lowerName(w)
	return nameString(w), nil
}
