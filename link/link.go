// Package link defines the frame endpoint interface that joins a host's
// network interface to whatever carries its frames: a simulated link, a
// pcap replay or a live tap device.
//
// Middleware (captures in link/pcap, impairments in link/impair) wraps any
// Endpoint, as smoltcp's device middleware and gVisor's sniffer do.
//
// Frames are Ethernet II frames without the FCS, passed as byte slices that
// the callee must not retain after it returns: an endpoint that holds a frame
// (a delay line, a queue) copies it into a buffer of its own.
package link

import (
	"fmt"
	"strings"
	"time"
)

// Receiver takes frames delivered by an endpoint.
type Receiver interface {
	// Receive handles one frame. frame is valid only during the call. note
	// says what the link did to it on the way (duplicate copy, corrupted
	// byte, delivered out of order); protocol code may ignore it.
	Receive(frame []byte, note Note)
}

// ReceiverFunc adapts a function to Receiver.
type ReceiverFunc func(frame []byte, note Note)

// Receive calls f(frame, note).
func (f ReceiverFunc) Receive(frame []byte, note Note) { f(frame, note) }

// Endpoint is one end of a link as seen by a host's interface.
type Endpoint interface {
	// Send offers a frame to the link. frame is valid only during the call.
	// The returned Note says what the link decided for it (dropped and why,
	// duplicated, corrupted, held back); a capture records it as a comment.
	Send(frame []byte) Note
	// SetReceiver sets where frames arriving from the link are delivered.
	SetReceiver(r Receiver)
	// MTU returns the largest IP packet (Ethernet payload) the link carries.
	MTU() int
}

// DropReason says why a link dropped a frame.
type DropReason uint8

// The reasons a link drops a frame.
const (
	NotDropped    DropReason = iota
	DropLoss                 // the Bernoulli loss model
	DropBurst                // the Gilbert-Elliott loss model (bad or good state)
	DropQueueFull            // the rate limiter's drop-tail queue overflowed
	DropMTU                  // the frame's payload exceeds the link MTU
	DropLinkDown             // the link was down
	DropNoPeer               // nothing is attached at the far end
	DropError                // the device reported an error
	DropAQM                  // an active queue manager (RED, CoDel) signalled congestion
)

var dropNames = [...]string{
	NotDropped:    "not dropped",
	DropLoss:      "random loss",
	DropBurst:     "burst loss (Gilbert-Elliott)",
	DropQueueFull: "queue overflow",
	DropMTU:       "exceeds link MTU",
	DropLinkDown:  "link down",
	DropNoPeer:    "no peer attached",
	DropError:     "device error",
	DropAQM:       "AQM congestion signal",
}

// String names the reason.
func (r DropReason) String() string {
	if int(r) < len(dropNames) {
		return dropNames[r]
	}
	return fmt.Sprintf("drop reason %d", uint8(r))
}

// Note records what a link did to one frame. The zero Note means the frame
// was carried untouched.
type Note struct {
	// Drop is why the frame was dropped, or NotDropped.
	Drop DropReason
	// Duplicated is set on an offered frame the link sent twice, and on the
	// extra copy when it is delivered.
	Duplicated bool
	// CorruptByte is 1 + the offset of the byte the link flipped bits in, or
	// 0 when the frame was not corrupted.
	CorruptByte int
	// Reordered is set when the link held the frame back so that later
	// frames overtake it.
	Reordered bool
	// HeldBack is how long a reordered frame was held beyond its normal
	// delay.
	HeldBack time.Duration
	// Overtook is set when the frame's jittered delay made it arrive
	// before a frame sent earlier on the same link direction. It is not
	// carried across a switch: the captures of that link's two ends show
	// it.
	Overtook bool
	// Qdisc names the queue discipline that dropped the frame (with Drop
	// DropAQM or DropQueueFull), or "".
	Qdisc string
	// CE names the queue discipline that marked the frame ECN Congestion
	// Experienced instead of dropping it (RFC 3168), or "".
	CE string
	// Ticket is non-zero when Send returned before the frame's fate was
	// known: the frame waits in a queue discipline, and the endpoint
	// reports its final Note later to the FateFunc set through
	// FateReporter, with the same Ticket.
	Ticket uint64
}

// IsZero reports whether n records nothing.
func (n Note) IsZero() bool { return n == Note{} }

// Dropped reports whether the frame was dropped.
func (n Note) Dropped() bool { return n.Drop != NotDropped }

// String renders n as a capture comment, or "" for the zero Note.
func (n Note) String() string {
	if n.IsZero() {
		return ""
	}
	var parts []string
	if n.Drop != NotDropped {
		d := "dropped by link: " + n.Drop.String()
		if n.Qdisc != "" {
			d += " (" + n.Qdisc + ")"
		}
		parts = append(parts, d)
	}
	if n.CE != "" {
		parts = append(parts, "ecn CE marked by "+n.CE)
	}
	if n.Duplicated {
		parts = append(parts, "duplicated by link")
	}
	if n.CorruptByte > 0 {
		parts = append(parts, fmt.Sprintf("corrupted by link at byte %d", n.CorruptByte-1))
	}
	if n.Reordered {
		parts = append(parts, fmt.Sprintf("reordered by link (held back %v)", n.HeldBack))
	}
	if n.Overtook {
		parts = append(parts, "reordered by link (jitter: overtook an earlier frame)")
	}
	return "simnet: " + strings.Join(parts, "; ")
}

// Carried returns the marks of n that travel on with a delivered frame when
// it is forwarded onto another link (a switch): duplicate, corruption,
// reordering by holding back and ECN marking, not a drop, nor overtaking by
// jitter, which concerns the ordering on that one link.
func (n Note) Carried() Note {
	n.Drop, n.Qdisc, n.Ticket, n.Overtook = NotDropped, "", 0, false
	return n
}

// Merge returns n with the marks an earlier link left (up) added, so that
// the final receiver's capture says everything the network did to the
// frame. n's own corruption offset wins when both corrupted it.
func (n Note) Merge(up Note) Note {
	n.Duplicated = n.Duplicated || up.Duplicated
	if n.CorruptByte == 0 {
		n.CorruptByte = up.CorruptByte
	}
	if up.Reordered {
		n.Reordered = true
		n.HeldBack += up.HeldBack
	}
	if n.CE == "" {
		n.CE = up.CE
	}
	return n
}

// FateFunc receives the final Note of a frame whose Send returned a Note
// with a non-zero Ticket.
type FateFunc func(ticket uint64, note Note)

// FateReporter is implemented by endpoints whose Send may return before a
// frame's fate is decided (a queue discipline drops or marks it when it
// leaves the queue). A capture registers a FateFunc to learn it.
type FateReporter interface {
	// SetFate sets the function told each pending frame's final Note;
	// nil stops the reports.
	SetFate(f FateFunc)
}

// Carrier is implemented by endpoints that can carry the marks an earlier
// link left on a frame (Note.Carried) to the far end. A switch forwarding a
// frame uses it, so a frame corrupted before the switch still arrives with
// its "corrupted" comment.
type Carrier interface {
	// SendCarrying is Send for a frame that already carries marks.
	SendCarrying(frame []byte, carried Note) Note
}
