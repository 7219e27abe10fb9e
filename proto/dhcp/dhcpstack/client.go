// Package dhcpstack runs the proto/dhcp client and server on a proto/stack
// host: UDP ports 68 and 67 of a stack.Host, leases applied to a
// stack.Interface, and RFC 5227 ARP probes of offered addresses. The DHCP
// core (proto/dhcp) knows none of this; this package is the adapter.
package dhcpstack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/stack"
)

// Client runs a dhcp.Client on one interface of a stack.Host, bound to
// UDP port 68. It applies leases to the interface (address and prefix)
// and the host (default gateway: the first router).
type Client struct {
	*dhcp.Client
	ifc   *stack.Interface
	sock  *stack.UDPSocket
	gw    netip.Addr
	dns   []netip.Addr
	probe *InterfaceProber

	// OnLease, if set, is called after a lease is applied (bound true) or
	// removed (bound false).
	OnLease func(l dhcp.Lease, bound bool)
}

// NoProbe, passed as NewClient's prober, turns address probing off:
// acknowledged addresses are used at once.
var NoProbe dhcp.Prober = noProbe{}

// noProbe is NoProbe's type. NewClient recognises it; a dhcp.Client
// given it directly reports every address free.
type noProbe struct{}

// Probe reports addr free.
func (noProbe) Probe(_ netip.Addr, done func(inUse bool)) { done(false) }

// InterfaceProber is a dhcp.Prober that probes with an interface's RFC
// 5227 ARP probe (from 0.0.0.0, section 2.1.1) and keeps the running
// probe, so a stopped client does not leave it on the wire.
type InterfaceProber struct {
	ifc *stack.Interface
	cur *stack.ARPProbe
}

// NewInterfaceProber returns a prober that probes on ifc.
func NewInterfaceProber(ifc *stack.Interface) *InterfaceProber { return &InterfaceProber{ifc: ifc} }

// Probe implements dhcp.Prober. The client has one probe outstanding at most:
// a new one replaces the previous.
func (p *InterfaceProber) Probe(addr netip.Addr, done func(inUse bool)) {
	p.Cancel()
	var self *stack.ARPProbe
	self = p.ifc.StartARPProbe(addr, func(inUse bool) {
		if p.cur == self {
			p.cur = nil
		}
		done(inUse)
	})
	p.cur = self
}

// Cancel stops the running probe, if any, without calling its done.
func (p *InterfaceProber) Cancel() {
	if p.cur != nil {
		p.cur.Cancel()
		p.cur = nil
	}
}

// NewClient binds UDP port 68 on ifc's host and returns a stopped
// client; call Start. rnd should be the client's own source (rng.New(seed,
// "dhcp/"+host)). With a nil prober, an acknowledged address is first
// probed with the interface's RFC 5227 ARP probe (Interface.ProbeARP,
// about 4 to 7 s) and declined if another host uses it (RFC 2131 section
// 4.4.1); NoProbe uses addresses without probing; any other prober is
// used as given.
func NewClient(ifc *stack.Interface, rnd *rand.Rand, prober dhcp.Prober) (*Client, error) {
	h := ifc.Host()
	sc := &Client{ifc: ifc}
	sock, err := h.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcp.ClientPort), stack.UDPHandlerFunc(sc.handle))
	if err != nil {
		return nil, fmt.Errorf("dhcp client on %s: %w", ifc.Name(), err)
	}
	sc.sock = sock
	switch prober {
	case nil:
		sc.probe = NewInterfaceProber(ifc)
		prober = sc.probe
	case NoProbe:
		prober = nil
	}
	sc.Client = dhcp.NewClient(h.Clock(), rnd, ifc.MAC(), sc, sc, prober)
	if name := h.Name(); name != "" {
		sc.Hostname = name
	}
	return sc, nil
}

func (sc *Client) handle(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) {
	sc.Client.Handle(payload)
}

// DNS returns the DNS servers of the current lease.
func (sc *Client) DNS() []netip.Addr { return sc.dns }

// Stop stops the client as dhcp.Client.Stop does, and cancels the interface's
// ARP probe if one is running for it.
func (sc *Client) Stop() {
	sc.Client.Stop()
	if sc.probe != nil {
		sc.probe.Cancel()
	}
}

// Close stops the client (releasing its lease) and unbinds port 68.
func (sc *Client) Close() {
	sc.Stop()
	sc.sock.Close()
}

// Broadcast implements dhcp.Transport: from the leased address while one is
// bound (REBINDING), else from 0.0.0.0, to 255.255.255.255:67 out of the
// client's interface.
func (sc *Client) Broadcast(msg []byte) error {
	src := netip.IPv4Unspecified()
	if l, ok := sc.Lease(); ok {
		src = l.Addr.Addr()
	}
	return sc.sock.SendVia(sc.ifc, src, netip.AddrPortFrom(broadcastAddr, dhcp.ServerPort), msg)
}

// Unicast implements dhcp.Transport.
func (sc *Client) Unicast(dst netip.Addr, msg []byte) error {
	return sc.sock.SendTo(netip.AddrPortFrom(dst, dhcp.ServerPort), msg)
}

// Apply implements dhcp.Configurator.
func (sc *Client) Apply(l dhcp.Lease) {
	if sc.ifc.Address() != l.Addr {
		sc.ifc.SetAddress(l.Addr)
		// RFC 5227 section 2.3: a client announces the address it has
		// probed and bound (as dhcpcd and NetworkManager do).
		sc.ifc.AnnounceAddress()
	}
	h := sc.ifc.Host()
	if len(l.Routers) > 0 {
		sc.gw = l.Routers[0]
		h.SetDefaultGateway(sc.gw)
	}
	sc.dns = l.DNS
	if sc.OnLease != nil {
		sc.OnLease(l, true)
	}
}

// Remove implements dhcp.Configurator.
func (sc *Client) Remove() {
	l, _ := sc.Lease()
	sc.ifc.SetAddress(netip.Prefix{})
	h := sc.ifc.Host()
	if sc.gw.IsValid() && h.DefaultGateway() == sc.gw {
		h.SetDefaultGateway(netip.Addr{})
	}
	sc.gw = netip.Addr{}
	sc.dns = nil
	if sc.OnLease != nil {
		sc.OnLease(l, false)
	}
}
