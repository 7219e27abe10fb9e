package simtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// Host is a simulated IPv4 host running simnet's stack. Its DialContext,
// Listen and ListenPacket have the net package's shapes (net.Dialer,
// net.ListenConfig) and return net.Conn, net.Listener and net.PacketConn
// values on the simulated network.
type Host struct {
	w     *World
	name  string
	addrs []netip.Prefix
	net   netconn.Stack

	// Used on the loop only.
	h      *stack.Host
	tcp    *tcp.Stack
	nifs   int
	res    *dns.Resolver
	resUDP *stack.UDPSocket
}

func (h *Host) nodeName() string { return h.name }

// Host adds a host called name with addresses in CIDR notation, such as
// "192.0.2.1/24": the first goes on the interface of the host's first
// link (eth0), the second on eth1, and so on.
func (w *World) Host(name string, addrs ...string) *Host {
	w.t.Helper()
	h := &Host{w: w, name: name}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a)
		if err != nil || !p.Addr().Is4() {
			w.fatalf("host %s: address %q is not an IPv4 prefix such as 192.0.2.1/24", name, a)
		}
		h.addrs = append(h.addrs, p)
	}
	var err error
	w.do(func() {
		for _, o := range w.hosts {
			if o.name == name {
				err = errors.New("name already used")
				return
			}
		}
		h.h = stack.New(stack.Config{Name: name, Clock: w.sw.Clock(), Rand: w.sw.Rand("host/" + name)})
		h.tcp = tcp.New(h.h, w.sw.Clock(), w.sw.Rand("host/"+name+"/tcp"), tcp.Config{})
		h.h.RegisterProtocol(tcp.ProtocolNumber, h.tcp)
		w.hosts = append(w.hosts, h)
	})
	if err != nil {
		w.fatalf("host %s: %v", name, err)
	}
	h.net = netconn.Stack{Loop: w.lp, Host: h.h, TCP: h.tcp, LookupHost: h.lookupNetIP, OnOpen: w.track}
	return h
}

// nextIface names the host's next interface (on the loop).
func (h *Host) nextIface() string {
	return "eth" + strconv.Itoa(h.nifs)
}

// attach adds interface name on ep, with the host's next address (on the
// loop).
func (h *Host) attach(name string, ep link.Endpoint) error {
	ifc := h.h.AddInterface(name, ether.Addr(h.w.mac()), ep)
	if h.nifs < len(h.addrs) {
		ifc.SetAddress(h.addrs[h.nifs])
	}
	h.nifs++
	return nil
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Addr returns the host's first address (the invalid Addr if it has none).
func (h *Host) Addr() netip.Addr {
	if len(h.addrs) == 0 {
		return netip.Addr{}
	}
	return h.addrs[0].Addr()
}

// SetGateway sets the host's default gateway.
func (h *Host) SetGateway(gw netip.Addr) { h.w.do(func() { h.h.SetDefaultGateway(gw) }) }

// DialContext connects to address on network ("tcp", "tcp4", "udp",
// "udp4"), as net.Dialer.DialContext does; names are resolved with
// LookupHost. It fits http.Transport.DialContext.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return h.net.DialContext(ctx, network, address)
}

// Dial is DialContext with a background context.
func (h *Host) Dial(network, address string) (net.Conn, error) {
	return h.net.DialContext(context.Background(), network, address)
}

// Listen listens on a local TCP address such as ":80".
func (h *Host) Listen(network, address string) (net.Listener, error) {
	return h.net.Listen(network, address)
}

// ListenPacket binds a local UDP address such as ":53" (port 0: an
// ephemeral port).
func (h *Host) ListenPacket(network, address string) (net.PacketConn, error) {
	return h.net.ListenPacket(network, address)
}

// TCPStats returns the statistics of the host's TCP connections, open and
// closed.
func (h *Host) TCPStats() []tcp.ConnStats {
	var s []tcp.ConnStats
	h.w.do(func() { s = h.tcp.AllStats() })
	return s
}

// DNSServer starts an authoritative DNS server on h, UDP and TCP port 53,
// for the zone in master-file text (RFC 1035 section 5) with origin, and
// makes it the resolver of every host of the world.
func (w *World) DNSServer(h *Host, origin, zone string) {
	w.t.Helper()
	z, err := dns.ParseZone(strings.NewReader(zone), origin, "zone "+origin)
	if err != nil {
		w.fatalf("dns server on %s: %v", h.name, err)
	}
	w.do(func() {
		srv := app.NewDNSServer("dns", z)
		env := &app.Env{Clock: w.sw.Clock(), Rand: w.sw.Rand("app/" + h.name + "/dns"), Net: app.NewStackNet(h.h), TCP: h.tcp}
		if err = srv.Start(env); err == nil {
			w.dns = append(w.dns, netip.AddrPortFrom(h.Addr(), app.DNSPort))
		}
	})
	if err != nil {
		w.fatalf("dns server on %s: %v", h.name, err)
	}
}

// resolverUDP carries the host resolver's queries.
type resolverUDP struct{ h *Host }

// SendUDP sends a query from the resolver's socket.
func (u resolverUDP) SendUDP(server netip.AddrPort, msg []byte) error {
	return u.h.resUDP.SendTo(server, msg)
}

// HandleUDP hands a response to the resolver.
func (u resolverUDP) HandleUDP(_ *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
	u.h.res.HandleUDP(src, payload)
}

// resolver returns the host's stub resolver, made on first use (on the
// loop).
func (h *Host) resolver() (*dns.Resolver, error) {
	if h.res != nil {
		return h.res, nil
	}
	if len(h.w.dns) == 0 {
		return nil, dns.ErrNoServers
	}
	s, err := h.h.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), resolverUDP{h})
	if err != nil {
		return nil, err
	}
	h.resUDP = s
	h.res = dns.NewResolver(h.w.sw.Clock(), h.w.sw.Rand("host/"+h.name+"/resolver"), resolverUDP{h},
		dnsstack.NewTCPClient(h.tcp, h.w.sw.Clock()), h.w.dns...)
	return h.res, nil
}

// lookupNetIP resolves name's A records with simnet's stub resolver
// against the world's DNS server (UDP with retries, on the world's clock).
// Dialing by name uses it: simtest hosts have IPv4 addresses only.
func (h *Host) lookupNetIP(ctx context.Context, name string) ([]netip.Addr, error) {
	return h.lookupType(ctx, name, dns.TypeA)
}

// lookupType resolves name's records of type qt (A or AAAA) as
// lookupNetIP does.
func (h *Host) lookupType(ctx context.Context, name string, qt dns.Type) ([]netip.Addr, error) {
	type answer struct {
		addrs []netip.Addr
		err   error
	}
	ch := make(chan answer, 1)
	var err error
	if cerr := h.w.lp.Call(ctx, func() {
		var r *dns.Resolver
		if r, err = h.resolver(); err != nil {
			return
		}
		err = r.Lookup(name, qt, func(res dns.Result) {
			var a answer
			switch {
			case res.Err != nil:
				a.err = res.Err
			case res.Msg.Rcode != dns.RcodeSuccess:
				a.err = fmt.Errorf("%s", res.Msg.Rcode)
			}
			if a.err == nil {
				for _, rr := range res.Msg.Answer {
					switch x := rr.Data.(type) {
					case *dns.A:
						if qt == dns.TypeA && rr.Type == dns.TypeA {
							a.addrs = append(a.addrs, x.Addr)
						}
					case *dns.AAAA:
						if qt == dns.TypeAAAA && rr.Type == dns.TypeAAAA {
							a.addrs = append(a.addrs, x.Addr)
						}
					}
				}
			}
			ch <- a
		})
	}); cerr != nil {
		return nil, &net.DNSError{Err: cerr.Error(), Name: name}
	}
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: name}
	}
	select {
	case a := <-ch:
		if a.err != nil {
			return nil, &net.DNSError{Err: a.err.Error(), Name: name, IsTimeout: errors.Is(a.err, dns.ErrTimeout), IsNotFound: !errors.Is(a.err, dns.ErrTimeout)}
		}
		if len(a.addrs) == 0 {
			return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
		}
		return a.addrs, nil
	case <-ctx.Done():
		return nil, &net.DNSError{Err: ctx.Err().Error(), Name: name, IsTimeout: true}
	}
}

// LookupHost returns the addresses of name, as net.Resolver's LookupHost
// does: its A records, then its AAAA records (IPv4 first, the order RFC
// 6724's rules give a host with IPv4 connectivity only, as simtest hosts
// are), asking the world's DNS server (see World.DNSServer). It fails only
// when neither query found an address. The query IDs come from the world's
// seed, so lookups are deterministic.
func (h *Host) LookupHost(ctx context.Context, name string) ([]string, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return []string{a.String()}, nil
	}
	addrs, err := h.lookupType(ctx, name, dns.TypeA)
	var nx *net.DNSError
	if err != nil && errors.As(err, &nx) && nx.Err == dns.RcodeNameError.String() {
		return nil, err // NXDOMAIN: no AAAA either (RFC 8020)
	}
	addrs6, err6 := h.lookupType(ctx, name, dns.TypeAAAA)
	addrs = append(addrs, addrs6...)
	if len(addrs) == 0 {
		if err == nil {
			err = err6
		}
		return nil, err
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out, nil
}

// Resolver returns a *net.Resolver whose pure-Go client sends its queries
// over the simulated network to the world's first DNS server, for code that
// takes a *net.Resolver. It still reads /etc/hosts and /etc/resolv.conf
// (search domains, timeouts) from the real machine, and draws its query IDs
// from a global random source, so lookups through it are not
// byte-reproducible: prefer LookupHost, or names in DialContext, when
// captures must be.
func (h *Host) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var servers []netip.AddrPort
		h.w.do(func() { servers = append(servers, h.w.dns...) })
		if len(servers) == 0 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: dns.ErrNoServers}
		}
		return h.DialContext(ctx, network, servers[0].String())
	}}
}
