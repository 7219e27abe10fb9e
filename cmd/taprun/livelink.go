package main

import (
	"fmt"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

// liveLink is the host's view of the tap device: the device wrapped in an
// impairment pipe per impaired direction (impair.Wrap). It runs on the loop.
type liveLink struct {
	*impair.Endpoint
	in, out *impair.Pipe // nil when the direction is not impaired
}

// newLiveLink joins dev to the host through the impairments in (frames from
// the kernel) and out (frames to the kernel), timed on clk and drawing from
// generators derived from seed.
func newLiveLink(dev *tap.Endpoint, clk clock.Clock, seed uint64, in, out impair.Config) (*liveLink, error) {
	l := &liveLink{}
	var err error
	if describe(out) != "" {
		if l.out, err = impair.New(clk, rng.New(seed, "taprun/out"), out, nil); err != nil {
			return nil, fmt.Errorf("outgoing impairments: %w", err)
		}
	}
	if describe(in) != "" {
		if l.in, err = impair.New(clk, rng.New(seed, "taprun/in"), in, nil); err != nil {
			return nil, fmt.Errorf("incoming impairments: %w", err)
		}
	}
	if l.Endpoint, err = impair.Wrap(dev, l.out, l.in); err != nil {
		return nil, err
	}
	return l, nil
}

// counters returns the impairment totals of each direction (zero when the
// direction is not impaired).
func (l *liveLink) counters() (in, out impair.Counters) {
	if l.in != nil {
		in = l.in.Counters()
	}
	if l.out != nil {
		out = l.out.Counters()
	}
	return in, out
}
