// Package netconn adapts simnet's loop-driven TCP to the standard library's
// net.Conn and net.Listener, in the spirit of gVisor's gonet: every call is
// handed to the stack's loop (loop.Loop.Call) and the calling goroutine
// blocks until the loop answers and, when the operation would block, until
// the connection's readiness callbacks wake it or its deadline passes. This
// is what lets net/http and any Go program run on a simnet stack.
//
// The adapters must not be used from the loop goroutine itself: they would
// wait for the loop they are blocking.
package netconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/tcp"
)

// Conn is a net.Conn over a simnet TCP connection.
type Conn struct {
	lp *loop.Loop
	c  *tcp.Conn // used only on the loop

	readable chan struct{}
	writable chan struct{}
	est      chan struct{}
	done     chan struct{} // closed by Close
	doneOnce sync.Once
	// ended is closed when the TCP connection ends (OnClosed): reset,
	// refused, timed out by retransmission or keep-alive, or finished.
	// It wakes every blocked call, however many there are.
	ended     chan struct{}
	endedOnce sync.Once

	mu        sync.Mutex
	rdl, wdl  time.Time
	dlChanged chan struct{}
	local     *net.TCPAddr
	remote    *net.TCPAddr
}

func newConn(lp *loop.Loop) *Conn {
	return &Conn{
		lp:        lp,
		readable:  make(chan struct{}, 1),
		writable:  make(chan struct{}, 1),
		est:       make(chan struct{}, 1),
		done:      make(chan struct{}),
		ended:     make(chan struct{}),
		dlChanged: make(chan struct{}, 2),
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// OnEstablished implements tcp.Events.
func (c *Conn) OnEstablished(*tcp.Conn) { signal(c.est) }

// OnReadable implements tcp.Events.
func (c *Conn) OnReadable(*tcp.Conn) { signal(c.readable) }

// OnWritable implements tcp.Events.
func (c *Conn) OnWritable(*tcp.Conn) { signal(c.writable) }

// OnClosed implements tcp.Events: it wakes every waiter, which then
// sees the connection's error (or io.EOF) from the stack.
func (c *Conn) OnClosed(*tcp.Conn, error) {
	c.endedOnce.Do(func() { close(c.ended) })
	signal(c.est)
}

func (c *Conn) setAddrs() {
	la, ra := c.c.LocalAddr(), c.c.RemoteAddr()
	c.local = net.TCPAddrFromAddrPort(la)
	c.remote = net.TCPAddrFromAddrPort(ra)
}

func (c *Conn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// call runs fn on the loop unless the connection is closed.
func (c *Conn) call(fn func()) error {
	select {
	case <-c.done:
		return net.ErrClosed
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := c.lp.Call(ctx, fn); err != nil {
		return net.ErrClosed
	}
	return nil
}

// wait blocks until ch is signalled, the deadline read from dl passes or
// the connection is closed.
func (c *Conn) wait(ch chan struct{}, dl func() time.Time) error {
	for {
		d := dl()
		var timer *time.Timer
		var expired <-chan time.Time
		if !d.IsZero() {
			left := time.Until(d)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(left)
			expired = timer.C
		}
		var err error
		again := false
		select {
		case <-ch:
		case <-c.ended:
		case <-c.done:
			err = net.ErrClosed
		case <-expired:
			err = os.ErrDeadlineExceeded
		case <-c.dlChanged:
			again = true
		}
		if timer != nil {
			timer.Stop()
		}
		if !again {
			return err
		}
	}
}

func (c *Conn) readDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rdl
}

func (c *Conn) writeDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wdl
}

// Read reads data from the connection.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		if d := c.readDeadline(); !d.IsZero() && !time.Now().Before(d) {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		var n int
		var err error
		if cerr := c.call(func() { n, err = c.c.Read(b) }); cerr != nil {
			return 0, c.opErr("read", cerr)
		}
		if !errors.Is(err, tcp.ErrWouldBlock) {
			return n, c.opErr("read", err)
		}
		if err := c.wait(c.readable, c.readDeadline); err != nil {
			return 0, c.opErr("read", err)
		}
	}
}

// Write writes all of b unless an error or the deadline stops it.
func (c *Conn) Write(b []byte) (int, error) {
	total := 0
	for total < len(b) {
		if d := c.writeDeadline(); !d.IsZero() && !time.Now().Before(d) {
			return total, c.opErr("write", os.ErrDeadlineExceeded)
		}
		var n int
		var err error
		if cerr := c.call(func() { n, err = c.c.Write(b[total:]) }); cerr != nil {
			return total, c.opErr("write", cerr)
		}
		total += n
		if err == nil {
			continue
		}
		if !errors.Is(err, tcp.ErrWouldBlock) {
			return total, c.opErr("write", err)
		}
		if err := c.wait(c.writable, c.writeDeadline); err != nil {
			return total, c.opErr("write", err)
		}
	}
	return total, nil
}

// CloseWrite shuts down the sending direction (a FIN follows the data).
func (c *Conn) CloseWrite() error {
	var err error
	if cerr := c.call(func() { err = c.c.Shutdown() }); cerr != nil {
		return c.opErr("close", cerr)
	}
	return c.opErr("close", err)
}

// Close closes the connection gracefully and wakes blocked calls.
func (c *Conn) Close() error {
	var err error
	if cerr := c.call(func() { err = c.c.Close() }); cerr != nil {
		return c.opErr("close", cerr)
	}
	c.doneOnce.Do(func() { close(c.done) })
	return c.opErr("close", err)
}

// SetNoDelay turns Nagle's algorithm off (true, the default as in package
// net) or on.
func (c *Conn) SetNoDelay(on bool) error {
	return c.call(func() { c.c.SetNoDelay(on) })
}

// SetKeepAlive turns TCP keep-alive probes on or off (RFC 1122 section
// 4.2.3.6) with the stack's idle time, interval and count; when the peer
// stops answering, blocked and later calls fail with tcp.ErrTimeout.
func (c *Conn) SetKeepAlive(on bool) error {
	return c.call(func() { c.c.SetKeepAlive(on) })
}

// Stats returns the connection's TCP statistics.
func (c *Conn) Stats() tcp.ConnStats {
	var st tcp.ConnStats
	_ = c.call(func() { st = c.c.Stats() })
	return st
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl, c.wdl = t, t
	c.mu.Unlock()
	signal(c.dlChanged)
	signal(c.dlChanged)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.rdl = t
	c.mu.Unlock()
	signal(c.dlChanged)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.wdl = t
	c.mu.Unlock()
	signal(c.dlChanged)
	return nil
}

// Dial connects to remote through s, whose code runs on lp, and waits for
// the handshake or ctx.
func Dial(ctx context.Context, lp *loop.Loop, s *tcp.Stack, remote netip.AddrPort) (*Conn, error) {
	nc := newConn(lp)
	var err error
	if cerr := lp.Call(ctx, func() {
		nc.c, err = s.Connect(netip.AddrPort{}, remote, nc)
		if err == nil {
			nc.c.SetNoDelay(true)
			nc.setAddrs()
		}
	}); cerr != nil {
		return nil, fmt.Errorf("netconn: dial %v: %w", remote, cerr)
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(remote), Err: err}
	}
	for {
		var st tcp.State
		var cerr error
		if e := lp.Call(ctx, func() { st, cerr = nc.c.State(), nc.c.Err() }); e != nil {
			_ = lp.Call(context.Background(), func() { nc.c.Abort() })
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: nc.remote, Err: e}
		}
		if cerr != nil {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: nc.remote, Err: cerr}
		}
		if st != tcp.StateSynSent && st != tcp.StateSynReceived {
			return nc, nil
		}
		select {
		case <-nc.est:
		case <-ctx.Done():
			_ = lp.Call(context.Background(), func() { nc.c.Abort() })
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: nc.remote, Err: ctx.Err()}
		}
	}
}

// Listener is a net.Listener over a simnet TCP listener.
type Listener struct {
	lp    *loop.Loop
	l     *tcp.Listener
	ready chan struct{}
	done  chan struct{}
	once  sync.Once
	addr  *net.TCPAddr
}

// Listen opens a listener on local through s, whose code runs on lp.
func Listen(lp *loop.Loop, s *tcp.Stack, local netip.AddrPort, backlog int) (*Listener, error) {
	ln := &Listener{lp: lp, ready: make(chan struct{}, 1), done: make(chan struct{}), addr: net.TCPAddrFromAddrPort(local)}
	var err error
	if cerr := lp.Call(context.Background(), func() {
		ln.l, err = s.Listen(local, backlog, func(*tcp.Listener) { signal(ln.ready) })
	}); cerr != nil {
		return nil, fmt.Errorf("netconn: listen on %v: %w", local, cerr)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: ln.addr, Err: err}
	}
	return ln, nil
}

// Accept waits for and returns the next connection.
func (ln *Listener) Accept() (net.Conn, error) {
	for {
		select {
		case <-ln.done:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.addr, Err: net.ErrClosed}
		default:
		}
		nc := newConn(ln.lp)
		var err error
		if cerr := ln.lp.Call(context.Background(), func() {
			nc.c, err = ln.l.Accept(nc)
			if err == nil {
				nc.c.SetNoDelay(true)
				nc.setAddrs()
			}
		}); cerr != nil {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.addr, Err: cerr}
		}
		if err == nil {
			return nc, nil
		}
		if !errors.Is(err, tcp.ErrWouldBlock) {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: ln.addr, Err: err}
		}
		select {
		case <-ln.ready:
		case <-ln.done:
		}
	}
}

// Close stops listening; connections not yet accepted are reset.
func (ln *Listener) Close() error {
	ln.once.Do(func() {
		close(ln.done)
		_ = ln.lp.Call(context.Background(), func() { ln.l.Close() })
	})
	return nil
}

// Addr returns the listening address.
func (ln *Listener) Addr() net.Addr { return ln.addr }
