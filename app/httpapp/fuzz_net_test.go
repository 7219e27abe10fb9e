package httpapp

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
)

// pipeNet is a server and a client TCP stack joined by tcptest pipes (1 ms
// each way) on one clock: the smallest world a server stream needs, with
// no hosts, links or ARP to build and run for each fuzz input.
type pipeNet struct {
	clk            *clock.Scheduler
	server, client *tcp.Stack
}

func newPipeNet() *pipeNet {
	clk := clock.NewScheduler(0)
	sp := &tcptest.Pipe{Clock: clk, Local: serverAddr, Delay: time.Millisecond, Rand: rng.New(7, "pipe/server"), MTU: 1500}
	cp := &tcptest.Pipe{Clock: clk, Local: clientAddr, Delay: time.Millisecond, Rand: rng.New(7, "pipe/client"), MTU: 1500}
	n := &pipeNet{clk: clk,
		server: tcp.New(sp, clk, rng.New(7, "tcp/server"), tcp.Config{}),
		client: tcp.New(cp, clk, rng.New(7, "tcp/client"), tcp.Config{})}
	sp.Peer, cp.Peer = n.client, n.server
	return n
}

// env is the app environment of the server side.
func (n *pipeNet) env() *app.Env {
	return &app.Env{Clock: n.clk, Rand: rng.New(7, "app/server"), TCP: n.server}
}

// send opens a raw connection from the client to the server's port and
// sends data, half-closing after it when shutdown is set.
func (n *pipeNet) send(port uint16, data []byte, shutdown bool) (*rawClient, error) {
	r := &rawClient{out: data, shutdown: shutdown}
	c, err := n.client.Connect(netip.AddrPort{}, netip.AddrPortFrom(serverAddr, port), r)
	r.conn = c
	return r, err
}

// run steps the clock until done returns true or limit of simulated time
// has passed, and reports whether done.
func (n *pipeNet) run(limit time.Duration, done func() bool) bool {
	end := n.clk.Now().Add(limit)
	for !done() {
		next, ok := n.clk.Next()
		if !ok || next > end {
			return false
		}
		n.clk.Step()
	}
	return true
}
