package tcptest

import (
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
)

// Segment is one TCP segment (header, options and payload) the host under
// test sent.
type Segment struct {
	// At is the virtual time the segment left.
	At clock.Time
	// Data is the segment, a copy the host no longer references.
	Data []byte
	// Epoch is the number of peer actions (Capture.Mark) played before
	// the segment left.
	Epoch int
}

// Capture queues the segments a host sends, oldest first. Clock stamps
// them; without one they carry time 0.
type Capture struct {
	Clock *clock.Scheduler
	// Out holds the segments not yet taken, oldest first.
	Out []Segment
	// Epoch counts the peer actions marked so far.
	Epoch int
}

// Add queues a copy of seg, stamped with the clock and the epoch.
func (c *Capture) Add(seg []byte) {
	var at clock.Time
	if c.Clock != nil {
		at = c.Clock.Now()
	}
	c.Out = append(c.Out, Segment{At: at, Data: append([]byte(nil), seg...), Epoch: c.Epoch})
}

// Mark records that the peer played one more action (a segment injected,
// a call made): segments sent from now on carry the new epoch, which tells
// whether a segment can have been caused by the latest action.
func (c *Capture) Mark() { c.Epoch++ }

// Pop removes and returns the oldest segment; ok is false when there is
// none.
func (c *Capture) Pop() (s Segment, ok bool) {
	if len(c.Out) == 0 {
		return Segment{}, false
	}
	s = c.Out[0]
	c.Out = c.Out[1:]
	return s, true
}

// Drain drops every queued segment.
func (c *Capture) Drain() { c.Out = nil }

// Net is the IP layer of one host under test: it satisfies tcp.Network,
// answers every destination from Local with the given MTU, and captures
// the TCP segments the host sends.
type Net struct {
	Capture
	Local netip.Addr
	MTU   int
}

// NewNet returns a Net for local with the given MTU, stamping segments
// with clk.
func NewNet(clk *clock.Scheduler, local netip.Addr, mtu int) *Net {
	return &Net{Capture: Capture{Clock: clk}, Local: local, MTU: mtu}
}

// SendIP captures payload, the TCP segment the host sends.
func (n *Net) SendIP(_ uint8, _, _ netip.Addr, payload []byte) error {
	n.Add(payload)
	return nil
}

// SourceFor returns Local for every destination.
func (n *Net) SourceFor(netip.Addr) (netip.Addr, bool) { return n.Local, true }

// PathMTU returns MTU for every destination.
func (n *Net) PathMTU(netip.Addr) int { return n.MTU }
