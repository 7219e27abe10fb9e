package pcap

import (
	"fmt"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// Tap is capture middleware around a link.Endpoint: every frame sent through
// it is recorded as outbound with the Note the inner endpoint returned (so a
// dropped frame appears with the reason), and every frame the inner endpoint
// delivers is recorded as inbound with its Note, then passed on. Timestamps
// come from the clock. Write errors are kept by the Writer (see Writer.Err).
type Tap struct {
	inner link.Endpoint
	clk   clock.Clock
	w     *Writer
	ifc   int
	recv  link.Receiver
}

// NewTap wraps inner, recording into w as the interface name (by convention
// "host:iface").
func NewTap(inner link.Endpoint, clk clock.Clock, w *Writer, name string) (*Tap, error) {
	if inner == nil || clk == nil || w == nil {
		return nil, fmt.Errorf("pcap: new tap %q: nil endpoint, clock or writer", name)
	}
	ifc, err := w.AddInterface(name)
	if err != nil {
		return nil, fmt.Errorf("pcap: new tap: %w", err)
	}
	t := &Tap{inner: inner, clk: clk, w: w, ifc: ifc}
	if fr, ok := inner.(link.FateReporter); ok {
		fr.SetFate(t.fate)
	}
	return t, nil
}

// fate completes the record of a frame whose fate was pending when it was
// sent (it waited in a queue discipline).
func (t *Tap) fate(ticket uint64, note link.Note) {
	note.Ticket = ticket
	_ = t.w.Resolve(t.ifc, note)
}

// Send offers frame to the inner endpoint and records it as outbound with
// the returned Note.
func (t *Tap) Send(frame []byte) link.Note {
	note := t.inner.Send(frame)
	t.record(frame, note)
	return note
}

// SendCarrying is Send for a frame that an earlier link already marked (a
// switch forwarding it): the marks go on with it when the inner endpoint
// can carry them (link.Carrier). The record holds this link's Note with the
// carried marks; SendCarrying returns the link's own.
func (t *Tap) SendCarrying(frame []byte, carried link.Note) link.Note {
	c, ok := t.inner.(link.Carrier)
	if !ok {
		return t.Send(frame)
	}
	note := c.SendCarrying(frame, carried)
	// The record says what the frame carries (a corruption upstream makes
	// a bad checksum here too) besides what this link does.
	t.record(frame, note.Merge(carried.Carried()))
	return note
}

// record writes an outbound frame with the Note its link gave.
func (t *Tap) record(frame []byte, note link.Note) {
	if note.Ticket != 0 {
		_ = t.w.WritePending(t.ifc, t.clk.Now(), Outbound, frame, note)
	} else {
		_ = t.w.WritePacket(t.ifc, t.clk.Now(), Outbound, frame, note)
	}
}

// SetReceiver sets where inbound frames go after they are recorded. With a
// nil receiver the tap detaches from the inner endpoint, so the link sees
// no peer.
func (t *Tap) SetReceiver(r link.Receiver) {
	t.recv = r
	if r == nil {
		t.inner.SetReceiver(nil)
		return
	}
	t.inner.SetReceiver(link.ReceiverFunc(t.receive))
}

// receive records an inbound frame and passes it on.
func (t *Tap) receive(frame []byte, note link.Note) {
	_ = t.w.WritePacket(t.ifc, t.clk.Now(), Inbound, frame, note)
	t.recv.Receive(frame, note)
}

// MTU returns the inner endpoint's MTU.
func (t *Tap) MTU() int { return t.inner.MTU() }

// Writer returns the capture the tap records into.
func (t *Tap) Writer() *Writer { return t.w }
