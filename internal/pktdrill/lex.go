package pktdrill

import (
	"fmt"
	"strings"
)

// tokKind is a lexical token class.
type tokKind uint8

const (
	tEOF      tokKind = iota
	tWord             // identifiers, including flag letters (S, P)
	tInt              // 123
	tHex              // 0x1f
	tFloat            // 1.5, .1
	tString           // "text" (unquoted in text)
	tBackQ            // `command` (unquoted in text)
	tCode             // %{ code }% (inner text)
	tOption           // --name or --name=value (whole text)
	tEllipsis         // ...
	tPunct            // any other single character
)

type token struct {
	kind tokKind
	text string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tString:
		return fmt.Sprintf("%q", t.text)
	case tBackQ:
		return "`" + t.text + "`"
	case tCode:
		return "%{...}%"
	}
	return fmt.Sprintf("%q", t.text)
}

// lexer splits a script into tokens, skipping comments (// to end of line
// and /* ... */) and whitespace.
type lexer struct {
	src  string
	pos  int
	line int
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isWordChar(c byte) bool { return isWordStart(c) || isDigit(c) }

// lex returns every token of src or the first lexical error.
func lex(file, src string) ([]token, *Error) {
	l := &lexer{src: src, line: 1}
	var out []token
	for {
		line := l.line
		t, err := l.next()
		if err != nil {
			if l.line > line {
				line = l.line
			}
			return nil, &Error{File: file, Line: line, Msg: err.Error()}
		}
		out = append(out, t)
		if t.kind == tEOF {
			return out, nil
		}
	}
}

func (l *lexer) peekAt(i int) byte {
	if l.pos+i < len(l.src) {
		return l.src[l.pos+i]
	}
	return 0
}

// skip passes whitespace and comments.
func (l *lexer) skip() error {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '\n':
			l.line++
			l.pos++
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '/' && l.peekAt(1) == '/':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.peekAt(1) == '*':
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				return fmt.Errorf("unterminated /* comment")
			}
			l.line += strings.Count(l.src[l.pos:l.pos+2+end], "\n")
			l.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

// delimited returns the text from the current position up to close,
// consuming both delimiters.
func (l *lexer) delimited(openLen int, close, what string) (string, error) {
	start := l.pos + openLen
	end := strings.Index(l.src[start:], close)
	if end < 0 {
		return "", fmt.Errorf("unterminated %s", what)
	}
	text := l.src[start : start+end]
	l.line += strings.Count(text, "\n")
	l.pos = start + end + len(close)
	return text, nil
}

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	line := l.line
	if l.pos >= len(l.src) {
		return token{kind: tEOF, line: line}, nil
	}
	c := l.src[l.pos]
	start := l.pos
	switch {
	case c == '"':
		// Strings may hold \" escapes; keep them raw.
		i := l.pos + 1
		for i < len(l.src) && l.src[i] != '"' {
			if l.src[i] == '\\' {
				i++
			}
			if i < len(l.src) && l.src[i] == '\n' {
				return token{}, fmt.Errorf("unterminated string")
			}
			i++
		}
		if i >= len(l.src) {
			return token{}, fmt.Errorf("unterminated string")
		}
		l.pos = i + 1
		return token{kind: tString, text: l.src[start+1 : i], line: line}, nil
	case c == '`':
		text, err := l.delimited(1, "`", "back-quoted command")
		return token{kind: tBackQ, text: text, line: line}, err
	case c == '%' && l.peekAt(1) == '{':
		text, err := l.delimited(2, "}%", "%{ code }% block")
		return token{kind: tCode, text: text, line: line}, err
	case c == '-' && l.peekAt(1) == '-' && isWordStart(l.peekAt(2)):
		for l.pos < len(l.src) && !strings.ContainsRune(" \t\r\n", rune(l.src[l.pos])) {
			l.pos++
		}
		return token{kind: tOption, text: l.src[start:l.pos], line: line}, nil
	case c == '.' && l.peekAt(1) == '.' && l.peekAt(2) == '.':
		l.pos += 3
		return token{kind: tEllipsis, text: "...", line: line}, nil
	case c == '0' && (l.peekAt(1) == 'x' || l.peekAt(1) == 'X'):
		l.pos += 2
		for l.pos < len(l.src) && strings.IndexByte("0123456789abcdefABCDEF", l.src[l.pos]) >= 0 {
			l.pos++
		}
		if l.pos == start+2 {
			return token{}, fmt.Errorf("bad hex number %q", l.src[start:l.pos])
		}
		return token{kind: tHex, text: l.src[start:l.pos], line: line}, nil
	case isDigit(c) || c == '.' && isDigit(l.peekAt(1)):
		kind := tInt
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
		// A fraction: a dot followed by a digit (so "1...2" stays 1, ..., 2).
		if l.pos < len(l.src) && l.src[l.pos] == '.' && isDigit(l.peekAt(1)) {
			kind = tFloat
			l.pos++
			for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
				l.pos++
			}
		}
		return token{kind: kind, text: l.src[start:l.pos], line: line}, nil
	case isWordStart(c):
		for l.pos < len(l.src) && isWordChar(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tWord, text: l.src[start:l.pos], line: line}, nil
	}
	l.pos++
	return token{kind: tPunct, text: string(c), line: line}, nil
}
