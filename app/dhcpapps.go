package app

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
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
	// Reservations give clients fixed addresses on the interface's
	// subnet, in the pool or not, by Ethernet address.
	Reservations []dhcp.Reservation
	// Subnets are scopes for subnets behind DHCP relay agents: Subnet,
	// PoolStart, PoolEnd and Router of each are used, the rest is this
	// config's.
	Subnets []dhcp.ServerConfig
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

// DHCPServer runs a dhcp.Server (RFC 2131) on UDP port 67 of one
// interface as an App, with its reservations.
type DHCPServer struct {
	cfg DHCPServerConfig
	srv *dhcpstack.Server
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
	pfx := ifcs[0].Address()
	s.srv, err = dhcpstack.NewServer(ifcs[0], dhcp.ServerConfig{
		ServerID: pfx.Addr(), Subnet: pfx.Masked(), PoolStart: s.cfg.PoolStart, PoolEnd: s.cfg.PoolEnd,
		Router: s.cfg.Router, DNS: s.cfg.DNS, LeaseTime: s.cfg.LeaseTime, Reservations: s.cfg.Reservations,
	})
	if err != nil {
		return fmt.Errorf("dhcp server %s: %w", s.cfg.Name, err)
	}
	for _, sub := range s.cfg.Subnets {
		sub.ServerID, sub.DNS, sub.LeaseTime = pfx.Addr(), s.cfg.DNS, s.cfg.LeaseTime
		if err := s.srv.AddScope(sub); err != nil {
			return fmt.Errorf("dhcp server %s: %w", s.cfg.Name, err)
		}
	}
	return nil
}

// Result returns the server's counters.
func (s *DHCPServer) Result() any {
	if s.srv == nil {
		return DHCPServerResult{}
	}
	st := s.srv.TotalStats()
	return DHCPServerResult{
		Offers: st.Offers, Acks: st.Acks, Naks: st.Naks, Releases: st.Releases, Declines: st.Declines,
		Informs: st.Informs, Malformed: st.Malformed, Ignored: st.Ignored, Exhausted: st.Exhausted, SendErrors: s.srv.SendErrors,
	}
}
