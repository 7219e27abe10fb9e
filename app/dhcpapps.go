package app

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/stack"
)

// errNoStack is returned when an app needs the host's stack and its Net is
// not a stack host.
var errNoStack = errors.New("host is not a simnet stack host")

// hostOf returns the stack host behind env's Net.
func hostOf(env *Env) (*stack.Host, error) {
	sn, ok := env.Net.(*StackNet)
	if !ok {
		return nil, errNoStack
	}
	return sn.Host(), nil
}

// Reservation ties a client's Ethernet address to a fixed address of a
// DHCPServer's pool.
type Reservation struct {
	MAC  [6]byte
	Addr netip.Addr
}

// DHCPServerConfig describes a DHCP server app.
type DHCPServerConfig struct {
	Name string
	// Interface names the host interface served ("" for the first); the
	// server identifies itself with that interface's address.
	Interface string
	// PoolStart and PoolEnd bound the leased addresses, inclusive, on the
	// interface's subnet.
	PoolStart, PoolEnd netip.Addr
	// Router and DNS are handed out as options 3 and 6 when set.
	Router netip.Addr
	DNS    []netip.Addr
	// LeaseTime is the lease duration (0: dhcp's default of 1 h).
	LeaseTime time.Duration
	// Reservations give fixed pool addresses to clients by MAC address.
	Reservations []Reservation
}

// DHCPServerResult is what a DHCP server app did.
type DHCPServerResult struct {
	Offers     uint64 `json:"offers"`
	Acks       uint64 `json:"acks"`
	Naks       uint64 `json:"naks"`
	Releases   uint64 `json:"releases"`
	Declines   uint64 `json:"declines"`
	Informs    uint64 `json:"informs"`
	Malformed  uint64 `json:"malformed"`
	Ignored    uint64 `json:"ignored"`
	Exhausted  uint64 `json:"exhausted"`
	SendErrors uint64 `json:"send_errors"`
}

// DHCPServer runs a dhcp.Server (RFC 2131) on UDP port 67 of one interface
// as an App. Reservations are implemented in front of the server core: a
// DISCOVER from a reserved MAC address that asks for no address is handed
// to the core asking for the reserved one (option 50), which the core's
// allocation honours while the address is free (RFC 2131 section 4.3.1).
// Clients without a reservation get the lowest free address, so
// reservations are safest at the top of the pool.
type DHCPServer struct {
	cfg        DHCPServerConfig
	ifc        *stack.Interface
	core       *dhcp.Server
	sock       *stack.UDPSocket
	msg        dhcp.Message
	in         []byte
	sendErrors uint64
}

// NewDHCPServer returns a DHCP server app for cfg.
func NewDHCPServer(cfg DHCPServerConfig) *DHCPServer {
	return &DHCPServer{cfg: cfg}
}

// Name returns the app's name.
func (s *DHCPServer) Name() string { return s.cfg.Name }

// Start binds UDP port 67 on the host and serves the pool.
func (s *DHCPServer) Start(env *Env) error {
	h, err := hostOf(env)
	if err != nil {
		return fmt.Errorf("dhcp server %s: %w", s.cfg.Name, err)
	}
	ifcs := h.Interfaces()
	if s.cfg.Interface != "" {
		ifcs = []*stack.Interface{h.Interface(s.cfg.Interface)}
	}
	if len(ifcs) == 0 || ifcs[0] == nil || !ifcs[0].Address().IsValid() {
		return fmt.Errorf("dhcp server %s: the interface has no static address", s.cfg.Name)
	}
	s.ifc = ifcs[0]
	pfx := s.ifc.Address()
	s.core, err = dhcp.NewServer(env.Clock, dhcp.ServerConfig{
		ServerID: pfx.Addr(), Subnet: pfx.Masked(), PoolStart: s.cfg.PoolStart, PoolEnd: s.cfg.PoolEnd,
		Router: s.cfg.Router, DNS: s.cfg.DNS, LeaseTime: s.cfg.LeaseTime,
	})
	if err != nil {
		return fmt.Errorf("dhcp server %s: %w", s.cfg.Name, err)
	}
	s.sock, err = h.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcp.ServerPort), stack.UDPHandlerFunc(s.handle))
	if err != nil {
		return fmt.Errorf("dhcp server %s: %w", s.cfg.Name, err)
	}
	return nil
}

// reserved returns the reservation of hardware address hw.
func (s *DHCPServer) reserved(hw []byte) (netip.Addr, bool) {
	for _, r := range s.cfg.Reservations {
		if string(r.MAC[:]) == string(hw) {
			return r.Addr, true
		}
	}
	return netip.Addr{}, false
}

var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (s *DHCPServer) handle(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) {
	if len(s.cfg.Reservations) > 0 && s.msg.Unmarshal(payload) == nil && s.msg.Type() == dhcp.Discover {
		if addr, ok := s.reserved(s.msg.HWAddr()); ok {
			if _, asked := s.msg.Options.Addr(dhcp.OptRequestedIP); !asked {
				s.msg.Options.SetAddrs(dhcp.OptRequestedIP, addr)
				s.in = s.msg.Append(s.in[:0])
				payload = s.in
			}
		}
	}
	r, ok := s.core.Handle(payload)
	if !ok {
		return
	}
	var err error
	if r.Dst.Addr() == limitedBroadcast {
		err = s.sock.SendVia(s.ifc, s.ifc.Address().Addr(), r.Dst, r.Msg)
	} else {
		err = s.sock.SendTo(r.Dst, r.Msg)
	}
	if err != nil {
		s.sendErrors++
	}
}

// Result returns the server's counters.
func (s *DHCPServer) Result() any {
	if s.core == nil {
		return DHCPServerResult{}
	}
	st := s.core.Stats
	return DHCPServerResult{
		Offers: st.Offers, Acks: st.Acks, Naks: st.Naks, Releases: st.Releases, Declines: st.Declines,
		Informs: st.Informs, Malformed: st.Malformed, Ignored: st.Ignored, Exhausted: st.Exhausted, SendErrors: s.sendErrors,
	}
}
