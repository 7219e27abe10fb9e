package dhcp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// State is a client state from RFC 2131 figure 5.
type State uint8

// Client states.
const (
	StateStopped State = iota
	StateInit
	StateSelecting
	StateRequesting
	StateBound
	StateRenewing
	StateRebinding
	StateInitReboot
	StateRebooting
)

var stateNames = [...]string{"STOPPED", "INIT", "SELECTING", "REQUESTING", "BOUND", "RENEWING", "REBINDING", "INIT-REBOOT", "REBOOTING"}

// String returns the RFC 2131 name of s.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("STATE%d", uint8(s))
}

// Lease is a configuration obtained from a server.
type Lease struct {
	// Addr is the leased address with the subnet mask's prefix length
	// (a /32 when the server sent no mask).
	Addr       netip.Prefix
	Routers    []netip.Addr
	DNS        []netip.Addr
	DomainName string
	ServerID   netip.Addr
	// LeaseTime, T1 and T2 are the lease duration and the renewal and
	// rebinding times, all counted from Start.
	LeaseTime time.Duration
	T1        time.Duration
	T2        time.Duration
	// Start is when the client sent the request the lease answers
	// (RFC 2131 section 4.4.1).
	Start clock.Time
}

// Expiry returns the instant the lease ends.
func (l *Lease) Expiry() clock.Time { return l.Start.Add(l.LeaseTime) }

// Transport sends a client's messages. Broadcasts go to
// 255.255.255.255:67 from port 68 (from 0.0.0.0 until an address is
// bound); unicasts go to dst:67 from the bound address.
type Transport interface {
	// Broadcast sends msg to all servers. msg is valid only during the
	// call.
	Broadcast(msg []byte) error
	// Unicast sends msg to the server at dst. msg is valid only during
	// the call.
	Unicast(dst netip.Addr, msg []byte) error
}

// Configurator applies leases to the host's interface.
type Configurator interface {
	// Apply installs (or refreshes, after a renewal) the lease: address,
	// mask, router, DNS servers.
	Apply(l Lease)
	// Remove takes the leased address and its routes off the interface.
	Remove()
}

// Prober checks whether an offered address is already in use, by an ARP
// probe (RFC 5227 section 2.1.1) run by the host.
type Prober interface {
	// Probe calls done once, later, with inUse true if another host
	// answered for addr.
	Probe(addr netip.Addr, done func(inUse bool))
}

// Retransmission parameters (RFC 2131 section 4.1 and 4.4.5).
const (
	initialBackoff = 4 * time.Second
	maxBackoff     = 64 * time.Second
	// requestRetries is how many times REQUESTING and REBOOTING retransmit
	// before going back to INIT.
	requestRetries = 4
	// declineWait is the pause after a DECLINE (RFC 2131 section 3.1 step 5).
	declineWait = 10 * time.Second
	// minRenewRetry is the shortest wait between retransmissions while
	// RENEWING or REBINDING (RFC 2131 section 4.4.5).
	minRenewRetry = 60 * time.Second
)

// ClientStats counts what a client received and ignored.
type ClientStats struct {
	Sent      uint64
	Malformed uint64 // replies that failed to decode
	Ignored   uint64 // well-formed but not for this client or state
	Declined  uint64
	Naks      uint64
}

// Client is a DHCP client state machine for one interface. It runs on the
// driver's loop: Start, Stop and Handle are called from it and timers fire
// on it.
type Client struct {
	clk    clock.Clock
	rnd    *rand.Rand
	hw     [6]byte
	tr     Transport
	conf   Configurator
	prober Prober

	// Hostname, if set, is sent in option 12.
	Hostname string
	// Broadcast sets the BROADCAST flag while the client has no address,
	// so servers broadcast their replies (RFC 2131 section 4.1).
	Broadcast bool
	// Stats counts messages.
	Stats ClientStats

	state    State
	xid      uint32
	started  clock.Time // start of the current exchange, for secs
	reqStart clock.Time // when the current REQUEST was first sent
	tries    int
	backoff  time.Duration
	offer    Message // the offer being requested
	lease    Lease
	bound    bool // lease applied to the interface
	remember netip.Addr
	probing  bool
	probeGen uint64

	rtx, t1, t2, expire clock.Timer
	out                 []byte
}

// NewClient returns a stopped client for the interface with hardware
// address hw. prober may be nil: offered addresses are then not probed.
func NewClient(clk clock.Clock, rnd *rand.Rand, hw [6]byte, tr Transport, conf Configurator, prober Prober) *Client {
	c := &Client{clk: clk, rnd: rnd, hw: hw, tr: tr, conf: conf, prober: prober, Broadcast: true}
	c.rtx.Init(clock.HandlerFunc(c.onRetransmit))
	c.t1.Init(clock.HandlerFunc(c.onT1))
	c.t2.Init(clock.HandlerFunc(c.onT2))
	c.expire.Init(clock.HandlerFunc(c.onExpire))
	return c
}

// State returns the current state.
func (c *Client) State() State { return c.state }

// Lease returns the current lease, valid in BOUND, RENEWING and REBINDING.
func (c *Client) Lease() (Lease, bool) { return c.lease, c.bound }

// Start begins configuration of a stopped client (new, or after Stop;
// otherwise it does nothing). With a remembered address (from an earlier
// lease, say across a reboot) it starts in INIT-REBOOT and asks to keep it
// (RFC 2131 section 3.2); otherwise it starts in INIT and discovers.
func (c *Client) Start(remembered netip.Addr) {
	if c.state != StateStopped {
		return
	}
	c.remember = remembered
	if remembered.Is4() && !remembered.IsUnspecified() {
		c.state = StateInitReboot
		c.reboot()
		return
	}
	c.state = StateInit
	c.discover()
}

// Stop releases a bound lease (RFC 2131 section 4.4.6), removes the
// address and stops all timers.
func (c *Client) Stop() {
	if c.bound {
		m := c.message(Release)
		m.CIAddr = c.lease.Addr.Addr()
		m.Options.SetAddrs(OptServerID, c.lease.ServerID)
		c.unicast(c.lease.ServerID, &m)
		c.unbind()
	}
	c.stopTimers()
	c.probing = false
	c.state = StateStopped
}

// Halt stops the client without releasing its lease, as a host that shuts
// down keeping the lease for an INIT-REBOOT when it comes back (RFC 2131
// section 3.2): nothing is sent, the address is removed and every timer
// stops. The server still holds the lease for the client.
func (c *Client) Halt() {
	c.unbind()
	c.stopTimers()
	c.probing = false
	c.state = StateStopped
}

func (c *Client) stopTimers() {
	for _, t := range []*clock.Timer{&c.rtx, &c.t1, &c.t2, &c.expire} {
		c.clk.Cancel(t)
	}
}

func (c *Client) unbind() {
	if c.bound {
		c.bound = false
		c.conf.Remove()
	}
}

// newExchange starts a transaction with a fresh random xid.
func (c *Client) newExchange() {
	c.xid = c.rnd.Uint32()
	c.started = c.clk.Now()
	c.tries = 0
	c.backoff = initialBackoff
}

// message builds a request with the fields every client message shares.
func (c *Client) message(t MessageType) Message {
	m := Message{Op: BootRequest, HType: 1, HLen: 6, Xid: c.xid,
		CIAddr: netip.IPv4Unspecified(), YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified()}
	secs := c.clk.Now().Sub(c.started) / time.Second
	m.Secs = uint16(min(secs, 0xFFFF))
	copy(m.CHAddr[:], c.hw[:])
	m.Options.Set(OptMessageType, []byte{byte(t)})
	// RFC 2132 section 9.14: type 1 (Ethernet) and the MAC address.
	m.Options.Set(OptClientID, append([]byte{1}, c.hw[:]...))
	if c.Hostname != "" && t != Release && t != Decline {
		m.Options.Set(OptHostName, []byte(c.Hostname))
	}
	if t == Discover || t == Request || t == Inform {
		m.Options.Set(OptParamRequest, []byte{byte(OptSubnetMask), byte(OptRouter), byte(OptDNS),
			byte(OptDomainName), byte(OptLeaseTime), byte(OptRenewalTime), byte(OptRebindingTime)})
	}
	if c.Broadcast && !c.bound && (t == Discover || t == Request) {
		m.Flags = FlagBroadcast
	}
	return m
}

func (c *Client) broadcast(m *Message) {
	c.out = m.Append(c.out[:0])
	c.Stats.Sent++
	// Send errors are lost datagrams: retransmission covers them.
	_ = c.tr.Broadcast(c.out)
}

func (c *Client) unicast(dst netip.Addr, m *Message) {
	c.out = m.Append(c.out[:0])
	c.Stats.Sent++
	_ = c.tr.Unicast(dst, c.out)
}

// nextBackoff returns the current delay randomized by +-1 s (RFC 2131
// section 4.1) and doubles the base delay up to 64 s.
func (c *Client) nextBackoff() time.Duration {
	d := c.backoff - time.Second + time.Duration(c.rnd.Int64N(int64(2*time.Second)+1))
	c.backoff = min(2*c.backoff, maxBackoff)
	return d
}

func (c *Client) armRetransmit() {
	c.clk.Schedule(&c.rtx, c.clk.Now().Add(c.nextBackoff()))
}

// discover enters SELECTING and broadcasts DHCPDISCOVER.
func (c *Client) discover() {
	c.newExchange()
	c.state = StateSelecting
	c.sendDiscover()
}

func (c *Client) sendDiscover() {
	m := c.message(Discover)
	if c.remember.Is4() && !c.remember.IsUnspecified() {
		m.Options.SetAddrs(OptRequestedIP, c.remember)
	}
	c.broadcast(&m)
	c.armRetransmit()
}

// reboot enters REBOOTING and broadcasts a REQUEST for the remembered
// address with no server identifier (RFC 2131 section 4.3.2, INIT-REBOOT).
func (c *Client) reboot() {
	c.newExchange()
	c.state = StateRebooting
	c.reqStart = c.clk.Now()
	c.sendReboot()
}

func (c *Client) sendReboot() {
	m := c.message(Request)
	m.Options.SetAddrs(OptRequestedIP, c.remember)
	c.broadcast(&m)
	c.armRetransmit()
}

func (c *Client) sendSelectingRequest() {
	m := c.message(Request)
	m.Options.SetAddrs(OptRequestedIP, c.offer.YIAddr)
	if sid, ok := c.offer.Options.Addr(OptServerID); ok {
		m.Options.SetAddrs(OptServerID, sid)
	}
	c.broadcast(&m)
	c.armRetransmit()
}

// sendRenew sends the RENEWING (unicast) or REBINDING (broadcast) request:
// ciaddr set, no requested address or server identifier (RFC 2131
// section 4.3.2), and arms the retransmission at half the time left
// before T2 or expiry, at least 60 s (RFC 2131 section 4.4.5).
func (c *Client) sendRenew() {
	m := c.message(Request)
	m.CIAddr = c.lease.Addr.Addr()
	deadline := c.lease.Start.Add(c.lease.T2)
	if c.state == StateRenewing {
		c.unicast(c.lease.ServerID, &m)
	} else {
		deadline = c.lease.Expiry()
		c.broadcast(&m)
	}
	wait := max(deadline.Sub(c.clk.Now())/2, minRenewRetry)
	if at := c.clk.Now().Add(wait); at.Before(deadline) {
		c.clk.Schedule(&c.rtx, at)
	}
}

func (c *Client) onRetransmit(clock.Time) {
	c.tries++
	switch c.state {
	case StateSelecting:
		c.sendDiscover()
	case StateRequesting:
		if c.probing {
			return
		}
		if c.tries > requestRetries {
			c.restart()
			return
		}
		c.sendSelectingRequest()
	case StateRebooting:
		if c.tries > requestRetries {
			c.restart()
			return
		}
		c.sendReboot()
	case StateRenewing, StateRebinding:
		c.sendRenew()
	case StateInit:
		// The pause after a DECLINE is over.
		c.discover()
	}
}

// restart drops any lease and goes back to INIT, discovering at once.
func (c *Client) restart() {
	c.stopTimers()
	c.unbind()
	c.probing = false
	c.state = StateInit
	c.discover()
}

func (c *Client) onT1(clock.Time) {
	if c.state != StateBound {
		return
	}
	c.state = StateRenewing
	c.newExchange()
	c.reqStart = c.clk.Now()
	c.sendRenew()
}

func (c *Client) onT2(clock.Time) {
	if c.state != StateBound && c.state != StateRenewing {
		return
	}
	c.state = StateRebinding
	c.newExchange()
	c.reqStart = c.clk.Now()
	c.sendRenew()
}

// onExpire handles the end of the lease: the address goes and the client
// starts over (RFC 2131 section 4.4.5).
func (c *Client) onExpire(clock.Time) {
	c.remember = netip.Addr{}
	c.restart()
}

// Handle takes a datagram received on UDP port 68.
// Replies for other clients are dropped from a View, without decoding
// their options or allocating.
func (c *Client) Handle(payload []byte) {
	v, err := ParseView(payload)
	if err != nil {
		c.Stats.Malformed++
		return
	}
	if v.Op() != BootReply || v.Xid() != c.xid || v.HLen() != 6 || !bytes.Equal(v.CHAddr()[:6], c.hw[:]) {
		c.Stats.Ignored++
		return
	}
	var m Message
	if err := m.Unmarshal(payload); err != nil {
		c.Stats.Malformed++
		return
	}
	switch t := m.Type(); {
	case t == Offer && c.state == StateSelecting:
		c.onOffer(&m)
	case t == Ack && (c.state == StateRequesting || c.state == StateRebooting ||
		c.state == StateRenewing || c.state == StateRebinding) && !c.probing:
		c.onAck(&m)
	case t == Nak && (c.state == StateRequesting || c.state == StateRebooting ||
		c.state == StateRenewing || c.state == StateRebinding):
		// RFC 2131 section 3.1 step 5 and 3.2: a NAK restarts the
		// configuration; the address, if any, is no longer usable.
		c.Stats.Naks++
		c.remember = netip.Addr{}
		c.restart()
	default:
		c.Stats.Ignored++
	}
}

func (c *Client) onOffer(m *Message) {
	_, ok := m.Options.Addr(OptServerID)
	if !ok || !m.YIAddr.Is4() || m.YIAddr.IsUnspecified() {
		c.Stats.Ignored++
		return
	}
	c.offer = *m
	c.state = StateRequesting
	c.tries = 0
	c.backoff = initialBackoff
	c.reqStart = c.clk.Now()
	c.sendSelectingRequest()
}

// leaseFrom builds a Lease from an ACK, defaulting T1 and T2 to 0.5 and
// 0.875 of the lease time (RFC 2131 section 4.4.5).
func (c *Client) leaseFrom(m *Message) (Lease, bool) {
	lt, ok := m.Options.Seconds(OptLeaseTime)
	if !ok || !m.YIAddr.Is4() || m.YIAddr.IsUnspecified() {
		return Lease{}, false
	}
	l := Lease{LeaseTime: lt, Start: c.reqStart, Routers: m.Options.Addrs(OptRouter), DNS: m.Options.Addrs(OptDNS)}
	l.ServerID, ok = m.Options.Addr(OptServerID)
	if !ok {
		return Lease{}, false
	}
	bits := 32
	if mask, ok := m.Options.Get(OptSubnetMask); ok {
		if b, ok := maskBits(mask); ok {
			bits = b
		}
	}
	l.Addr = netip.PrefixFrom(m.YIAddr, bits)
	if d, ok := m.Options.Get(OptDomainName); ok {
		l.DomainName = string(d)
	}
	l.T1 = lt / 2
	l.T2 = lt * 7 / 8
	if t1, ok := m.Options.Seconds(OptRenewalTime); ok && t1 < lt {
		l.T1 = t1
	}
	if t2, ok := m.Options.Seconds(OptRebindingTime); ok && t2 < lt {
		l.T2 = t2
	}
	if l.T1 > l.T2 {
		l.T1 = l.T2
	}
	return l, true
}

// maskBits returns the prefix length of a contiguous netmask.
func maskBits(m []byte) (int, bool) {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	return n, v == 0
}

func (c *Client) onAck(m *Message) {
	l, ok := c.leaseFrom(m)
	if !ok {
		c.Stats.Ignored++
		return
	}
	if c.state == StateRenewing || c.state == StateRebinding {
		c.bind(l)
		return
	}
	if c.prober == nil {
		c.bind(l)
		return
	}
	// RFC 2131 section 4.4.1: probe the address before using it.
	c.probing = true
	c.clk.Cancel(&c.rtx)
	c.probeGen++
	gen := c.probeGen
	c.prober.Probe(l.Addr.Addr(), func(inUse bool) {
		if !c.probing || gen != c.probeGen {
			return
		}
		c.probing = false
		if inUse {
			c.decline(l)
			return
		}
		c.bind(l)
	})
}

// decline reports the address in use and waits ten seconds before
// restarting (RFC 2131 sections 3.1 step 5 and 4.4.1).
func (c *Client) decline(l Lease) {
	c.Stats.Declined++
	m := c.message(Decline)
	m.Options.SetAddrs(OptRequestedIP, l.Addr.Addr())
	m.Options.SetAddrs(OptServerID, l.ServerID)
	c.broadcast(&m)
	c.stopTimers()
	c.remember = netip.Addr{}
	c.state = StateInit
	c.clk.Schedule(&c.rtx, c.clk.Now().Add(declineWait))
}

// bind enters BOUND with l and arms T1, T2 and expiry.
func (c *Client) bind(l Lease) {
	c.clk.Cancel(&c.rtx)
	c.lease = l
	c.bound = true
	c.remember = l.Addr.Addr()
	c.state = StateBound
	c.conf.Apply(l)
	c.clk.Schedule(&c.t1, l.Start.Add(l.T1))
	c.clk.Schedule(&c.t2, l.Start.Add(l.T2))
	c.clk.Schedule(&c.expire, l.Expiry())
}
