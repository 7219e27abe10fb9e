package hostrole

import (
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
)

// Service kinds a profile names.
const (
	ServiceHTTP = "http"
	ServiceEcho = "echo"
	ServiceDNS  = "dns"
	ServiceDHCP = "dhcp"
)

// Service is a port the recorded host served on, and what it ran there
// when the capture shows it (Kind empty: unknown).
type Service struct {
	Proto string `json:"proto"`
	Port  uint16 `json:"port"`
	Kind  string `json:"kind,omitempty"`
}

// String renders the service as "http on tcp/80".
func (s Service) String() string {
	if s.Kind == "" {
		return fmt.Sprintf("%s/%d", s.Proto, s.Port)
	}
	return fmt.Sprintf("%s on %s/%d", s.Kind, s.Proto, s.Port)
}

// DHCPProfile is one subnet the recorded host's DHCP server served,
// learnt from its OFFER and ACK messages (RFC 2131 section 4.3.1): the
// addresses it offered bound the pool; the options give the rest. A subnet
// reached through a relay agent has its address in Relay (giaddr).
type DHCPProfile struct {
	Relay      netip.Addr   `json:"relay,omitzero"`
	PoolStart  netip.Addr   `json:"pool_start"`
	PoolEnd    netip.Addr   `json:"pool_end"`
	Subnet     netip.Prefix `json:"subnet"`
	Router     netip.Addr   `json:"router,omitzero"`
	DNS        []netip.Addr `json:"dns,omitempty"`
	DomainName string       `json:"domain_name,omitempty"`
	// LeaseTime, T1 and T2 are in seconds (options 51, 58, 59; 0 when
	// absent).
	LeaseTime uint32 `json:"lease_time"`
	T1        uint32 `json:"t1,omitempty"`
	T2        uint32 `json:"t2,omitempty"`
	// Offers and Acks count the messages it was learnt from.
	Offers int `json:"offers"`
	Acks   int `json:"acks"`
}

// ServerConfig returns the configuration of a dhcp.Server that hands out
// what the recorded server did, with server identifier id.
func (d *DHCPProfile) ServerConfig(id netip.Addr) dhcp.ServerConfig {
	cfg := dhcp.ServerConfig{ServerID: id, Subnet: d.Subnet, PoolStart: d.PoolStart, PoolEnd: d.PoolEnd,
		Router: d.Router, DNS: d.DNS, DomainName: d.DomainName}
	if d.LeaseTime > 0 {
		cfg.LeaseTime = time.Duration(d.LeaseTime) * time.Second
	}
	if d.T1 > 0 && d.T2 > d.T1 && d.T2 < d.LeaseTime {
		cfg.T1, cfg.T2 = time.Duration(d.T1)*time.Second, time.Duration(d.T2)*time.Second
	}
	return cfg
}

// String summarises the subnet as "pool A-B, router R, DNS D, lease 2m0s".
func (d *DHCPProfile) String() string {
	s := fmt.Sprintf("pool %s-%s", d.PoolStart, d.PoolEnd)
	if d.Relay.IsValid() {
		s += fmt.Sprintf(" (through relay %s)", d.Relay)
	}
	if d.Router.IsValid() {
		s += fmt.Sprintf(", router %s", d.Router)
	}
	if len(d.DNS) > 0 {
		s += fmt.Sprintf(", DNS %v", d.DNS)
	}
	return s + fmt.Sprintf(", lease %s", time.Duration(d.LeaseTime)*time.Second)
}

// maxScopes bounds the DHCP subnets a profile keeps.
const maxScopes = 64

// peek is the first bytes each side sent on a TCP flow of the host.
type peek struct {
	host, peer []byte
}

// peekLen is how many bytes of each side a flow's peek keeps.
const peekLen = 64

// learnTCPData keeps the first bytes of a TCP flow of the host, to tell
// what it served: an HTTP response, or an echo of the peer's bytes.
func (l *learner) learnTCPData(h ipPkt, fromHost bool) {
	t, err := tcp.ParseHeader(h.Payload())
	if err != nil || len(t.Payload()) == 0 {
		return
	}
	k := FlowKey{Host: netip.AddrPortFrom(h.Src(), t.SrcPort()), Peer: netip.AddrPortFrom(h.Dst(), t.DstPort())}
	if !fromHost {
		k = FlowKey{Host: netip.AddrPortFrom(h.Dst(), t.DstPort()), Peer: netip.AddrPortFrom(h.Src(), t.SrcPort())}
	}
	p := l.peeks[k]
	if p == nil {
		if len(l.peeks) >= maxLearned {
			return
		}
		p = &peek{}
		l.peeks[k] = p
	}
	side := &p.peer
	if fromHost {
		side = &p.host
	}
	if n := peekLen - len(*side); n > 0 {
		*side = append(*side, t.Payload()[:min(n, len(t.Payload()))]...)
	}
}

// learnDHCP learns the host's DHCP server from a message it sent from
// port 67.
func (l *learner) learnDHCP(u udp.Header) {
	var m dhcp.Message
	if m.Unmarshal(u.Payload()) != nil || m.Op != dhcp.BootReply {
		return
	}
	t := m.Type()
	if (t != dhcp.Offer && t != dhcp.Ack) || !m.YIAddr.Is4() || m.YIAddr.IsUnspecified() {
		return
	}
	bits := DefaultPrefixLen
	if mask, ok := m.Options.Get(dhcp.OptSubnetMask); ok && len(mask) == 4 {
		bits = 0
		for v := be32([4]byte(mask)); v&0x80000000 != 0; v <<= 1 {
			bits++
		}
	}
	subnet := netip.PrefixFrom(m.YIAddr, bits).Masked()
	var d *DHCPProfile
	for _, x := range l.p.DHCP {
		if x.Subnet == subnet {
			d = x
		}
	}
	if d == nil {
		if len(l.p.DHCP) >= maxScopes {
			return
		}
		d = &DHCPProfile{PoolStart: m.YIAddr, PoolEnd: m.YIAddr, Subnet: subnet}
		if m.GIAddr.Is4() && !m.GIAddr.IsUnspecified() {
			d.Relay = m.GIAddr
		}
		l.p.DHCP = append(l.p.DHCP, d)
	}
	if t == dhcp.Offer {
		d.Offers++
	} else {
		d.Acks++
	}
	if m.YIAddr.Less(d.PoolStart) {
		d.PoolStart = m.YIAddr
	}
	if d.PoolEnd.Less(m.YIAddr) {
		d.PoolEnd = m.YIAddr
	}
	if r, ok := m.Options.Addr(dhcp.OptRouter); ok {
		d.Router = r
	}
	if dns := m.Options.Addrs(dhcp.OptDNS); len(dns) > 0 {
		d.DNS = dns
	}
	if dn, ok := m.Options.Get(dhcp.OptDomainName); ok {
		d.DomainName = string(dn)
	}
	for _, o := range []struct {
		c dhcp.OptionCode
		v *uint32
	}{{dhcp.OptLeaseTime, &d.LeaseTime}, {dhcp.OptRenewalTime, &d.T1}, {dhcp.OptRebindingTime, &d.T2}} {
		if v, ok := m.Options.Uint32(o.c); ok {
			*o.v = v
		}
	}
}

// services names what the host served on each port it accepted on (TCP)
// or answered from (UDP).
func (l *learner) services() []Service {
	kind := map[uint16]string{}
	for k, p := range l.peeks {
		if !l.tcpPorts[k.Host.Port()] || len(p.host) == 0 {
			continue
		}
		switch {
		case bytes.HasPrefix(p.host, []byte("HTTP/1.")):
			kind[k.Host.Port()] = ServiceHTTP
		case kind[k.Host.Port()] == "" && len(p.peer) > 0 && bytes.HasPrefix(p.peer, p.host[:min(len(p.host), len(p.peer))]):
			kind[k.Host.Port()] = ServiceEcho
		}
	}
	var out []Service
	for _, port := range sortedPorts(l.tcpPorts) {
		k := kind[port]
		if k == "" && port == 53 {
			k = ServiceDNS
		}
		out = append(out, Service{Proto: "tcp", Port: port, Kind: k})
	}
	for _, port := range sortedPorts(l.udpPorts) {
		s := Service{Proto: "udp", Port: port}
		switch {
		case port == 53:
			s.Kind = ServiceDNS
		case port == dhcpServerPort && len(l.p.DHCP) > 0:
			s.Kind = ServiceDHCP
		case !l.udpIn[port]:
			continue // the host only sent from it (a client's port)
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Proto > out[j].Proto })
	return out
}
