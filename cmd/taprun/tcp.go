package main

import (
	"context"
	"net"
	"net/netip"

	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
)

// listenBacklog is the accept queue length of taprun's listeners.
const listenBacklog = 128

// startTCP runs TCP on the host. Call it before the loop starts, or on it.
func (r *taprun) startTCP() {
	r.tcp = tcp.New(r.host, r.l.Clock(), rng.New(r.o.seed, "tcp/taprun"), tcp.Config{})
	r.host.RegisterProtocol(tcp.ProtocolNumber, r.tcp)
}

// listenTCP opens a net.Listener on port of every address of the host.
func listenTCP(_ context.Context, r *taprun, port uint16) (net.Listener, error) {
	return netconn.Listen(r.l, r.tcp, netip.AddrPortFrom(netip.IPv4Unspecified(), port), listenBacklog)
}
