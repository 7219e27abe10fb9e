package httpapp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
)

// Resolver maps a host name to an IPv4 address on the loop.
type Resolver interface {
	// Resolve looks name up and calls done exactly once, on the loop,
	// with the address or an error. It may call done before returning.
	Resolve(name string, done func(netip.Addr, error))
}

// ErrNoAddress reports a name with no A record.
var ErrNoAddress = errors.New("httpapp: no IPv4 address for name")

// DNSResolver resolves names with simnet's DNS stub resolver.
type DNSResolver struct {
	// R is the stub resolver.
	R *dns.Resolver
}

// Resolve looks up name's A records and returns the first address.
func (d DNSResolver) Resolve(name string, done func(netip.Addr, error)) {
	err := d.R.Lookup(name, dns.TypeA, func(res dns.Result) {
		if res.Err != nil {
			done(netip.Addr{}, fmt.Errorf("resolve %s: %w", name, res.Err))
			return
		}
		if rc := res.Msg.Rcode; rc != dns.RcodeSuccess {
			done(netip.Addr{}, fmt.Errorf("resolve %s: %v: %w", name, rc, ErrNoAddress))
			return
		}
		for _, rr := range res.Msg.Answer {
			if a, ok := rr.Data.(*dns.A); ok && rr.Type == dns.TypeA {
				done(a.Addr, nil)
				return
			}
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
