package netconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"

	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// DefaultBacklog is the listen backlog of Stack.Listen when Stack.Backlog
// is zero.
const DefaultBacklog = 128

// ErrIPv6 is returned for IPv6 addresses on a host without IPv6 (no
// interface had Interface.EnableIPv6 or EnableSLAAC).
var ErrIPv6 = errors.New("netconn: IPv6 is not enabled on the host")

// ErrFamily is returned when an address does not belong to the network's
// family: an IPv6 address on "tcp4" or "udp4", an IPv4 one on "tcp6" or
// "udp6".
var ErrFamily = errors.New("netconn: address of the wrong family for the network")

// Stack is a simnet host seen from Go code, in the net package's shapes:
// DialContext reads like net.Dialer.DialContext, Listen and ListenPacket
// like net.ListenConfig's. The host's code runs on Loop: a live loop (a
// tap, wall clock) or a simulated world's (see package simtest), the same
// calls either way.
//
// Networks are "tcp", "tcp4", "tcp6", "udp", "udp4" and "udp6";
// addresses are "host:port" where host is an IPv4 literal, an IPv6 one in
// brackets ("[2001:db8::1]:80"), empty (listen on every address) or, when
// LookupHost is set, a name. "tcp" and "udp" dial the IPv4 addresses of a
// name first, then its IPv6 ones (the host's own choice, simpler than RFC
// 8305's racing), and listen on both families.
type Stack struct {
	// Loop runs the host's code.
	Loop *loop.Loop
	// Host is the IP host.
	Host *stack.Host
	// TCP is the host's TCP (nil: tcp networks fail).
	TCP *tcp.Stack
	// LookupHost resolves names that are not IP literals; nil makes them
	// fail.
	LookupHost func(ctx context.Context, name string) ([]netip.Addr, error)
	// Backlog is the listen backlog; 0 means DefaultBacklog.
	Backlog int
	// OnOpen, when not nil, is called with every connection, listener and
	// packet connection the Stack opens (a test world closes them when the
	// test ends). It runs on the caller's goroutine.
	OnOpen func(io.Closer)
}

// family returns "tcp" or "udp" for a network name, and its IP version
// (0 for both).
func family(network string) (string, int, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		v := 0
		switch network[3:] {
		case "4":
			v = 4
		case "6":
			v = 6
		}
		return network[:3], v, nil
	}
	return "", 0, net.UnknownNetworkError(network)
}

// ofVersion reports whether a belongs to IP version v (0: either).
func ofVersion(a netip.Addr, v int) bool {
	switch v {
	case 4:
		return a.Is4()
	case 6:
		return a.Is6()
	}
	return true
}

// splitAddr splits "host:port", resolving a service name with the net
// package's table.
func splitAddr(network, address string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		n, lerr := net.LookupPort(network, ps)
		if lerr != nil {
			return "", 0, lerr
		}
		p = uint64(n)
	}
	return host, uint16(p), nil
}

// resolve returns the addresses of IP version ver (0: both, IPv4 first)
// to dial for host.
func (s *Stack) resolve(ctx context.Context, host string, ver int) ([]netip.Addr, error) {
	if host == "" {
		return nil, errors.New("netconn: no host to dial")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap().WithZone("")
		if !ofVersion(a, ver) {
			return nil, fmt.Errorf("netconn: %v on an IPv%d network: %w", a, ver, ErrFamily)
		}
		return []netip.Addr{a}, nil
	}
	if s.LookupHost == nil {
		return nil, &net.DNSError{Err: "no resolver", Name: host, IsNotFound: true}
	}
	addrs, err := s.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		switch a = a.Unmap(); {
		case a.Is4() && ver != 6:
			v4 = append(v4, a)
		case a.Is6() && ver != 4:
			v6 = append(v6, a)
		}
	}
	if out := append(v4, v6...); len(out) > 0 {
		return out, nil
	}
	what := "address"
	if ver != 0 {
		what = fmt.Sprintf("IPv%d address", ver)
	}
	return nil, &net.DNSError{Err: "no " + what, Name: host, IsNotFound: true}
}

// hasIPv6 reports whether an interface of the host has IPv6 on.
func (s *Stack) hasIPv6() bool {
	for _, i := range s.Host.Interfaces() {
		if i.IPv6Addresses() != nil {
			return true
		}
	}
	return false
}

// usable drops IPv6 addresses when the host has no IPv6, failing with
// ErrIPv6 when nothing is left.
func (s *Stack) usable(addrs []netip.Addr) ([]netip.Addr, error) {
	if s.hasIPv6() {
		return addrs, nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, ErrIPv6
	}
	return out, nil
}

func (s *Stack) opened(c io.Closer) {
	if s.OnOpen != nil {
		s.OnOpen(c)
	}
}

// DialContext connects to address on the named network. Names are
// resolved with LookupHost and their addresses tried in order, as
// net.Dialer does; ctx bounds the whole dial. A "udp" dial returns a
// *UDPConn.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	fam, ver, err := family(network)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	host, port, err := splitAddr(fam, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	addrs, err := s.resolve(ctx, host, ver)
	if err == nil {
		addrs, err = s.usable(addrs)
	}
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if fam == "udp" {
		dst := netip.AddrPortFrom(addrs[0], port)
		pc, err := ListenPacket(s.Loop, s.Host, netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: net.UDPAddrFromAddrPort(dst), Err: err}
		}
		c := &UDPConn{PacketConn: pc, remote: dst, raddr: net.UDPAddrFromAddrPort(dst)}
		s.opened(c)
		return c, nil
	}
	if s.TCP == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("netconn: the host runs no TCP")}
	}
	var first error
	for _, a := range addrs {
		c, err := Dial(ctx, s.Loop, s.TCP, netip.AddrPortFrom(a, port))
		if err == nil {
			s.opened(c)
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// Dial connects to address with a background context.
func (s *Stack) Dial(network, address string) (net.Conn, error) {
	return s.DialContext(context.Background(), network, address)
}

// listenAddr parses a local address: an empty host means every address,
// of both families (0.0.0.0) unless ver is 6 ([::], IPv6 only).
func listenAddr(fam string, ver int, address string) (netip.AddrPort, error) {
	host, port, err := splitAddr(fam, address)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a := netip.IPv4Unspecified()
	if ver == 6 {
		a = netip.IPv6Unspecified()
	}
	if host != "" {
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.AddrPort{}, fmt.Errorf("netconn: listen address %q is not an IP address", host)
		}
		if a = a.Unmap().WithZone(""); !ofVersion(a, ver) {
			return netip.AddrPort{}, fmt.Errorf("netconn: %v on an IPv%d network: %w", a, ver, ErrFamily)
		}
	}
	return netip.AddrPortFrom(a, port), nil
}

// Listen announces on a local TCP address such as ":80",
// "192.0.2.1:8080" or "[2001:db8::1]:8080". ":80" and "[::]:80" accept
// connections over IPv4 and IPv6 alike. Port 0 is not supported for TCP.
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	fam, ver, err := family(network)
	if err == nil && fam != "tcp" {
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	local, err := listenAddr(fam, ver, address)
	if err == nil && local.Addr().Is6() && !s.hasIPv6() {
		err = ErrIPv6
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if s.TCP == nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: errors.New("netconn: the host runs no TCP")}
	}
	backlog := s.Backlog
	if backlog <= 0 {
		backlog = DefaultBacklog
	}
	ln, err := Listen(s.Loop, s.TCP, local, backlog)
	if err != nil {
		return nil, err
	}
	if s.OnOpen == nil {
		return ln, nil
	}
	tl := &trackedListener{Listener: ln, onOpen: s.OnOpen}
	s.opened(tl)
	return tl, nil
}

// trackedListener reports every accepted connection to Stack.OnOpen.
type trackedListener struct {
	*Listener
	onOpen func(io.Closer)
}

// Accept waits for the next connection and reports it.
func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.onOpen(c)
	}
	return c, err
}

// ListenPacket binds a local UDP address such as ":53" or "[::]:53"
// (port 0: an ephemeral port). ":53" on "udp" receives IPv4 and IPv6
// datagrams; "[::]:53" and ":53" on "udp6" IPv6 ones only.
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	fam, ver, err := family(network)
	if err == nil && fam != "udp" {
		err = net.UnknownNetworkError(network)
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	local, err := listenAddr(fam, ver, address)
	if err == nil && local.Addr().Is6() && !s.hasIPv6() {
		err = ErrIPv6
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	pc, err := ListenPacket(s.Loop, s.Host, local)
	if err != nil {
		return nil, err
	}
	s.opened(pc)
	return pc, nil
}

// UDPConn is a connected UDP socket, as net.DialUDP returns: Read and
// Write exchange datagrams with one peer (datagrams from anyone else are
// dropped), and it is a net.PacketConn too.
type UDPConn struct {
	*PacketConn
	remote netip.AddrPort
	raddr  *net.UDPAddr
}

// Read reads the next datagram from the peer.
func (c *UDPConn) Read(b []byte) (int, error) {
	for {
		n, from, err := c.ReadFrom(b)
		if err != nil {
			return n, err
		}
		if ua, ok := from.(*net.UDPAddr); ok && ua.AddrPort() == c.remote {
			return n, nil
		}
	}
}

// Write sends b to the peer as one datagram.
func (c *UDPConn) Write(b []byte) (int, error) { return c.WriteTo(b, c.raddr) }

// RemoteAddr returns the peer's address.
func (c *UDPConn) RemoteAddr() net.Addr { return c.raddr }
