package tcptest

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// Host is what a Pipe delivers to: the receive side of an IP layer, as
// tcp.Stack's HandleIP.
type Host interface {
	HandleIP(src, dst netip.Addr, payload []byte)
}

// Pipe is the IP layer of one host joined to a peer: it satisfies
// tcp.Network and delivers every datagram to Peer after Delay on the
// virtual clock, losing, duplicating and reordering (delaying by half
// Delay more) with the probabilities given, decided by Rand.
type Pipe struct {
	Clock   *clock.Scheduler
	Local   netip.Addr
	Peer    Host
	Delay   time.Duration
	Loss    float64
	Dup     float64
	Reorder float64
	Rand    *rand.Rand
	MTU     int
	// Sent counts the datagrams the host sent, lost ones included.
	Sent int
}

// delivery is one datagram on its way through a Pipe.
type delivery struct {
	t        clock.Timer
	to       Host
	src, dst netip.Addr
	data     []byte
}

func (d *delivery) OnTimer(clock.Time) { d.to.HandleIP(d.src, d.dst, d.data) }

// SendIP sends a copy of payload to the peer, or loses it.
func (p *Pipe) SendIP(_ uint8, src, dst netip.Addr, payload []byte) error {
	p.Sent++
	if p.Rand.Float64() < p.Loss {
		return nil
	}
	copies := 1
	if p.Rand.Float64() < p.Dup {
		copies = 2
	}
	for range copies {
		d := &delivery{to: p.Peer, src: src, dst: dst, data: append([]byte(nil), payload...)}
		d.t.Init(d)
		at := p.Delay
		if p.Rand.Float64() < p.Reorder {
			at += p.Delay / 2
		}
		p.Clock.Schedule(&d.t, p.Clock.Now().Add(at))
	}
	return nil
}

// SourceFor returns Local for every destination.
func (p *Pipe) SourceFor(netip.Addr) (netip.Addr, bool) { return p.Local, true }

// PathMTU returns MTU for every destination.
func (p *Pipe) PathMTU(netip.Addr) int { return p.MTU }
