package httpapp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
)

// Resolver maps a host name to an IP address on the loop.
type Resolver interface {
	// Resolve looks name up and calls done exactly once, on the loop,
	// with the address or an error. It may call done before returning.
	Resolve(name string, done func(netip.Addr, error))
}

// ErrNoAddress reports a name with no A or AAAA record.
var ErrNoAddress = errors.New("httpapp: no address for name")

// DNSResolver resolves names with simnet's DNS stub resolver.
type DNSResolver struct {
	// R is the stub resolver.
	R *dns.Resolver
	// PreferIPv6 asks for AAAA records first, then A; by default A
	// records are asked for first, then AAAA.
	PreferIPv6 bool
}

// Resolve looks up name's A records, or AAAA records when there are none
// (the other order with PreferIPv6), and returns the first address.
func (d DNSResolver) Resolve(name string, done func(netip.Addr, error)) {
	types := [2]dns.Type{dns.TypeA, dns.TypeAAAA}
	if d.PreferIPv6 {
		types[0], types[1] = types[1], types[0]
	}
	d.lookup(name, types[:], done)
}

// lookup asks for the first of types, then the rest while no address is
// found.
func (d DNSResolver) lookup(name string, types []dns.Type, done func(netip.Addr, error)) {
	t := types[0]
	err := d.R.Lookup(name, t, func(res dns.Result) {
		if res.Err != nil {
			done(netip.Addr{}, fmt.Errorf("resolve %s %v: %w", name, t, res.Err))
			return
		}
		if rc := res.Msg.Rcode; rc != dns.RcodeSuccess {
			done(netip.Addr{}, fmt.Errorf("resolve %s %v: %v: %w", name, t, rc, ErrNoAddress))
			return
		}
		for _, rr := range res.Msg.Answer {
			if rr.Type != t {
				continue
			}
			switch a := rr.Data.(type) {
			case *dns.A:
				done(a.Addr, nil)
				return
			case *dns.AAAA:
				done(a.Addr, nil)
				return
			}
		}
		if len(types) > 1 {
			d.lookup(name, types[1:], done)
			return
		}
		done(netip.Addr{}, fmt.Errorf("resolve %s: %w", name, ErrNoAddress))
	})
	if err != nil {
		done(netip.Addr{}, fmt.Errorf("resolve %s: %w", name, err))
	}
}

// udpDNS is a dns.UDPTransport over one UDP socket of an app.Net (a
// single source port for all queries: the resolver's random IDs are the
// defence against spoofed answers).
type udpDNS struct {
	conn app.Conn
	r    *dns.Resolver
}

// SendUDP implements dns.UDPTransport.
func (u *udpDNS) SendUDP(server netip.AddrPort, msg []byte) error {
	if err := u.conn.SendTo(server, msg); err != nil {
		return fmt.Errorf("dns query to %s: %w", server, err)
	}
	return nil
}

// HandleDatagram implements app.DatagramHandler: answers go to the
// resolver.
func (u *udpDNS) HandleDatagram(src, _ netip.AddrPort, payload []byte) {
	if u.r != nil {
		u.r.HandleUDP(src, payload)
	}
}

// NewDNSResolver returns a Resolver that queries servers over UDP through
// env's host, with a DNS-over-TCP fallback for truncated answers when the
// host has a TCP stack.
func NewDNSResolver(env *app.Env, servers ...netip.AddrPort) (*DNSResolver, error) {
	if len(servers) == 0 {
		return nil, fmt.Errorf("dns resolver: %w", dns.ErrNoServers)
	}
	u := &udpDNS{}
	conn, err := env.Net.ListenUDP(0, u)
	if err != nil {
		return nil, fmt.Errorf("dns resolver: %w", err)
	}
	u.conn = conn
	var tt dns.TCPTransport
	if ts, err := tcpOf(env); err == nil {
		tt = dnsstack.NewTCPClient(ts, env.Clock)
	}
	u.r = dns.NewResolver(env.Clock, env.Rand, u, tt, servers...)
	return &DNSResolver{R: u.r}, nil
}
