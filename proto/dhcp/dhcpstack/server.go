package dhcpstack

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/stack"
)

// Server runs a dhcp.Server on one interface of a stack.Host, bound to
// UDP port 67. Scopes added with AddScope serve the subnets of relay
// agents.
type Server struct {
	*dhcp.Server
	ifc    *stack.Interface
	sock   *stack.UDPSocket
	id     netip.Addr
	scopes []*dhcp.Server
	// SendErrors counts replies the host failed to send.
	SendErrors uint64
}

// NewServer binds UDP port 67 on ifc's host and serves cfg. cfg's
// ServerID should be ifc's address: broadcast replies leave from it.
func NewServer(ifc *stack.Interface, cfg dhcp.ServerConfig) (*Server, error) {
	h := ifc.Host()
	srv, err := dhcp.NewServer(h.Clock(), cfg)
	if err != nil {
		// The core's errors name the server and the bad setting.
		return nil, err
	}
	ss := &Server{Server: srv, ifc: ifc, id: cfg.ServerID}
	sock, err := h.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcp.ServerPort), stack.UDPHandlerFunc(ss.handle))
	if err != nil {
		return nil, fmt.Errorf("dhcp server on %s: %w", ifc.Name(), err)
	}
	ss.sock = sock
	return ss, nil
}

// Close unbinds port 67.
func (ss *Server) Close() { ss.sock.Close() }

// AddScope serves another subnet, reached through relay agents: a
// message whose giaddr (or, without one, ciaddr) is inside cfg.Subnet
// gets its address from cfg's pool (RFC 2131 section 4.3.1: the server
// picks the subnet from giaddr). cfg's ServerID should be the server's
// address.
func (ss *Server) AddScope(cfg dhcp.ServerConfig) error {
	srv, err := dhcp.NewServer(ss.ifc.Host().Clock(), cfg)
	if err != nil {
		return err
	}
	ss.scopes = append(ss.scopes, srv)
	return nil
}

// scope returns the core that answers payload: the added scope holding
// giaddr, or, for a message not relayed, ciaddr; else the first. A relayed
// message from a subnet no scope serves gets nil.
func (ss *Server) scope(payload []byte) *dhcp.Server {
	if len(ss.scopes) == 0 || len(payload) < 28 {
		return ss.Server
	}
	gi := netip.AddrFrom4([4]byte(payload[24:28]))
	ci := netip.AddrFrom4([4]byte(payload[12:16]))
	key := gi
	if gi.IsUnspecified() {
		key = ci
	}
	for _, s := range ss.scopes {
		if s.Config().Subnet.Contains(key) {
			return s
		}
	}
	if !gi.IsUnspecified() && !ss.Config().Subnet.Contains(gi) {
		return nil
	}
	return ss.Server
}

// TotalStats returns the counters of every scope added up.
func (ss *Server) TotalStats() dhcp.ServerStats {
	t := ss.Stats
	for _, s := range ss.scopes {
		x := s.Stats
		t.Malformed += x.Malformed
		t.Ignored += x.Ignored
		t.Offers += x.Offers
		t.Acks += x.Acks
		t.Naks += x.Naks
		t.Releases += x.Releases
		t.Declines += x.Declines
		t.Informs += x.Informs
		t.Exhausted += x.Exhausted
	}
	return t
}

func (ss *Server) handle(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) {
	srv := ss.scope(payload)
	if srv == nil {
		ss.Stats.Ignored++
		return
	}
	r, ok := srv.Handle(payload)
	if !ok {
		return
	}
	var err error
	if r.Dst.Addr() == broadcastAddr {
		err = ss.sock.SendVia(ss.ifc, ss.id, r.Dst, r.Msg)
	} else {
		err = ss.sock.SendTo(r.Dst, r.Msg)
	}
	if err != nil {
		ss.SendErrors++
	}
}

// broadcastAddr is the limited broadcast address, 255.255.255.255.
var broadcastAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})
