package slaac

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/icmpv6"
)

// Protocol constants (RFC 4862 section 5.1, RFC 4861 section 10, RFC 7217
// section 6).
const (
	// DupAddrDetectTransmits is the default number of DAD solicitations.
	DupAddrDetectTransmits = 1
	// RetransTimer is the default wait after each DAD solicitation.
	RetransTimer = time.Second
	// MaxRtrSolicitationDelay bounds the random delay before the first
	// DAD solicitation (RFC 4862 section 5.4.2).
	MaxRtrSolicitationDelay = time.Second
	// IDGenRetries is how many new identifiers are tried after a
	// conflict (RFC 7217 section 6).
	IDGenRetries = 3
	// twoHours is the valid-lifetime floor of RFC 4862 section 5.5.3 (e).
	twoHours = 2 * time.Hour
)

// LinkLocalPrefix is fe80::/64.
var LinkLocalPrefix = netip.MustParsePrefix("fe80::/64")

// State is an autoconfigured address's state (RFC 4862 section 2).
type State uint8

// Address states.
const (
	Tentative State = iota + 1
	Preferred
	Deprecated
)

// String names the state.
func (s State) String() string {
	switch s {
	case Tentative:
		return "tentative"
	case Preferred:
		return "preferred"
	case Deprecated:
		return "deprecated"
	}
	return "invalid"
}

// Sink receives what the autoconfiguration decides.
type Sink interface {
	// SolicitDAD sends a Duplicate Address Detection Neighbor
	// Solicitation for the tentative address target: from the
	// unspecified address to target's solicited-node multicast address,
	// which the interface must have joined (RFC 4862 section 5.4.2).
	SolicitDAD(target netip.Addr)
	// Changed reports that a's state changed: assigned once DAD passed
	// (Preferred or Deprecated), deprecated, or removed (ok false: its
	// valid lifetime ended or DAD found it duplicated).
	Changed(a netip.Addr, s State, ok bool)
	// Failed reports that no address could be formed in prefix: every
	// identifier tried was a duplicate (RFC 7217 section 6), and manual
	// configuration is needed (RFC 4862 section 5.4.5).
	Failed(prefix netip.Prefix)
}

// Config identifies the interface for RFC 7217 and sets DAD parameters;
// zero fields take the defaults.
type Config struct {
	// NetIface names the interface (RFC 7217 Net_Iface).
	NetIface string
	// NetworkID optionally names the network (RFC 7217 Network_ID).
	NetworkID []byte
	// Secret is the host's secret key (RFC 7217 secret_key), at least 128
	// bits in a real deployment.
	Secret []byte
	// DADTransmits is DupAddrDetectTransmits; negative disables DAD.
	DADTransmits int
	// RetransTimer is the wait after each DAD solicitation.
	RetransTimer time.Duration
}

// Addr is an autoconfigured address and its lifetimes.
type Addr struct {
	Addr   netip.Addr
	Prefix netip.Prefix
	State  State
	// PreferredUntil and ValidUntil are the lifetime ends; zero means
	// infinite.
	PreferredUntil, ValidUntil clock.Time
	// DADCounter is the RFC 7217 DAD_Counter the identifier was made with.
	DADCounter uint8
}

// addr is an address with its timer.
type addr struct {
	Addr
	a        *Autoconf
	sent     int // DAD solicitations sent
	retries  int // identifiers replaced after conflicts
	infPref  bool
	infValid bool
	timer    clock.Timer
}

// Autoconf holds one interface's autoconfigured addresses. It runs on the
// driver's loop and is not safe for concurrent use.
type Autoconf struct {
	clk   clock.Clock
	rnd   *rand.Rand
	sink  Sink
	cfg   Config
	addrs []*addr // in creation order, so reports are deterministic
}

// New returns an Autoconf with no addresses. rnd draws the delays before
// DAD.
func New(clk clock.Clock, rnd *rand.Rand, sink Sink, cfg Config) *Autoconf {
	if cfg.DADTransmits == 0 {
		cfg.DADTransmits = DupAddrDetectTransmits
	}
	if cfg.RetransTimer <= 0 {
		cfg.RetransTimer = RetransTimer
	}
	return &Autoconf{clk: clk, rnd: rnd, sink: sink, cfg: cfg}
}

// Addresses returns the addresses, tentative ones included.
func (a *Autoconf) Addresses() []Addr {
	out := make([]Addr, len(a.addrs))
	for i, x := range a.addrs {
		out[i] = x.Addr
	}
	return out
}

// Any reports whether f holds for one of the addresses, tentative ones
// included, without allocating.
func (a *Autoconf) Any(f func(netip.Addr) bool) bool {
	for _, x := range a.addrs {
		if f(x.Addr.Addr) {
			return true
		}
	}
	return false
}

// Lookup returns the address a in the table.
func (a *Autoconf) Lookup(ip netip.Addr) (Addr, bool) {
	if x := a.find(ip); x != nil {
		return x.Addr, true
	}
	return Addr{}, false
}

func (a *Autoconf) find(ip netip.Addr) *addr {
	for _, x := range a.addrs {
		if x.Addr.Addr == ip {
			return x
		}
	}
	return nil
}

func (a *Autoconf) byPrefix(p netip.Prefix) *addr {
	for _, x := range a.addrs {
		if x.Prefix == p {
			return x
		}
	}
	return nil
}

// StartLinkLocal forms the link-local address with a stable identifier
// and starts DAD on it (RFC 4862 section 5.3). Its lifetimes are infinite.
func (a *Autoconf) StartLinkLocal() netip.Addr {
	if x := a.byPrefix(LinkLocalPrefix); x != nil {
		return x.Addr.Addr
	}
	x := a.add(LinkLocalPrefix)
	x.infPref, x.infValid = true, true
	a.startDAD(x)
	return x.Addr.Addr
}

func (a *Autoconf) add(p netip.Prefix) *addr {
	iid, n := StableIID(p, a.cfg.NetIface, a.cfg.NetworkID, 0, a.cfg.Secret)
	x := &addr{a: a, Addr: Addr{Addr: Address(p, iid), Prefix: p, State: Tentative, DADCounter: n}}
	x.timer.Init(x)
	a.addrs = append(a.addrs, x)
	return x
}

// startDAD schedules the first solicitation after a random delay in
// [0, MaxRtrSolicitationDelay] (RFC 4862 section 5.4.2).
func (a *Autoconf) startDAD(x *addr) {
	x.State, x.sent = Tentative, 0
	if a.cfg.DADTransmits < 0 {
		a.assign(x)
		return
	}
	d := time.Duration(a.rnd.Int64N(int64(MaxRtrSolicitationDelay) + 1))
	a.clk.Schedule(&x.timer, a.clk.Now().Add(d))
}

// PrefixInfo processes a Prefix Information option of a Router
// Advertisement (RFC 4862 section 5.5.3).
func (a *Autoconf) PrefixInfo(pi icmpv6.PrefixInfo) {
	p := pi.Prefix.Masked()
	switch {
	case !pi.Autonomous, // (a)
		p.Addr().IsLinkLocalUnicast(),           // (b)
		pi.PreferredLifetime > pi.ValidLifetime, // (c)
		p.Bits() != 64 || !p.Addr().Is6():       // (d): prefix length + 64-bit identifier must be 128
		return
	}
	now := a.clk.Now()
	x := a.byPrefix(p)
	if x == nil {
		if pi.ValidLifetime == 0 {
			return
		}
		x = a.add(p)
		x.setPreferred(now, pi.PreferredLifetime)
		x.setValid(now, pi.ValidLifetime)
		a.startDAD(x)
		return
	}
	// (e): an address formed from this prefix exists.
	x.setPreferred(now, pi.PreferredLifetime)
	received := lifetime(pi.ValidLifetime)
	remaining := x.remainingValid(now)
	switch {
	case pi.ValidLifetime == icmpv6.Infinite || received > twoHours || (!x.infValid && received > remaining):
		x.setValid(now, pi.ValidLifetime)
	case !x.infValid && remaining <= twoHours:
		// Ignore the valid lifetime: a spoofed RA cannot shorten it.
	default:
		x.setValid(now, uint32(twoHours/time.Second))
	}
	if x.State != Tentative {
		x.lifetimeChanged(now)
	}
}

func lifetime(s uint32) time.Duration { return time.Duration(s) * time.Second }

func (x *addr) setPreferred(now clock.Time, s uint32) {
	x.infPref = s == icmpv6.Infinite
	x.PreferredUntil = 0
	if !x.infPref {
		x.PreferredUntil = now.Add(lifetime(s))
	}
}

func (x *addr) setValid(now clock.Time, s uint32) {
	x.infValid = s == icmpv6.Infinite
	x.ValidUntil = 0
	if !x.infValid {
		x.ValidUntil = now.Add(lifetime(s))
	}
}

func (x *addr) remainingValid(now clock.Time) time.Duration {
	if x.infValid {
		return time.Duration(1<<63 - 1)
	}
	return x.ValidUntil.Sub(now)
}

// lifetimeChanged updates the state of an assigned address and arms its
// timer for the next lifetime end.
func (x *addr) lifetimeChanged(now clock.Time) {
	a := x.a
	if !x.infValid && !x.ValidUntil.After(now) {
		a.remove(x)
		return
	}
	st := Preferred
	if !x.infPref && !x.PreferredUntil.After(now) {
		st = Deprecated
	}
	if st != x.State {
		x.State = st
		a.sink.Changed(x.Addr.Addr, st, true)
	}
	next := clock.Time(0)
	if st == Preferred && !x.infPref {
		next = x.PreferredUntil
	} else if !x.infValid {
		next = x.ValidUntil
	}
	if next != 0 {
		a.clk.Schedule(&x.timer, next)
	} else {
		a.clk.Cancel(&x.timer)
	}
}

func (a *Autoconf) assign(x *addr) {
	x.State = 0 // lifetimeChanged reports the first state
	x.lifetimeChanged(a.clk.Now())
}

func (a *Autoconf) remove(x *addr) {
	a.clk.Cancel(&x.timer)
	for i, y := range a.addrs {
		if y == x {
			a.addrs = append(a.addrs[:i], a.addrs[i+1:]...)
			break
		}
	}
	if x.State != Tentative {
		a.sink.Changed(x.Addr.Addr, x.State, false)
	}
}

// OnTimer sends the next DAD solicitation, ends DAD, or applies a
// lifetime end.
func (x *addr) OnTimer(now clock.Time) {
	a := x.a
	if x.State != Tentative {
		x.lifetimeChanged(now)
		return
	}
	if x.sent < a.cfg.DADTransmits {
		x.sent++
		a.clk.Schedule(&x.timer, now.Add(a.cfg.RetransTimer))
		a.sink.SolicitDAD(x.Addr.Addr)
		return
	}
	// RetransTimer after the last solicitation passed with no conflict
	// (RFC 4862 section 5.4.3-5.4.4): the address is unique.
	a.assign(x)
}

// NeighborSolicitation handles a received NS for target from src (RFC
// 4862 section 5.4.3). An NS from the unspecified address for one of our
// tentative addresses is another node's DAD for it: a duplicate. It
// reports whether the NS concerned a tentative address, which the host
// must then not answer.
func (a *Autoconf) NeighborSolicitation(src, target netip.Addr) bool {
	x := a.find(target)
	if x == nil || x.State != Tentative {
		return false
	}
	if src.IsUnspecified() {
		a.duplicate(x)
	}
	return true
}

// NeighborAdvertisement handles a received NA for target (RFC 4862
// section 5.4.4): for a tentative address, a duplicate.
func (a *Autoconf) NeighborAdvertisement(target netip.Addr) {
	if x := a.find(target); x != nil && x.State == Tentative {
		a.duplicate(x)
	}
}

// duplicate abandons x's identifier and, per RFC 7217 section 6, tries
// another with DAD_Counter incremented, up to IDGenRetries times.
func (a *Autoconf) duplicate(x *addr) {
	a.clk.Cancel(&x.timer)
	if x.retries >= IDGenRetries || x.DADCounter == 255 {
		a.remove(x)
		a.sink.Failed(x.Prefix)
		return
	}
	x.retries++
	iid, n := StableIID(x.Prefix, a.cfg.NetIface, a.cfg.NetworkID, x.DADCounter+1, a.cfg.Secret)
	x.Addr.Addr, x.DADCounter = Address(x.Prefix, iid), n
	a.startDAD(x)
}
