package dhcpstack

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/stack"
)

// Server runs a dhcp.Server on one interface of a stack.Host, bound to
// UDP port 67.
type Server struct {
	*dhcp.Server
	ifc  *stack.Interface
	sock *stack.UDPSocket
	id   netip.Addr
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

func (ss *Server) handle(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) {
	r, ok := ss.Handle(payload)
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
