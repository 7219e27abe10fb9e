package dnsstack

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/tcp"
)

// maxTCPBacklog bounds the framed responses a connection may have queued
// before the server stops reading its queries (RFC 7766 section 6.2.1:
// pipelined queries are answered, but not without limit).
const maxTCPBacklog = 256 << 10

// TCPServer serves a dns.Server's zones over TCP (RFC 7766) on a tcp.Stack.
type TCPServer struct {
	srv *dns.Server
	ln  *tcp.Listener
}

// ServeTCP listens on local (usually port 53) and answers framed queries
// with srv, pipelined and in order, until Close.
func ServeTCP(ts *tcp.Stack, local netip.AddrPort, srv *dns.Server) (*TCPServer, error) {
	t := &TCPServer{srv: srv}
	ln, err := ts.Listen(local, 64, t.accept)
	if err != nil {
		return nil, fmt.Errorf("dns tcp server: %w", err)
	}
	t.ln = ln
	return t, nil
}

// Addr returns the listening address.
func (t *TCPServer) Addr() netip.AddrPort { return t.ln.Addr() }

// Close stops listening; open connections finish on their own.
func (t *TCPServer) Close() { t.ln.Close() }

func (t *TCPServer) accept(ln *tcp.Listener) {
	for {
		sc := &serverConn{srv: t.srv}
		c, err := ln.Accept(sc)
		if err != nil {
			return
		}
		// Data may have arrived with the handshake.
		sc.OnReadable(c)
	}
}

// serverConn is one TCP connection of a TCPServer.
type serverConn struct {
	srv     *dns.Server
	rd      dns.TCPReader
	out     []byte
	scratch [2048]byte
	eof     bool
}

// OnEstablished implements tcp.Events.
func (sc *serverConn) OnEstablished(*tcp.Conn) {}

// OnReadable implements tcp.Events: it answers every complete query.
func (sc *serverConn) OnReadable(c *tcp.Conn) {
	for len(sc.out) < maxTCPBacklog && !sc.eof {
		n, err := c.Read(sc.scratch[:])
		if n > 0 {
			if ferr := sc.rd.Write(sc.scratch[:n], sc.answer); ferr != nil {
				c.Abort()
				return
			}
		}
		if errors.Is(err, tcp.ErrWouldBlock) {
			break
		}
		if errors.Is(err, io.EOF) {
			sc.eof = true
			break
		}
		if err != nil {
			c.Abort()
			return
		}
	}
	sc.flush(c)
}

func (sc *serverConn) answer(q []byte) {
	if resp := sc.srv.Answer(q, dns.TCP); resp != nil {
		// Answer never exceeds 65535 octets over TCP.
		sc.out, _ = dns.AppendTCPFrame(sc.out, resp)
	}
}

// OnWritable implements tcp.Events.
func (sc *serverConn) OnWritable(c *tcp.Conn) {
	sc.flush(c)
	if len(sc.out) < maxTCPBacklog && !sc.eof {
		sc.OnReadable(c)
	}
}

// OnClosed implements tcp.Events.
func (sc *serverConn) OnClosed(*tcp.Conn, error) { sc.out = nil }

func (sc *serverConn) flush(c *tcp.Conn) {
	for len(sc.out) > 0 {
		n, err := c.Write(sc.out)
		sc.out = sc.out[n:]
		if err != nil {
			break
		}
	}
	if len(sc.out) == 0 {
		sc.out = nil
		if sc.eof {
			// The client is done sending and has all its answers.
			_ = c.Close()
		}
	}
}

// TCPClient is a dns.TCPTransport over a tcp.Stack: one connection per query,
// closed after the answer (RFC 7766 section 6.2.1 allows reuse; this
// client does not).
type TCPClient struct {
	ts  *tcp.Stack
	clk clock.Clock
	// Timeout bounds a whole query: connect, send and answer (default 5s).
	Timeout time.Duration
}

// NewTCPClient returns a dns.TCPTransport that connects through ts.
func NewTCPClient(ts *tcp.Stack, clk clock.Clock) *TCPClient {
	return &TCPClient{ts: ts, clk: clk, Timeout: 5 * time.Second}
}

// ErrTCPClosed reports a TCP connection closed before an answer arrived.
var ErrTCPClosed = errors.New("dns: tcp connection closed before the answer")

type tcpQuery struct {
	conn     *tcp.Conn
	out      []byte
	rd       dns.TCPReader
	scratch  [2048]byte
	done     func([]byte, error)
	timer    clock.Timer
	clk      clock.Clock
	finished bool
}

// QueryTCP implements dns.TCPTransport.
func (t *TCPClient) QueryTCP(server netip.AddrPort, msg []byte, done func([]byte, error)) {
	q := &tcpQuery{done: done, clk: t.clk}
	framed, err := dns.AppendTCPFrame(nil, msg)
	if err != nil {
		done(nil, err)
		return
	}
	q.out = framed
	q.timer.Init(q)
	c, err := t.ts.Connect(netip.AddrPort{}, server, q)
	if err != nil {
		done(nil, fmt.Errorf("connect %v: %w", server, err))
		return
	}
	q.conn = c
	t.clk.Schedule(&q.timer, t.clk.Now().Add(t.Timeout))
}

func (q *tcpQuery) finish(resp []byte, err error) {
	if q.finished {
		return
	}
	q.finished = true
	q.clk.Cancel(&q.timer)
	q.done(resp, err)
}

// OnTimer implements clock.Handler: the query timed out.
func (q *tcpQuery) OnTimer(clock.Time) {
	if q.conn != nil {
		q.conn.Abort()
	}
	q.finish(nil, dns.ErrTimeout)
}

// OnEstablished implements tcp.Events.
func (q *tcpQuery) OnEstablished(c *tcp.Conn) { q.OnWritable(c) }

// OnWritable implements tcp.Events.
func (q *tcpQuery) OnWritable(c *tcp.Conn) {
	for len(q.out) > 0 {
		n, err := c.Write(q.out)
		q.out = q.out[n:]
		if err != nil {
			return
		}
	}
}

// OnReadable implements tcp.Events: the first complete message is the
// answer.
func (q *tcpQuery) OnReadable(c *tcp.Conn) {
	for !q.finished {
		n, err := c.Read(q.scratch[:])
		if n > 0 {
			ferr := q.rd.Write(q.scratch[:n], func(m []byte) {
				q.finish(append([]byte(nil), m...), nil)
			})
			if ferr != nil {
				c.Abort()
				q.finish(nil, ferr)
				return
			}
		}
		if err != nil {
			if !errors.Is(err, tcp.ErrWouldBlock) && !q.finished {
				c.Abort()
				q.finish(nil, fmt.Errorf("read: %w", err))
			}
			break
		}
	}
	if q.finished {
		_ = c.Close()
	}
}

// OnClosed implements tcp.Events.
func (q *tcpQuery) OnClosed(_ *tcp.Conn, err error) {
	if err == nil {
		err = ErrTCPClosed
	}
	q.finish(nil, err)
}
