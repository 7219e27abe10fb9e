package impair

import (
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// QueueState is the rate limiter's queue as a frame sees it: the frames
// and bytes waiting or being serialised, and the frame's queueing delay
// (sojourn).
type QueueState struct {
	// Packets and Bytes are the frames and bytes in the queue, the one
	// being serialised included, just after the event.
	Packets, Bytes int
	// Sojourn is the queueing delay of the frame the event concerns:
	// the wait before its serialisation starts (drop-tail queue, at
	// admission) or the time it spent queued (queue disciplines, at
	// dequeue); zero for a frame refused.
	Sojourn time.Duration
}

// QueueObserver is called on the pipe's loop each time a frame is admitted
// to or refused by the drop-tail queue, or leaves a queue discipline, with
// the queue's state after the event. It must not call back into the pipe.
type QueueObserver func(now clock.Time, q QueueState)

// SetQueueObserver installs o (nil removes it). It costs nothing on a
// direction without a rate limit and one comparison per frame otherwise.
func (p *Pipe) SetQueueObserver(o QueueObserver) {
	p.qobs = o
	p.obsFin, p.obsHead = p.obsFin[:0], 0
}

// observeFIFO reports the drop-tail queue after a frame of n bytes was
// admitted (its serialisation ending at end) or refused (end 0).
func (p *Pipe) observeFIFO(now, end clock.Time, n int) {
	// Frames whose serialisation has ended have left the queue.
	for p.obsHead < len(p.obsFin) && p.obsFin[p.obsHead] <= now {
		p.obsHead++
	}
	if p.obsHead == len(p.obsFin) {
		p.obsFin, p.obsHead = p.obsFin[:0], 0
	} else if p.obsHead > 1024 && p.obsHead > len(p.obsFin)/2 {
		k := copy(p.obsFin, p.obsFin[p.obsHead:])
		p.obsFin, p.obsHead = p.obsFin[:k], 0
	}
	var q QueueState
	if end != 0 {
		p.obsFin = append(p.obsFin, end)
		q.Sojourn = end.Sub(now) - serialisation(n, p.cfg.Rate)
	}
	q.Packets = len(p.obsFin) - p.obsHead
	if p.busyUntil > now {
		q.Bytes = int(int64(p.busyUntil.Sub(now)) * p.cfg.Rate / 8e9)
	}
	p.qobs(now, q)
}
