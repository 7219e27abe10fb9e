// Package tcpapps holds loop-driven TCP applications built on proto/tcp's
// socket API: an echo server, a discard server, and a bulk sender and
// receiver that move N bytes of a deterministic pattern and verify them.
// They run on the driver's loop (simulator or live) and never block.
package tcpapps

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/tcp"
)

const chunk = 32 << 10

// PatternByte returns byte i of the bulk transfer pattern: a position-
// dependent sequence, so a lost, duplicated or misplaced byte is detected.
func PatternByte(i int64) byte {
	return byte(i*7 + i>>8 + i>>16 + i>>24)
}

// fillPattern writes the pattern from offset off into b.
func fillPattern(b []byte, off int64) {
	for i := range b {
		b[i] = PatternByte(off + int64(i))
	}
}

// ServerStats counts what a server handled.
type ServerStats struct {
	Accepted uint64 `json:"accepted"`
	Bytes    uint64 `json:"bytes"`
	Open     int    `json:"open"`
}

// Server is an echo or discard server.
type Server struct {
	l     *tcp.Listener
	echo  bool
	buf   []byte
	stats ServerStats
}

// StartEcho listens on addr and echoes every byte back (RFC 862); it closes
// its side after the client's FIN once everything is echoed.
func StartEcho(s *tcp.Stack, addr netip.AddrPort, backlog int) (*Server, error) {
	return start(s, addr, backlog, true)
}

// StartDiscard listens on addr and discards what it receives (RFC 863).
func StartDiscard(s *tcp.Stack, addr netip.AddrPort, backlog int) (*Server, error) {
	return start(s, addr, backlog, false)
}

func start(s *tcp.Stack, addr netip.AddrPort, backlog int, echo bool) (*Server, error) {
	sv := &Server{echo: echo, buf: make([]byte, chunk)}
	l, err := s.Listen(addr, backlog, sv.accept)
	if err != nil {
		return nil, fmt.Errorf("tcpapps: start server on %v: %w", addr, err)
	}
	sv.l = l
	return sv, nil
}

// Stats returns the server's counters.
func (sv *Server) Stats() ServerStats { return sv.stats }

// Close stops listening (open connections continue).
func (sv *Server) Close() { sv.l.Close() }

func (sv *Server) accept(l *tcp.Listener) {
	for {
		sc := &serverConn{sv: sv}
		c, err := l.Accept(sc)
		if err != nil {
			return
		}
		sv.stats.Accepted++
		sv.stats.Open++
		sc.OnReadable(c)
	}
}

// serverConn is one connection of a Server; pending holds echo bytes the
// send buffer had no room for (reading pauses until they are written).
type serverConn struct {
	sv      *Server
	pending []byte
	eof     bool
	closed  bool
}

func (sc *serverConn) OnEstablished(*tcp.Conn) {}

func (sc *serverConn) OnReadable(c *tcp.Conn) {
	sv := sc.sv
	for len(sc.pending) == 0 && !sc.eof {
		n, err := c.Read(sv.buf)
		sv.stats.Bytes += uint64(n)
		if n > 0 && sv.echo {
			w, _ := c.Write(sv.buf[:n])
			if w < n {
				sc.pending = append(sc.pending[:0], sv.buf[w:n]...)
			}
		}
		if errors.Is(err, io.EOF) {
			sc.eof = true
		} else if err != nil {
			break
		}
	}
	sc.maybeClose(c)
}

func (sc *serverConn) OnWritable(c *tcp.Conn) {
	if len(sc.pending) > 0 {
		w, _ := c.Write(sc.pending)
		sc.pending = sc.pending[:copy(sc.pending, sc.pending[w:])]
		if len(sc.pending) == 0 {
			sc.OnReadable(c)
			return
		}
	}
	sc.maybeClose(c)
}

func (sc *serverConn) maybeClose(c *tcp.Conn) {
	if sc.eof && len(sc.pending) == 0 && !sc.closed {
		sc.closed = true
		_ = c.Close()
	}
}

func (sc *serverConn) OnClosed(*tcp.Conn, error) { sc.sv.stats.Open-- }

// BulkResult is the outcome of a bulk transfer, for reports.
type BulkResult struct {
	// Bytes is how many bytes were sent (acknowledged) or received.
	Bytes int64 `json:"bytes"`
	// Verified is set when every byte matched the pattern and the count
	// matched the expected size (receiver), or all bytes were acknowledged
	// and the connection closed cleanly (sender).
	Verified bool `json:"verified"`
	// Start and End bound the transfer on the driver's clock.
	Start clock.Time `json:"start_ns"`
	End   clock.Time `json:"end_ns"`
	// Duration is End-Start.
	Duration time.Duration `json:"duration_ns"`
	// Goodput is Bytes*8/Duration in bit/s.
	Goodput float64 `json:"goodput_bps"`
	// Error describes a failure.
	Error string `json:"error,omitempty"`
	// TCP holds the connection's statistics at the end.
	TCP tcp.ConnStats `json:"tcp"`
}

func finish(r *BulkResult, clk clock.Clock, c *tcp.Conn, err error) {
	r.End = clk.Now()
	r.Duration = r.End.Sub(r.Start)
	if r.Duration > 0 {
		r.Goodput = float64(r.Bytes) * 8 / r.Duration.Seconds()
	}
	if err != nil {
		r.Error = err.Error()
		r.Verified = false
	}
	if c != nil {
		r.TCP = c.Stats()
	}
}

// BulkSender connects and sends N pattern bytes, then closes.
type BulkSender struct {
	clk  clock.Clock
	c    *tcp.Conn
	n    int64
	off  int64
	buf  []byte
	done func(BulkResult)
	res  BulkResult
	fin  bool
}

// StartBulkSender connects to remote and sends n bytes of the pattern;
// done is called once with the result when the connection is finished.
func StartBulkSender(s *tcp.Stack, clk clock.Clock, remote netip.AddrPort, n int64, done func(BulkResult)) (*BulkSender, error) {
	b := &BulkSender{clk: clk, n: n, buf: make([]byte, chunk), done: done}
	b.res.Start = clk.Now()
	c, err := s.Connect(netip.AddrPort{}, remote, b)
	if err != nil {
		return nil, fmt.Errorf("tcpapps: bulk sender to %v: %w", remote, err)
	}
	b.c = c
	return b, nil
}

// Result returns the result so far.
func (b *BulkSender) Result() BulkResult { return b.res }

// Progress returns how many bytes the receiver has acknowledged so far.
func (b *BulkSender) Progress() int64 {
	if b.c == nil {
		return 0
	}
	return int64(b.c.Info().DeliveredBytes)
}

// SetCongestionControl sets the connection's congestion control
// (tcp.Conn.SetCongestionControl).
func (b *BulkSender) SetCongestionControl(name string) error {
	if err := b.c.SetCongestionControl(name); err != nil {
		return fmt.Errorf("tcpapps: bulk sender: %w", err)
	}
	return nil
}

// OnEstablished starts sending.
func (b *BulkSender) OnEstablished(c *tcp.Conn) { b.OnWritable(c) }

// OnWritable fills the send buffer with the next pattern bytes.
func (b *BulkSender) OnWritable(c *tcp.Conn) {
	for b.off < b.n {
		k := int64(len(b.buf))
		if left := b.n - b.off; left < k {
			k = left
		}
		fillPattern(b.buf[:k], b.off)
		w, err := c.Write(b.buf[:k])
		b.off += int64(w)
		if err != nil || int64(w) < k {
			return
		}
	}
	if !b.fin {
		b.fin = true
		_ = c.Shutdown()
	}
}

// OnReadable drains (and ignores) anything the receiver sends, closing on
// its FIN.
func (b *BulkSender) OnReadable(c *tcp.Conn) {
	for {
		_, err := c.Read(b.buf)
		if errors.Is(err, io.EOF) {
			_ = c.Close()
			return
		}
		if err != nil {
			return
		}
	}
}

// OnClosed reports the result.
func (b *BulkSender) OnClosed(c *tcp.Conn, err error) {
	st := c.Stats()
	b.res.Bytes = int64(st.BytesSent)
	b.res.Verified = err == nil && b.res.Bytes == b.n
	finish(&b.res, b.clk, c, err)
	if b.done != nil {
		b.done(b.res)
	}
}

// BulkReceiver accepts one connection and verifies the pattern.
type BulkReceiver struct {
	clk    clock.Clock
	l      *tcp.Listener
	expect int64
	got    int64
	ok     bool
	buf    []byte
	done   func(BulkResult)
	res    BulkResult
}

// StartBulkReceiver listens on local for one bulk transfer of expect bytes;
// done is called once with the result when the connection is finished.
func StartBulkReceiver(s *tcp.Stack, clk clock.Clock, local netip.AddrPort, expect int64, done func(BulkResult)) (*BulkReceiver, error) {
	r := &BulkReceiver{clk: clk, expect: expect, ok: true, buf: make([]byte, chunk), done: done}
	l, err := s.Listen(local, 1, r.accept)
	if err != nil {
		return nil, fmt.Errorf("tcpapps: bulk receiver on %v: %w", local, err)
	}
	r.l = l
	return r, nil
}

// Result returns the result so far.
func (r *BulkReceiver) Result() BulkResult { return r.res }

// Progress returns how many bytes have been received so far.
func (r *BulkReceiver) Progress() int64 { return r.got }

func (r *BulkReceiver) accept(l *tcp.Listener) {
	c, err := l.Accept(r)
	if err != nil {
		return
	}
	l.Close()
	r.res.Start = r.clk.Now()
	r.OnReadable(c)
}

// OnEstablished does nothing: the receiver starts on accept.
func (r *BulkReceiver) OnEstablished(*tcp.Conn) {}

// OnWritable does nothing: the receiver sends no data.
func (r *BulkReceiver) OnWritable(*tcp.Conn) {}

// OnReadable reads and checks data; on the sender's FIN it closes.
func (r *BulkReceiver) OnReadable(c *tcp.Conn) {
	for {
		n, err := c.Read(r.buf)
		for i := 0; i < n && r.ok; i++ {
			if r.buf[i] != PatternByte(r.got+int64(i)) {
				r.ok = false
			}
		}
		r.got += int64(n)
		if errors.Is(err, io.EOF) {
			_ = c.Close()
			return
		}
		if err != nil {
			return
		}
	}
}

// OnClosed reports the result.
func (r *BulkReceiver) OnClosed(c *tcp.Conn, err error) {
	r.res.Bytes = r.got
	r.res.Verified = err == nil && r.ok && r.got == r.expect
	finish(&r.res, r.clk, c, err)
	if r.done != nil {
		r.done(r.res)
	}
}
