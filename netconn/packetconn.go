package netconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/stack"
)

// DefaultPacketQueue is how many received datagrams a PacketConn holds
// before it drops new ones.
const DefaultPacketQueue = 256

type datagram struct {
	from netip.AddrPort
	data []byte
}

// PacketConn is a net.PacketConn over a host's UDP socket. Datagrams that
// arrive while the queue is full are dropped and counted.
type PacketConn struct {
	lp    *loop.Loop
	s     *stack.UDPSocket
	local *net.UDPAddr

	mu       sync.Mutex
	queue    []datagram
	dropped  int
	rdl, wdl time.Time
	notify   chan struct{}
	dl       chan struct{}
	done     chan struct{}
	once     sync.Once
}

// ListenPacket binds a UDP socket on h (whose code runs on lp) at local.
func ListenPacket(lp *loop.Loop, h *stack.Host, local netip.AddrPort) (*PacketConn, error) {
	pc := &PacketConn{lp: lp, notify: make(chan struct{}, 1), dl: make(chan struct{}, 1), done: make(chan struct{})}
	var err error
	if cerr := lp.Call(context.Background(), func() {
		pc.s, err = h.BindUDP(local, pc)
		if err == nil {
			pc.local = net.UDPAddrFromAddrPort(pc.s.LocalAddr())
		}
	}); cerr != nil {
		return nil, fmt.Errorf("netconn: listen udp %v: %w", local, cerr)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: net.UDPAddrFromAddrPort(local), Err: err}
	}
	return pc, nil
}

// HandleUDP queues a received datagram (stack.UDPHandler; runs on the loop).
func (pc *PacketConn) HandleUDP(_ *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
	pc.mu.Lock()
	if len(pc.queue) >= DefaultPacketQueue {
		pc.dropped++
	} else {
		pc.queue = append(pc.queue, datagram{from: src, data: append([]byte(nil), payload...)})
	}
	pc.mu.Unlock()
	signal(pc.notify)
}

// Dropped returns how many datagrams were dropped on a full queue.
func (pc *PacketConn) Dropped() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.dropped
}

// ReadFrom waits for a datagram and copies it into b (truncating it if b
// is short, as package net does).
func (pc *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		pc.mu.Lock()
		if len(pc.queue) > 0 {
			d := pc.queue[0]
			pc.queue[0] = datagram{}
			pc.queue = pc.queue[1:]
			pc.mu.Unlock()
			return copy(b, d.data), net.UDPAddrFromAddrPort(d.from), nil
		}
		dl := pc.rdl
		pc.mu.Unlock()
		var expired <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return 0, nil, pc.opErr("read", nil, os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(left)
			expired = timer.C
		}
		var err error
		select {
		case <-pc.notify:
		case <-pc.dl:
		case <-expired:
			err = os.ErrDeadlineExceeded
		case <-pc.done:
			err = net.ErrClosed
		}
		if timer != nil {
			timer.Stop()
		}
		if err != nil {
			return 0, nil, pc.opErr("read", nil, err)
		}
	}
}

// WriteTo sends b to addr, which must be a *net.UDPAddr.
func (pc *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, pc.opErr("write", addr, errors.New("netconn: not a *net.UDPAddr"))
	}
	pc.mu.Lock()
	dl := pc.wdl
	pc.mu.Unlock()
	if !dl.IsZero() && !time.Now().Before(dl) {
		return 0, pc.opErr("write", addr, os.ErrDeadlineExceeded)
	}
	select {
	case <-pc.done:
		return 0, pc.opErr("write", addr, net.ErrClosed)
	default:
	}
	dst := ua.AddrPort()
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	var err error
	if cerr := pc.lp.Call(context.Background(), func() { err = pc.s.SendTo(dst, b) }); cerr != nil {
		return 0, pc.opErr("write", addr, cerr)
	}
	if err != nil {
		return 0, pc.opErr("write", addr, err)
	}
	return len(b), nil
}

func (pc *PacketConn) opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: pc.local, Addr: addr, Err: err}
}

// Close closes the socket and wakes blocked readers.
func (pc *PacketConn) Close() error {
	var err error
	pc.once.Do(func() {
		close(pc.done)
		err = pc.lp.Call(context.Background(), func() { pc.s.Close() })
	})
	return err
}

// LocalAddr returns the bound address.
func (pc *PacketConn) LocalAddr() net.Addr { return pc.local }

// SetDeadline sets the read and write deadlines.
func (pc *PacketConn) SetDeadline(t time.Time) error {
	pc.mu.Lock()
	pc.rdl, pc.wdl = t, t
	pc.mu.Unlock()
	signal(pc.dl)
	return nil
}

// SetReadDeadline sets the read deadline.
func (pc *PacketConn) SetReadDeadline(t time.Time) error {
	pc.mu.Lock()
	pc.rdl = t
	pc.mu.Unlock()
	signal(pc.dl)
	return nil
}

// SetWriteDeadline sets the write deadline.
func (pc *PacketConn) SetWriteDeadline(t time.Time) error {
	pc.mu.Lock()
	pc.wdl = t
	pc.mu.Unlock()
	return nil
}
