package runner

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/simnet-go/simnet/internal/pktdrill"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

func netip24(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, 24) }

// mssNet is the host as TCP's network, with the path MTU lowered to honour
// a TCP_MAXSEG socket option (Linux clamps the MSS it announces and uses to
// the option's value).
type mssNet struct {
	*stack.Host
	mss int
}

// PathMTU returns the host's path MTU, capped by the TCP_MAXSEG setting.
func (n *mssNet) PathMTU(dst netip.Addr) int {
	m := n.Host.PathMTU(dst)
	if n.mss > 0 {
		m = min(m, n.mss+40)
	}
	return m
}

// socket is one file descriptor of the script.
type socket struct {
	fd       int
	listener *tcp.Listener
	conn     *tcp.Conn
	bound    bool
	// Options set on the socket.
	nonblock  bool
	nodelay   bool
	lingerOn  bool
	linger    int
	sndbuf    int
	rcvbuf    int
	maxseg    int
	userTO    time.Duration // TCP_USER_TIMEOUT
	cork      bool          // TCP_CORK
	tos       uint8         // IP_TOS
	readShut  bool
	writeShut bool
	closed    bool
}

// pendingCall is a blocking system call waiting for its condition.
type pendingCall struct {
	line   int
	desc   string
	end    time.Duration // expected return time
	lo, hi time.Duration
	try    func() (done bool, ret int64, errno string)
	want   *pktdrill.Syscall
}

// errno maps the TCP API's errors to Linux errno names.
func errno(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, tcp.ErrWouldBlock):
		return "EAGAIN"
	case errors.Is(err, tcp.ErrConnReset):
		return "ECONNRESET"
	case errors.Is(err, tcp.ErrConnRefused):
		return "ECONNREFUSED"
	case errors.Is(err, tcp.ErrTimeout):
		return "ETIMEDOUT"
	case errors.Is(err, tcp.ErrWriteShutdown), errors.Is(err, tcp.ErrClosed):
		return "EPIPE"
	case errors.Is(err, tcp.ErrNotConnected):
		return "ENOTCONN"
	case errors.Is(err, tcp.ErrAddrInUse):
		return "EADDRINUSE"
	case errors.Is(err, tcp.ErrInvalidArgument):
		return "EINVAL"
	case errors.Is(err, tcp.ErrAborted):
		return "ECONNABORTED"
	}
	return "EIO"
}

// intArg returns an integer argument (a number or a known constant).
func (r *run) intArg(sc *pktdrill.Syscall, i int) (int64, error) {
	if i >= len(sc.Args) {
		return 0, unsupportedf(r.line, "%s: missing argument %d", sc.Name, i+1)
	}
	return r.value(sc.Args[i])
}

// constants are the symbolic values the supported calls take.
var constants = map[string]int64{
	"SHUT_RD": 0, "SHUT_WR": 1, "SHUT_RDWR": 2,
	"O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_NONBLOCK": 0x800,
	"F_GETFL": 3, "F_SETFL": 4,
	"POLLIN": 0x1, "POLLPRI": 0x2, "POLLOUT": 0x4, "POLLERR": 0x8, "POLLHUP": 0x10, "POLLNVAL": 0x20, "POLLRDNORM": 0x40, "POLLWRNORM": 0x100, "POLLRDHUP": 0x2000,
	"MSG_MORE": 0x8000, "MSG_DONTWAIT": 0x40,
	"IP_PMTUDISC_DONT": 0, "IP_PMTUDISC_WANT": 1, "IP_PMTUDISC_DO": 2,
}

func (r *run) value(e *pktdrill.Expr) (int64, error) {
	switch e.Kind {
	case pktdrill.ExprInt:
		return e.Int, nil
	case pktdrill.ExprWord:
		if v, ok := constants[e.Name]; ok {
			return v, nil
		}
		return 0, unsupportedf(r.line, "constant %s", e.Name)
	case pktdrill.ExprOr:
		var v int64
		for _, x := range e.Items {
			y, err := r.value(x)
			if err != nil {
				return 0, err
			}
			v |= y
		}
		return v, nil
	case pktdrill.ExprArray:
		if len(e.Items) == 1 {
			return r.value(e.Items[0])
		}
	}
	return 0, unsupportedf(r.line, "expression %s where a number was expected", e)
}

func (r *run) sock(sc *pktdrill.Syscall) (*socket, error) {
	fd, err := r.intArg(sc, 0)
	if err != nil {
		return nil, err
	}
	s := r.socks[int(fd)]
	r.lastFD = int(fd)
	if s == nil || s.closed {
		return nil, failf(r.line, "%s on fd %d, which is not an open socket", sc.Name, fd)
	}
	return s, nil
}

// syscall plays one system call.
func (r *run) syscall(sc *pktdrill.Syscall) error {
	wantRet, err := r.expected(sc)
	if err != nil {
		return err
	}
	var try func() (bool, int64, string)
	switch sc.Name {
	case "socket":
		return r.check(sc, wantRet, int64(r.newSocket(wantRet).fd), "")
	case "bind":
		s, err := r.sock(sc)
		if err != nil {
			return err
		}
		s.bound = true
		return r.check(sc, wantRet, 0, "")
	case "listen":
		try, err = r.listen(sc)
	case "accept":
		try, err = r.accept(sc)
	case "connect":
		try, err = r.connect(sc)
	case "read", "recv", "recvfrom":
		try, err = r.read(sc)
	case "write", "send", "sendto", "sendmsg":
		try, err = r.write(sc)
	case "close":
		try, err = r.closeCall(sc)
	case "shutdown":
		try, err = r.shutdown(sc)
	case "setsockopt":
		try, err = r.setsockopt(sc)
	case "getsockopt":
		try, err = r.getsockopt(sc)
	case "fcntl":
		try, err = r.fcntl(sc)
	case "ioctl":
		try, err = r.ioctl(sc)
	case "poll":
		try, err = r.poll(sc)
	default:
		return unsupportedf(r.line, "system call %s", sc.Name)
	}
	if err != nil {
		return err
	}
	// packetdrill checks a blocking call's return against the time
	// since the call began (run_system_call.c).
	end := r.callEnd
	tol := r.tolerance(end - r.now())
	done, ret, en := try()
	if done {
		if sc.HasEnd && r.now()+tol < end {
			return failf(r.line, "%s returned at %s, expected to block until %s", sc.Name, fmtTime(r.now()), fmtTime(end))
		}
		return r.check(sc, wantRet, ret, en)
	}
	if !sc.HasEnd {
		return failf(r.line, "%s would block, but the script expects it to return at once (%s)", sc.Name, r.state())
	}
	r.pending = append(r.pending, &pendingCall{
		line: r.line, desc: sc.Name + " (line " + fmt.Sprint(r.line) + ")", end: end,
		lo: end - tol, hi: end + tol, try: try, want: sc,
	})
	return nil
}

// pollPending retries blocking calls and checks those that return.
func (r *run) pollPending() error {
	for i := 0; i < len(r.pending); i++ {
		p := r.pending[i]
		done, ret, en := p.try()
		if !done {
			continue
		}
		r.pending = append(r.pending[:i], r.pending[i+1:]...)
		i--
		now := r.now()
		if now < p.lo || now > p.hi {
			return failf(p.line, "%s returned at %s, expected at %s (%s)", p.desc, fmtTime(now), fmtTime(p.end), r.state())
		}
		wantRet, err := r.expected(p.want)
		if err != nil {
			return err
		}
		line := r.line
		r.line = p.line
		err = r.check(p.want, wantRet, ret, en)
		r.line = line
		if err != nil {
			return err
		}
	}
	return nil
}

// expected returns the call's expected return value.
func (r *run) expected(sc *pktdrill.Syscall) (int64, error) {
	if sc.Result.Kind == pktdrill.ExprEllipsis {
		return -2, nil // any
	}
	return r.value(sc.Result)
}

func (r *run) check(sc *pktdrill.Syscall, want, got int64, gotErrno string) error {
	wantDesc := fmt.Sprint(want)
	if sc.Errno != "" {
		wantDesc += " " + sc.Errno
	}
	if got == -3 {
		return failf(r.line, "%s returned %s (%s)", sc.Name, gotErrno, r.state())
	}
	gotDesc := fmt.Sprint(got)
	if gotErrno != "" {
		gotDesc = "-1 " + gotErrno
		got = -1
	}
	if (want != -2 && got != want) || sc.Errno != gotErrno && !(sc.Errno == "EWOULDBLOCK" && gotErrno == "EAGAIN") {
		return failf(r.line, "%s returned %s, expected %s (%s)", sc.Name, gotDesc, wantDesc, r.state())
	}
	return nil
}

func done(ret int64) (bool, int64, string) { return true, ret, "" }

func fail(en string) (bool, int64, string) { return true, -1, en }

// newSocket opens a descriptor. Script descriptors are symbolic in
// packetdrill: the number the script expects (want) is used when free.
func (r *run) newSocket(want int64) *socket {
	fd := r.nextFD
	if want >= 0 && want < 1<<20 && r.socks[int(want)] == nil {
		fd = int(want)
	}
	s := &socket{fd: fd}
	r.socks[fd] = s
	r.lastFD = fd
	for r.socks[r.nextFD] != nil {
		r.nextFD++
	}
	return s
}

func (r *run) events() tcp.Events { return &tcp.EventFuncs{} }

func (r *run) listen(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	backlog, err := r.intArg(sc, 1)
	if err != nil {
		return nil, err
	}
	r.applySocketConfig(s)
	l, lerr := r.tcpStack().Listen(netip.AddrPortFrom(localAddr, localPort), max(int(backlog), 1)+1, nil)
	return func() (bool, int64, string) {
		if lerr != nil {
			return fail(errno(lerr))
		}
		s.listener = l
		l.SetTOS(s.tos)
		return done(0)
	}, nil
}

// applySocketConfig folds socket options set before listen or connect into
// the stack's configuration (the stack is created at the first of them).
func (r *run) applySocketConfig(s *socket) {
	if r.tcp == nil {
		if s.rcvbuf > 0 {
			r.cfg.RecvBuffer = s.rcvbuf
		}
	}
	if s.maxseg > 0 {
		r.net.mss = s.maxseg
	}
}

func (r *run) accept(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	if s.listener == nil {
		return func() (bool, int64, string) { return fail("EINVAL") }, nil
	}
	return func() (bool, int64, string) {
		c, err := s.listener.Accept(r.events())
		if errors.Is(err, tcp.ErrWouldBlock) {
			if s.nonblock {
				return fail("EAGAIN")
			}
			return false, 0, ""
		}
		if err != nil {
			return fail(errno(err))
		}
		want, _ := r.expected(sc)
		ns := r.newSocket(want)
		ns.conn = c
		ns.nodelay = s.nodelay
		ns.maxseg, ns.sndbuf, ns.rcvbuf, ns.userTO = s.maxseg, s.sndbuf, s.rcvbuf, s.userTO
		if s.nodelay {
			c.SetNoDelay(true)
		}
		c.SetUserTimeout(s.userTO)
		if ns.cork = s.cork; s.cork {
			c.SetCork(true)
		}
		ns.tos = s.tos
		c.SetTOS(s.tos)
		c.SetSendLimit(s.sndbuf)
		return done(int64(ns.fd))
	}, nil
}

func (r *run) connect(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	r.applySocketConfig(s)
	c, cerr := r.tcpStack().ConnectTOS(netip.AddrPort{}, netip.AddrPortFrom(remoteAddr, localPort), r.events(), s.tos)
	if cerr != nil {
		return func() (bool, int64, string) { return fail(errno(cerr)) }, nil
	}
	s.conn = c
	if s.nodelay {
		c.SetNoDelay(true)
	}
	c.SetUserTimeout(s.userTO)
	if s.cork {
		c.SetCork(true)
	}
	c.SetTOS(s.tos)
	c.SetSendLimit(s.sndbuf)
	if s.nonblock {
		return func() (bool, int64, string) { return fail("EINPROGRESS") }, nil
	}
	return func() (bool, int64, string) {
		switch st := c.State(); {
		case st == tcp.StateSynSent || st == tcp.StateSynReceived:
			return false, 0, ""
		case c.Err() != nil:
			return fail(errno(c.Err()))
		}
		return done(0)
	}, nil
}

func (r *run) read(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	n, err := r.intArg(sc, 2)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	return func() (bool, int64, string) {
		if s.conn == nil {
			return fail("ENOTCONN")
		}
		if s.readShut {
			return done(0)
		}
		k, err := s.conn.Read(buf)
		switch {
		case errors.Is(err, io.EOF):
			return done(0)
		case errors.Is(err, tcp.ErrWouldBlock):
			if s.nonblock {
				return fail("EAGAIN")
			}
			return false, 0, ""
		case err != nil && k == 0:
			return fail(errno(err))
		}
		return done(int64(k))
	}, nil
}

// writeLen returns the byte count of a write-like call and whether
// MSG_MORE was asked for.
func (r *run) writeLen(sc *pktdrill.Syscall) (int64, bool, error) {
	if sc.Name != "sendmsg" {
		n, err := r.intArg(sc, 2)
		if err != nil {
			return 0, false, err
		}
		more := false
		if (sc.Name == "send" || sc.Name == "sendto") && len(sc.Args) > 3 {
			f, err := r.value(sc.Args[3])
			if err != nil {
				return 0, false, err
			}
			more = f&constants["MSG_MORE"] != 0
		}
		return n, more, nil
	}
	if len(sc.Args) < 3 || sc.Args[1].Kind != pktdrill.ExprList {
		return 0, false, unsupportedf(r.line, "sendmsg arguments %v", sc.Args)
	}
	var n int64
	for _, it := range sc.Args[1].Items {
		if it.Kind == pktdrill.ExprCall && it.Name == "msg_iov" && it.Value != nil {
			for _, iov := range it.Value.Items {
				if iov.Kind != pktdrill.ExprList || len(iov.Items) != 2 || iov.Items[1].Kind != pktdrill.ExprInt {
					return 0, false, unsupportedf(r.line, "sendmsg iovec %s", iov)
				}
				n += iov.Items[1].Int
			}
		}
	}
	f, err := r.value(sc.Args[2])
	if err != nil {
		return 0, false, err
	}
	return n, f&constants["MSG_MORE"] != 0, nil
}

func (r *run) write(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	n, more, err := r.writeLen(sc)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte('A' + i%26)
	}
	written, blocked := 0, false
	return func() (bool, int64, string) {
		if s.conn == nil {
			return fail("ENOTCONN")
		}
		if s.writeShut {
			return fail("EPIPE")
		}
		if blocked && !s.conn.SendWritable() {
			// sk_stream_wait_memory sleeps until sk_stream_write_space
			// wakes it.
			return false, 0, ""
		}
		for written < len(buf) {
			chunk := buf[written:]
			write := s.conn.Write
			if more {
				write = s.conn.WriteMore
			}
			k, err := write(chunk)
			written += k
			if errors.Is(err, tcp.ErrWouldBlock) || err == nil && k < len(chunk) {
				if s.nonblock {
					if written > 0 {
						return done(int64(written))
					}
					return fail("EAGAIN")
				}
				blocked = true
				return false, 0, ""
			}
			if err != nil {
				if written > 0 {
					return done(int64(written))
				}
				return fail(errno(err))
			}
		}
		return done(int64(written))
	}, nil
}

func (r *run) closeCall(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	return func() (bool, int64, string) {
		s.closed = true
		switch {
		case s.listener != nil:
			s.listener.Close()
		case s.conn != nil && s.lingerOn && s.linger == 0:
			// SO_LINGER with a zero timeout resets (RFC 9293 section
			// 3.10.4, ABORT).
			s.conn.Abort()
		case s.conn != nil:
			_ = s.conn.Close()
		}
		return done(0)
	}, nil
}

func (r *run) shutdown(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	how, err := r.intArg(sc, 1)
	if err != nil {
		return nil, err
	}
	return func() (bool, int64, string) {
		if s.conn == nil {
			return fail("ENOTCONN")
		}
		if how == 0 || how == 2 {
			s.readShut = true
		}
		if how == 1 || how == 2 {
			s.writeShut = true
			if err := s.conn.Shutdown(); err != nil {
				return fail(errno(err))
			}
		}
		return done(0)
	}, nil
}

// optArg returns the value of a setsockopt argument ([1], 1 or {linger}).
func (r *run) optVal(sc *pktdrill.Syscall) (int64, *pktdrill.Expr, error) {
	if len(sc.Args) < 4 {
		return 0, nil, unsupportedf(r.line, "%s with %d arguments", sc.Name, len(sc.Args))
	}
	e := sc.Args[3]
	if e.Kind == pktdrill.ExprList {
		return 0, e, nil
	}
	v, err := r.value(e)
	return v, e, err
}

func (r *run) setsockopt(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	if len(sc.Args) < 3 || sc.Args[2].Kind != pktdrill.ExprWord {
		return nil, unsupportedf(r.line, "setsockopt arguments")
	}
	name := sc.Args[2].Name
	v, e, err := r.optVal(sc)
	if err != nil {
		return nil, err
	}
	exists := s.conn != nil
	switch name {
	case "SO_REUSEADDR", "SO_REUSEPORT":
	case "TCP_NODELAY":
		s.nodelay = v != 0
		if s.conn != nil {
			s.conn.SetNoDelay(v != 0)
		}
	case "SO_KEEPALIVE":
		if s.conn == nil {
			return nil, unsupportedf(r.line, "setsockopt SO_KEEPALIVE before the connection exists")
		}
		s.conn.SetKeepAlive(v != 0)
	case "SO_SNDBUF", "SO_RCVBUF":
		// Linux doubles the value for bookkeeping overhead (socket(7)).
		// The send buffer is enforced here, at the socket: writes take
		// no more than it has room for beside the unacknowledged bytes.
		// tcp.Config's buffers are per stack, so a receive buffer can
		// only be set before the stack exists.
		if name == "SO_SNDBUF" {
			s.sndbuf = int(2 * v)
			if s.conn != nil {
				s.conn.SetSendLimit(s.sndbuf)
			}
			break
		}
		if exists || r.tcp != nil {
			return nil, unsupportedf(r.line, "setsockopt SO_RCVBUF once the TCP stack exists (no per-connection receive buffer knob)")
		}
		s.rcvbuf = int(2 * v)
	case "TCP_MAXSEG":
		if exists {
			return nil, unsupportedf(r.line, "setsockopt TCP_MAXSEG on a connection (no per-connection MSS knob)")
		}
		s.maxseg = int(v)
		r.net.mss = int(v)
	case "SO_LINGER":
		if e == nil || e.Kind != pktdrill.ExprList {
			return nil, unsupportedf(r.line, "SO_LINGER value %s", e)
		}
		for _, it := range e.Items {
			if it.Kind != pktdrill.ExprAssign || it.Value.Kind != pktdrill.ExprInt {
				return nil, unsupportedf(r.line, "SO_LINGER value %s", e)
			}
			switch it.Name {
			case "onoff", "l_onoff":
				s.lingerOn = it.Value.Int != 0
			case "linger", "l_linger":
				s.linger = int(it.Value.Int)
			}
		}
		if s.lingerOn && s.linger != 0 {
			return nil, unsupportedf(r.line, "SO_LINGER with a non-zero timeout")
		}
	case "IP_MTU_DISCOVER":
		// No PMTU discovery in proto/stack: every value means "don't".
	case "IP_TOS":
		// The TOS byte of the socket's datagrams, its ECN bits left to
		// ECN as Linux does for TCP: set before connect, the SYN carries
		// it; on a listener, its SYN-ACKs and accepted connections.
		s.tos = uint8(v) &^ 3
		if s.conn != nil {
			s.conn.SetTOS(s.tos)
		}
		if s.listener != nil {
			s.listener.SetTOS(s.tos)
		}
	case "TCP_CORK":
		s.cork = v != 0
		if s.conn != nil {
			s.conn.SetCork(s.cork)
		}
	case "TCP_USER_TIMEOUT":
		// RFC 5482, in milliseconds as Linux takes it.
		if v < 0 {
			return func() (bool, int64, string) { return fail("EINVAL") }, nil
		}
		s.userTO = time.Duration(v) * time.Millisecond
		if s.conn != nil {
			s.conn.SetUserTimeout(s.userTO)
		}
	default:
		return nil, unsupportedf(r.line, "setsockopt %s", name)
	}
	return func() (bool, int64, string) { return done(0) }, nil
}

func (r *run) getsockopt(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	if len(sc.Args) < 4 || sc.Args[2].Kind != pktdrill.ExprWord {
		return nil, unsupportedf(r.line, "getsockopt arguments")
	}
	name := sc.Args[2].Name
	var got int64
	switch name {
	case "SO_SNDBUF":
		got = int64(r.cfg.SendBuffer)
		if s.sndbuf > 0 {
			got = int64(s.sndbuf)
		} else if r.tcp != nil {
			got = int64(r.tcp.Config().SendBuffer)
		}
	case "SO_RCVBUF":
		got = int64(r.cfg.RecvBuffer)
		if s.rcvbuf > 0 {
			got = int64(s.rcvbuf)
		} else if r.tcp != nil {
			got = int64(r.tcp.Config().RecvBuffer)
		}
	case "TCP_NODELAY":
		if s.nodelay {
			got = 1
		}
	case "TCP_USER_TIMEOUT":
		got = s.userTO.Milliseconds()
	case "TCP_CORK":
		if s.cork {
			got = 1
		}
	case "IP_TOS":
		got = int64(s.tos)
	case "TCP_MAXSEG":
		switch {
		case s.conn != nil:
			got = int64(s.conn.Stats().MSS)
		case s.maxseg > 0:
			got = int64(s.maxseg)
		default:
			got = 536 // Linux's TCP_MSS_DEFAULT before a connection exists
		}
	default:
		return nil, unsupportedf(r.line, "getsockopt %s", name)
	}
	wantE := sc.Args[3]
	return func() (bool, int64, string) {
		if wantE.Kind != pktdrill.ExprEllipsis {
			want, err := r.value(wantE)
			if err == nil && want != got {
				return true, -3, fmt.Sprintf("value [%d], expected [%d]", got, want)
			}
		}
		return done(0)
	}, nil
}

func (r *run) fcntl(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	cmd, err := r.intArg(sc, 1)
	if err != nil {
		return nil, err
	}
	switch cmd {
	case constants["F_GETFL"]:
		return func() (bool, int64, string) {
			v := constants["O_RDWR"]
			if s.nonblock {
				v |= constants["O_NONBLOCK"]
			}
			return done(v)
		}, nil
	case constants["F_SETFL"]:
		v, err := r.intArg(sc, 2)
		if err != nil {
			return nil, err
		}
		return func() (bool, int64, string) {
			s.nonblock = v&constants["O_NONBLOCK"] != 0
			return done(0)
		}, nil
	}
	return nil, unsupportedf(r.line, "fcntl command %d", cmd)
}

func (r *run) ioctl(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	s, err := r.sock(sc)
	if err != nil {
		return nil, err
	}
	if len(sc.Args) < 3 || sc.Args[1].Kind != pktdrill.ExprWord {
		return nil, unsupportedf(r.line, "ioctl arguments")
	}
	req := sc.Args[1].Name
	if req != "SIOCINQ" && req != "FIONREAD" && req != "SIOCOUTQ" && req != "TIOCOUTQ" {
		return nil, unsupportedf(r.line, "ioctl %s", req)
	}
	wantE := sc.Args[2]
	return func() (bool, int64, string) {
		if s.conn == nil {
			return fail("EINVAL")
		}
		got := int64(s.conn.Readable())
		if strings.HasSuffix(req, "OUTQ") {
			got = int64(s.conn.Unsent())
		}
		if want, err := r.value(wantE); err == nil && want != got {
			return true, -3, fmt.Sprintf("value [%d], expected [%d]", got, want)
		}
		return done(0)
	}, nil
}

// revents computes poll(2) readiness for one socket.
func (r *run) revents(s *socket) int64 {
	var ev int64
	switch {
	case s.listener != nil:
		if s.listener.Ready() > 0 {
			ev |= constants["POLLIN"] | constants["POLLRDNORM"]
		}
	case s.conn != nil:
		c := s.conn
		st := c.State()
		if c.Readable() > 0 || st == tcp.StateCloseWait || st == tcp.StateLastAck || st == tcp.StateClosed || st == tcp.StateTimeWait || st == tcp.StateClosing {
			ev |= constants["POLLIN"] | constants["POLLRDNORM"]
		}
		if st == tcp.StateCloseWait || st == tcp.StateLastAck || st == tcp.StateClosed {
			ev |= constants["POLLRDHUP"]
		}
		if (st == tcp.StateEstablished || st == tcp.StateCloseWait) && c.SendWritable() {
			ev |= constants["POLLOUT"] | constants["POLLWRNORM"]
		}
		if c.Err() != nil {
			ev |= constants["POLLERR"]
		}
		if st == tcp.StateClosed {
			ev |= constants["POLLHUP"]
		}
	}
	return ev
}

func (r *run) poll(sc *pktdrill.Syscall) (func() (bool, int64, string), error) {
	if len(sc.Args) < 3 || sc.Args[0].Kind != pktdrill.ExprArray {
		return nil, unsupportedf(r.line, "poll arguments")
	}
	type pfd struct {
		s       *socket
		events  int64
		revents *pktdrill.Expr
	}
	var fds []pfd
	for _, it := range sc.Args[0].Items {
		if it.Kind != pktdrill.ExprList {
			return nil, unsupportedf(r.line, "pollfd %s", it)
		}
		var p pfd
		for _, f := range it.Items {
			if f.Kind != pktdrill.ExprAssign {
				return nil, unsupportedf(r.line, "pollfd field %s", f)
			}
			switch f.Name {
			case "fd":
				v, err := r.value(f.Value)
				if err != nil {
					return nil, err
				}
				p.s = r.socks[int(v)]
				if p.s == nil {
					return nil, failf(r.line, "poll on fd %d, which is not a socket", v)
				}
			case "events":
				v, err := r.value(f.Value)
				if err != nil {
					return nil, err
				}
				p.events = v
			case "revents":
				p.revents = f.Value
			}
		}
		fds = append(fds, p)
	}
	timeout, err := r.value(sc.Args[2])
	if err != nil {
		return nil, err
	}
	startAt := r.now()
	always := constants["POLLERR"] | constants["POLLHUP"] | constants["POLLNVAL"]
	return func() (bool, int64, string) {
		n := int64(0)
		var bad string
		for _, p := range fds {
			rev := r.revents(p.s) & (p.events | always)
			if rev != 0 {
				n++
			}
			if p.revents != nil {
				if want, err := r.value(p.revents); err == nil && want != rev {
					bad = fmt.Sprintf("revents %#x for fd %d, expected %#x", rev, p.s.fd, want)
				}
			}
		}
		expired := timeout >= 0 && r.now() >= startAt+time.Duration(timeout)*time.Millisecond
		if n == 0 && timeout != 0 && !expired {
			return false, 0, ""
		}
		if bad != "" && (n > 0 || expired || timeout == 0) {
			return true, -3, bad
		}
		return done(n)
	}, nil
}
