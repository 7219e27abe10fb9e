package runner

import (
	"net/netip"

	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
)

// The addresses of packetdrill's default IPv4 setup (syntax.md): the host
// under test is 192.168.0.1 on a tun device whose gateway is 192.168.0.2;
// the remote peer the script plays is 192.0.2.1 behind it.
var (
	localAddr   = netip.MustParseAddr("192.168.0.1")
	gatewayAddr = netip.MustParseAddr("192.168.0.2")
	remoteAddr  = netip.MustParseAddr("192.0.2.1")
	hostMAC     = ether.Addr{0x02, 0, 0, 0, 0, 0x01}
	gatewayMAC  = ether.Addr{0x02, 0, 0, 0, 0, 0x02}
)

const (
	// localPort is the port packetdrill binds servers to (bind(3, ..., ...))
	// and connects clients to.
	localPort = 8080
	// remotePort is the script peer's port when it opens the connection.
	remotePort = 40000
	linkMTU    = 1500
)

// wire is the link endpoint between the host under test and the script's
// peer: it answers ARP for the gateway (on a later event, as drivers must),
// captures the TCP segments the host sends (the shared harness's Capture,
// whose epoch counts the script actions played) and delivers the ones the
// script injects.
type wire struct {
	tcptest.Capture
	clk  *clock.Scheduler
	recv link.Receiver
	arpQ [][]byte
	arpT clock.Timer
	ipID uint16
}

func newWire(clk *clock.Scheduler) *wire {
	w := &wire{Capture: tcptest.Capture{Clock: clk}, clk: clk}
	w.arpT.Init(clock.HandlerFunc(w.flushARP))
	return w
}

// Send implements link.Endpoint.
func (w *wire) Send(frame []byte) link.Note {
	f, err := ether.Parse(frame)
	if err != nil {
		return link.Note{}
	}
	switch f.EtherType() {
	case ether.TypeARP:
		p, err := arp.Parse(f.Payload())
		if err != nil || p.Op() != arp.OpRequest || p.IsGratuitous() {
			return link.Note{}
		}
		if p.TargetIP() == localAddr {
			return link.Note{}
		}
		// Any address on the link answers with the gateway's MAC (the tun
		// device of packetdrill has no neighbours).
		b := make([]byte, ether.HeaderLen+arp.PacketLen)
		ether.Encode(b, p.SenderHW(), gatewayMAC, ether.TypeARP)
		arp.Reply(b[ether.HeaderLen:], gatewayMAC, p.TargetIP(), p.SenderHW(), p.SenderIP())
		w.arpQ = append(w.arpQ, b)
		if !w.arpT.Pending() {
			w.clk.Schedule(&w.arpT, w.clk.Now())
		}
	case ether.TypeIPv4:
		h, err := ipv4.Parse(f.Payload())
		if err != nil || h.Protocol() != tcp.ProtocolNumber || h.IsFragment() {
			return link.Note{}
		}
		w.Add(h.Payload())
	default:
	}
	return link.Note{}
}

func (w *wire) flushARP(clock.Time) {
	q := w.arpQ
	w.arpQ = nil
	for _, b := range q {
		if w.recv != nil {
			w.recv.Receive(b, link.Note{})
		}
	}
}

// SetReceiver implements link.Endpoint.
func (w *wire) SetReceiver(r link.Receiver) { w.recv = r }

// MTU implements link.Endpoint.
func (w *wire) MTU() int { return linkMTU }

// inject delivers a TCP segment from the remote peer to the host.
func (w *wire) inject(seg []byte) {
	b := make([]byte, ether.HeaderLen+ipv4.MinHeaderLen+len(seg))
	ether.Encode(b, hostMAC, gatewayMAC, ether.TypeIPv4)
	w.ipID++
	f := ipv4.Fields{ID: w.ipID, DF: true, TTL: 64, Protocol: tcp.ProtocolNumber, Src: remoteAddr, Dst: localAddr}
	copy(b[ether.HeaderLen+ipv4.MinHeaderLen:], seg)
	if _, err := ipv4.Encode(b[ether.HeaderLen:], &f, len(seg)); err != nil {
		panic(err) // sizes are bounded by the TCP encoder
	}
	if w.recv != nil {
		w.recv.Receive(b, link.Note{})
	}
}
