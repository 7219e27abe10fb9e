// Package dnsstack runs the proto/dns server and resolver on a
// proto/stack host: UDP sockets of a stack.Host and connections of a
// tcp.Stack. The DNS core (proto/dns) knows neither; this package is the
// adapter between them.
package dnsstack

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/stack"
)

// UDPServer serves a dns.Server's zones on a UDP socket of a stack.Host.
type UDPServer struct {
	srv  *dns.Server
	sock *stack.UDPSocket
	// SendErrors counts answers the host failed to send.
	SendErrors uint64
}

// ServeUDP binds local (usually 0.0.0.0:53) on h and answers every query
// with srv. Answers leave from the address the routing table picks for
// the client.
func ServeUDP(h *stack.Host, local netip.AddrPort, srv *dns.Server) (*UDPServer, error) {
	u := &UDPServer{srv: srv}
	sock, err := h.BindUDP(local, stack.UDPHandlerFunc(u.handle))
	if err != nil {
		return nil, fmt.Errorf("dns udp server: %w", err)
	}
	u.sock = sock
	return u, nil
}

// Addr returns the bound address.
func (u *UDPServer) Addr() netip.AddrPort { return u.sock.LocalAddr() }

// Close unbinds the socket.
func (u *UDPServer) Close() { u.sock.Close() }

func (u *UDPServer) handle(s *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
	resp := u.srv.Answer(payload, dns.UDP)
	if resp == nil {
		return
	}
	if err := s.SendTo(src, resp); err != nil {
		u.SendErrors++
	}
}

// stackUDP is the resolver's UDPTransport on a stack.Host: every query
// goes out from its own socket on a random ephemeral port (RFC 5452
// section 9.2), closed when its query is answered or its attempt times
// out.
type stackUDP struct {
	h *stack.Host
	r *dns.Resolver
}

type querySocket struct {
	t     *stackUDP
	sock  *stack.UDPSocket
	id    uint16
	timer clock.Timer
}

// NewResolver returns a dns.Resolver whose queries leave h over UDP from
// random ports. tcp may be nil (see NewTCPClient).
func NewResolver(h *stack.Host, rnd *rand.Rand, tcp dns.TCPTransport, servers ...netip.AddrPort) *dns.Resolver {
	t := &stackUDP{h: h}
	r := dns.NewResolver(h.Clock(), rnd, t, tcp, servers...)
	t.r = r
	return r
}

// SendUDP implements dns.UDPTransport.
func (t *stackUDP) SendUDP(server netip.AddrPort, msg []byte) error {
	if len(msg) < dns.HeaderLen {
		return dns.ErrShort
	}
	q := &querySocket{t: t, id: uint16(msg[0])<<8 | uint16(msg[1])}
	sock, err := t.h.BindUDP(netip.AddrPort{}, stack.UDPHandlerFunc(q.handle))
	if err != nil {
		return fmt.Errorf("resolver socket: %w", err)
	}
	q.sock = sock
	q.timer.Init(q)
	clk := t.h.Clock()
	clk.Schedule(&q.timer, clk.Now().Add(t.r.Timeout))
	if err := sock.SendTo(server, msg); err != nil {
		q.close()
		return err
	}
	return nil
}

func (q *querySocket) handle(_ *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
	q.t.r.HandleUDP(src, payload)
	if !q.t.r.Waiting(q.id) {
		q.close()
	}
}

// OnTimer implements clock.Handler: the attempt is over.
func (q *querySocket) OnTimer(clock.Time) { q.close() }

func (q *querySocket) close() {
	q.t.h.Clock().Cancel(&q.timer)
	q.sock.Close()
}
