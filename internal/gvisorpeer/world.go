package gvisorpeer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// Default addresses of a World: simnet's host is OurAddr, the gVisor peer
// PeerAddr, on a /24.
var (
	OurAddr  = netip.MustParseAddr("10.0.0.1")
	PeerAddr = netip.MustParseAddr("10.0.0.2")
	OurMAC   = [6]byte{0x02, 0, 0, 0, 0, 1}
	PeerMAC  = [6]byte{0x02, 0, 0, 0, 0, 2}
	// OurAddr6 and PeerAddr6 are the hosts' addresses in an IPv6 world.
	OurAddr6  = netip.MustParsePrefix("2001:db8:6::1/64")
	PeerAddr6 = netip.MustParsePrefix("2001:db8:6::2/64")
)

const (
	// DefaultTick is the default resolution of gVisor's timers in
	// simulated time.
	DefaultTick = time.Millisecond
	// DefaultGateMax is how long World.Run waits, in wall time, for the
	// gVisor application to write a reply it owes.
	DefaultGateMax = 2 * time.Second
)

// WorldConfig describes a World. The zero value is a perfect link between
// OurAddr and PeerAddr, simulation seed 0 and no captures.
type WorldConfig struct {
	// Seed is the simulation's seed.
	Seed uint64
	// CaptureDir, when not empty, receives a pcapng capture per host
	// (simnet.pcapng, gvisor.pcapng).
	CaptureDir string
	// Link is the impairment of both directions of the link.
	Link impair.Config
	// TCP configures simnet's TCP.
	TCP tcp.Config
	// OurAddr and OurMAC are simnet's host address and MAC; PeerAddr and
	// PeerMAC the gVisor peer's (defaults: the package variables).
	OurAddr, PeerAddr netip.Addr
	OurMAC, PeerMAC   [6]byte
	// Peer configures the gVisor peer; its Addr, PrefixLen, MAC, Start and
	// Neighbors are filled in from the fields above.
	Peer Config
	// Tick is the resolution of gVisor's timers (default DefaultTick).
	Tick time.Duration
	// GateMax bounds Run's wait for an owed reply (default
	// DefaultGateMax).
	GateMax time.Duration
	// IPv6 carries the transfers over IPv6: both hosts get an IPv6
	// address (OurAddr6 and PeerAddr6 unless Peer.Addr6 is set), find
	// each other by Neighbor Discovery, and World.OurAddr and PeerAddr
	// are the IPv6 addresses. NewWorld lets gVisor's Duplicate Address
	// Detection finish first.
	IPv6 bool
}

// World is a simulated world with a simnet host (proto/stack with TCP and
// UDP) at end A of a link named "wire" and a gVisor peer at end B.
type World struct {
	// W is the simulator, Link the link between the two hosts.
	W    *sim.World
	Link *sim.Link
	// Host is simnet's host ("simnet") and TCP its TCP stack.
	Host *stack.Host
	TCP  *tcp.Stack
	// Peer is the gVisor host ("gvisor").
	Peer *Peer
	// OurAddr and PeerAddr are the hosts' addresses.
	OurAddr, PeerAddr netip.Addr

	gateMax time.Duration
}

// NewWorld builds the world; Close releases it.
func NewWorld(cfg WorldConfig) (*World, error) {
	if !cfg.OurAddr.IsValid() {
		cfg.OurAddr, cfg.OurMAC = OurAddr, OurMAC
	}
	if !cfg.PeerAddr.IsValid() {
		cfg.PeerAddr, cfg.PeerMAC = PeerAddr, PeerMAC
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.GateMax <= 0 {
		cfg.GateMax = DefaultGateMax
	}
	w, err := sim.New(sim.Config{Seed: cfg.Seed, CaptureDir: cfg.CaptureDir})
	if err != nil {
		return nil, fmt.Errorf("gvisorpeer: world: %w", err)
	}
	l, err := w.Connect("wire", sim.Iface{Host: "simnet", Name: "eth0"}, sim.Iface{Host: "gvisor", Name: "eth0"},
		sim.LinkConfig{AtoB: cfg.Link, BtoA: cfg.Link})
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("gvisorpeer: world: %w", err)
	}
	pc := cfg.Peer
	if cfg.IPv6 && !pc.Addr6.IsValid() {
		pc.Addr6 = PeerAddr6
	}
	pc.Addr, pc.PrefixLen, pc.MAC, pc.Start = cfg.PeerAddr, 24, cfg.PeerMAC, w.Now()
	pc.Neighbors = map[netip.Addr][6]byte{cfg.OurAddr: cfg.OurMAC}
	peer, err := New(pc)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	// The peer listens before simnet's host announces its address.
	peer.Attach(l.B())
	peer.Drive(w.Clock(), cfg.Tick)
	h := stack.New(stack.Config{Name: "simnet", Clock: w.Clock(), Rand: w.Rand("host/simnet")})
	ts := tcp.New(h, w.Clock(), w.Rand("host/simnet/tcp"), cfg.TCP)
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	ifc := h.AddInterface("eth0", ether.Addr(cfg.OurMAC), l.A())
	ifc.SetAddress(netip.PrefixFrom(cfg.OurAddr, 24))
	gw := &World{W: w, Link: l, Host: h, TCP: ts, Peer: peer, OurAddr: cfg.OurAddr, PeerAddr: cfg.PeerAddr, gateMax: cfg.GateMax}
	if cfg.IPv6 {
		ours := netip.PrefixFrom(OurAddr6.Addr(), pc.Addr6.Bits())
		if !pc.Addr6.Contains(ours.Addr()) {
			ours = netip.PrefixFrom(pc.Addr6.Masked().Addr().Next(), pc.Addr6.Bits())
		}
		ifc.EnableIPv6(ours)
		gw.OurAddr, gw.PeerAddr = ours.Addr(), pc.Addr6.Addr()
		// gVisor's DAD: one probe, RetransTimer 1 s (RFC 4862 section 5.1).
		gw.Run(1100*time.Millisecond, func() bool { return false })
	}
	return gw, nil
}

// Close stops the peer and closes the world's captures.
func (w *World) Close() error {
	w.Peer.Close()
	if err := w.W.Close(); err != nil {
		return fmt.Errorf("gvisorpeer: close world: %w", err)
	}
	return nil
}

// Run steps the world until done reports true, the event queue empties or
// limit of simulated time passes. While the gVisor application owes a
// reply (Config.Owes) simulated time stands still, at most GateMax of wall
// time per reply, and the reply is sent at the instant its request
// arrived.
func (w *World) Run(limit time.Duration, done func() bool) {
	end := w.W.Now().Add(limit)
	for !done() && w.W.Now() < end {
		if w.Peer.WaitApp(w.gateMax) {
			w.Peer.Sync(w.W.Now())
			continue
		}
		if !w.W.Step() {
			return
		}
	}
}

// Pattern returns n bytes of the deterministic pattern the transfers
// carry (no short period, so a misplaced segment shows).
func Pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + i>>16)
	}
	return b
}

// Source is a tcp.Events that sends Data, then shuts its side down, reads
// (and discards) until the peer's FIN and closes.
type Source struct {
	// Data is what to send.
	Data []byte
	// Done and Err tell that the connection closed, and how.
	Done bool
	Err  error
	off  int
	shut bool
}

// OnEstablished starts sending.
func (s *Source) OnEstablished(c *tcp.Conn) { s.OnWritable(c) }

// OnWritable queues as much of Data as fits, and a FIN after the last byte.
func (s *Source) OnWritable(c *tcp.Conn) {
	for s.off < len(s.Data) {
		n, err := c.Write(s.Data[s.off:])
		s.off += n
		if err != nil {
			return
		}
	}
	if !s.shut {
		s.shut = true
		_ = c.Shutdown()
	}
}

// OnReadable discards what arrives and closes after the peer's FIN.
func (s *Source) OnReadable(c *tcp.Conn) {
	var b [512]byte
	for {
		_, err := c.Read(b[:])
		if errors.Is(err, io.EOF) {
			_ = c.Close()
		}
		if err != nil {
			return
		}
	}
}

// OnClosed records the end of the connection.
func (s *Source) OnClosed(_ *tcp.Conn, err error) { s.Done, s.Err = true, err }

// Sink is a tcp.Events that reads everything into Data and closes after
// the peer's FIN.
type Sink struct {
	// Data is what arrived.
	Data bytes.Buffer
	// Done and Err tell that the connection closed, and how.
	Done bool
	Err  error
	buf  []byte
}

// OnEstablished does nothing: the sink waits for data.
func (s *Sink) OnEstablished(*tcp.Conn) {}

// OnWritable does nothing: the sink sends nothing.
func (s *Sink) OnWritable(*tcp.Conn) {}

// OnReadable drains the receive buffer into Data.
func (s *Sink) OnReadable(c *tcp.Conn) {
	if s.buf == nil {
		s.buf = make([]byte, 64<<10)
	}
	for {
		n, err := c.Read(s.buf)
		s.Data.Write(s.buf[:n])
		if errors.Is(err, io.EOF) {
			_ = c.Close()
		}
		if err != nil {
			return
		}
	}
}

// OnClosed records the end of the connection.
func (s *Sink) OnClosed(_ *tcp.Conn, err error) { s.Done, s.Err = true, err }

// SendToPeer has simnet's host connect to a gVisor server on port, send
// data and close; the server reads to EOF and closes too. It returns the
// sender's counters, and an error unless both ends closed cleanly within
// limit of simulated time and the server received data byte-exact.
func (w *World) SendToPeer(port uint16, data []byte, limit time.Duration) (tcp.ConnStats, error) {
	ln, err := w.Peer.Listen(port)
	if err != nil {
		return tcp.ConnStats{}, err
	}
	defer ln.Close()
	type result struct {
		data []byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- result{err: err}
			return
		}
		got, err := io.ReadAll(c)
		if cerr := c.Close(); err == nil {
			err = cerr
		}
		res <- result{data: got, err: err}
	}()
	src := &Source{Data: data}
	conn, err := w.TCP.Connect(netip.AddrPort{}, netip.AddrPortFrom(w.PeerAddr, port), src)
	if err != nil {
		return tcp.ConnStats{}, fmt.Errorf("gvisorpeer: connect: %w", err)
	}
	var got *result
	w.Run(limit, func() bool {
		if got == nil {
			select {
			case r := <-res:
				got = &r
			default:
			}
		}
		return got != nil && src.Done
	})
	st := conn.Stats()
	switch {
	case got == nil:
		return st, fmt.Errorf("gvisorpeer: send to peer: gVisor side did not finish within %v", limit)
	case got.err != nil:
		return st, fmt.Errorf("gvisorpeer: send to peer: gVisor side: %w", got.err)
	case !src.Done:
		return st, fmt.Errorf("gvisorpeer: send to peer: simnet's connection did not close (state %v)", conn.State())
	case src.Err != nil:
		return st, fmt.Errorf("gvisorpeer: send to peer: simnet's connection: %w", src.Err)
	}
	return st, compare(data, got.data)
}

// ReceiveFromPeer has a gVisor client connect to simnet's host on port,
// send data and close; simnet's server reads to EOF and closes too. It
// returns the receiver's counters, and an error unless both ends closed
// cleanly within limit of simulated time and simnet received data
// byte-exact.
func (w *World) ReceiveFromPeer(port uint16, data []byte, limit time.Duration) (tcp.ConnStats, error) {
	sink := &Sink{}
	var srv *tcp.Conn
	l, err := w.TCP.Listen(netip.AddrPortFrom(w.OurAddr, port), 8, func(l *tcp.Listener) {
		if c, err := l.Accept(sink); err == nil {
			srv = c
			sink.OnReadable(c)
		}
	})
	if err != nil {
		return tcp.ConnStats{}, fmt.Errorf("gvisorpeer: listen: %w", err)
	}
	defer l.Close()
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, err := w.Peer.Dial(ctx, netip.AddrPortFrom(w.OurAddr, port))
		if err != nil {
			res <- err
			return
		}
		if _, err := c.Write(data); err != nil {
			res <- err
			return
		}
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			res <- err
			return
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			res <- err
			return
		}
		res <- c.Close()
	}()
	var gvErr error
	gvDone := false
	w.Run(limit, func() bool {
		if !gvDone {
			select {
			case gvErr = <-res:
				gvDone = true
			default:
			}
		}
		return gvDone && sink.Done
	})
	var st tcp.ConnStats
	if srv != nil {
		st = srv.Stats()
	}
	switch {
	case !gvDone:
		return st, fmt.Errorf("gvisorpeer: receive from peer: gVisor side did not finish within %v", limit)
	case gvErr != nil:
		return st, fmt.Errorf("gvisorpeer: receive from peer: gVisor side: %w", gvErr)
	case srv == nil:
		return st, errors.New("gvisorpeer: receive from peer: simnet accepted no connection")
	case !sink.Done:
		return st, fmt.Errorf("gvisorpeer: receive from peer: simnet's connection did not close (state %v)", srv.State())
	case sink.Err != nil:
		return st, fmt.Errorf("gvisorpeer: receive from peer: simnet's connection: %w", sink.Err)
	}
	return st, compare(data, sink.Data.Bytes())
}

// compare reports how got differs from want.
func compare(want, got []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("gvisorpeer: received %d bytes, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("gvisorpeer: received data differs from the sent data at byte %d", i)
		}
	}
	return nil
}
