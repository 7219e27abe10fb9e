// Package ndp is the neighbour cache of IPv6 Neighbor Discovery (RFC 4861
// section 7.3): address resolution with a bounded queue of waiting
// packets, and Neighbor Unreachability Detection through the INCOMPLETE,
// REACHABLE, STALE, DELAY and PROBE states (appendix C). It is driven by
// the Neighbor Advertisements and link-layer addresses the host receives,
// by its own sends and upper-layer confirmations, and by timers on
// proto/clock; the solicitations it needs are asked of a Sink.
//
// Limits: one link-layer address per neighbour (Ethernet), no router list
// or default router selection, no Redirect handling; the caller passes
// the Router flag of advertisements through, but the cache only records it.
package ndp

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
)

// Protocol constants of RFC 4861 section 10.
const (
	MaxMulticastSolicit = 3
	MaxUnicastSolicit   = 3
	ReachableTime       = 30 * time.Second
	RetransTimer        = time.Second
	DelayFirstProbeTime = 5 * time.Second
	// MinRandomFactor and MaxRandomFactor bound ReachableTime as a
	// fraction of BaseReachableTime, in percent.
	MinRandomFactor = 50
	MaxRandomFactor = 150
)

// Default limits.
const (
	// DefaultMaxEntries bounds the cache; entries created by received
	// solicitations are refused beyond it.
	DefaultMaxEntries = 4096
	// DefaultQueueLen bounds the packets waiting for one neighbour; when
	// full, a new packet replaces the oldest (section 7.2.2). Sixteen
	// holds a fragmented 16 KB datagram (Linux queues up to about 200 KB).
	DefaultQueueLen = 16
)

// State is a neighbour cache entry's reachability state (section 7.3.2).
type State uint8

// The states of section 7.3.2. StateNone is the state of an address with
// no entry.
const (
	StateNone State = iota
	StateIncomplete
	StateReachable
	StateStale
	StateDelay
	StateProbe
)

// String names the state as RFC 4861 does.
func (s State) String() string {
	return [...]string{"NONE", "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE"}[s]
}

// Sink receives what the cache decides to do.
type Sink interface {
	// Solicit sends a Neighbor Solicitation for target: to its
	// solicited-node multicast address when lla is zero (resolution), or
	// unicast to lla (an unreachability probe).
	Solicit(target netip.Addr, lla ether.Addr)
	// Deliver hands over the packets that waited for target's link-layer
	// address, now known to be lla.
	Deliver(target netip.Addr, lla ether.Addr, pkts [][]byte)
	// Unreachable hands back the packets queued for a target whose
	// resolution failed, for ICMPv6 Destination Unreachable code 3
	// (section 7.2.2).
	Unreachable(target netip.Addr, pkts [][]byte)
}

// Config sets a Cache's limits; zero fields take the defaults.
type Config struct {
	MaxEntries int
	QueueLen   int
}

// Cache is one interface's neighbour cache. It runs on the driver's loop
// and is not safe for concurrent use.
type Cache struct {
	clk  clock.Clock
	rnd  *rand.Rand
	sink Sink
	cfg  Config
	m    map[netip.Addr]*entry
	// baseReachable and retrans come from Router Advertisements
	// (section 6.3.4); reachable is the randomized ReachableTime.
	baseReachable, reachable, retrans time.Duration
}

// entry is a neighbour cache entry; its one timer serves every state.
type entry struct {
	c        *Cache
	addr     netip.Addr
	lla      ether.Addr
	state    State
	isRouter bool
	// static entries (AddStatic) keep their address and state: NUD
	// and received messages leave them alone.
	static bool
	probes int
	queue  [][]byte
	timer  clock.Timer
}

// NewCache returns an empty cache. rnd draws the randomized ReachableTime
// (section 6.3.2); sink receives solicitations and packets.
func NewCache(clk clock.Clock, rnd *rand.Rand, sink Sink, cfg Config) *Cache {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	c := &Cache{clk: clk, rnd: rnd, sink: sink, cfg: cfg, m: map[netip.Addr]*entry{}, retrans: RetransTimer}
	c.SetBaseReachableTime(ReachableTime)
	return c
}

// SetBaseReachableTime sets BaseReachableTime, as a Router Advertisement
// with a non-zero Reachable Time does, and draws a new ReachableTime
// uniformly between MinRandomFactor and MaxRandomFactor of it (section
// 6.3.2).
func (c *Cache) SetBaseReachableTime(d time.Duration) {
	c.baseReachable = d
	lo := int64(d) * MinRandomFactor / 100
	hi := int64(d) * MaxRandomFactor / 100
	c.reachable = time.Duration(lo + c.rnd.Int64N(hi-lo+1))
}

// BaseReachableTime returns BaseReachableTime.
func (c *Cache) BaseReachableTime() time.Duration { return c.baseReachable }

// SetRetransTimer sets RetransTimer, as a Router Advertisement with a
// non-zero Retrans Timer does (section 6.3.4).
func (c *Cache) SetRetransTimer(d time.Duration) { c.retrans = d }

// ReachableTime returns the current randomized ReachableTime.
func (c *Cache) ReachableTime() time.Duration { return c.reachable }

// Len returns the number of entries.
func (c *Cache) Len() int { return len(c.m) }

// State returns addr's state and link-layer address.
func (c *Cache) State(addr netip.Addr) (State, ether.Addr) {
	if e := c.m[addr]; e != nil {
		return e.state, e.lla
	}
	return StateNone, ether.Addr{}
}

// IsRouter reports the Router flag recorded for addr.
func (c *Cache) IsRouter(addr netip.Addr) bool {
	e := c.m[addr]
	return e != nil && e.isRouter
}

// Resolve is called to send pkt to the on-link neighbour addr. With a
// link-layer address known it returns it (a STALE entry moves to DELAY,
// section 7.3.3); otherwise pkt is queued, a resolution starts if none is
// running, and ok is false: the Sink's Deliver or Unreachable will return
// the packet. pkt belongs to the cache until then.
func (c *Cache) Resolve(addr netip.Addr, pkt []byte) (lla ether.Addr, ok bool) {
	e := c.m[addr]
	if e == nil {
		e = c.newEntry(addr)
		e.state = StateIncomplete
		e.enqueue(pkt)
		e.solicit()
		return ether.Addr{}, false
	}
	switch e.state {
	case StateIncomplete:
		e.enqueue(pkt)
		return ether.Addr{}, false
	case StateStale:
		e.set(StateDelay, DelayFirstProbeTime)
	}
	return e.lla, true
}

// Lookup returns addr's link-layer address when the entry has one (any
// state but INCOMPLETE), recording the use as Resolve does (a STALE entry
// moves to DELAY, section 7.3.3); ok is false otherwise and nothing
// changes. It is Resolve's fast path for a send: one map lookup.
func (c *Cache) Lookup(addr netip.Addr) (lla ether.Addr, ok bool) {
	e := c.m[addr]
	if e == nil || e.state == StateIncomplete {
		return ether.Addr{}, false
	}
	if e.state == StateStale {
		e.set(StateDelay, DelayFirstProbeTime)
	}
	return e.lla, true
}

// Confirm records upper-layer evidence that addr is reachable, such as
// new acknowledgements from a TCP peer (section 7.3.1): the entry becomes
// REACHABLE. An INCOMPLETE entry is not changed.
func (c *Cache) Confirm(addr netip.Addr) {
	if e := c.m[addr]; e != nil && e.state != StateIncomplete && !e.static {
		e.set(StateReachable, c.reachable)
	}
}

// Observe records a link-layer address learned from the Source
// Link-Layer Address option of a Neighbor Solicitation, Router
// Solicitation or Router Advertisement sent by addr (sections 7.2.3,
// 6.2.6, 6.3.4): a new entry is created STALE, an entry whose address
// changes becomes STALE, an INCOMPLETE entry delivers its queue.
func (c *Cache) Observe(addr netip.Addr, lla ether.Addr) {
	e := c.m[addr]
	if e != nil && e.static {
		return
	}
	if e == nil {
		if len(c.m) >= c.cfg.MaxEntries {
			return
		}
		e = c.newEntry(addr)
		e.lla = lla
		e.set(StateStale, 0)
		return
	}
	if e.state == StateIncomplete {
		e.lla = lla
		e.set(StateStale, 0)
		e.deliver()
		return
	}
	if e.lla != lla {
		e.lla = lla
		e.set(StateStale, 0)
	}
}

// Advert is the content of a received Neighbor Advertisement that the
// cache uses (section 7.2.5).
type Advert struct {
	Target netip.Addr
	// LLA is the Target Link-Layer Address option; HasLLA is false when
	// the advertisement carried none.
	LLA       ether.Addr
	HasLLA    bool
	Router    bool
	Solicited bool
	Override  bool
}

// Advertisement applies a received Neighbor Advertisement (section 7.2.5).
// Advertisements for targets without an entry are ignored.
func (c *Cache) Advertisement(a Advert) {
	e := c.m[a.Target]
	if e == nil || e.static {
		return
	}
	if e.state == StateIncomplete {
		if !a.HasLLA {
			return
		}
		e.lla, e.isRouter = a.LLA, a.Router
		if a.Solicited {
			e.set(StateReachable, c.reachable)
		} else {
			e.set(StateStale, 0)
		}
		e.deliver()
		return
	}
	differs := a.HasLLA && a.LLA != e.lla
	if !a.Override && differs {
		// The advertisement may not replace the address; a REACHABLE
		// entry becomes STALE so that the address is probed.
		if e.state == StateReachable {
			e.set(StateStale, 0)
		}
		return
	}
	if differs {
		e.lla = a.LLA
	}
	e.isRouter = a.Router
	switch {
	case a.Solicited:
		e.set(StateReachable, c.reachable)
	case differs:
		e.set(StateStale, 0)
	}
}

// AddStatic installs a static entry for addr with link-layer address lla,
// as Linux's NUD_PERMANENT ("ip neigh add ... nud permanent"): it is
// REACHABLE and stays so, whatever NUD, solicitations or advertisements
// would do, until Remove. Packets queued for addr are delivered.
func (c *Cache) AddStatic(addr netip.Addr, lla ether.Addr) {
	e := c.m[addr]
	if e == nil {
		e = c.newEntry(addr)
	}
	e.lla, e.static = lla, true
	e.set(StateReachable, 0)
	e.deliver()
}

// Remove deletes addr's entry, handing any queued packets to Unreachable.
func (c *Cache) Remove(addr netip.Addr) {
	if e := c.m[addr]; e != nil {
		e.drop()
	}
}

func (c *Cache) newEntry(addr netip.Addr) *entry {
	e := &entry{c: c, addr: addr}
	e.timer.Init(e)
	c.m[addr] = e
	return e
}

// set moves e to state s, arming its timer for d (none when d is zero).
func (e *entry) set(s State, d time.Duration) {
	e.state = s
	e.probes = 0
	if d > 0 {
		e.c.clk.Schedule(&e.timer, e.c.clk.Now().Add(d))
	} else {
		e.c.clk.Cancel(&e.timer)
	}
}

// enqueue adds pkt to the queue, dropping the oldest when full.
func (e *entry) enqueue(pkt []byte) {
	if len(e.queue) == e.c.cfg.QueueLen {
		old := e.queue[0]
		copy(e.queue, e.queue[1:])
		e.queue = e.queue[:len(e.queue)-1]
		e.c.sink.Unreachable(e.addr, [][]byte{old})
	}
	e.queue = append(e.queue, pkt)
}

// solicit sends one solicitation for the current state and arms the
// retransmission timer.
func (e *entry) solicit() {
	e.probes++
	var to ether.Addr
	if e.state == StateProbe {
		to = e.lla
	}
	e.c.clk.Schedule(&e.timer, e.c.clk.Now().Add(e.c.retrans))
	e.c.sink.Solicit(e.addr, to)
}

func (e *entry) deliver() {
	if len(e.queue) == 0 {
		return
	}
	q := e.queue
	e.queue = nil
	e.c.sink.Deliver(e.addr, e.lla, q)
}

// drop deletes the entry and returns its queue as unreachable.
func (e *entry) drop() {
	e.c.clk.Cancel(&e.timer)
	delete(e.c.m, e.addr)
	if len(e.queue) > 0 {
		q := e.queue
		e.queue = nil
		e.c.sink.Unreachable(e.addr, q)
	}
}

// OnTimer advances the state machine of appendix C.
func (e *entry) OnTimer(clock.Time) {
	switch e.state {
	case StateIncomplete:
		if e.probes >= MaxMulticastSolicit {
			e.drop()
			return
		}
		e.solicit()
	case StateReachable:
		e.set(StateStale, 0)
	case StateDelay:
		e.set(StateProbe, 0)
		e.solicit()
	case StateProbe:
		if e.probes >= MaxUnicastSolicit {
			e.drop()
			return
		}
		e.solicit()
	}
}
