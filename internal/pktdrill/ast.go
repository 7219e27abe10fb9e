// Package pktdrill parses scripts in packetdrill's language (see
// ../shared/packetdrill/syntax.md and google/packetdrill's parser.y): command
// line options, timed events carrying TCP packets, system calls, shell
// commands and inline code. It builds a syntax tree and nothing else; the
// runner in internal/pktdrill/runner gives it meaning on simnet's stack.
//
// The parser accepts the whole grammar's shape but keeps only what the
// runner can use: UDP and ICMP packets, GRE/MPLS/IP encapsulation and IP
// information are recorded as a name (Packet.Unsupported) so the runner can
// report them as unsupported constructs with their line, rather than the
// parser rejecting the file.
package pktdrill

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Script is one parsed packetdrill file.
type Script struct {
	// File is the name used in error messages.
	File string
	// Options are the command-line options at the top of the file
	// (--tolerance_usecs=10000).
	Options []Option
	// Events are the timed events in file order.
	Events []*Event
}

// Option is one `--name[=value]` line.
type Option struct {
	Line  int
	Name  string
	Value string
}

// TimeKind says how an event's time is given.
type TimeKind uint8

// The ways an event time is written.
const (
	// TimeAbsolute is `1.5`: seconds since the script started.
	TimeAbsolute TimeKind = iota
	// TimeRelative is `+0.1`: seconds after the previous event.
	TimeRelative
	// TimeAny is `*`: any time.
	TimeAny
	// TimeNone is an event without a time: a shell command before the
	// first event or after the last (the init and cleanup commands).
	TimeNone
)

// Event is one line (or multi-line construct) of the script.
type Event struct {
	// Line is the 1-based line the event starts on.
	Line int
	// Kind and Time give the event's time; with a range (`t1~t2`,
	// `+t1~+t2`) Time is the start and Until the end, of the same kind.
	Kind     TimeKind
	Time     time.Duration
	HasUntil bool
	Until    time.Duration

	// Exactly one of the following is set.
	Packet  *Packet
	Syscall *Syscall
	Command *Command
	Code    *Code
}

// Direction is a packet's direction as seen from the host under test.
type Direction uint8

// Packet directions.
const (
	// Inbound (`<`) packets are injected into the host.
	Inbound Direction = iota
	// Outbound (`>`) packets are expected from the host.
	Outbound
)

// String returns `<` or `>`.
func (d Direction) String() string {
	if d == Inbound {
		return "<"
	}
	return ">"
}

// Packet is a TCP packet spec. Sequence numbers are as written (relative to
// the ISN of their sender, as packetdrill defines them).
type Packet struct {
	Dir Direction
	// Unsupported names a construct the runner cannot play (an UDP or ICMP
	// packet, an encapsulation, IP TOS/ECN/TTL information); empty for a
	// plain TCP packet.
	Unsupported string
	// Flags are the TCP flag letters as written ("S", "S.", "P.", "."):
	// F S R P . (ACK) U E W.
	Flags string
	// Seq is the start sequence number, End the end, Len the payload
	// length (`1:1001(1000)`).
	Seq, End uint32
	Len      int
	HasAck   bool
	Ack      uint32
	HasWin   bool
	Win      uint16
	HasUrg   bool
	Urg      uint16
	// AnyOptions is `<...>`: the options are not checked.
	AnyOptions bool
	// Options are the TCP options in order; nil when none were written.
	Options []TCPOption
}

// OptionKind names a TCP option in a packet spec.
type OptionKind uint8

// TCP option kinds the grammar knows.
const (
	OptNOP OptionKind = iota
	OptEOL
	OptMSS
	OptWScale
	OptSACKOK
	OptSACK
	OptTimestamp
	OptFastOpen
	OptMD5
)

// TCPOption is one TCP option of a packet spec.
type TCPOption struct {
	Kind OptionKind
	// Value is the MSS or the window scale shift.
	Value uint32
	// TSVal and TSEcr are a timestamp option's fields.
	TSVal, TSEcr uint32
	// SACK are the blocks of a SACK option, [start, end) each.
	SACK [][2]uint32
	// Raw is the text of an option kept only by name (FO, md5).
	Raw string
}

// String writes the option in packetdrill notation.
func (o TCPOption) String() string {
	switch o.Kind {
	case OptNOP:
		return "nop"
	case OptEOL:
		return "eol"
	case OptMSS:
		return "mss " + strconv.FormatUint(uint64(o.Value), 10)
	case OptWScale:
		return "wscale " + strconv.FormatUint(uint64(o.Value), 10)
	case OptSACKOK:
		return "sackOK"
	case OptSACK:
		var b strings.Builder
		b.WriteString("sack")
		for _, s := range o.SACK {
			fmt.Fprintf(&b, " %d:%d", s[0], s[1])
		}
		return b.String()
	case OptTimestamp:
		return fmt.Sprintf("TS val %d ecr %d", o.TSVal, o.TSEcr)
	}
	return o.Raw
}

// String writes the packet in packetdrill notation.
func (p *Packet) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %d:%d(%d)", p.Dir, p.Flags, p.Seq, p.End, p.Len)
	if p.HasAck {
		fmt.Fprintf(&b, " ack %d", p.Ack)
	}
	if p.HasWin {
		fmt.Fprintf(&b, " win %d", p.Win)
	}
	if p.HasUrg {
		fmt.Fprintf(&b, " urg %d", p.Urg)
	}
	switch {
	case p.AnyOptions:
		b.WriteString(" <...>")
	case p.Options != nil:
		b.WriteString(" <")
		for i, o := range p.Options {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(o.String())
		}
		b.WriteByte('>')
	}
	return b.String()
}

// Syscall is a system call event: `name(args) = result [ERRNO (note)]`.
type Syscall struct {
	Name string
	Args []*Expr
	// Result is the expected return value.
	Result *Expr
	// Errno is the expected errno name (EPIPE), empty when none.
	Errno string
	// Note is the parenthesised comment after the errno.
	Note string
	// HasEnd is set for a blocking call written `start...end name(...)`;
	// End is the absolute time the call returns.
	HasEnd bool
	End    time.Duration
}

// Command is a back-quoted shell command.
type Command struct {
	Text string
}

// Code is an inline `%{ ... }%` Python block.
type Code struct {
	Text string
}

// ExprKind is the kind of an expression node.
type ExprKind uint8

// Expression kinds.
const (
	ExprEllipsis ExprKind = iota // ...
	ExprInt                      // 42, -1, 0x10
	ExprWord                     // SOL_SOCKET
	ExprString                   // "text" (String may be followed by ...)
	ExprArray                    // [a, b]
	ExprList                     // {a, b}
	ExprCall                     // htons(80), msg_iov(1)
	ExprAssign                   // name=expr
	ExprOr                       // a|b
)

// Expr is a system call argument or result.
type Expr struct {
	Kind ExprKind
	Int  int64
	// Name is the word, string, call name or assigned name.
	Name string
	// Items are the elements of an array, list or call's arguments, the
	// operands of |, or the one value of an assignment.
	Items []*Expr
	// Value is an assignment's value; for a call with a value
	// (`msg_iov(1)=[...]`) too.
	Value *Expr
}

// String writes the expression back in script notation.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	join := func(xs []*Expr, sep string) string {
		s := make([]string, len(xs))
		for i, x := range xs {
			s[i] = x.String()
		}
		return strings.Join(s, sep)
	}
	switch e.Kind {
	case ExprEllipsis:
		return "..."
	case ExprInt:
		return strconv.FormatInt(e.Int, 10)
	case ExprWord:
		return e.Name
	case ExprString:
		return strconv.Quote(e.Name)
	case ExprArray:
		return "[" + join(e.Items, ", ") + "]"
	case ExprList:
		return "{" + join(e.Items, ", ") + "}"
	case ExprCall:
		s := e.Name + "(" + join(e.Items, ", ") + ")"
		if e.Value != nil {
			s += "=" + e.Value.String()
		}
		return s
	case ExprAssign:
		return e.Name + "=" + e.Value.String()
	case ExprOr:
		return join(e.Items, "|")
	}
	return "?"
}
