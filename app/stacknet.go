package app

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/stack"
)

// StackNet is the Net of a *stack.Host. It takes over the host's echo
// reply handler to hand replies to the app that owns their identifier.
type StackNet struct {
	host *stack.Host
	echo []echoEntry
}

type echoEntry struct {
	id uint16
	h  EchoHandler
}

// NewStackNet returns the Net of host and installs itself as the host's
// echo reply handler.
func NewStackNet(host *stack.Host) *StackNet {
	n := &StackNet{host: host}
	host.SetEchoReplyHandler(n)
	return n
}

// Host returns the host.
func (n *StackNet) Host() *stack.Host { return n.host }

// Ping sends an echo request through the host.
func (n *StackNet) Ping(dst netip.Addr, id, seq uint16, payload []byte) error {
	if err := n.host.Ping(dst, id, seq, payload); err != nil {
		return fmt.Errorf("ping %s: %w", dst, err)
	}
	return nil
}

// ListenEcho routes the echo replies with identifier id to h.
func (n *StackNet) ListenEcho(id uint16, h EchoHandler) error {
	for _, e := range n.echo {
		if e.id == id {
			return fmt.Errorf("listen for echo replies: identifier %d already in use on %s", id, n.host.Name())
		}
	}
	n.echo = append(n.echo, echoEntry{id: id, h: h})
	return nil
}

// HandleEchoReply hands a reply to the app listening for its identifier.
func (n *StackNet) HandleEchoReply(src netip.Addr, id, seq uint16, payload []byte, ttl uint8) {
	for _, e := range n.echo {
		if e.id == id {
			e.h.HandleEchoReply(src, id, seq, payload, ttl)
			return
		}
	}
}

// ListenUDP binds port on every address of the host.
func (n *StackNet) ListenUDP(port uint16, h DatagramHandler) (Conn, error) {
	s, err := n.host.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), udpHandler{h})
	if err != nil {
		return nil, fmt.Errorf("listen on UDP port %d of %s: %w", port, n.host.Name(), err)
	}
	return udpConn{s}, nil
}

// udpHandler adapts a DatagramHandler to the stack's UDP handler.
type udpHandler struct{ h DatagramHandler }

// HandleUDP passes the datagram on, without the socket.
func (u udpHandler) HandleUDP(_ *stack.UDPSocket, src, dst netip.AddrPort, payload []byte) {
	if u.h != nil {
		u.h.HandleDatagram(src, dst, payload)
	}
}

// udpConn adapts a stack UDP socket to Conn.
type udpConn struct{ s *stack.UDPSocket }

// SendTo sends payload to dst from the socket.
func (c udpConn) SendTo(dst netip.AddrPort, payload []byte) error {
	if err := c.s.SendTo(dst, payload); err != nil {
		return fmt.Errorf("send to %s: %w", dst, err)
	}
	return nil
}
