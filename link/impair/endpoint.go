package impair

import (
	"fmt"

	"github.com/simnet-go/simnet/link"
)

// Endpoint is impairment middleware around another link.Endpoint, for
// drivers whose link is real (a tap device) or built elsewhere: frames sent
// through it cross the out Pipe before reaching the inner endpoint, and
// frames the inner endpoint delivers cross the in Pipe before reaching the
// receiver. Send returns the out Pipe's Note; the inner endpoint's Note
// for a frame sent later is not reported (the frame already left Send).
type Endpoint struct {
	inner   link.Endpoint
	out, in *Pipe
}

// Wrap returns inner with out impairing the frames it sends and in the
// frames it receives. Either pipe may be nil for no impairment in that
// direction. The pipes must run on the inner endpoint's loop clock.
func Wrap(inner link.Endpoint, out, in *Pipe) (*Endpoint, error) {
	if inner == nil {
		return nil, fmt.Errorf("impair: wrap: nil endpoint")
	}
	e := &Endpoint{inner: inner, out: out, in: in}
	if out != nil {
		out.SetReceiver(link.ReceiverFunc(func(frame []byte, _ link.Note) { inner.Send(frame) }))
	}
	return e, nil
}

// Send offers frame to the out Pipe (or straight to the inner endpoint).
func (e *Endpoint) Send(frame []byte) link.Note {
	if e.out == nil {
		return e.inner.Send(frame)
	}
	return e.out.Send(frame)
}

// SetFate sets where the fates of frames queued by the out Pipe's queue
// discipline are reported (link.FateReporter).
func (e *Endpoint) SetFate(f link.FateFunc) {
	if e.out != nil {
		e.out.SetFate(f)
	}
}

// SetReceiver sets where frames go after the in Pipe.
func (e *Endpoint) SetReceiver(r link.Receiver) {
	if e.in == nil || r == nil {
		e.inner.SetReceiver(r)
		if e.in != nil {
			e.in.SetReceiver(nil)
		}
		return
	}
	e.in.SetReceiver(r)
	in := e.in
	e.inner.SetReceiver(link.ReceiverFunc(func(frame []byte, _ link.Note) { in.Send(frame) }))
}

// MTU returns the smaller of the inner endpoint's MTU and the out Pipe's.
func (e *Endpoint) MTU() int {
	m := e.inner.MTU()
	if e.out != nil && e.out.MTU() > 0 && e.out.MTU() < m {
		m = e.out.MTU()
	}
	return m
}
