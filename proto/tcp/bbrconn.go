package tcp

import (
	"fmt"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// CongestionControls are the names Config.CongestionControl and
// Conn.SetCongestionControl accept.
var CongestionControls = []string{"cubic", "newreno", "bbr"}

// SetCongestionControl switches the connection to the named algorithm
// ("cubic", "newreno" or "bbr"), as Linux's TCP_CONGESTION socket option:
// best before data flows (after Connect, or on Accept); the new algorithm
// starts from the current window. An unknown name is ErrInvalidArgument.
func (c *Conn) SetCongestionControl(name string) error {
	switch name {
	case "cubic", "newreno", "bbr":
	default:
		return fmt.Errorf("tcp: congestion control %q: %w", name, ErrInvalidArgument)
	}
	if c.cc.Name() == name {
		return nil
	}
	c.cc = newCongestionControlNamed(c, name)
	c.rate.bbr = nil
	c.rateInit()
	return nil
}

// newCongestionControl returns the algorithm the stack's Config names.
func newCongestionControl(c *Conn) CongestionControl {
	return newCongestionControlNamed(c, c.s.cfg.CongestionControl)
}

func newCongestionControlNamed(c *Conn, name string) CongestionControl {
	switch name {
	case "newreno":
		return &NewReno{}
	case "bbr":
		rnd := c.s.rnd
		return &BBR{rnd: func(n int) int { return rnd.IntN(n) }}
	}
	return &CUBIC{pp: hystartPP{on: hystartPPOn(&c.s.cfg)}, linuxFriendly: c.s.cfg.Profile == ProfileLinux}
}

// rateState is a connection's state for a rate-based congestion control
// (BBR): the delivery-rate sampler and the pacing timer.
type rateState struct {
	bbr      *BBR
	rs       rateSampler
	paceNext clock.Time
	paceT    clock.Timer
	paceInit bool // paceT is initialised
}

type paceTimer Conn

func (t *paceTimer) OnTimer(clock.Time) {
	c := (*Conn)(t)
	if c.state == StateClosed {
		return
	}
	c.output()
	c.flush()
}

// rateInit sets up BBR's sampler and pacing when the configuration asks
// for it.
func (c *Conn) rateInit() {
	if b, ok := c.cc.(*BBR); ok {
		c.rate.bbr = b
		c.rate.rs = rateSampler{}
		if !c.rate.paceInit {
			c.rate.paceInit = true
			c.rate.paceT.Init((*paceTimer)(c))
		}
	}
}

// rateSent records a transmission of n data bytes at [seq, end) for the
// rate sampler and moves the pacing horizon by its time on the wire at the
// pacing rate (sndMax is SND.MAX before it). A retransmission tells BBR
// that what it resends was lost.
func (c *Conn) rateSent(seq, end, sndMax seqnum, n int) {
	r := &c.rate
	b := r.bbr
	if b == nil {
		return
	}
	now := c.s.clk.Now()
	idle := c.sndUna == sndMax
	b.onTransmit(idle && r.rs.appLimited != 0, now)
	if seq.lt(sndMax) {
		r.rs.markLost(seq, seqMin(end, sndMax), func(p *rsRec) {
			b.onLost(p.start, p.end, p.end.diff(p.start), p.txInFlight, r.rs.lost-p.lost, p.appLimited)
		})
	}
	inFlight := seqMax(end, sndMax).diff(c.sndUna) - c.sackedBytes()
	r.rs.onSend(seq, end, sndMax, now, idle, inFlight)
	if rate := r.bbr.PacingRate(); rate > 0 && n > 0 {
		if r.paceNext.Before(now) {
			r.paceNext = now
		}
		wire := n + HeaderLen + 32 // with options, IP header and framing as a rough quantum
		r.paceNext = r.paceNext.Add(time.Duration(float64(wire) / rate * float64(time.Second)))
	}
}

// rateAck takes a rate sample from an acceptable ACK and lets BBR set the
// window.
func (c *Conn) rateAck(o *Options) {
	r := &c.rate
	if r.bbr == nil || c.state == StateClosed {
		return
	}
	now := c.s.clk.Now()
	rs := r.rs.onAck(c.sndUna, o, now, c.ccs.MinRTT)
	inFlight := c.sndMax.diff(c.sndUna)
	if c.sackOK {
		inFlight = c.pipe()
	}
	// C.is_cwnd_limited, from the flight before the ACK.
	cwndLimited := inFlight+rs.NewlyDelivered+c.mss > r.bbr.cwnd
	r.bbr.sackOK = c.sackOK
	r.bbr.Update(&c.ccs, &rs, inFlight, c.inRecovery || c.sndUna.lt(c.recover), cwndLimited, now)
	if r.bbr.appLimitedNow {
		r.bbr.appLimitedNow = false
		r.rs.markAppLimited(inFlight)
	}
}

// paceWait reports whether pacing holds the next data segment back, and
// arms the pacing timer for when it may leave.
func (c *Conn) paceWait() bool {
	r := &c.rate
	paced := r.bbr != nil || c.fqPaced() && c.gsoLeft <= 0 // fq paces whole GSO packets
	if !paced || !c.s.clk.Now().Before(r.paceNext) {
		return false
	}
	if !r.paceInit {
		r.paceInit = true
		r.paceT.Init((*paceTimer)(c))
	}
	if !r.paceT.Pending() || r.paceT.When() != r.paceNext {
		c.s.clk.Schedule(&r.paceT, r.paceNext)
	}
	return true
}

// rateIdle marks the sampler application-limited when the send buffer is
// empty and the window is not full (draft-cheng-iccrg-delivery-rate-
// estimation section 3.4).
func (c *Conn) rateIdle() {
	r := &c.rate
	if r.bbr == nil || c.bufStart.add(c.sndBuf.n) != c.sndNxt {
		return
	}
	if fl := c.sndMax.diff(c.sndUna); fl < c.ccs.Cwnd {
		r.rs.markAppLimited(fl)
	}
}
