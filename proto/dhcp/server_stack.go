package dhcp

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/stack"
)

// StackServer runs a Server on one interface of a stack.Host, bound to UDP
// port 67.
type StackServer struct {
	*Server
	ifc  *stack.Interface
	sock *stack.UDPSocket
	// SendErrors counts replies the host failed to send.
	SendErrors uint64
}

// NewStackServer binds UDP port 67 on ifc's host and serves cfg. cfg's
// ServerID should be ifc's address.
func NewStackServer(ifc *stack.Interface, cfg ServerConfig) (*StackServer, error) {
	h := ifc.Host()
	srv, err := NewServer(h.Clock(), cfg)
	if err != nil {
		return nil, err
	}
	ss := &StackServer{Server: srv, ifc: ifc}
	sock, err := h.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), ServerPort), stack.UDPHandlerFunc(ss.handle))
	if err != nil {
		return nil, fmt.Errorf("dhcp server on %s: %w", ifc.Name(), err)
	}
	ss.sock = sock
	return ss, nil
}

// Close unbinds port 67.
func (ss *StackServer) Close() { ss.sock.Close() }

func (ss *StackServer) handle(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) {
	r, ok := ss.Handle(payload)
	if !ok {
		return
	}
	var err error
	if r.Dst.Addr() == broadcastAddr {
		err = ss.sock.SendVia(ss.ifc, ss.cfg.ServerID, r.Dst, r.Msg)
	} else {
		err = ss.sock.SendTo(r.Dst, r.Msg)
	}
	if err != nil {
		ss.SendErrors++
	}
}
