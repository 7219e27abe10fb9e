// Package httpapp holds simnet's built-in HTTP/1.1 apps (RFC 9110, RFC
// 9112): a static file server and a GET client, both driven by the loop
// on simnet's TCP (proto/tcp), so they run deterministically in the
// simulator and unchanged on a live tap.
//
// The server answers GET and HEAD from an fs.FS (give it an os.Root's FS so
// that neither ".." nor a symlink leaves the directory) or an embedded
// default page; other methods get 405 with Allow, unknown ones 501 (RFC
// 9110 section 9.1). It keeps persistent connections, answers pipelining
// in order, Content-Length on every response and bounded request heads and
// bodies. It parses requests itself, through views over its connection
// buffer, so steady-state keep-alive traffic does not allocate.
//
// The client resolves a URL's host name (through a pluggable Resolver,
// by default simnet's DNS stub resolver), sends one or more GETs over a
// reused connection and reports status, body length, body SHA-256 and
// timing for each.
//
// Not implemented: TLS, request bodies beyond discarding them, ranges,
// conditional requests, content codings, expectations other than
// 100-continue, directory listings, IPv6.
package httpapp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"strconv"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/tcp"
)

// errNoTCP is returned when an HTTP app starts on a host without TCP.
var errNoTCP = errors.New("host has no TCP stack")

// tcpOf returns the TCP stack of env's host.
func tcpOf(env *app.Env) (*tcp.Stack, error) {
	if env.TCP == nil {
		return nil, errNoTCP
	}
	return env.TCP, nil
}

// Server defaults.
const (
	DefaultPort        = 80
	DefaultIdleTimeout = 30 * time.Second
	DefaultMaxConns    = 1024
	// DefaultLingerTimeout bounds how long a closing connection keeps
	// reading what the client still sends (RFC 9112 section 9.6).
	DefaultLingerTimeout = 2 * time.Second
	listenBacklog        = 128
	fileChunk            = 16 << 10
)

// ServerConfig describes an HTTP server app.
type ServerConfig struct {
	Name string
	// Port is the listening port (default 80).
	Port uint16
	// Root is the file tree served; nil serves the embedded default page
	// at "/" and "/index.html".
	Root fs.FS
	// Limits bound requests.
	Limits Limits
	// IdleTimeout closes a connection that has not completed a request
	// head for this long (default 30 s).
	IdleTimeout time.Duration
	// MaxConns bounds open connections (default 1024); more are reset.
	MaxConns int
	// NoCache reads files from Root on every request instead of keeping
	// small ones in memory (for a live directory that may change).
	NoCache bool
	// OnConn, when set, is called with the client's address of every
	// accepted connection.
	OnConn func(remote netip.AddrPort)
}

// ServerResult is what an HTTP server did.
type ServerResult struct {
	Port uint16 `json:"port"`
	// Connections counts accepted connections; Rejected those reset
	// because MaxConns were open.
	Connections int `json:"connections"`
	Rejected    int `json:"rejected"`
	// Requests counts request heads answered (errors included).
	Requests int `json:"requests"`
	// Status counts responses by status code.
	Status map[string]int `json:"status"`
	// BytesSent counts response bytes handed to TCP (heads and bodies).
	BytesSent int64 `json:"bytes_sent"`
	// Timeouts counts connections closed for idleness.
	Timeouts int `json:"timeouts"`
}

// Server is an HTTP/1.1 static file server app.
type Server struct {
	cfg    ServerConfig
	clk    clock.Clock
	ln     *tcp.Listener
	files  fileCache
	active int
	res    ServerResult
	status [6][100]int // responses by code/100 and code%100
	bufs   [][]byte    // free input buffers
	date   dateCache
}

var _ app.App = (*Server)(nil)

// NewServer returns an HTTP server app for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.Limits.defaults()
	s := &Server{cfg: cfg, res: ServerResult{Port: cfg.Port}}
	if cfg.Root != nil {
		s.files = fileCache{root: cfg.Root, dir: ".", noCache: cfg.NoCache}
	} else {
		s.files = fileCache{root: staticFS, dir: staticDir}
	}
	return s, nil
}

// Name returns the app's name.
func (s *Server) Name() string { return s.cfg.Name }

// Start listens on the configured port of every address of env's host.
func (s *Server) Start(env *app.Env) error {
	ts, err := tcpOf(env)
	if err != nil {
		return fmt.Errorf("http_server %s: %w", s.cfg.Name, err)
	}
	s.clk = env.Clock
	ln, err := ts.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), s.cfg.Port), listenBacklog, s.accept)
	if err != nil {
		return fmt.Errorf("http_server %s: %w", s.cfg.Name, err)
	}
	s.ln = ln
	return nil
}

// Close stops listening; open connections finish on their own.
func (s *Server) Close() {
	if s.ln != nil {
		s.ln.Close()
	}
}

// Result returns the server's counters.
func (s *Server) Result() any {
	r := s.res
	r.Status = map[string]int{}
	for class, codes := range s.status {
		for i, n := range codes {
			if n > 0 {
				r.Status[strconv.Itoa(class*100+i)] = n
			}
		}
	}
	return r
}

func (s *Server) count(code int) {
	s.res.Requests++
	if code >= 100 && code < 600 {
		s.status[code/100][code%100]++
	}
}

func (s *Server) accept(ln *tcp.Listener) {
	for {
		sc := &serverConn{s: s}
		c, err := ln.Accept(sc)
		if err != nil {
			return
		}
		if s.active >= s.cfg.MaxConns {
			s.res.Rejected++
			c.Abort()
			continue
		}
		s.active++
		s.res.Connections++
		if s.cfg.OnConn != nil {
			s.cfg.OnConn(c.RemoteAddr())
		}
		sc.c = c
		sc.timer.Init(sc)
		c.SetNoDelay(true)
		sc.arm(s.cfg.IdleTimeout)
		// Data may have arrived with the handshake.
		sc.run()
	}
}

func (s *Server) getBuf() []byte {
	if n := len(s.bufs); n > 0 {
		b := s.bufs[n-1]
		s.bufs = s.bufs[:n-1]
		return b
	}
	return make([]byte, max(s.cfg.Limits.MaxHeaderBytes, s.cfg.Limits.MaxRequestLine)+2048)
}

// dateCache formats the Date field (RFC 9110 section 6.6.1) once per
// second of the host's clock.
type dateCache struct {
	sec int64
	buf [29]byte
	n   int
}

func (d *dateCache) get(now clock.Time) []byte {
	sec := int64(now) / int64(time.Second)
	if d.n == 0 || sec != d.sec {
		d.sec = sec
		d.n = len(now.Std().AppendFormat(d.buf[:0], "Mon, 02 Jan 2006 15:04:05 GMT"))
	}
	return d.buf[:d.n]
}

type connPhase uint8

const (
	phaseHead   connPhase = iota // waiting for a request head
	phaseBody                    // discarding a request body
	phaseSend                    // sending a response
	phaseLinger                  // FIN sent, reading until the client closes
	phaseDone
)

// serverConn is one connection of a Server: it reads one request at a
// time, so pipelined requests are answered in order, and reads the next
// only when the previous response has been handed to TCP.
type serverConn struct {
	s     *Server
	c     *tcp.Conn
	timer clock.Timer
	phase connPhase

	in   []byte // in[r:w] holds unprocessed input
	r, w int
	eof  bool

	req      Request
	bodyLeft int64 // Content-Length body still to discard
	chunked  bool
	chunk    chunkDecoder
	bodySeen int64

	// The pending response: out (head and small bodies), then body, then
	// fileLeft bytes of file.
	out       []byte
	obuf      []byte // backing array of out, reused
	fbuf      []byte // file read buffer
	body      []byte
	file      fs.File
	fileLeft  int64
	closeNext bool   // close after this response
	interim   []byte // a 100 (Continue) still to send before the body
	status    int
	head      bool // the response is to a HEAD request
	ent       *entry
}

// OnEstablished implements tcp.Events.
func (sc *serverConn) OnEstablished(*tcp.Conn) {}

// OnReadable implements tcp.Events.
func (sc *serverConn) OnReadable(*tcp.Conn) { sc.run() }

// OnWritable implements tcp.Events.
func (sc *serverConn) OnWritable(*tcp.Conn) { sc.run() }

// OnClosed implements tcp.Events.
func (sc *serverConn) OnClosed(*tcp.Conn, error) { sc.release() }

// OnTimer implements clock.Handler: the idle or linger timeout.
func (sc *serverConn) OnTimer(clock.Time) {
	if sc.phase == phaseDone {
		return
	}
	if sc.phase == phaseHead && sc.w == sc.r {
		// An idle persistent connection: close it gracefully.
		sc.s.res.Timeouts++
		sc.closeNext = true
		sc.startClose()
		sc.run()
		return
	}
	if sc.phase != phaseLinger {
		sc.s.res.Timeouts++
	}
	sc.abort()
}

func (sc *serverConn) arm(d time.Duration) {
	sc.s.clk.Schedule(&sc.timer, sc.s.clk.Now().Add(d))
}

// abort resets the connection.
func (sc *serverConn) abort() {
	if sc.phase == phaseDone {
		return
	}
	sc.c.Abort()
	sc.release()
}

// release frees the connection's resources once.
func (sc *serverConn) release() {
	if sc.phase == phaseDone {
		return
	}
	sc.phase = phaseDone
	sc.s.clk.Cancel(&sc.timer)
	sc.closeFile()
	if sc.in != nil {
		sc.s.bufs = append(sc.s.bufs, sc.in[:cap(sc.in)])
		sc.in = nil
	}
	sc.out, sc.obuf, sc.fbuf, sc.body, sc.ent = nil, nil, nil, nil, nil
	sc.s.active--
}

func (sc *serverConn) closeFile() {
	if sc.file != nil {
		_ = sc.file.Close()
		sc.file = nil
	}
}

// fill reads what TCP has into the input buffer.
func (sc *serverConn) fill() error {
	if sc.in == nil {
		sc.in = sc.s.getBuf()
	}
	if sc.r == sc.w {
		sc.r, sc.w = 0, 0
	} else if sc.w == len(sc.in) && sc.r > 0 {
		sc.w = copy(sc.in, sc.in[sc.r:sc.w])
		sc.r = 0
	}
	for sc.w < len(sc.in) && !sc.eof {
		n, err := sc.c.Read(sc.in[sc.w:])
		sc.w += n
		switch {
		case err == nil:
		case errors.Is(err, tcp.ErrWouldBlock):
			return nil
		case errors.Is(err, io.EOF):
			sc.eof = true
		default:
			return err
		}
	}
	return nil
}

// run advances the connection as far as it can without waiting.
func (sc *serverConn) run() {
	for sc.phase != phaseDone {
		switch sc.phase {
		case phaseHead, phaseBody:
			if err := sc.fill(); err != nil {
				sc.abort()
				return
			}
			if !sc.step() {
				return
			}
		case phaseSend:
			if !sc.send() {
				return
			}
		case phaseLinger:
			// Discard what the client still sends until its FIN (RFC 9112
			// section 9.6), so unread data does not turn our close into a
			// reset that could destroy the response in flight.
			if err := sc.fill(); err != nil {
				sc.abort()
				return
			}
			sc.r, sc.w = 0, 0
			if !sc.eof {
				return
			}
			_ = sc.c.Close()
			if sc.c.State() == tcp.StateClosed {
				// Close turned into a reset: OnClosed will not come.
				sc.release()
			}
			return
		}
	}
}

// step processes buffered input in the head or body phase and reports
// whether progress was made.
func (sc *serverConn) step() bool {
	if sc.phase == phaseBody {
		return sc.discardBody()
	}
	buf := sc.in[sc.r:sc.w]
	n, err := ParseRequest(buf, &sc.req, sc.s.cfg.Limits)
	if err == ErrIncomplete {
		if sc.eof {
			if len(buf) > 0 {
				sc.respondError(errBadRequestLine)
				return true
			}
			// The client closed between requests.
			sc.startClose()
			return true
		}
		return false
	}
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			pe = errBadRequestLine
		}
		sc.respondError(pe)
		return true
	}
	sc.r += n
	sc.arm(sc.s.cfg.IdleTimeout)
	sc.bodyLeft, sc.chunked, sc.bodySeen = 0, sc.req.Chunked, 0
	if sc.req.ContentLength > 0 {
		sc.bodyLeft = sc.req.ContentLength
	}
	if sc.chunked {
		sc.chunk.reset()
	}
	// Decide the response now (the request views are still valid), send
	// it once the body has been read.
	sc.prepare()
	sc.phase = phaseBody
	if (sc.bodyLeft > 0 || sc.chunked) && sc.req.Minor >= 1 && hasToken(sc.req.Get("Expect"), "100-continue") {
		// RFC 9110 section 10.1.1: the client waits for 100 (Continue)
		// before sending the content. Ask for it when the response will
		// be a success; otherwise send the final status at once, and close
		// after it, since the content may or may not follow.
		if sc.status < 300 {
			sc.interim = continue100
		} else {
			sc.closeNext = true
			sc.setResponse(sc.status, sc.ent)
			sc.phase = phaseSend
		}
	}
	return true
}

// continue100 is the interim response to Expect: 100-continue.
var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

// hasToken reports whether the comma-separated list v holds tok
// (case-insensitive).
func hasToken(v []byte, tok string) bool {
	found := false
	forEachToken(v, func(t []byte) { found = found || equalFold(t, tok) })
	return found
}

// discardBody consumes the request body and moves to sending.
func (sc *serverConn) discardBody() bool {
	if len(sc.interim) > 0 && !sc.write(&sc.interim) {
		return false
	}
	progress := false
	if sc.chunked {
		for !sc.chunk.done() && sc.r < sc.w {
			n, data, err := sc.chunk.next(sc.in[sc.r:sc.w])
			sc.r += n
			sc.bodySeen += int64(len(data))
			progress = progress || n > 0
			if err != nil {
				sc.respondError(perr(400, "malformed chunked body"))
				return true
			}
			if sc.bodySeen > sc.s.cfg.Limits.MaxBody {
				sc.respondError(errBodyTooLarge)
				return true
			}
		}
		if !sc.chunk.done() {
			if sc.eof {
				sc.abort()
				return false
			}
			return progress
		}
	} else if sc.bodyLeft > 0 {
		n := int64(sc.w - sc.r)
		if n > sc.bodyLeft {
			n = sc.bodyLeft
		}
		sc.r += int(n)
		sc.bodyLeft -= n
		if sc.bodyLeft > 0 {
			if sc.eof {
				sc.abort()
				return false
			}
			return n > 0
		}
	}
	sc.phase = phaseSend
	return true
}

// respondError answers a request that cannot be read and closes the
// connection after the response: its framing is lost.
func (sc *serverConn) respondError(pe *ParseError) {
	sc.head = false
	sc.closeNext = true
	sc.ent = nil
	sc.setResponse(pe.Status, nil)
	sc.phase = phaseSend
}

// prepare builds the response to sc.req.
func (sc *serverConn) prepare() {
	sc.head = string(sc.req.Method) == "HEAD"
	sc.closeNext = !sc.req.KeepAlive
	sc.ent = nil
	switch {
	case string(sc.req.Method) != "GET" && !sc.head && knownMethod(sc.req.Method):
		// A CONNECT is never tunnelled: 405, like any method a file
		// server does not allow.
		sc.setResponse(405, nil)
	case string(sc.req.Method) != "GET" && !sc.head:
		sc.setResponse(501, nil)
	case sc.req.Path[0] != '/':
		sc.setResponse(400, nil)
	default:
		e := sc.s.files.lookup(sc.req.Path)
		if e.status != 200 {
			sc.setResponse(e.status, nil)
			return
		}
		sc.ent = e
		sc.setResponse(200, e)
	}
}

// knownMethods are the methods of RFC 9110 section 9 and PATCH (RFC
// 5789): a file server answers them with 405, any other with 501.
var knownMethods = [...]string{"POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func knownMethod(m []byte) bool {
	for _, k := range knownMethods {
		if string(m) == k {
			return true
		}
	}
	return false
}

// errorBody is the body of an error response.
func errorBody(code int) string {
	return strconv.Itoa(code) + " " + statusText(code) + "\n"
}

var errorBodies = func() map[int]string {
	m := map[int]string{}
	for _, c := range []int{400, 404, 405, 408, 413, 414, 431, 500, 501, 503, 505} {
		m[c] = errorBody(c)
	}
	return m
}()

// setResponse writes the response head into out and queues the body.
func (sc *serverConn) setResponse(code int, e *entry) {
	s := sc.s
	sc.status = code
	ctype := "text/plain; charset=utf-8"
	var body string
	var size int64
	if e != nil {
		ctype, size = e.ctype, e.size
	} else {
		body = errorBodies[code]
		size = int64(len(body))
	}
	o := sc.obuf[:0]
	// RFC 9110 section 6.2: answer with our highest version of major 1.
	o = append(o, "HTTP/1.1 "...)
	o = strconv.AppendInt(o, int64(code), 10)
	o = append(o, ' ')
	o = append(o, statusText(code)...)
	o = append(o, "\r\nDate: "...)
	o = append(o, s.date.get(s.clk.Now())...)
	o = append(o, "\r\nServer: simnet\r\nContent-Type: "...)
	o = append(o, ctype...)
	o = append(o, "\r\nContent-Length: "...)
	o = strconv.AppendInt(o, size, 10)
	if code == 405 {
		// RFC 9110 section 15.5.6: a 405 lists the allowed methods.
		o = append(o, "\r\nAllow: GET, HEAD"...)
	}
	switch {
	case sc.closeNext:
		o = append(o, "\r\nConnection: close"...)
	case sc.req.Minor == 0:
		o = append(o, "\r\nConnection: keep-alive"...)
	}
	o = append(o, "\r\n\r\n"...)
	sc.body, sc.fileLeft, sc.interim = nil, 0, nil
	if !sc.head {
		switch {
		case e == nil:
			o = append(o, body...)
		case e.data != nil:
			sc.body = e.data
		default:
			sc.fileLeft = e.size
		}
	}
	sc.obuf, sc.out = o, o
}

// send hands the pending response to TCP and reports whether it is all
// out (then the connection moves on).
func (sc *serverConn) send() bool {
	for len(sc.out) > 0 {
		if !sc.write(&sc.out) {
			return false
		}
	}
	for len(sc.body) > 0 {
		if !sc.write(&sc.body) {
			return false
		}
	}
	if sc.fileLeft > 0 && !sc.sendFile() {
		return false
	}
	if sc.phase == phaseDone {
		return false
	}
	sc.s.count(sc.status)
	sc.ent = nil
	if sc.closeNext {
		sc.startClose()
		return true
	}
	sc.phase = phaseHead
	sc.arm(sc.s.cfg.IdleTimeout)
	return true
}

// write writes from *p and reports whether all of it went.
func (sc *serverConn) write(p *[]byte) bool {
	n, err := sc.c.Write(*p)
	if n > 0 {
		// A client that reads keeps the connection alive; one that stops
		// reading is dropped after IdleTimeout.
		sc.s.res.BytesSent += int64(n)
		sc.arm(sc.s.cfg.IdleTimeout)
	}
	*p = (*p)[n:]
	if err != nil && !errors.Is(err, tcp.ErrWouldBlock) {
		sc.abort()
		return false
	}
	return len(*p) == 0
}

// sendFile streams the body of a file too large for the cache.
func (sc *serverConn) sendFile() bool {
	if sc.file == nil {
		f, err := sc.s.files.root.Open(sc.ent.name)
		if err != nil {
			// The head has gone out: the body cannot be completed.
			sc.abort()
			return false
		}
		sc.file = f
	}
	for sc.fileLeft > 0 {
		free := sc.c.Writable()
		if free == 0 {
			return false
		}
		if sc.fbuf == nil {
			sc.fbuf = make([]byte, fileChunk)
		}
		chunk := sc.fbuf[:min(int64(free), sc.fileLeft, fileChunk)]
		n, err := io.ReadFull(sc.file, chunk)
		if err != nil {
			// The file shrank below its Content-Length.
			sc.abort()
			return false
		}
		data := chunk[:n]
		if !sc.write(&data) {
			// Writable promised the room; anything left is an error.
			if sc.phase != phaseDone {
				sc.abort()
			}
			return false
		}
		sc.fileLeft -= int64(n)
	}
	sc.closeFile()
	return true
}

// startClose half-closes the connection and lingers.
func (sc *serverConn) startClose() {
	if err := sc.c.Shutdown(); err != nil {
		sc.abort()
		return
	}
	sc.phase = phaseLinger
	sc.arm(DefaultLingerTimeout)
}
