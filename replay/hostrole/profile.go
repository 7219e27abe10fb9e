package hostrole

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"sort"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay/input"
)

// DefaultMAC is the hardware address the replayed host takes when the
// capture has no Ethernet frames from it; SyntheticPeerMAC is the address
// given to peers whose frames carry no Ethernet header.
var (
	DefaultMAC       = ether.Addr{0x02, 0x73, 0x6e, 0x00, 0x00, 0x01}
	SyntheticPeerMAC = ether.Addr{0x02, 0x73, 0x6e, 0x00, 0x00, 0x02}
)

// DefaultPrefixLen is the prefix length assumed when the capture does not
// show a wider subnet; DefaultPrefixLen6 is an IPv6 host's (RFC 4291
// section 2.5.1: interface identifiers are 64 bits).
const (
	DefaultPrefixLen  = 24
	DefaultPrefixLen6 = 64
)

// maxLearned bounds the neighbours and ports a profile keeps, whatever the
// capture holds.
const maxLearned = 4096

// Neighbor is an on-link address and its hardware address.
type Neighbor struct {
	IP  netip.Addr `json:"ip"`
	MAC string     `json:"mac"`
	// ARP is set when the host resolved the address with ARP in the
	// capture: the replay then lets our stack resolve it too (the
	// recorded reply is fed at its time) instead of installing a static
	// entry, so replies wait for ARP exactly as the recorded ones did.
	ARP bool `json:"arp,omitempty"`
	mac ether.Addr
}

// Profile is the configuration of the replayed host, learnt from the
// capture.
type Profile struct {
	// Addr is the host's address (the --as argument).
	Addr netip.Addr `json:"addr"`
	// MAC is the source address of the host's frames (DefaultMAC when
	// none carries an Ethernet header).
	MAC string `json:"mac"`
	mac ether.Addr
	// Prefix is the host's subnet: /24 unless the host sent ARP requests
	// for addresses outside it, then the longest prefix holding them all.
	Prefix netip.Prefix `json:"prefix"`
	// Gateway is set when every off-subnet peer was reached through one
	// hardware address; GatewayMAC is that address. When no on-link
	// address is seen with that MAC, Gateway is an unused address of the
	// subnet chosen for it (GatewaySynthetic).
	Gateway          netip.Addr `json:"gateway,omitzero"`
	GatewayMAC       string     `json:"gateway_mac,omitempty"`
	GatewaySynthetic bool       `json:"gateway_synthetic,omitempty"`
	gwMAC            ether.Addr
	// Neighbors are the on-link peers and their hardware addresses,
	// sorted by address.
	Neighbors []Neighbor `json:"neighbors"`
	// TCPPorts are the ports the host accepted connections on (it sent a
	// SYN-ACK from them); UDPPorts those it sent datagrams from. Sorted.
	TCPPorts []uint16 `json:"tcp_ports"`
	UDPPorts []uint16 `json:"udp_ports"`
	// Services names what the host served on the TCP ports it accepted
	// on and the UDP ports peers sent to and it answered from: HTTP (it
	// answered with an HTTP response), echo (it sent back the peer's
	// bytes), DNS (port 53), DHCP (it sent OFFER or ACK from port 67), or
	// unknown (no kind).
	Services []Service `json:"services"`
	// DHCP holds the subnets the host's DHCP server served, when it sent
	// OFFER or ACK, in order of first appearance.
	DHCP []*DHCPProfile `json:"dhcp,omitempty"`
	// Frames counts the capture's frames; FromHost and ToHost those the
	// host sent and received.
	Frames   int `json:"frames"`
	FromHost int `json:"from_host"`
	ToHost   int `json:"to_host"`
	// Snapped counts the frames to or from the host that the capture's
	// snapshot length cut short (counted in FromHost and ToHost: their
	// addresses were read from the headers that were captured).
	Snapped int `json:"snapped,omitempty"`
}

// learner accumulates what Learn sees.
type learner struct {
	p          *Profile
	macOf      map[netip.Addr]ether.Addr // peer IP -> MAC its frames came from
	arpTargets map[netip.Addr]bool
	tcpPorts   map[uint16]bool
	udpPorts   map[uint16]bool
	udpIn      map[uint16]bool // UDP ports peers sent to
	peeks      map[FlowKey]*peek
	haveMAC    bool
}

// Learn reads the capture to the end and returns the profile of the host
// with address as. A capture in which the host neither sends nor receives
// anything is an error; a truncated capture gives the profile of what was
// read and the *input.TruncatedError.
func Learn(r *input.Reader, as netip.Addr) (*Profile, error) {
	as = as.Unmap()
	if !as.IsValid() || as.IsUnspecified() || as.IsMulticast() {
		return nil, fmt.Errorf("learn host %s: not a unicast address", as)
	}
	l := &learner{
		p:          &Profile{Addr: as, mac: DefaultMAC},
		macOf:      make(map[netip.Addr]ether.Addr),
		arpTargets: make(map[netip.Addr]bool),
		tcpPorts:   make(map[uint16]bool),
		udpPorts:   make(map[uint16]bool),
		udpIn:      make(map[uint16]bool),
		peeks:      make(map[FlowKey]*peek),
	}
	var f input.Frame
	var rerr error
	for {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		var fe *input.FrameError
		if err != nil && !errors.As(err, &fe) {
			rerr = err
			break
		}
		l.p.Frames++
		if err == nil {
			l.frame(&f)
		}
	}
	if l.p.FromHost+l.p.ToHost == 0 {
		if rerr != nil {
			return nil, fmt.Errorf("learn host %s: no frame to or from it in the %d frames read before the capture broke off: %w", as, l.p.Frames, rerr)
		}
		return nil, fmt.Errorf("learn host %s: no frame to or from it in the capture", as)
	}
	l.finish()
	return l.p, rerr
}

func (l *learner) frame(f *input.Frame) {
	as := l.p.Addr
	srcMAC := SyntheticPeerMAC
	var dstMAC ether.Addr
	hasEther := f.Ether != nil
	if hasEther {
		srcMAC, dstMAC = f.Ether.Src(), f.Ether.Dst()
	}
	switch f.Proto {
	case ether.TypeARP:
		p, err := arp.Parse(f.Network)
		if err != nil {
			return
		}
		spa, tpa := p.SenderIP(), p.TargetIP()
		if spa == as {
			l.p.FromHost++
			l.setMAC(p.SenderHW(), true)
			if p.Op() == arp.OpRequest && tpa != as && len(l.arpTargets) < maxLearned {
				l.arpTargets[tpa] = true
			}
			return
		}
		if tpa == as {
			l.p.ToHost++
		}
		if spa.IsValid() && !spa.IsUnspecified() {
			l.learnPeer(spa, p.SenderHW())
		}
	case ether.TypeIPv4, ether.TypeIPv6:
		h, err := parseIP(f.Proto, f.Network)
		if err != nil {
			if f.CapLen < f.OrigLen && f.Proto == ether.TypeIPv4 {
				l.snapped(f, srcMAC, dstMAC, hasEther)
			}
			return
		}
		src, dst := h.Src(), h.Dst()
		switch {
		case src == as:
			l.p.FromHost++
			if hasEther {
				l.setMAC(srcMAC, true)
			}
			if !h.IsFragment() {
				l.ports(h)
				if h.Protocol() == tcp.ProtocolNumber {
					l.learnTCPData(h, true)
				}
			}
		case dst == as || (dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) && h.Protocol() == ipProtoUDP):
			if dst == as {
				l.p.ToHost++
			}
			if !h.IsFragment() {
				switch h.Protocol() {
				case tcp.ProtocolNumber:
					l.learnTCPData(h, false)
				case ipProtoUDP:
					if u, err := udp.Parse(h.Payload()); err == nil {
						l.udpIn[u.DstPort()] = true
					}
				}
			}
			if dst != as {
				return
			}
			l.learnPeer(src, srcMAC)
			if hasEther && !dstMAC.IsMulticast() {
				l.setMAC(dstMAC, false)
			}
		}
	}
}

// snapped learns from an IPv4 datagram the snapshot length cut short: its
// addresses are in the captured header even when the rest is not.
func (l *learner) snapped(f *input.Frame, srcMAC, dstMAC ether.Addr, hasEther bool) {
	b := f.Network
	if len(b) < ipv4.MinHeaderLen || b[0]>>4 != ipv4.Version {
		return
	}
	src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
	switch l.p.Addr {
	case src:
		l.p.FromHost++
		l.p.Snapped++
		if hasEther {
			l.setMAC(srcMAC, true)
		}
		hl := int(b[0]&0xf) * 4
		offset := binary.BigEndian.Uint16(b[6:]) & 0x3fff // MF and fragment offset
		if b[9] == tcp.ProtocolNumber && offset == 0 && hl >= ipv4.MinHeaderLen && hl <= len(b) {
			if t, err := tcp.ParseHeader(b[hl:]); err == nil && t.Flags()&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK && len(l.tcpPorts) < maxLearned {
				l.tcpPorts[t.SrcPort()] = true
			}
		}
	case dst:
		l.p.ToHost++
		l.p.Snapped++
		l.learnPeer(src, srcMAC)
		if hasEther && !dstMAC.IsMulticast() {
			l.setMAC(dstMAC, false)
		}
	}
}

// setMAC records the host's hardware address; an address seen on a frame
// the host sent wins over one seen on a frame sent to it.
func (l *learner) setMAC(m ether.Addr, sent bool) {
	if m.IsMulticast() || m.IsZero() {
		return
	}
	if sent && !l.haveMAC {
		l.p.mac, l.haveMAC = m, true
	} else if !sent && !l.haveMAC && l.p.mac == DefaultMAC {
		l.p.mac = m
	}
}

func (l *learner) learnPeer(ip netip.Addr, mac ether.Addr) {
	if mac.IsMulticast() || mac.IsZero() || !ip.IsValid() || ip.IsUnspecified() || ip.Is4() != l.p.Addr.Is4() {
		return
	}
	if _, ok := l.macOf[ip]; !ok && len(l.macOf) < maxLearned {
		l.macOf[ip] = mac
	}
}

// ports notes the services the host answered on.
func (l *learner) ports(h ipPkt) {
	switch h.Protocol() {
	case tcp.ProtocolNumber:
		t, err := tcp.ParseHeader(h.Payload())
		if err == nil && t.Flags()&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK && len(l.tcpPorts) < maxLearned {
			l.tcpPorts[t.SrcPort()] = true
		}
	case ipProtoUDP:
		u, err := udp.Parse(h.Payload())
		if err == nil && len(l.udpPorts) < maxLearned {
			l.udpPorts[u.SrcPort()] = true
		}
		if err == nil && u.SrcPort() == dhcpServerPort {
			l.learnDHCP(u)
		}
	}
}

func (l *learner) finish() {
	p := l.p
	p.MAC = p.mac.String()
	if p.Addr.Is6() {
		p.Prefix = netip.PrefixFrom(p.Addr, DefaultPrefixLen6).Masked()
	} else {
		p.Prefix = l.prefix4()
	}
	l.neighbors()
	p.TCPPorts = sortedPorts(l.tcpPorts)
	p.UDPPorts = sortedPorts(l.udpPorts)
	p.Services = l.services()
}

// prefix4 is the host's IPv4 subnet: /24, or the longest prefix holding
// the addresses it sent ARP requests for.
func (l *learner) prefix4() netip.Prefix {
	p := l.p
	bitsLen := DefaultPrefixLen
	a4 := p.Addr.As4()
	for t := range l.arpTargets {
		if !t.Is4() {
			continue
		}
		t4 := t.As4()
		common := bits.LeadingZeros32(be32(a4) ^ be32(t4))
		if common < bitsLen && common >= 8 {
			bitsLen = common
		}
	}
	return netip.PrefixFrom(p.Addr, bitsLen).Masked()
}

// neighbors sorts the peers into on-link neighbours and a gateway. An
// IPv6 link-local peer is on-link (RFC 4291 section 2.5.6).
func (l *learner) neighbors() {
	p := l.p
	ips := make([]netip.Addr, 0, len(l.macOf))
	for ip := range l.macOf {
		ips = append(ips, ip)
	}
	sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
	offMACs := map[ether.Addr]bool{}
	for _, ip := range ips {
		if !p.Prefix.Contains(ip) && !ip.IsLinkLocalUnicast() {
			offMACs[l.macOf[ip]] = true
			continue
		}
		m := l.macOf[ip]
		p.Neighbors = append(p.Neighbors, Neighbor{IP: ip, MAC: m.String(), ARP: l.arpTargets[ip], mac: m})
	}
	if len(offMACs) == 1 {
		for m := range offMACs {
			p.gwMAC = m
		}
		p.GatewayMAC = p.gwMAC.String()
		for _, n := range p.Neighbors {
			if n.mac == p.gwMAC {
				p.Gateway = n.IP
				break
			}
		}
		if !p.Gateway.IsValid() {
			p.Gateway, p.GatewaySynthetic = l.unusedAddr(), true
		}
	}
}

// unusedAddr returns the highest host address of the subnet that is neither
// the host's nor a peer's.
func (l *learner) unusedAddr() netip.Addr {
	p := l.p
	if p.Addr.Is6() {
		// fe80::fffe, a link-local address as routers use.
		a := netip.AddrFrom16([16]byte{0: 0xfe, 1: 0x80, 14: 0xff, 15: 0xfe})
		if _, used := l.macOf[a]; !used {
			return a
		}
		b := p.Prefix.Addr().As16()
		b[14], b[15] = 0xff, 0xfe
		return netip.AddrFrom16(b)
	}
	last := be32(p.Prefix.Addr().As4()) | (1<<(32-p.Prefix.Bits()) - 1)
	for v := last - 1; v > be32(p.Prefix.Addr().As4()); v-- {
		a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		if _, used := l.macOf[a]; !used && a != p.Addr {
			return a
		}
	}
	return p.Addr
}

func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

func sortedPorts(m map[uint16]bool) []uint16 {
	out := make([]uint16, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
