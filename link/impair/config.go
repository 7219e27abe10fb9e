package impair

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/simnet-go/simnet/link/qdisc"
)

// Jitter distributions accepted in Config.JitterDist.
const (
	// JitterUniform draws each frame's delay uniformly from
	// [Delay-Jitter, Delay+Jitter] (the default).
	JitterUniform = "uniform"
	// JitterNormal draws each frame's delay from a normal distribution with
	// mean Delay and standard deviation Jitter.
	JitterNormal = "normal"
)

// MaxDelay bounds Delay, Jitter and ReorderDelay, so that delivery
// instants stay far from the clock's range.
const MaxDelay = 24 * time.Hour

// DefaultQueuePackets bounds the rate limiter's queue when Config.Rate is set
// and neither QueueBytes nor QueuePackets is (Linux's default txqueuelen).
const DefaultQueuePackets = 1000

// GilbertElliott is the two-state burst-loss model of Gilbert (1960) and
// Elliott (1963). Each offered frame first moves the channel: from the good
// state to the bad one with probability P, from bad back to good with
// probability R. The frame is then lost with probability LossGood in the good
// state and LossBad in the bad state. In the classic notation k = 1-LossGood
// and h = 1-LossBad are the delivery probabilities of each state.
//
// The number of consecutive frames spent in the bad state is geometric with
// mean 1/R, so with LossGood = 0 and LossBad = 1 (the simple Gilbert model)
// the mean loss burst is 1/R frames. The stationary probability of the bad
// state is P/(P+R). The model is off when P is 0.
type GilbertElliott struct {
	// P is the per-frame probability of moving from the good to the bad state.
	P float64 `yaml:"p" json:"p"`
	// R is the per-frame probability of moving from the bad to the good state.
	R float64 `yaml:"r" json:"r"`
	// LossGood is the loss probability in the good state (1-k).
	LossGood float64 `yaml:"loss_good" json:"loss_good"`
	// LossBad is the loss probability in the bad state (1-h).
	LossBad float64 `yaml:"loss_bad" json:"loss_bad"`
}

// Enabled reports whether the model is on (P > 0).
func (g GilbertElliott) Enabled() bool { return g.P > 0 }

// MeanBurst returns the mean number of consecutive frames spent in the bad
// state, 1/R: the mean loss burst length when LossBad is 1 and LossGood 0.
func (g GilbertElliott) MeanBurst() float64 { return 1 / g.R }

// LossRate returns the long-run fraction of frames the model drops.
func (g GilbertElliott) LossRate() float64 {
	if !g.Enabled() {
		return 0
	}
	bad := g.P / (g.P + g.R)
	return (1-bad)*g.LossGood + bad*g.LossBad
}

// Config is what one direction of a link does to the frames offered to it.
// The zero Config is a perfect link: no loss, no delay, unlimited rate.
//
// Stages apply in this order, as in Linux netem: link down, MTU, loss
// (Gilbert-Elliott then Bernoulli), the rate limiter's queue, duplication,
// corruption, then delay with jitter and reordering.
type Config struct {
	// Loss is the probability that a frame is dropped (Bernoulli model).
	Loss float64 `yaml:"loss" json:"loss"`
	// Burst is the Gilbert-Elliott burst-loss model, off when Burst.P is 0.
	Burst GilbertElliott `yaml:"burst" json:"burst"`
	// Delay is the fixed one-way latency added to every frame, after its
	// serialisation when Rate is set.
	Delay time.Duration `yaml:"delay" json:"delay"`
	// Jitter varies each frame's delay around Delay, according to
	// JitterDist. A drawn delay below zero is clamped to zero, which raises
	// the mean above Delay when Jitter is large compared with Delay. With
	// jitter a frame may overtake earlier ones, as under netem, unless
	// KeepOrder is set.
	Jitter time.Duration `yaml:"jitter" json:"jitter"`
	// JitterDist is JitterUniform (or "") or JitterNormal.
	JitterDist string `yaml:"jitter_dist" json:"jitter_dist"`
	// KeepOrder delivers frames in the order they were offered even with
	// jitter: a frame whose drawn delivery instant is before its
	// predecessor's is delivered right after it instead. Frames picked by
	// Reorder are still held back.
	KeepOrder bool `yaml:"keep_order" json:"keep_order"`
	// Reorder is the probability that a frame is held back by an extra
	// ReorderDelay, so that later frames overtake it.
	Reorder float64 `yaml:"reorder" json:"reorder"`
	// ReorderDelay is how long a reordered frame is held back; it must be
	// positive when Reorder is.
	ReorderDelay time.Duration `yaml:"reorder_delay" json:"reorder_delay"`
	// Duplicate is the probability that a frame is delivered twice; the
	// copy is delivered right after the original.
	Duplicate float64 `yaml:"duplicate" json:"duplicate"`
	// Corrupt is the probability that one random bit of one random byte
	// after the Ethernet header is flipped in the delivered frame.
	Corrupt float64 `yaml:"corrupt" json:"corrupt"`
	// Rate is the link's bandwidth in bits per second, 0 for unlimited. A
	// frame of n bytes occupies the link for n*8/Rate seconds (the Ethernet
	// preamble, FCS and inter-frame gap are not counted); frames wait in a
	// drop-tail queue bounded by QueueBytes and QueuePackets.
	Rate int64 `yaml:"rate" json:"rate"`
	// QueueBytes bounds the bytes waiting for or in transmission when Rate
	// is set; 0 for no byte bound.
	QueueBytes int `yaml:"queue_bytes" json:"queue_bytes"`
	// QueuePackets bounds the frames waiting for or in transmission when
	// Rate is set; 0 for no packet bound. When both bounds are 0 the queue
	// holds DefaultQueuePackets frames.
	QueuePackets int `yaml:"queue_packets" json:"queue_packets"`
	// MTU is the largest Ethernet payload carried (the frame length minus
	// the 14-byte header); larger frames are dropped. 0 means no limit.
	MTU int `yaml:"mtu" json:"mtu"`
	// Params chooses the queue discipline in front of the rate limiter:
	// the drop-tail queue bounded by QueueBytes and QueuePackets (fifo,
	// the default), or RED, CoDel or FQ-CoDel (see package qdisc), which
	// need a Rate and decide drops and ECN marks themselves.
	qdisc.Params `yaml:",inline"`
}

// queuePackets returns the effective packet bound of the rate limiter.
func (c Config) queuePackets() int {
	if c.IsAQM() {
		return 0
	}
	if c.Rate > 0 && c.QueuePackets == 0 && c.QueueBytes == 0 {
		return DefaultQueuePackets
	}
	return c.QueuePackets
}

// Validate reports every field of c that is out of range, joined in one
// error, or nil when c is usable.
func (c Config) Validate() error {
	var errs []error
	prob := func(name string, v float64) {
		if math.IsNaN(v) || v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("%s = %v is not a probability in [0, 1]", name, v))
		}
	}
	dur := func(name string, v time.Duration) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s = %v is negative", name, v))
		} else if v > MaxDelay {
			errs = append(errs, fmt.Errorf("%s = %v exceeds %v", name, v, MaxDelay))
		}
	}
	nonNeg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s = %d is negative", name, v))
		}
	}
	prob("loss", c.Loss)
	prob("burst.p", c.Burst.P)
	prob("burst.r", c.Burst.R)
	prob("burst.loss_good", c.Burst.LossGood)
	prob("burst.loss_bad", c.Burst.LossBad)
	if c.Burst.P > 0 && c.Burst.R == 0 {
		errs = append(errs, errors.New("burst.r = 0 with burst.p > 0: the channel would never leave the bad state"))
	}
	prob("reorder", c.Reorder)
	prob("duplicate", c.Duplicate)
	prob("corrupt", c.Corrupt)
	dur("delay", c.Delay)
	dur("jitter", c.Jitter)
	dur("reorder_delay", c.ReorderDelay)
	if c.Reorder > 0 && c.ReorderDelay <= 0 {
		errs = append(errs, fmt.Errorf("reorder = %v needs a positive reorder_delay", c.Reorder))
	}
	switch c.JitterDist {
	case "", JitterUniform, JitterNormal:
	default:
		errs = append(errs, fmt.Errorf("jitter_dist %q is not %q or %q", c.JitterDist, JitterUniform, JitterNormal))
	}
	nonNeg("rate", c.Rate)
	nonNeg("queue_bytes", int64(c.QueueBytes))
	nonNeg("queue_packets", int64(c.QueuePackets))
	nonNeg("mtu", int64(c.MTU))
	if c.Rate == 0 && (c.QueueBytes != 0 || c.QueuePackets != 0) {
		errs = append(errs, errors.New("queue_bytes and queue_packets bound the rate limiter's queue and need a rate"))
	}
	if err := c.Params.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.IsAQM() && c.Rate == 0 {
		errs = append(errs, fmt.Errorf("qdisc %s needs a rate: it manages the queue of the rate limiter", c.Kind))
	}
	if c.IsAQM() && (c.QueueBytes != 0 || c.QueuePackets != 0) {
		errs = append(errs, fmt.Errorf("queue_bytes and queue_packets bound the fifo queue: qdisc %s takes limit", c.Kind))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("impair: invalid config: %w", errors.Join(errs...))
}
