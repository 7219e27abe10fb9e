package dhcp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// ServerConfig describes the pool and options a Server hands out.
type ServerConfig struct {
	// ServerID is the server's own address (option 54).
	ServerID netip.Addr
	// Subnet is the network the pool is in; its length is the subnet mask.
	Subnet netip.Prefix
	// PoolStart and PoolEnd bound the addresses leased, inclusive.
	PoolStart, PoolEnd netip.Addr
	// Router and DNS are sent as options 3 and 6 when valid/non-empty.
	Router     netip.Addr
	DNS        []netip.Addr
	DomainName string
	// LeaseTime is the lease duration (default 1 h); T1 and T2 default to
	// 0.5 and 0.875 of it.
	LeaseTime time.Duration
	T1, T2    time.Duration
	// OfferHold is how long an offered address stays reserved (default
	// 60 s); DeclineHold how long a declined address is kept out of the
	// pool (default LeaseTime).
	OfferHold, DeclineHold time.Duration
	// Reservations give clients fixed addresses (manual allocation, RFC
	// 2131 section 1). A reserved address is inside Subnet, in the pool
	// or not, and is never offered to another client.
	Reservations []Reservation
}

// Reservation ties a client's Ethernet hardware address to a fixed
// address.
type Reservation struct {
	// HW is the client's Ethernet address (chaddr with htype 1, hlen 6),
	// matched whether or not the client also sends a client identifier.
	HW [6]byte
	// Addr is the address the client always gets.
	Addr netip.Addr
}

// ServerStats counts what a Server did.
type ServerStats struct {
	Malformed uint64
	Ignored   uint64
	Offers    uint64
	Acks      uint64
	Naks      uint64
	Releases  uint64
	Declines  uint64
	Informs   uint64
	Exhausted uint64 // DISCOVERs left unanswered because the pool was full
}

type bindingState uint8

const (
	bindFree bindingState = iota
	bindOffered
	bindLeased
	bindDeclined
)

// binding is one pool address and who holds it.
type binding struct {
	state  bindingState
	client string // client identifier (option 61, or htype+chaddr)
	until  clock.Time
}

// Server is a DHCP server core for simulations: one pool, reserved
// addresses, leases with expiry, DISCOVER/OFFER, REQUEST/ACK or NAK,
// RELEASE, DECLINE and INFORM (RFC 2131 section 4.3). It is used from the
// driver's loop only.
type Server struct {
	clk   clock.Clock
	cfg   ServerConfig
	start uint32
	span  int       // addresses PoolStart..PoolEnd
	pool  []binding // index: address - PoolStart, then reserved addresses outside the pool
	// outside holds the reserved addresses past span, in configuration
	// order; byAddr maps them (as uint32) to their index.
	outside []netip.Addr
	byAddr  map[uint32]int
	// resvHW maps a reserved client's hardware address to its entry;
	// resvAt marks the reserved entries.
	resvHW map[[6]byte]int
	resvAt map[int]bool
	// last maps a client identifier to the pool index it last held, so
	// a returning client gets its old address (RFC 2131 section 4.3.1).
	last map[string]int
	out  []byte

	// Stats counts messages.
	Stats ServerStats
}

// Config returns the server's configuration, defaults filled in.
func (s *Server) Config() ServerConfig { return s.cfg }

// MaxPool bounds the pool size.
const MaxPool = 1 << 16

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func fromU32(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// NewServer returns a server for cfg.
func NewServer(clk clock.Clock, cfg ServerConfig) (*Server, error) {
	if !cfg.ServerID.Is4() || !cfg.PoolStart.Is4() || !cfg.PoolEnd.Is4() || !cfg.Subnet.Addr().Is4() {
		return nil, errors.New("dhcp server: server ID, subnet and pool must be IPv4")
	}
	if !cfg.Subnet.Contains(cfg.PoolStart) || !cfg.Subnet.Contains(cfg.PoolEnd) || cfg.PoolEnd.Less(cfg.PoolStart) {
		return nil, fmt.Errorf("dhcp server: pool %v-%v not inside %v", cfg.PoolStart, cfg.PoolEnd, cfg.Subnet)
	}
	n := u32(cfg.PoolEnd) - u32(cfg.PoolStart) + 1
	if n+uint32(min(len(cfg.Reservations), MaxPool+1)) > MaxPool {
		return nil, fmt.Errorf("dhcp server: pool of %d addresses and %d reservations exceeds %d", n, len(cfg.Reservations), MaxPool)
	}
	if cfg.LeaseTime <= 0 {
		cfg.LeaseTime = time.Hour
	}
	if cfg.T1 <= 0 {
		cfg.T1 = cfg.LeaseTime / 2
	}
	if cfg.T2 <= 0 {
		cfg.T2 = cfg.LeaseTime * 7 / 8
	}
	if cfg.OfferHold <= 0 {
		cfg.OfferHold = time.Minute
	}
	if cfg.DeclineHold <= 0 {
		cfg.DeclineHold = cfg.LeaseTime
	}
	cfg.Subnet = cfg.Subnet.Masked()
	s := &Server{clk: clk, cfg: cfg, start: u32(cfg.PoolStart), span: int(n), last: make(map[string]int),
		byAddr: make(map[uint32]int), resvHW: make(map[[6]byte]int), resvAt: make(map[int]bool)}
	if err := s.reserve(cfg.Reservations); err != nil {
		return nil, err
	}
	s.pool = make([]binding, s.span+len(s.outside))
	return s, nil
}

// reserve checks the reservations and indexes them: each address inside
// the subnet, neither its network nor broadcast address nor the server's
// own, and no address or hardware address twice.
func (s *Server) reserve(rs []Reservation) error {
	sub := s.cfg.Subnet
	bcast := u32(sub.Addr()) | ^uint32(0)>>sub.Bits()
	for k, r := range rs {
		where := fmt.Sprintf("dhcp server: reservation %d (%v for %v)", k, r.Addr, net6(r.HW))
		switch {
		case !r.Addr.Is4() || !sub.Contains(r.Addr):
			return fmt.Errorf("%s: address not inside %v", where, sub)
		case sub.Bits() < 31 && (r.Addr == sub.Addr() || u32(r.Addr) == bcast):
			return fmt.Errorf("%s: the network or broadcast address of %v", where, sub)
		case r.Addr == s.cfg.ServerID:
			return fmt.Errorf("%s: the server's own address", where)
		}
		if _, dup := s.resvHW[r.HW]; dup {
			return fmt.Errorf("%s: hardware address reserved twice", where)
		}
		i, ok := s.index(r.Addr)
		if !ok {
			i = s.span + len(s.outside)
			s.outside = append(s.outside, r.Addr)
			s.byAddr[u32(r.Addr)] = i
		} else if s.resvAt[i] {
			return fmt.Errorf("%s: address reserved twice", where)
		}
		s.resvHW[r.HW] = i
		s.resvAt[i] = true
	}
	return nil
}

// net6 formats a hardware address as net.HardwareAddr does.
func net6(hw [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", hw[0], hw[1], hw[2], hw[3], hw[4], hw[5])
}

// addr returns the address of entry i.
func (s *Server) addr(i int) netip.Addr {
	if i < s.span {
		return fromU32(s.start + uint32(i))
	}
	return s.outside[i-s.span]
}

// reservedFor returns the entry reserved for m's hardware address, or -1.
func (s *Server) reservedFor(m *Message) int {
	if m.HType != 1 || m.HLen != 6 || len(s.resvHW) == 0 {
		return -1
	}
	if i, ok := s.resvHW[[6]byte(m.CHAddr[:6])]; ok {
		return i
	}
	return -1
}

// Reply is what the server sends back for a message.
type Reply struct {
	// Msg is the encoded reply; it is valid until the next Handle call.
	Msg []byte
	// Dst is where to send it: a relay agent (port 67), a client's
	// ciaddr or 255.255.255.255 (port 68), per RFC 2131 section 4.1.
	Dst netip.AddrPort
}

// Leased returns the address leased to client identifier id (see
// ClientKey), if any.
func (s *Server) Leased(id string) (netip.Addr, bool) {
	i, ok := s.last[id]
	if !ok || !s.live(i, bindLeased) || s.pool[i].client != id {
		return netip.Addr{}, false
	}
	return s.addr(i), true
}

// ClientKey returns the identifier the server keys a client by: option
// 61 if present, else the hardware type and address.
func ClientKey(m *Message) string {
	if id, ok := m.Options.Get(OptClientID); ok {
		return string(id)
	}
	return string(append([]byte{m.HType}, m.HWAddr()...))
}

func (s *Server) index(a netip.Addr) (int, bool) {
	if !a.Is4() {
		return 0, false
	}
	v := u32(a)
	if v < s.start || v-s.start >= uint32(s.span) {
		i, ok := s.byAddr[v]
		return i, ok
	}
	return int(v - s.start), true
}

// live reports whether pool entry i is in state st and not expired.
func (s *Server) live(i int, st bindingState) bool {
	b := &s.pool[i]
	return b.state == st && s.clk.Now().Before(b.until)
}

// usable reports whether entry i can be given to client id, whose
// reserved entry is own (-1: none). A reserved entry is usable by its
// owner only.
func (s *Server) usable(i int, id string, own int) bool {
	if i != own && s.resvAt[i] {
		return false
	}
	b := &s.pool[i]
	if b.state == bindFree || !s.clk.Now().Before(b.until) {
		return true
	}
	return b.client == id && b.state != bindDeclined
}

// allocate picks an address for client id with reserved entry own (-1:
// none), in the order of RFC 2131 section 4.3.1: the client's current
// binding, its reserved (static) address, its previous address, the
// requested one, then the lowest free one of the pool.
func (s *Server) allocate(id string, requested netip.Addr, own int) (int, bool) {
	if i, ok := s.last[id]; ok && s.pool[i].client == id && (s.live(i, bindLeased) || s.live(i, bindOffered)) && s.usable(i, id, own) {
		return i, true
	}
	if own >= 0 && s.usable(own, id, own) {
		return own, true
	}
	if i, ok := s.last[id]; ok && s.usable(i, id, own) {
		return i, true
	}
	if i, ok := s.index(requested); ok && s.usable(i, id, own) {
		return i, true
	}
	for i := range s.span {
		if s.usable(i, id, own) {
			return i, true
		}
	}
	return 0, false
}

// Handle processes a datagram received on UDP port 67 and returns the
// reply to send, if any.
func (s *Server) Handle(payload []byte) (Reply, bool) {
	var m Message
	if err := m.Unmarshal(payload); err != nil {
		s.Stats.Malformed++
		return Reply{}, false
	}
	if m.Op != BootRequest {
		s.Stats.Ignored++
		return Reply{}, false
	}
	id := ClientKey(&m)
	own := s.reservedFor(&m)
	requested, _ := m.Options.Addr(OptRequestedIP)
	sid, hasSID := m.Options.Addr(OptServerID)
	now := s.clk.Now()
	switch m.Type() {
	case Discover:
		i, ok := s.allocate(id, requested, own)
		if !ok {
			s.Stats.Exhausted++
			return Reply{}, false
		}
		b := &s.pool[i]
		if b.state != bindLeased || b.client != id || !now.Before(b.until) {
			*b = binding{state: bindOffered, client: id, until: now.Add(s.cfg.OfferHold)}
		}
		s.last[id] = i
		s.Stats.Offers++
		return s.reply(&m, Offer, s.addr(i), true), true
	case Request:
		return s.request(&m, id, own, requested, sid, hasSID)
	case Decline:
		if hasSID && sid != s.cfg.ServerID {
			s.Stats.Ignored++
			return Reply{}, false
		}
		if i, ok := s.index(requested); ok && s.pool[i].client == id {
			s.pool[i] = binding{state: bindDeclined, until: now.Add(s.cfg.DeclineHold)}
			delete(s.last, id)
			s.Stats.Declines++
			return Reply{}, false
		}
		s.Stats.Ignored++
		return Reply{}, false
	case Release:
		if i, ok := s.index(m.CIAddr); ok && s.pool[i].client == id && s.pool[i].state == bindLeased {
			// Keep the client affinity (s.last) so it gets the same
			// address back if still free (RFC 2131 section 4.3.4).
			s.pool[i] = binding{state: bindFree, client: id}
			s.Stats.Releases++
			return Reply{}, false
		}
		s.Stats.Ignored++
		return Reply{}, false
	case Inform:
		// RFC 2131 section 4.3.5: configuration only, no lease.
		s.Stats.Informs++
		return s.reply(&m, Ack, netip.IPv4Unspecified(), false), true
	}
	s.Stats.Ignored++
	return Reply{}, false
}

// request handles DHCPREQUEST in its three forms (RFC 2131 section 4.3.2).
func (s *Server) request(m *Message, id string, own int, requested, sid netip.Addr, hasSID bool) (Reply, bool) {
	now := s.clk.Now()
	switch {
	case hasSID:
		// SELECTING: the client chose a server.
		i, ok := s.last[id]
		if sid != s.cfg.ServerID {
			// Another server won: free our offer.
			if ok && s.live(i, bindOffered) && s.pool[i].client == id {
				s.pool[i] = binding{}
			}
			s.Stats.Ignored++
			return Reply{}, false
		}
		if !ok || s.addr(i) != requested || !s.usable(i, id, own) {
			return s.nak(m), true
		}
		return s.ack(m, i, id), true
	case m.CIAddr.IsUnspecified() && requested.Is4():
		// INIT-REBOOT: NAK a wrong address, stay silent without a record.
		i, inPool := s.index(requested)
		if !s.cfg.Subnet.Contains(requested) || (inPool && !s.usable(i, id, own)) {
			return s.nak(m), true
		}
		if !inPool || s.last[id] != i || s.pool[i].client != id {
			s.Stats.Ignored++
			return Reply{}, false
		}
		return s.ack(m, i, id), true
	case !m.CIAddr.IsUnspecified():
		// RENEWING (unicast) or REBINDING (broadcast).
		i, inPool := s.index(m.CIAddr)
		if inPool && s.pool[i].client == id && s.pool[i].state == bindLeased && now.Before(s.pool[i].until) {
			return s.ack(m, i, id), true
		}
		if !s.cfg.Subnet.Contains(m.CIAddr) || (inPool && !s.usable(i, id, own)) {
			return s.nak(m), true
		}
		s.Stats.Ignored++
		return Reply{}, false
	}
	s.Stats.Ignored++
	return Reply{}, false
}

func (s *Server) ack(m *Message, i int, id string) Reply {
	s.pool[i] = binding{state: bindLeased, client: id, until: s.clk.Now().Add(s.cfg.LeaseTime)}
	s.last[id] = i
	s.Stats.Acks++
	return s.reply(m, Ack, s.addr(i), true)
}

func (s *Server) nak(m *Message) Reply {
	s.Stats.Naks++
	r := Message{Op: BootReply, HType: m.HType, HLen: m.HLen, Xid: m.Xid, Flags: m.Flags,
		CIAddr: netip.IPv4Unspecified(), YIAddr: netip.IPv4Unspecified(), SIAddr: netip.IPv4Unspecified(), GIAddr: m.GIAddr, CHAddr: m.CHAddr}
	r.Options.Set(OptMessageType, []byte{byte(Nak)})
	r.Options.SetAddrs(OptServerID, s.cfg.ServerID)
	// RFC 2131 section 4.1: a NAK goes to the relay (asking it to
	// broadcast) or is broadcast.
	dst := netip.AddrPortFrom(broadcastAddr, ClientPort)
	if !m.GIAddr.IsUnspecified() {
		dst = netip.AddrPortFrom(m.GIAddr, ServerPort)
		r.Flags |= FlagBroadcast
	}
	s.out = r.Append(s.out[:0])
	return Reply{Msg: s.out, Dst: dst}
}

// reply builds an OFFER or ACK with yiaddr and the configured options.
func (s *Server) reply(m *Message, t MessageType, yiaddr netip.Addr, lease bool) Reply {
	r := Message{Op: BootReply, HType: m.HType, HLen: m.HLen, Xid: m.Xid, Flags: m.Flags,
		CIAddr: m.CIAddr, YIAddr: yiaddr, SIAddr: netip.IPv4Unspecified(), GIAddr: m.GIAddr, CHAddr: m.CHAddr}
	if t == Offer {
		r.CIAddr = netip.IPv4Unspecified()
	}
	r.Options.Set(OptMessageType, []byte{byte(t)})
	r.Options.SetAddrs(OptServerID, s.cfg.ServerID)
	if lease {
		r.Options.SetSeconds(OptLeaseTime, s.cfg.LeaseTime)
		r.Options.SetSeconds(OptRenewalTime, s.cfg.T1)
		r.Options.SetSeconds(OptRebindingTime, s.cfg.T2)
	}
	r.Options.SetAddrs(OptSubnetMask, maskAddr(s.cfg.Subnet.Bits()))
	if s.cfg.Router.Is4() {
		r.Options.SetAddrs(OptRouter, s.cfg.Router)
	}
	if len(s.cfg.DNS) > 0 {
		r.Options.SetAddrs(OptDNS, s.cfg.DNS...)
	}
	if s.cfg.DomainName != "" {
		r.Options.Set(OptDomainName, []byte(s.cfg.DomainName))
	}
	s.out = r.Append(s.out[:0])
	return Reply{Msg: s.out, Dst: replyDst(m)}
}

// replyDst applies RFC 2131 section 4.1: relay, then ciaddr, then
// broadcast. Unicast to yiaddr before the client has it would need an ARP
// entry the server cannot add, so the broadcast bit is not required.
func replyDst(m *Message) netip.AddrPort {
	switch {
	case !m.GIAddr.IsUnspecified():
		return netip.AddrPortFrom(m.GIAddr, ServerPort)
	case !m.CIAddr.IsUnspecified():
		return netip.AddrPortFrom(m.CIAddr, ClientPort)
	}
	return netip.AddrPortFrom(broadcastAddr, ClientPort)
}

var broadcastAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func maskAddr(bits int) netip.Addr {
	v := uint32(0)
	if bits > 0 {
		v = ^uint32(0) << (32 - bits)
	}
	return fromU32(v)
}
