// Package gvisorpeer attaches a gVisor netstack (gvisor.dev/gvisor/pkg/tcpip)
// to a simnet link.Endpoint as a peer host (ARP, IPv4, TCP, UDP), so
// simnet's protocols can be tested against an independent implementation
// in the same process. World puts a simnet host (proto/stack with TCP) and
// a Peer at the two ends of a simulated link, and SendToPeer and
// ReceiveFromPeer run bulk TCP transfers across it.
//
// Bridging time and goroutines: gVisor runs its own goroutines (TCP
// processors, timers, the application's blocking calls) and reads time from
// a tcpip.Clock. The peer gives gVisor a faketime.ManualClock that the
// driver advances to the simulator's instant (Sync) on every frame it
// delivers and on a periodic tick (Drive). After each delivery or advance
// the peer waits until gVisor is quiescent (its outbound queue stops
// changing for a few scheduler yields and some tens of microseconds) and then sends the frames gVisor
// produced into the link at the current simulated instant. gVisor's timers
// therefore fire on simulated time, at the tick's resolution. Because
// gVisor's goroutines are scheduled by the Go runtime, a run with a gVisor
// peer is not bit-for-bit reproducible the way an all-simnet run is; byte
// exactness and clean closes are what the interop tests check.
//
// A request-response application on the gVisor side (a DNS server, say)
// may be slower, in wall time, than the quiescence wait. Config.Owes lets
// the test say which delivered frames the application owes a reply to; the
// application calls Replied once it has written the reply, and World.Run
// holds simulated time (WaitApp) while a reply is owed, so that simnet's
// retransmission timers do not fire just because the Go scheduler was slow
// to run a gVisor goroutine.
package gvisorpeer

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const nicID = 1

// gVisor counts as quiescent when its outbound queue has not changed for
// settleYields scheduler yields and settleQuiet of wall time; a settle
// never takes longer than settleMax.
const (
	settleYields = 8
	settleQuiet  = 40 * time.Microsecond
	settleMax    = 5 * time.Millisecond
)

// Config describes the peer host.
type Config struct {
	// Addr is the peer's IPv4 address and PrefixLen its subnet length.
	Addr      netip.Addr
	PrefixLen int
	// MAC is the peer's Ethernet address.
	MAC [6]byte
	// MTU is the IP MTU (default 1500).
	MTU int
	// Start is the instant gVisor's clock starts at (the simulator's start).
	Start clock.Time
	// NoSACK disables SACK on the peer (it is on by default).
	NoSACK bool
	// CongestionControl is "reno" or "cubic" (gVisor's default, reno, if
	// empty).
	CongestionControl string
	// RACK keeps gVisor's RACK-TLP loss detection on. It is off by
	// default (gVisor then uses SACK recovery per RFC 6675): RACK's
	// timers compare transmit times with ACK arrival on gVisor's clock,
	// and because gVisor handles an injected ACK on its own goroutine,
	// sometimes after the bridged clock has moved on, RACK then marks
	// delivered segments lost and retransmits them spuriously.
	RACK bool
	// Neighbors are static ARP entries (IPv4 address to MAC).
	Neighbors map[netip.Addr][6]byte
	// Addr6, when valid, turns IPv6 on with this address and on-link
	// prefix (and ICMPv6 ping endpoints); neighbours are then found by
	// Neighbor Discovery. Without it the peer carries no IPv6 at all.
	Addr6 netip.Prefix
	// Owes, when not nil, is called with every frame delivered to gVisor,
	// on the driver's loop, and reports whether the gVisor application
	// owes a reply to it: the peer then counts one owed reply, which the
	// application settles with Replied.
	Owes func(frame []byte) bool
}

// Peer is a gVisor stack attached to a link endpoint.
type Peer struct {
	st    *stack.Stack
	ch    *channel.Endpoint
	clk   *faketime.ManualClock
	start clock.Time
	now   clock.Time

	out  link.Endpoint
	tick clock.Timer
	ival time.Duration
	sch  clock.Clock

	owes      func([]byte) bool
	owed      atomic.Int64
	gateSlips int

	// FramesIn and FramesOut count frames received from and sent to the
	// link.
	FramesIn, FramesOut int

	// v6 is set when the peer has IPv6 (Config.Addr6).
	v6 bool
}

// New builds the gVisor stack.
func New(cfg Config) (*Peer, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	clk := faketime.NewManualClock()
	nets := []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol}
	transports := []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol}
	if cfg.Addr6.IsValid() {
		nets = append(nets, ipv6.NewProtocol)
		transports = append(transports, icmp.NewProtocol6)
	}
	st := stack.New(stack.Options{
		NetworkProtocols:   nets,
		TransportProtocols: transports,
		Clock:              clk,
	})
	ch := channel.New(4096, uint32(cfg.MTU), tcpip.LinkAddress(cfg.MAC[:]))
	if err := st.CreateNIC(nicID, ethernet.New(ch)); err != nil {
		return nil, fmt.Errorf("gvisorpeer: create nic: %s", err)
	}
	a := cfg.Addr.As4()
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(a).WithPrefix(),
	}
	pa.AddressWithPrefix.PrefixLen = cfg.PrefixLen
	if err := st.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("gvisorpeer: add address %v: %s", cfg.Addr, err)
	}
	routes := []tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}}
	if cfg.Addr6.IsValid() {
		pa6 := tcpip.ProtocolAddress{
			Protocol:          ipv6.ProtocolNumber,
			AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom16(cfg.Addr6.Addr().As16()), PrefixLen: cfg.Addr6.Bits()},
		}
		if err := st.AddProtocolAddress(nicID, pa6, stack.AddressProperties{}); err != nil {
			return nil, fmt.Errorf("gvisorpeer: add address %v: %s", cfg.Addr6, err)
		}
		routes = append(routes, tcpip.Route{Destination: pa6.AddressWithPrefix.Subnet(), NIC: nicID})
	}
	st.SetRouteTable(routes)
	for ip, mac := range cfg.Neighbors {
		if err := st.AddStaticNeighbor(nicID, ipv4.ProtocolNumber, tcpip.AddrFrom4(ip.As4()), tcpip.LinkAddress(mac[:])); err != nil {
			return nil, fmt.Errorf("gvisorpeer: neighbor %v: %s", ip, err)
		}
	}
	sack := tcpip.TCPSACKEnabled(!cfg.NoSACK)
	if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return nil, fmt.Errorf("gvisorpeer: sack: %s", err)
	}
	if cfg.CongestionControl != "" {
		cc := tcpip.CongestionControlOption(cfg.CongestionControl)
		if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &cc); err != nil {
			return nil, fmt.Errorf("gvisorpeer: congestion control: %s", err)
		}
	}
	// Buffers large enough that the application's writes are queued at
	// once and gVisor's sending is paced by TCP, not by its goroutines.
	sb := tcpip.TCPSendBufferSizeRangeOption{Min: 4096, Default: 4 << 20, Max: 8 << 20}
	if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &sb); err != nil {
		return nil, fmt.Errorf("gvisorpeer: send buffer: %s", err)
	}
	if !cfg.RACK {
		rec := tcpip.TCPRecovery(0)
		if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &rec); err != nil {
			return nil, fmt.Errorf("gvisorpeer: recovery: %s", err)
		}
	}
	// Minimum RTO as simnet's default so both sides recover alike.
	minRTO := tcpip.TCPMinRTOOption(200 * time.Millisecond)
	if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &minRTO); err != nil {
		return nil, fmt.Errorf("gvisorpeer: min rto: %s", err)
	}
	return &Peer{st: st, ch: ch, clk: clk, start: cfg.Start, now: cfg.Start, owes: cfg.Owes, v6: cfg.Addr6.IsValid()}, nil
}

// Stack returns the gVisor stack.
func (p *Peer) Stack() *stack.Stack { return p.st }

// Attach connects the peer to ep: frames from ep are injected into gVisor
// and gVisor's frames are sent to ep.
func (p *Peer) Attach(ep link.Endpoint) {
	p.out = ep
	ep.SetReceiver(p)
}

// Drive makes the peer follow clk: it syncs every interval (gVisor's timer
// resolution in simulated time). Call it from the loop that owns clk.
func (p *Peer) Drive(clk clock.Clock, interval time.Duration) {
	p.sch = clk
	p.ival = interval
	p.tick.Init(clock.HandlerFunc(func(now clock.Time) {
		p.Sync(now)
		p.sch.Schedule(&p.tick, now.Add(p.ival))
	}))
	clk.Schedule(&p.tick, clk.Now().Add(interval))
}

// Stop cancels the periodic tick.
func (p *Peer) Stop() {
	if p.sch != nil {
		p.sch.Cancel(&p.tick)
	}
}

// Receive injects a frame from the link into gVisor (link.Receiver).
func (p *Peer) Receive(frame []byte, _ link.Note) {
	if p.sch != nil {
		p.advance(p.sch.Now())
	}
	p.FramesIn++
	if p.owes != nil && p.owes(frame) {
		p.owed.Add(1)
	}
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	p.ch.InjectInbound(0, pkt)
	pkt.DecRef()
	p.settleAndFlush()
}

// Sync advances gVisor's clock to now, lets it run and forwards its frames.
func (p *Peer) Sync(now clock.Time) {
	p.advance(now)
	p.settleAndFlush()
}

func (p *Peer) advance(now clock.Time) {
	if now > p.now {
		p.clk.Advance(now.Sub(p.now))
		p.now = now
	}
}

// settleAndFlush waits for gVisor to go quiet, then sends what it queued.
func (p *Peer) settleAndFlush() {
	start := time.Now()
	quietSince := start
	last, still := -1, 0
	for {
		runtime.Gosched()
		n := p.ch.NumQueued()
		now := time.Now()
		if n != last {
			last, still, quietSince = n, 0, now
			continue
		}
		still++
		if still >= settleYields && now.Sub(quietSince) >= settleQuiet || now.Sub(start) >= settleMax {
			break
		}
	}
	p.flush()
}

func (p *Peer) flush() {
	for {
		pkt := p.ch.Read()
		if pkt == nil {
			return
		}
		v := pkt.ToView()
		frame := v.AsSlice()
		pkt.DecRef()
		p.FramesOut++
		if p.out != nil {
			p.out.Send(frame)
		}
		v.Release()
	}
}

// Replied records that the gVisor application wrote a reply it owed (see
// Config.Owes). It may be called from any goroutine.
func (p *Peer) Replied() {
	for {
		v := p.owed.Load()
		if v <= 0 || p.owed.CompareAndSwap(v, v-1) {
			return
		}
	}
}

// WaitApp blocks while the gVisor application owes replies, at most limit of
// wall time, and reports whether anything was owed. When limit passes the
// debt is forgiven and counted in GateSlips.
func (p *Peer) WaitApp(limit time.Duration) bool {
	if p.owed.Load() <= 0 {
		return false
	}
	start := time.Now()
	for p.owed.Load() > 0 {
		if time.Since(start) > limit {
			p.gateSlips++
			p.owed.Store(0)
			break
		}
		runtime.Gosched()
		time.Sleep(10 * time.Microsecond)
	}
	return true
}

// GateSlips returns how many times WaitApp gave up waiting for a reply.
func (p *Peer) GateSlips() int { return p.gateSlips }

// full converts ap to a gVisor address on the peer's NIC, and returns
// its network protocol.
func full(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	a := ap.Addr().Unmap()
	if a.Is6() {
		return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom16(a.As16()), Port: ap.Port()}, ipv6.ProtocolNumber
	}
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(a.As4()), Port: ap.Port()}, ipv4.ProtocolNumber
}

// Listen opens a gonet TCP listener on port: an IPv6 one (which takes
// IPv4 connections too) when the peer has IPv6, else an IPv4 one.
func (p *Peer) Listen(port uint16) (net.Listener, error) {
	proto := ipv4.ProtocolNumber
	if p.v6 {
		proto = ipv6.ProtocolNumber
	}
	l, err := gonet.ListenTCP(p.st, tcpip.FullAddress{NIC: nicID, Port: port}, proto)
	if err != nil {
		return nil, fmt.Errorf("gvisorpeer: listen on %d: %w", port, err)
	}
	return l, nil
}

// Dial connects over TCP to remote; the simulator must be running
// meanwhile.
func (p *Peer) Dial(ctx context.Context, remote netip.AddrPort) (net.Conn, error) {
	fa, proto := full(remote)
	c, err := gonet.DialContextTCP(ctx, p.st, fa, proto)
	if err != nil {
		return nil, fmt.Errorf("gvisorpeer: dial %v: %w", remote, err)
	}
	return c, nil
}

// ListenUDP opens a gonet UDP socket bound to port (IPv6, dual-stack,
// when the peer has IPv6).
func (p *Peer) ListenUDP(port uint16) (net.PacketConn, error) {
	local := tcpip.FullAddress{NIC: nicID, Port: port}
	proto := ipv4.ProtocolNumber
	if p.v6 {
		proto = ipv6.ProtocolNumber
	}
	c, err := gonet.DialUDP(p.st, &local, nil, proto)
	if err != nil {
		return nil, fmt.Errorf("gvisorpeer: listen udp on %d: %w", port, err)
	}
	return c, nil
}

// DialUDP opens a gonet UDP socket on an ephemeral port, connected to
// remote.
func (p *Peer) DialUDP(remote netip.AddrPort) (net.Conn, error) {
	r, proto := full(remote)
	c, err := gonet.DialUDP(p.st, nil, &r, proto)
	if err != nil {
		return nil, fmt.Errorf("gvisorpeer: dial udp %v: %w", remote, err)
	}
	return c, nil
}

// Close shuts the gVisor stack down.
func (p *Peer) Close() {
	p.Stop()
	p.ch.Close()
	p.st.Close()
}
