// Package stack is a simnet host: interfaces on link endpoints, ARP (RFC
// 826) with RFC 5227 address probing (Interface.ProbeARP) and
// announcement, IPv4 (RFC 791) with routing, fragmentation and reassembly, ICMP
// (RFC 792) echo and errors, and UDP (RFC 768) sockets. Transport protocols
// such as TCP plug in through RegisterProtocol.
//
// A Host runs on its driver's loop: it never starts goroutines, reads the
// wall clock or does I/O. It is driven by frames arriving on its interfaces
// (Interface.Receive), by timers on its clock.Clock and by application
// calls, all from the one loop goroutine. Outgoing frames are built in
// buffers the host owns and reuses, so steady-state traffic allocates
// nothing.
//
// Scope and limits, honestly stated: forwarding between interfaces is off
// by default and, when on, is a small RFC 1812 subset (no redirects, no
// option processing beyond copying); IP options are accepted but ignored; multicast (IGMP) is not implemented and
// multicast frames and datagrams are dropped and counted; there is no IPv4
// path MTU discovery (PathMTU is the egress interface's MTU). IPv6 (RFC
// 8200, with NDP, SLAAC, ICMPv6 and Packet Too Big) is in the ipv6*.go
// files: see Interface.EnableIPv6.
package stack

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
)

// Defaults for the Config tunables.
const (
	DefaultARPCacheTimeout       = 60 * time.Second
	DefaultARPRetry              = time.Second
	DefaultARPMaxTries           = 3
	DefaultARPQueueLimit         = 16
	DefaultARPCacheLimit         = 16384
	DefaultReassemblyTimeout     = 30 * time.Second
	DefaultReassemblyMemoryLimit = 256 << 10
	DefaultTTL                   = 64
	// DefaultMTU is used for an endpoint that reports an MTU below the IPv4
	// minimum of 68 bytes (RFC 791 section 3.2).
	DefaultMTU = 1500
	// minMTU is the smallest MTU IPv4 allows (RFC 791 section 3.2).
	minMTU = 68
	// noRouteMTU is PathMTU's answer without a route: 576 is the datagram
	// size every host must accept (RFC 791 section 3.1, RFC 1122 3.3.3).
	noRouteMTU = 576
)

// Config describes a host. Zero tunables take their defaults.
type Config struct {
	// Name is the host name, used in logs and capture interface names.
	Name string
	// Clock provides time and timers; required.
	Clock clock.Clock
	// Rand is the host's random source (IP IDs, ephemeral ports), from
	// rng.New(seed, "host/"+name). When nil, New uses
	// rng.New(0, "host/"+Name).
	Rand *rand.Rand

	// ARPCacheTimeout is how long a resolved neighbour stays cached
	// (default 60 s).
	ARPCacheTimeout time.Duration
	// ARPRetry is the interval between ARP requests for an unresolved
	// address (default 1 s: RFC 1122 section 2.3.2.1 limits requests to
	// one per second per destination).
	ARPRetry time.Duration
	// ARPMaxTries is how many requests are sent before the queued packets
	// are dropped (default 3).
	ARPMaxTries int
	// ARPNotify makes SetAddress announce a new address with gratuitous
	// ARP (RFC 5227 section 2.3: ANNOUNCE_NUM announcements
	// ANNOUNCE_INTERVAL apart), as Linux does with
	// net.ipv4.conf.*.arp_notify = 1. Off by default, as on Linux
	// (arp_notify = 0): a statically configured address is not announced.
	// A DHCP client announces the address it has probed and bound with
	// Interface.AnnounceAddress whatever this says.
	ARPNotify bool
	// ARPCacheLimit bounds the entries an interface learns from requests
	// addressed to it (RFC 826's merge rule), so that a flood of spoofed
	// senders cannot grow the cache without limit (default 16,384, room
	// for a large LAN's clients). Entries for addresses the host itself
	// resolves are not limited.
	ARPCacheLimit int
	// ARPQueueLimit bounds the packets queued per unresolved address
	// (default 16); on overflow the oldest is dropped, keeping the latest
	// as RFC 1122 section 2.3.2.2 asks.
	ARPQueueLimit int
	// ReassemblyTimeout is how long a partly reassembled datagram is kept
	// (default 30 s; RFC 791 section 3.2 suggests at least 15 s).
	ReassemblyTimeout time.Duration
	// ReassemblyMemoryLimit bounds the bytes held by all partial
	// datagrams of the host (default 256 KiB).
	ReassemblyMemoryLimit int
	// DefaultTTL is the TTL of datagrams the host originates (default 64).
	DefaultTTL uint8
	// Forwarding makes the host route datagrams between its interfaces
	// (an RFC 1812 subset: TTL decrement, time exceeded, net unreachable,
	// fragmentation or fragmentation-needed). Off by default: a host
	// drops datagrams that are not for it (RFC 1122 section 3.3.4.2).
	Forwarding bool
}

func (c *Config) setDefaults() {
	if c.ARPCacheTimeout <= 0 {
		c.ARPCacheTimeout = DefaultARPCacheTimeout
	}
	if c.ARPRetry <= 0 {
		c.ARPRetry = DefaultARPRetry
	}
	if c.ARPMaxTries <= 0 {
		c.ARPMaxTries = DefaultARPMaxTries
	}
	if c.ARPCacheLimit <= 0 {
		c.ARPCacheLimit = DefaultARPCacheLimit
	}
	if c.ARPQueueLimit <= 0 {
		c.ARPQueueLimit = DefaultARPQueueLimit
	}
	if c.ReassemblyTimeout <= 0 {
		c.ReassemblyTimeout = DefaultReassemblyTimeout
	}
	if c.ReassemblyMemoryLimit <= 0 {
		c.ReassemblyMemoryLimit = DefaultReassemblyMemoryLimit
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultTTL
	}
}

// Errors returned by the host's API, wrapped with the operation and
// addresses involved.
var (
	ErrNoRoute       = errors.New("stack: no route to host")
	ErrNoSource      = errors.New("stack: no source address")
	ErrInvalidAddr   = errors.New("stack: invalid address")
	ErrMessageTooBig = errors.New("stack: message too big")
	ErrAddrInUse     = errors.New("stack: address already in use")
	ErrNoPorts       = errors.New("stack: no free ephemeral port")
	ErrClosed        = errors.New("stack: socket closed")
)

// ProtocolHandler receives the datagrams of one IP protocol addressed to the
// host (after reassembly). payload is valid only during the call.
type ProtocolHandler interface {
	HandleIP(src, dst netip.Addr, payload []byte)
}

// ICMPErrorHandler may be implemented by a ProtocolHandler to learn about
// ICMP errors (destination unreachable, time exceeded, parameter problem)
// quoting one of its datagrams. quoted is the original IP header and at
// least 8 bytes of its payload, valid only during the call. For ICMPv6
// errors (typ an ICMPv6 type, including Packet Too Big with the MTU in
// info) quoted is the fixed IPv6 header, its Next Header set to the
// handler's protocol, followed by the quoted upper-layer bytes. A path MTU
// the message reports has already been recorded (Host.PathMTU) when the
// handler is called.
type ICMPErrorHandler interface {
	HandleICMPError(from netip.Addr, typ, code uint8, info uint32, quoted []byte)
}

// EchoReplyHandler receives ICMP echo replies addressed to the host.
type EchoReplyHandler interface {
	HandleEchoReply(src netip.Addr, id, seq uint16, payload []byte, ttl uint8)
}

// inlineBufs is the number of scratch buffers held inline in Host: a
// reply built while a received datagram is being handled nests two deep.
const inlineBufs = 2

// smallScratch is the size of a scratch buffer first taken for a small
// frame (acquire).
const smallScratch = 256

// Host is one simulated (or live) network host.
type Host struct {
	// The fields every frame touches come first, followed by the first
	// interface, so that a frame's path through the host reads a few
	// adjacent cache lines of one allocation rather than one line in
	// each of several.
	hot    hotStats
	depth  int32
	nextID uint16
	ttl    uint8
	// rxTOS is the TOS byte of the datagram being delivered (ReceivedTOS).
	rxTOS uint8
	ifcs  []*Interface
	// ifcArr backs ifcs for the first interfaces; ifc0 is the first.
	ifcArr [2]*Interface
	ifc0   Interface

	// bufs is a stack of scratch buffers: a send that happens while
	// another is in progress on the same host (a reply sent from inside a
	// synchronous delivery) takes the next one, so nothing is overwritten.
	// Depths beyond inlineBufs use moreBufs.
	bufs     [inlineBufs][]byte
	moreBufs [][]byte
	echo     EchoReplyHandler
	clk      clock.Clock

	cfg   Config
	rnd   *rand.Rand
	stats Stats

	routes []route
	gw     netip.Addr
	// rx is the interface of the datagram being delivered (nil outside a
	// delivery and for loopback).
	rx *Interface

	udp      map[udpKey]*UDPSocket
	udpPorts map[uint16]int

	reasm reassembler

	pool *link.BufPool

	loopQ     [][]byte
	loopTimer clock.Timer

	// protos are the registered transport handlers (TCP, usually alone):
	// a short list, not a 256-entry table, so an idle host stays small.
	protos []protoHandler

	// pmtu4 holds IPv4 path MTUs learned from ICMP (RFC 1191; pmtu.go).
	pmtu4 map[netip.Addr]pmtuEntry
}

// New returns a host configured by cfg. cfg.Clock is required: New panics
// without it, as the host cannot run.
func New(cfg Config) *Host {
	if cfg.Clock == nil {
		panic("stack: New with a nil Config.Clock")
	}
	if cfg.Rand == nil {
		cfg.Rand = rng.New(0, "host/"+cfg.Name)
	}
	cfg.setDefaults()
	h := &Host{
		cfg:      cfg,
		clk:      cfg.Clock,
		rnd:      cfg.Rand,
		ttl:      cfg.DefaultTTL,
		udp:      make(map[udpKey]*UDPSocket),
		udpPorts: make(map[uint16]int),
		pool:     link.NewBufPool(ether.HeaderLen + DefaultMTU),
	}
	h.ifcs = h.ifcArr[:0]
	h.nextID = uint16(h.rnd.Uint32())
	h.reasm.init(h)
	h.loopTimer.Init(clock.HandlerFunc(h.runLoopback))
	return h
}

// Name returns the host name.
func (h *Host) Name() string { return h.cfg.Name }

// Clock returns the host's clock.
func (h *Host) Clock() clock.Clock { return h.clk }

// Rand returns the host's random source, for protocols running on it.
func (h *Host) Rand() *rand.Rand { return h.rnd }

// Config returns the host's configuration with defaults filled in.
func (h *Host) Config() Config { return h.cfg }

// Interfaces returns the host's interfaces in the order they were added.
func (h *Host) Interfaces() []*Interface { return append([]*Interface(nil), h.ifcs...) }

// Interface returns the interface named name, or nil.
func (h *Host) Interface(name string) *Interface {
	for _, i := range h.ifcs {
		if i.name == name {
			return i
		}
	}
	return nil
}

// RegisterProtocol sets the handler of IP protocol proto, replacing any
// previous one; nil removes it. ICMP (1) and UDP (17) are handled by the
// host itself and cannot be replaced.
func (h *Host) RegisterProtocol(proto uint8, ph ProtocolHandler) {
	for i, e := range h.protos {
		if e.num != proto {
			continue
		}
		if ph == nil {
			h.protos = slices.Delete(h.protos, i, i+1)
		} else {
			h.protos[i].h = ph
		}
		return
	}
	if ph != nil {
		h.protos = append(h.protos, protoHandler{num: proto, h: ph})
	}
}

// protoHandler is one entry of Host.protos.
type protoHandler struct {
	h   ProtocolHandler
	num uint8
}

// proto returns the handler registered for IP protocol p, or nil.
func (h *Host) proto(p uint8) ProtocolHandler {
	for _, e := range h.protos {
		if e.num == p {
			return e.h
		}
	}
	return nil
}

// SetEchoReplyHandler sets where ICMP echo replies are delivered; nil
// discards them.
func (h *Host) SetEchoReplyHandler(hnd EchoReplyHandler) { h.echo = hnd }

// Stats returns a snapshot of the host's counters.
func (h *Host) Stats() Stats {
	s := h.stats
	h.hot.addTo(&s)
	for _, i := range h.ifcs {
		i.link.addTo(&s)
	}
	s.ReassemblyBytesInUse = uint64(h.reasm.mem)
	s.ReassemblyPending = uint64(len(h.reasm.order))
	return s
}

// ReassemblyMemoryInUse returns the bytes currently held by partly
// reassembled datagrams.
func (h *Host) ReassemblyMemoryInUse() int { return h.reasm.mem }

// acquire returns a scratch buffer of at least n bytes for the current
// nesting depth; release must follow when the buffer is no longer used.
func (h *Host) acquire(n int) []byte {
	var p *[]byte
	if h.depth < inlineBufs {
		p = &h.bufs[h.depth]
	} else {
		k := int(h.depth) - inlineBufs
		if k == len(h.moreBufs) {
			h.moreBufs = append(h.moreBufs, nil)
		}
		p = &h.moreBufs[k]
	}
	if cap(*p) < n {
		// A host that only sends small frames (ARP, pings) keeps a small
		// buffer: 100,000 idle hosts do not hold a full frame each. The
		// first larger frame takes a full-sized one for good.
		c := smallScratch
		if n > c {
			c = max(n, ether.HeaderLen+DefaultMTU)
		}
		*p = make([]byte, c)
	}
	h.depth++
	return (*p)[:n]
}

// release returns the buffer taken by the matching acquire.
func (h *Host) release() { h.depth-- }
