package stack

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
)

// announceNum and announceInterval follow RFC 5227 section 1.1
// (ANNOUNCE_NUM 2, ANNOUNCE_INTERVAL 2 seconds).
const (
	announceNum      = 2
	announceInterval = 2 * time.Second
)

// Interface is a host's attachment to one link. It receives the link's
// frames: it is the link.Receiver of its endpoint.
type Interface struct {
	// The fields every frame reads come first, so the receive and send
	// paths touch only the interface's first two cache lines, and an ARP
	// request for another host (every host on a LAN receives each one)
	// only the first: h to neighMask and the receive counters.
	h   *Host
	mac ether.Addr
	// hasA4 says the interface has an address: a4 is addr as 4 bytes.
	// probing says probes is not empty.
	hasA4   bool
	probing bool
	a4      [4]byte
	// bcast4 is the subnet broadcast address when hasBcast.
	bcast4 [4]byte
	// neighMask has bit neighBit(ip) set for every ip ever put in neigh,
	// so that most ARP packets from hosts not in the table are told
	// apart without a map lookup.
	neighMask uint64
	// link counts the frames of this interface; Host.Stats sums them.
	link linkStats
	// net4 and mask4 are the network and netmask of the address (big
	// endian), bits its prefix length.
	hasBcast bool
	net4     uint32
	mask4    uint32
	bits     int
	mtu      int
	// v6 is the IPv6 state (ipv6.go), nil until EnableIPv6.
	v6 *v6Iface
	// probes are the RFC 5227 probes running, in the order they started.
	probes []*ARPProbe
	ep     link.Endpoint
	// hits caches resolved neighbours recently sent to (an inline copy of
	// their neigh entries); hitNext is the slot the next miss replaces.
	hits    [neighHits]neighHit
	hitNext uint8

	name  string
	addr  netip.Prefix
	neigh map[[4]byte]*neighbor

	announceTimer clock.Timer
	announceLeft  int

	probeSeq uint64

	// onV6Change is OnIPv6AddressChange's hook (ipv6_auto.go).
	onV6Change func(netip.Prefix, bool)
}

// AddInterface attaches a new interface named name with hardware address
// mac to ep, and makes the interface ep's receiver.
func (h *Host) AddInterface(name string, mac ether.Addr, ep link.Endpoint) *Interface {
	mtu := ep.MTU()
	if mtu < minMTU {
		mtu = DefaultMTU
	}
	if mtu > 0xffff {
		mtu = 0xffff
	}
	i := &Interface{}
	if len(h.ifcs) == 0 {
		i = &h.ifc0
	}
	*i = Interface{h: h, name: name, mac: mac, ep: ep, mtu: mtu, neigh: make(map[[4]byte]*neighbor)}
	i.announceTimer.Init(clock.HandlerFunc(i.onAnnounce))
	h.ifcs = append(h.ifcs, i)
	ep.SetReceiver(i)
	return i
}

// Name returns the interface name.
func (i *Interface) Name() string { return i.name }

// Host returns the host the interface belongs to.
func (i *Interface) Host() *Host { return i.h }

// MAC returns the interface's hardware address.
func (i *Interface) MAC() ether.Addr { return i.mac }

// MTU returns the largest IP packet the interface sends.
func (i *Interface) MTU() int { return i.mtu }

// Endpoint returns the link endpoint the interface is attached to.
func (i *Interface) Endpoint() link.Endpoint { return i.ep }

// Address returns the interface's address and prefix, or the zero Prefix.
func (i *Interface) Address() netip.Prefix { return i.addr }

// SetAddress sets the interface's IPv4 address and prefix length; with
// Config.ARPNotify it also announces it (see AnnounceAddress), otherwise
// it sends nothing, as Linux with its default arp_notify = 0. The zero
// Prefix removes the address. Non-IPv4 prefixes are ignored.
func (i *Interface) SetAddress(p netip.Prefix) {
	if p.IsValid() && p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.IsValid() && !p.Addr().Is4() {
		return
	}
	i.addr = p
	i.hasA4, i.hasBcast = p.IsValid(), false
	i.a4, i.bcast4, i.net4, i.mask4, i.bits = [4]byte{}, [4]byte{}, 0, 0, 0
	if p.IsValid() {
		i.a4 = p.Addr().As4()
		i.bits = p.Bits()
		i.mask4 = uint32(uint64(0xffffffff) << (32 - i.bits))
		i.net4 = be32(i.a4) & i.mask4
		// RFC 3021: a /31 has no broadcast address.
		if p.Bits() < 31 {
			i.hasBcast, i.bcast4 = true, subnetBroadcast(p)
		}
	}
	i.h.clk.Cancel(&i.announceTimer)
	i.announceLeft = 0
	if i.h.cfg.ARPNotify {
		i.AnnounceAddress()
	}
}

// AnnounceAddress announces the interface's IPv4 address with gratuitous
// ARP requests (RFC 5227 section 2.3: ANNOUNCE_NUM announcements
// ANNOUNCE_INTERVAL apart), restarting any announcement under way. A
// client that has probed an address (StartARPProbe) and configured it
// calls this. It does nothing without an address.
func (i *Interface) AnnounceAddress() {
	i.h.clk.Cancel(&i.announceTimer)
	i.announceLeft = 0
	if !i.addr.IsValid() || i.addr.Addr().IsUnspecified() {
		return
	}
	i.announceLeft = announceNum
	i.onAnnounce(i.h.clk.Now())
}

func (i *Interface) onAnnounce(now clock.Time) {
	if i.announceLeft <= 0 || !i.addr.IsValid() {
		return
	}
	i.announceLeft--
	i.h.stats.ARPAnnouncementsOut++
	ip := i.addr.Addr().As4()
	i.sendARP(arp.Fields{Op: arp.OpRequest, SenderHW: i.mac, SenderIP: ip, TargetIP: ip}, ether.Broadcast)
	if i.announceLeft > 0 {
		i.h.clk.Schedule(&i.announceTimer, now.Add(announceInterval))
	}
}

// hasAddr reports whether a is the interface's address.
func (i *Interface) hasAddr(a [4]byte) bool {
	return i.hasA4 && i.a4 == a
}

// isBroadcast reports whether a is the limited broadcast address or the
// interface's directed (subnet) broadcast address.
func (i *Interface) isBroadcast(a [4]byte) bool {
	return a == limitedBroadcast || (i.hasBcast && a == i.bcast4)
}

// be32 returns a as a big-endian number.
func be32(a [4]byte) uint32 {
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}

// contains4 reports whether the interface has an address whose prefix
// contains d (as netip.Prefix.Contains does for an IPv4 d).
func (i *Interface) contains4(d uint32) bool {
	return i.hasA4 && d&i.mask4 == i.net4
}

// subnetBroadcast returns the all-ones host address of p.
func subnetBroadcast(p netip.Prefix) [4]byte {
	a := p.Addr().As4()
	bits := p.Bits()
	for k := 0; k < 4; k++ {
		lo := k * 8
		switch {
		case bits >= lo+8:
		case bits <= lo:
			a[k] = 0xff
		default:
			a[k] |= 0xff >> uint(bits-lo)
		}
	}
	return a
}

// Receive handles one frame from the link. It implements link.Receiver.
func (i *Interface) Receive(frame []byte, _ link.Note) {
	h := i.h
	i.link.FramesIn++
	i.link.BytesIn += uint64(len(frame))
	f, err := ether.Parse(frame)
	if err != nil {
		h.stats.DropMalformed++
		return
	}
	if f.EtherType() == ether.TypeIPv6 && i.v6 != nil {
		i.v6.input(f)
		return
	}
	dst := f.Dst()
	if dst != i.mac && !dst.IsBroadcast() {
		if dst.IsMulticast() {
			h.stats.DropMulticastFrame++
		} else {
			h.stats.DropNotOurMAC++
		}
		return
	}
	switch f.EtherType() {
	case ether.TypeIPv4:
		h.ipInput(i, f.Payload(), dst.IsBroadcast())
	case ether.TypeARP:
		i.arpInput(f.Payload())
	default:
		h.stats.DropEtherType++
	}
}

// send writes the Ethernet header for dst into frame[:14] and offers the
// frame to the link.
func (i *Interface) send(frame []byte, dst ether.Addr, t ether.EtherType) {
	ether.Encode(frame, dst, i.mac, t)
	i.link.FramesOut++
	i.link.BytesOut += uint64(len(frame))
	if n := i.ep.Send(frame); n.Dropped() {
		i.h.stats.LinkDrops++
	}
}

// sendARP builds an ARP packet with fields f and sends it to dst.
func (i *Interface) sendARP(f arp.Fields, dst ether.Addr) {
	h := i.h
	b := h.acquire(ether.HeaderLen + arp.PacketLen)
	arp.Encode(b[ether.HeaderLen:], f)
	i.send(b, dst, ether.TypeARP)
	h.release()
}
