package pktdrill

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Error is a parse error at a line of a file.
type Error struct {
	File string
	Line int
	Msg  string
}

// Error returns "file:line: message".
func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseFile reads and parses the script at path.
func ParseFile(path string) (*Script, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read script: %w", err)
	}
	return Parse(path, string(b))
}

// Parse parses src, naming it file in errors (*Error).
func Parse(file, src string) (*Script, error) {
	toks, lerr := lex(file, src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{file: file, toks: toks}
	s, perr := p.script()
	if perr != nil {
		return nil, perr
	}
	return s, nil
}

type parser struct {
	file string
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) peekN(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) advance() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errf(t token, format string, args ...any) *Error {
	return &Error{File: p.file, Line: t.line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) isWord(s string) bool {
	t := p.peek()
	return t.kind == tWord && t.text == s
}

func (p *parser) expectPunct(s string) (token, *Error) {
	t := p.advance()
	if t.kind != tPunct || t.text != s {
		return t, p.errf(t, "expected %q, found %s", s, t)
	}
	return t, nil
}

func (p *parser) script() (*Script, *Error) {
	s := &Script{File: p.file}
	for p.peek().kind == tOption {
		t := p.advance()
		name, val, _ := strings.Cut(strings.TrimPrefix(t.text, "--"), "=")
		s.Options = append(s.Options, Option{Line: t.line, Name: name, Value: val})
	}
	for p.peek().kind != tEOF {
		ev, err := p.event()
		if err != nil {
			return nil, err
		}
		s.Events = append(s.Events, ev)
	}
	return s, nil
}

// event parses `event_time action`, or a bare command (init/cleanup).
func (p *parser) event() (*Event, *Error) {
	t := p.peek()
	ev := &Event{Line: t.line}
	if t.kind == tBackQ {
		p.advance()
		ev.Kind = TimeNone
		ev.Command = &Command{Text: t.text}
		return ev, nil
	}
	if err := p.eventTime(ev); err != nil {
		return nil, err
	}
	t = p.peek()
	switch {
	case t.kind == tPunct && (t.text == "<" || t.text == ">"):
		pk, err := p.packet()
		if err != nil {
			return nil, err
		}
		ev.Packet = pk
	case t.kind == tBackQ:
		p.advance()
		ev.Command = &Command{Text: t.text}
	case t.kind == tCode:
		p.advance()
		ev.Code = &Code{Text: t.text}
	case t.kind == tEllipsis || t.kind == tWord:
		sc, err := p.syscall()
		if err != nil {
			return nil, err
		}
		ev.Syscall = sc
	default:
		return nil, p.errf(t, "expected a packet, system call, command or code after the time, found %s", t)
	}
	return ev, nil
}

func (p *parser) eventTime(ev *Event) *Error {
	t := p.peek()
	switch {
	case t.kind == tPunct && t.text == "*":
		p.advance()
		ev.Kind = TimeAny
		return nil
	case t.kind == tPunct && t.text == "+":
		p.advance()
		ev.Kind = TimeRelative
	case t.kind == tInt || t.kind == tFloat:
		ev.Kind = TimeAbsolute
	default:
		return p.errf(t, "expected an event time (0.1, +0.1 or *), found %s", t)
	}
	d, err := p.time()
	if err != nil {
		return err
	}
	ev.Time = d
	if p.isPunct("~") {
		p.advance()
		if ev.Kind == TimeRelative {
			if _, err := p.expectPunct("+"); err != nil {
				return err
			}
		}
		u, err := p.time()
		if err != nil {
			return err
		}
		ev.HasUntil, ev.Until = true, u
	}
	return nil
}

// time parses a FLOAT or INTEGER number of seconds exactly.
func (p *parser) time() (time.Duration, *Error) {
	t := p.advance()
	if t.kind != tInt && t.kind != tFloat {
		return 0, p.errf(t, "expected a time in seconds, found %s", t)
	}
	d, err := parseSeconds(t.text)
	if err != nil {
		return 0, p.errf(t, "bad time %q: %v", t.text, err)
	}
	return d, nil
}

// parseSeconds converts decimal seconds ("0.200", ".1", "3") to a
// Duration without floating-point rounding.
func parseSeconds(s string) (time.Duration, error) {
	whole, frac, _ := strings.Cut(s, ".")
	var w int64
	if whole != "" {
		var err error
		w, err = strconv.ParseInt(whole, 10, 64)
		if err != nil || w > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("out of range")
		}
	}
	if len(frac) > 9 {
		frac = frac[:9]
	}
	var f int64
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return time.Duration(w)*time.Second + time.Duration(f), nil
}

func (p *parser) uint32Tok(what string) (uint32, *Error) {
	t := p.advance()
	if t.kind != tInt && t.kind != tHex {
		return 0, p.errf(t, "expected %s (an integer), found %s", what, t)
	}
	v, err := strconv.ParseUint(t.text, 0, 32)
	if err != nil {
		return 0, p.errf(t, "%s %q out of range", what, t.text)
	}
	return uint32(v), nil
}

// skipBracketed consumes a balanced ( ) or [ ] group and returns its text.
func (p *parser) skipBracketed() (string, *Error) {
	open := p.advance()
	closeCh := map[string]string{"(": ")", "[": "]", "{": "}"}[open.text]
	depth := 1
	var parts []string
	for depth > 0 {
		t := p.advance()
		switch {
		case t.kind == tEOF:
			return "", p.errf(open, "unbalanced %q", open.text)
		case t.kind == tPunct && t.text == open.text:
			depth++
		case t.kind == tPunct && t.text == closeCh:
			depth--
		}
		if depth > 0 {
			parts = append(parts, t.text)
		}
	}
	return strings.Join(parts, " "), nil
}

func (p *parser) packet() (*Packet, *Error) {
	dir := p.advance()
	pk := &Packet{Dir: Inbound}
	if dir.text == ">" {
		pk.Dir = Outbound
	}
	// Encapsulation prefixes (ipv4/ipv6/gre/mpls ... ':').
	for p.peek().kind == tWord {
		w := strings.ToLower(p.peek().text)
		if w != "ipv4" && w != "ipv6" && w != "gre" && w != "mpls" {
			break
		}
		start := p.peek()
		for !p.isPunct(":") {
			if p.peek().kind == tEOF || p.peek().line != start.line {
				return nil, p.errf(start, "unterminated %s encapsulation prefix", w)
			}
			p.advance()
		}
		p.advance()
		pk.Unsupported = w + " encapsulation"
	}
	// opt_ip_info: (tos ...) or [ect0] and so on.
	if p.isPunct("(") || p.isPunct("[") {
		text, err := p.skipBracketed()
		if err != nil {
			return nil, err
		}
		if pk.Unsupported == "" {
			pk.Unsupported = "IP information [" + text + "]"
		}
	}
	// UDP and ICMP packets: keep the line, mark unsupported.
	if p.peek().kind == tWord {
		switch w := strings.ToLower(p.peek().text); w {
		case "udp", "icmp":
			line := p.peek().line
			for p.peek().kind != tEOF && p.peek().line == line {
				p.advance()
			}
			pk.Unsupported = strings.ToUpper(w) + " packet"
			return pk, nil
		}
	}
	// opt_port_info: INTEGER '>' INTEGER.
	if p.peek().kind == tInt && p.peekN(1).kind == tPunct && p.peekN(1).text == ">" {
		p.advance()
		p.advance()
		p.advance()
		if pk.Unsupported == "" {
			pk.Unsupported = "explicit port numbers"
		}
	}
	if err := p.flags(pk); err != nil {
		return nil, err
	}
	var err *Error
	if pk.Seq, err = p.uint32Tok("start sequence number"); err != nil {
		return nil, err
	}
	if _, err := p.expectPunct(":"); err != nil {
		return nil, err
	}
	if pk.End, err = p.uint32Tok("end sequence number"); err != nil {
		return nil, err
	}
	if _, err := p.expectPunct("("); err != nil {
		return nil, err
	}
	n, err := p.uint32Tok("payload length")
	if err != nil {
		return nil, err
	}
	pk.Len = int(n)
	if _, err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	if pk.End-pk.Seq != n {
		return nil, p.errf(dir, "sequence range %d:%d does not span the payload length %d", pk.Seq, pk.End, n)
	}
	if p.isWord("ack") {
		p.advance()
		if pk.Ack, err = p.uint32Tok("ack number"); err != nil {
			return nil, err
		}
		pk.HasAck = true
	}
	if p.isWord("win") {
		p.advance()
		v, err := p.uint32Tok("window")
		if err != nil {
			return nil, err
		}
		if v > 65535 {
			return nil, p.errf(dir, "window %d does not fit in 16 bits", v)
		}
		pk.Win, pk.HasWin = uint16(v), true
	}
	if p.isWord("urg") {
		p.advance()
		v, err := p.uint32Tok("urgent pointer")
		if err != nil {
			return nil, err
		}
		if v > 65535 {
			return nil, p.errf(dir, "urgent pointer %d does not fit in 16 bits", v)
		}
		pk.Urg, pk.HasUrg = uint16(v), true
	}
	if p.isPunct("<") {
		if err := p.tcpOptions(pk); err != nil {
			return nil, err
		}
	}
	return pk, nil
}

// flags parses `flags: WORD | '.' | WORD '.' | '-'`.
func (p *parser) flags(pk *Packet) *Error {
	t := p.peek()
	switch {
	case t.kind == tPunct && (t.text == "." || t.text == "-"):
		p.advance()
		pk.Flags = t.text
		return nil
	case t.kind == tWord:
		p.advance()
		for _, c := range t.text {
			if !strings.ContainsRune("FSRPUEW", c) {
				return p.errf(t, "unknown TCP flag %q in %q", c, t.text)
			}
		}
		pk.Flags = t.text
		if p.isPunct(".") {
			p.advance()
			pk.Flags += "."
		}
		return nil
	}
	return p.errf(t, "expected TCP flags (S, S., P., ., -), found %s", t)
}

func (p *parser) tcpOptions(pk *Packet) *Error {
	p.advance() // <
	if p.peek().kind == tEllipsis {
		p.advance()
		pk.AnyOptions = true
		_, err := p.expectPunct(">")
		return err
	}
	pk.Options = []TCPOption{}
	for {
		o, err := p.tcpOption()
		if err != nil {
			return err
		}
		pk.Options = append(pk.Options, o)
		t := p.advance()
		if t.kind == tPunct && t.text == ">" {
			return nil
		}
		if t.kind != tPunct || t.text != "," {
			return p.errf(t, "expected ',' or '>' in TCP options, found %s", t)
		}
	}
}

func (p *parser) tcpOption() (TCPOption, *Error) {
	t := p.advance()
	if t.kind != tWord {
		return TCPOption{}, p.errf(t, "expected a TCP option, found %s", t)
	}
	var err *Error
	o := TCPOption{Raw: t.text}
	switch t.text {
	case "nop":
		o.Kind = OptNOP
	case "eol":
		o.Kind = OptEOL
	case "mss":
		o.Kind = OptMSS
		if o.Value, err = p.uint32Tok("MSS"); err == nil && o.Value > 65535 {
			err = p.errf(t, "mss %d does not fit in 16 bits", o.Value)
		}
	case "wscale":
		o.Kind = OptWScale
		if o.Value, err = p.uint32Tok("window scale"); err == nil && o.Value > 255 {
			err = p.errf(t, "wscale %d does not fit in 8 bits", o.Value)
		}
	case "sackOK":
		o.Kind = OptSACKOK
	case "sack":
		o.Kind = OptSACK
		for p.peek().kind == tInt {
			var a, b uint32
			if a, err = p.uint32Tok("SACK block start"); err != nil {
				break
			}
			if _, err = p.expectPunct(":"); err != nil {
				break
			}
			if b, err = p.uint32Tok("SACK block end"); err != nil {
				break
			}
			o.SACK = append(o.SACK, [2]uint32{a, b})
		}
		if err == nil && (len(o.SACK) == 0 || len(o.SACK) > 4) {
			err = p.errf(t, "a SACK option holds 1 to 4 blocks, found %d", len(o.SACK))
		}
	case "TS":
		o.Kind = OptTimestamp
		if !p.isWord("val") {
			return o, p.errf(p.peek(), "expected 'val' after TS, found %s", p.peek())
		}
		p.advance()
		if o.TSVal, err = p.uint32Tok("TS val"); err != nil {
			break
		}
		if !p.isWord("ecr") {
			return o, p.errf(p.peek(), "expected 'ecr' after TS val, found %s", p.peek())
		}
		p.advance()
		o.TSEcr, err = p.uint32Tok("TS ecr")
	case "FO", "FOEXP", "md5":
		o.Kind = OptFastOpen
		if t.text == "md5" {
			o.Kind = OptMD5
		}
		if p.peek().kind == tWord || p.peek().kind == tInt || p.peek().kind == tHex {
			o.Raw += " " + p.advance().text
		}
	default:
		return o, p.errf(t, "unknown TCP option %q", t.text)
	}
	return o, err
}

// syscall parses `opt_end_time name(args) = expr [ERRNO] [(note)]`.
func (p *parser) syscall() (*Syscall, *Error) {
	sc := &Syscall{}
	if p.peek().kind == tEllipsis {
		p.advance()
		d, err := p.time()
		if err != nil {
			return nil, err
		}
		sc.HasEnd, sc.End = true, d
	}
	name := p.advance()
	if name.kind != tWord {
		return nil, p.errf(name, "expected a system call name, found %s", name)
	}
	sc.Name = name.text
	if _, err := p.expectPunct("("); err != nil {
		return nil, err
	}
	if !p.isPunct(")") {
		args, err := p.exprList(")")
		if err != nil {
			return nil, err
		}
		sc.Args = args
	}
	if _, err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	if _, err := p.expectPunct("="); err != nil {
		return nil, err
	}
	res, err := p.expr()
	if err != nil {
		return nil, err
	}
	sc.Result = res
	// opt_errno: a word on the same line (the next event starts with a
	// time, never a word).
	if t := p.peek(); t.kind == tWord {
		p.advance()
		sc.Errno = t.text
	}
	if t := p.peek(); t.kind == tPunct && t.text == "(" {
		note, err := p.skipBracketed()
		if err != nil {
			return nil, err
		}
		sc.Note = note
	}
	return sc, nil
}

func (p *parser) exprList(closer string) ([]*Expr, *Error) {
	var out []*Expr
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if !p.isPunct(",") {
			return out, nil
		}
		p.advance()
		if p.isPunct(closer) { // tolerate a trailing comma
			return out, nil
		}
	}
}

// expr parses an expression: a primary, optionally `|` more primaries.
func (p *parser) expr() (*Expr, *Error) {
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	if !p.isPunct("|") {
		return e, nil
	}
	or := &Expr{Kind: ExprOr, Items: []*Expr{e}}
	for p.isPunct("|") {
		p.advance()
		x, err := p.primary()
		if err != nil {
			return nil, err
		}
		or.Items = append(or.Items, x)
	}
	return or, nil
}

func (p *parser) primary() (*Expr, *Error) {
	t := p.advance()
	switch t.kind {
	case tEllipsis:
		return &Expr{Kind: ExprEllipsis}, nil
	case tInt, tHex:
		v, err := strconv.ParseInt(t.text, 0, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(t.text, 0, 64)
			if uerr != nil {
				return nil, p.errf(t, "integer %q out of range", t.text)
			}
			v = int64(u)
		}
		return &Expr{Kind: ExprInt, Int: v}, nil
	case tString:
		e := &Expr{Kind: ExprString, Name: t.text}
		if p.peek().kind == tEllipsis {
			p.advance()
		}
		return e, nil
	case tWord:
		e := &Expr{Kind: ExprWord, Name: t.text}
		if p.isPunct("(") {
			p.advance()
			e.Kind = ExprCall
			if !p.isPunct(")") {
				args, err := p.exprList(")")
				if err != nil {
					return nil, err
				}
				e.Items = args
			}
			if _, err := p.expectPunct(")"); err != nil {
				return nil, err
			}
		}
		if p.isPunct("=") {
			p.advance()
			v, err := p.expr()
			if err != nil {
				return nil, err
			}
			if e.Kind == ExprWord {
				e.Kind = ExprAssign
			}
			e.Value = v
		}
		return e, nil
	case tPunct:
		switch t.text {
		case "-":
			n := p.advance()
			if n.kind != tInt && n.kind != tHex {
				return nil, p.errf(n, "expected a number after '-', found %s", n)
			}
			v, err := strconv.ParseInt(n.text, 0, 64)
			if err != nil {
				return nil, p.errf(n, "integer %q out of range", n.text)
			}
			return &Expr{Kind: ExprInt, Int: -v}, nil
		case "[", "{":
			closer := map[string]string{"[": "]", "{": "}"}[t.text]
			e := &Expr{Kind: ExprArray}
			if t.text == "{" {
				e.Kind = ExprList
			}
			if !p.isPunct(closer) {
				items, err := p.exprList(closer)
				if err != nil {
					return nil, err
				}
				e.Items = items
			}
			if _, err := p.expectPunct(closer); err != nil {
				return nil, err
			}
			return e, nil
		}
	}
	return nil, p.errf(t, "expected an expression, found %s", t)
}
