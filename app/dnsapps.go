package app

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
)

// DNSPort is the DNS server port (RFC 1035 section 4.2).
const DNSPort = 53

// DNSServerResult is what a DNS server app answered.
type DNSServerResult struct {
	Queries   uint64 `json:"queries"`
	Dropped   uint64 `json:"dropped"`
	FormErr   uint64 `json:"formerr"`
	Refused   uint64 `json:"refused"`
	NXDomain  uint64 `json:"nxdomain"`
	Truncated uint64 `json:"truncated"`
}

// DNSServer runs an authoritative dns.Server for its zones on UDP and TCP
// port 53 of every address of the host.
type DNSServer struct {
	name  string
	zones []*dns.Zone
	srv   *dns.Server
	udp   *dnsstack.UDPServer
	tcp   *dnsstack.TCPServer
}

// NewDNSServer returns a DNS server app answering for zones.
func NewDNSServer(name string, zones ...*dns.Zone) *DNSServer {
	return &DNSServer{name: name, zones: zones}
}

// Name returns the app's name.
func (s *DNSServer) Name() string { return s.name }

// Start serves the zones on UDP and (when the host runs TCP) TCP port 53.
func (s *DNSServer) Start(env *Env) error {
	h, err := hostOf(env)
	if err != nil {
		return fmt.Errorf("dns server %s: %w", s.name, err)
	}
	if s.srv, err = dns.NewServer(s.zones...); err != nil {
		return fmt.Errorf("dns server %s: %w", s.name, err)
	}
	any53 := netip.AddrPortFrom(netip.IPv4Unspecified(), DNSPort)
	if s.udp, err = dnsstack.ServeUDP(h, any53, s.srv); err != nil {
		return fmt.Errorf("dns server %s: %w", s.name, err)
	}
	if env.TCP != nil {
		if s.tcp, err = dnsstack.ServeTCP(env.TCP, any53, s.srv); err != nil {
			return fmt.Errorf("dns server %s: %w", s.name, err)
		}
	}
	return nil
}

// Result returns the server's counters.
func (s *DNSServer) Result() any {
	if s.srv == nil {
		return DNSServerResult{}
	}
	st := s.srv.Stats
	return DNSServerResult{Queries: st.Queries, Dropped: st.Dropped, FormErr: st.FormErr, Refused: st.Refused, NXDomain: st.NXDomain, Truncated: st.Truncated}
}

// DNSLookupResult is the outcome of a DNS lookup app.
type DNSLookupResult struct {
	Query  string `json:"query"`
	Server string `json:"server,omitempty"`
	// Answered reports that a response arrived; Rcode is its code.
	Answered bool   `json:"answered"`
	Rcode    string `json:"rcode,omitempty"`
	// Addresses are the A (or AAAA) records of the answer, in answer
	// order.
	Addresses []string `json:"addresses"`
	// Start and End bound the lookup on the driver's clock.
	Start clock.Time `json:"start_ns"`
	End   clock.Time `json:"end_ns"`
	// Queries counts UDP queries sent, retries included.
	Queries uint64 `json:"queries"`
	Error   string `json:"error,omitempty"`
}

// DNSLookup looks up one name's A records (or AAAA records, RFC 3596)
// with simnet's stub resolver (UDP with retries, TCP after a truncated
// answer), over IPv4 or IPv6.
type DNSLookup struct {
	// Attempts, if positive, replaces the resolver's number of UDP
	// queries per lookup.
	Attempts int
	// Type is the record type asked for: dns.TypeA (the default, also
	// for zero) or dns.TypeAAAA.
	Type dns.Type

	name    string
	query   string
	servers []netip.AddrPort
	r       *dns.Resolver
	res     DNSLookupResult
}

// NewDNSLookup returns a lookup app asking servers for query's A records.
func NewDNSLookup(name, query string, servers ...netip.AddrPort) *DNSLookup {
	return &DNSLookup{name: name, query: query, servers: servers, res: DNSLookupResult{Query: query, Addresses: []string{}}}
}

// Name returns the app's name.
func (l *DNSLookup) Name() string { return l.name }

// resolverUDP is a dns.UDPTransport over one UDP socket of the host.
type resolverUDP struct {
	conn Conn
	r    *dns.Resolver
}

// SendUDP sends a query.
func (u *resolverUDP) SendUDP(server netip.AddrPort, msg []byte) error {
	if err := u.conn.SendTo(server, msg); err != nil {
		return fmt.Errorf("dns query to %s: %w", server, err)
	}
	return nil
}

// HandleDatagram hands a response to the resolver.
func (u *resolverUDP) HandleDatagram(src, _ netip.AddrPort, payload []byte) {
	if u.r != nil {
		u.r.HandleUDP(src, payload)
	}
}

// Start sends the query.
func (l *DNSLookup) Start(env *Env) error {
	if len(l.servers) == 0 {
		return fmt.Errorf("dns lookup %s: %w", l.name, dns.ErrNoServers)
	}
	u := &resolverUDP{}
	conn, err := env.Net.ListenUDP(0, u)
	if err != nil {
		return fmt.Errorf("dns lookup %s: %w", l.name, err)
	}
	u.conn = conn
	var tt dns.TCPTransport
	if env.TCP != nil {
		tt = dnsstack.NewTCPClient(env.TCP, env.Clock)
	}
	l.r = dns.NewResolver(env.Clock, env.Rand, u, tt, l.servers...)
	u.r = l.r
	if l.Attempts > 0 {
		l.r.Attempts = l.Attempts
	}
	l.res.Start = env.Clock.Now()
	qt := l.Type
	if qt != dns.TypeAAAA {
		qt = dns.TypeA
	}
	err = l.r.Lookup(l.query, qt, func(res dns.Result) {
		l.res.End = env.Clock.Now()
		if res.Err != nil {
			l.res.Error = res.Err.Error()
			return
		}
		l.res.Answered = true
		l.res.Server = res.Server.String()
		l.res.Rcode = res.Msg.Rcode.String()
		for _, rr := range res.Msg.Answer {
			if rr.Type != qt {
				continue
			}
			switch a := rr.Data.(type) {
			case *dns.A:
				l.res.Addresses = append(l.res.Addresses, a.Addr.String())
			case *dns.AAAA:
				l.res.Addresses = append(l.res.Addresses, a.Addr.String())
			}
		}
	})
	if err != nil {
		return fmt.Errorf("dns lookup %s: %w", l.name, err)
	}
	return nil
}

// Result returns the lookup's outcome so far.
func (l *DNSLookup) Result() any {
	r := l.res
	r.Addresses = append([]string{}, l.res.Addresses...)
	if l.r != nil {
		r.Queries = l.r.Stats.Sent
	}
	return r
}
