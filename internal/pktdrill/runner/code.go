package runner

import (
	"strconv"
	"strings"

	"github.com/simnet-go/simnet/proto/tcp"
)

// code evaluates the small subset of packetdrill's inline Python the shared
// scripts use against tcp_info: `NAME = number`, `print(...)` (ignored) and
// `assert A OP B[, message]`, where A and B are numbers, defined names or
// tcp_info fields simnet can answer (tcpi_snd_cwnd and tcpi_snd_ssthresh in
// segments, as Linux reports them, tcpi_snd_mss, tcpi_rto and tcpi_rtt in
// microseconds, tcpi_ca_state with the TCP_CA_* names, and the segment
// counts tcpi_unacked, tcpi_sacked, tcpi_lost, tcpi_retrans and
// tcpi_reordering from tcp.Conn.Info). Any other statement or field is
// unsupported. packetdrill
// runs the code at the end of the script on tcp_info captured at the event;
// here it runs at the event, with the same result.
func (r *run) code(text string) error {
	for _, st := range splitStatements(text) {
		switch {
		case st == "":
		case strings.HasPrefix(st, "print(") || strings.HasPrefix(st, "print "):
		case strings.HasPrefix(st, "assert "):
			if err := r.assert(strings.TrimSpace(strings.TrimPrefix(st, "assert "))); err != nil {
				return err
			}
		default:
			name, val, ok := strings.Cut(st, "=")
			name = strings.TrimSpace(name)
			if !ok || !isIdent(name) {
				return unsupportedf(r.line, "inline Python statement %q", oneLine(st))
			}
			v, err := strconv.ParseInt(strings.TrimSpace(val), 0, 64)
			if err != nil {
				return unsupportedf(r.line, "inline Python statement %q", oneLine(st))
			}
			if r.pyVars == nil {
				r.pyVars = map[string]int64{}
			}
			r.pyVars[name] = v
		}
	}
	return nil
}

// splitStatements splits code at newlines and semicolons outside quotes
// and drops comments.
func splitStatements(text string) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
			c = '\n'
		}
		if quote == 0 && (c == ';' || c == '\n') {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(out, strings.TrimSpace(cur.String()))
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// assert checks `A OP B[, message]`.
func (r *run) assert(expr string) error {
	cond, _, _ := strings.Cut(expr, ",")
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		a, b, ok := strings.Cut(cond, op)
		if !ok {
			continue
		}
		av, err := r.pyValue(strings.TrimSpace(a))
		if err != nil {
			return err
		}
		bv, err := r.pyValue(strings.TrimSpace(b))
		if err != nil {
			return err
		}
		var holds bool
		switch op {
		case "==":
			holds = av == bv
		case "!=":
			holds = av != bv
		case "<=":
			holds = av <= bv
		case ">=":
			holds = av >= bv
		case "<":
			holds = av < bv
		case ">":
			holds = av > bv
		}
		if !holds {
			return failf(r.line, "assert %s failed: %s is %d (%s)", strings.TrimSpace(cond), strings.TrimSpace(a), av, r.state())
		}
		return nil
	}
	return unsupportedf(r.line, "inline Python assertion %q", oneLine(expr))
}

// caStates are the names of Linux's congestion states (tcpi_ca_state).
var caStates = map[string]tcp.CAState{
	"TCP_CA_Open": tcp.CAOpen, "TCP_CA_Disorder": tcp.CADisorder, "TCP_CA_CWR": tcp.CACWR,
	"TCP_CA_Recovery": tcp.CARecovery, "TCP_CA_Loss": tcp.CALoss,
}

// linuxInfiniteSsthresh is TCP_INFINITE_SSTHRESH, what Linux reports before
// the first loss.
const linuxInfiniteSsthresh = 0x7fffffff

func (r *run) pyValue(s string) (int64, error) {
	if v, err := strconv.ParseInt(s, 0, 64); err == nil {
		return v, nil
	}
	if v, ok := r.pyVars[s]; ok {
		return v, nil
	}
	if v, ok := caStates[s]; ok {
		return int64(v), nil
	}
	if !strings.HasPrefix(s, "tcpi_") {
		return 0, unsupportedf(r.line, "inline Python name %q", s)
	}
	c := r.infoConn()
	if c == nil {
		return 0, failf(r.line, "%s read with no connection open", s)
	}
	st := c.Stats()
	mss := int64(max(st.MSS, 1))
	switch s {
	case "tcpi_snd_cwnd":
		return int64(st.Cwnd) / mss, nil
	case "tcpi_snd_ssthresh":
		if st.Ssthresh >= 1<<30 {
			return linuxInfiniteSsthresh, nil
		}
		return int64(st.Ssthresh) / mss, nil
	case "tcpi_snd_mss":
		return mss, nil
	case "tcpi_advmss":
		// Read off the wire: the MSS option of the host's SYN or SYN-ACK.
		if r.advMSS == 0 {
			return 0, unsupportedf(r.line, "tcpi_advmss before the host sent a SYN with an MSS option")
		}
		return r.advMSS, nil
	case "tcpi_rto":
		return st.RTO.Microseconds(), nil
	case "tcpi_rtt":
		return st.SRTT.Microseconds(), nil
	}
	in := c.RecoveryInfo()
	switch s {
	case "tcpi_ca_state":
		return int64(in.CAState), nil
	case "tcpi_unacked":
		return int64(in.Unacked), nil
	case "tcpi_sacked":
		return int64(in.Sacked), nil
	case "tcpi_lost":
		return int64(in.Lost), nil
	case "tcpi_retrans":
		return int64(in.Retrans), nil
	case "tcpi_reordering":
		return int64(in.Reordering), nil
	}
	return 0, unsupportedf(r.line, "tcp_info field %s (not exported by tcp.Conn)", s)
}

// infoConn is the connection tcp_info describes: the most recently used
// socket with a connection, as packetdrill reads the script's last socket.
func (r *run) infoConn() *tcp.Conn {
	if s := r.socks[r.lastFD]; s != nil && s.conn != nil {
		return s.conn
	}
	var best *socket
	for _, s := range r.socks {
		if s.conn != nil && (best == nil || s.fd > best.fd) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return best.conn
}
