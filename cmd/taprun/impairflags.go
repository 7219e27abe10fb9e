package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/simnet-go/simnet/link/impair"
)

// impairFlags are the impairment options, written with the same words as a
// scenario file's impair block ("5%", "20ms", "10Mbit"), applied to the
// directions --dir selects.
type impairFlags struct {
	dir          string
	loss         string
	gilbert      string
	delay        string
	jitter       string
	jitterDist   string
	keepOrder    bool
	reorder      string
	reorderDelay string
	duplicate    string
	corrupt      string
	rate         string
	queue        string
}

// register adds the impairment flags to fs.
func (f *impairFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.dir, "dir", "both", "direction the impairments apply to: in (kernel to stack), out (stack to kernel) or both")
	fs.StringVar(&f.loss, "loss", "", "drop this fraction of frames (5% or 0.05)")
	fs.StringVar(&f.gilbert, "gilbert", "", "Gilbert-Elliott burst loss, as a scenario's gilbert block: p=1%,r=25%[,loss_bad=100%][,loss_good=0%]")
	fs.StringVar(&f.delay, "delay", "", "add this one-way delay to every frame (20ms)")
	fs.StringVar(&f.jitter, "jitter", "", "vary each frame's delay by up to this much (5ms)")
	fs.StringVar(&f.jitterDist, "jitter-dist", "", "jitter distribution: uniform (default) or normal")
	fs.BoolVar(&f.keepOrder, "keep-order", false, "deliver frames in order despite jitter")
	fs.StringVar(&f.reorder, "reorder", "", "hold back this fraction of frames so later ones overtake them (1%)")
	fs.StringVar(&f.reorderDelay, "reorder-delay", "", "how long a reordered frame is held back (default 10ms)")
	fs.StringVar(&f.duplicate, "duplicate", "", "deliver this fraction of frames twice (1%)")
	fs.StringVar(&f.corrupt, "corrupt", "", "flip one bit in this fraction of frames (0.1%)")
	fs.StringVar(&f.rate, "rate", "", "limit the bandwidth (10Mbit, 512kbit, 1Gbit)")
	fs.StringVar(&f.queue, "queue", "", "rate limiter queue bound: packets (64) or bytes with a unit (64KiB)")
}

// defaultReorderDelay is the hold-back when --reorder is given alone.
const defaultReorderDelay = 10 * time.Millisecond

// configs returns the impairment of each direction: in is applied to frames
// from the kernel to the stack, out to frames from the stack to the kernel.
func (f *impairFlags) configs() (in, out impair.Config, err error) {
	var c impair.Config
	var errs []error
	prob := func(flag, s string, dst *float64) {
		if s == "" {
			return
		}
		v, err := impair.ParseProbability(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
		*dst = v
	}
	dur := func(flag, s string, dst *time.Duration) {
		if s == "" {
			return
		}
		v, err := impair.ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
		*dst = v
	}
	prob("loss", f.loss, &c.Loss)
	if f.gilbert != "" {
		g, err := parseGilbert(f.gilbert)
		if err != nil {
			errs = append(errs, fmt.Errorf("--gilbert: %w", err))
		}
		c.Burst = g
	}
	prob("reorder", f.reorder, &c.Reorder)
	prob("duplicate", f.duplicate, &c.Duplicate)
	prob("corrupt", f.corrupt, &c.Corrupt)
	dur("delay", f.delay, &c.Delay)
	dur("jitter", f.jitter, &c.Jitter)
	dur("reorder-delay", f.reorderDelay, &c.ReorderDelay)
	if c.Reorder > 0 && c.ReorderDelay == 0 {
		c.ReorderDelay = defaultReorderDelay
	}
	switch f.jitterDist {
	case "", impair.JitterUniform, impair.JitterNormal:
		c.JitterDist = f.jitterDist
	default:
		errs = append(errs, fmt.Errorf("--jitter-dist: %q is neither %s nor %s", f.jitterDist, impair.JitterUniform, impair.JitterNormal))
	}
	c.KeepOrder = f.keepOrder
	if f.rate != "" {
		v, err := impair.ParseRate(f.rate)
		if err != nil {
			errs = append(errs, fmt.Errorf("--rate: %w", err))
		}
		c.Rate = v
	}
	if f.queue != "" {
		pkts, bytes, err := impair.ParseQueue(f.queue)
		if err != nil {
			errs = append(errs, fmt.Errorf("--queue: %w", err))
		}
		c.QueuePackets, c.QueueBytes = pkts, bytes
	}
	if err := errors.Join(errs...); err != nil {
		return in, out, err
	}
	if err := c.Validate(); err != nil {
		return in, out, fmt.Errorf("impairments: %w", err)
	}
	switch f.dir {
	case "in":
		in = c
	case "out":
		out = c
	case "both":
		in, out = c, c
	default:
		return in, out, fmt.Errorf("--dir: %q is not in, out or both", f.dir)
	}
	return in, out, nil
}

// describe renders a configuration for the startup banner, "" when it
// impairs nothing.
func describe(c impair.Config) string {
	var parts []string
	if c.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", c.Loss*100))
	}
	if g := c.Burst; g.Enabled() {
		parts = append(parts, fmt.Sprintf("gilbert p=%g%% r=%g%% loss_bad=%g%% loss_good=%g%% (mean burst %.3g frames)",
			g.P*100, g.R*100, g.LossBad*100, g.LossGood*100, g.MeanBurst()))
	}
	if c.Delay > 0 || c.Jitter > 0 {
		s := "delay " + c.Delay.String()
		if c.Jitter > 0 {
			s += " ±" + c.Jitter.String()
		}
		parts = append(parts, s)
	}
	if c.Reorder > 0 {
		parts = append(parts, fmt.Sprintf("reorder %g%% (held %v)", c.Reorder*100, c.ReorderDelay))
	}
	if c.Duplicate > 0 {
		parts = append(parts, fmt.Sprintf("duplicate %g%%", c.Duplicate*100))
	}
	if c.Corrupt > 0 {
		parts = append(parts, fmt.Sprintf("corrupt %g%%", c.Corrupt*100))
	}
	if c.Rate > 0 {
		parts = append(parts, fmt.Sprintf("rate %d bit/s", c.Rate))
	}
	return strings.Join(parts, ", ")
}

// parseGilbert reads --gilbert's key=value list with the keys and defaults
// of a scenario's gilbert block: p and r required, loss_bad 100%,
// loss_good 0%.
func parseGilbert(s string) (impair.GilbertElliott, error) {
	g := impair.GilbertElliott{LossBad: 1}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return g, fmt.Errorf("%q is not key=value (want p=1%%,r=25%%[,loss_bad=100%%][,loss_good=0%%])", kv)
		}
		var dst *float64
		switch k {
		case "p":
			dst = &g.P
		case "r":
			dst = &g.R
		case "loss_bad":
			dst = &g.LossBad
		case "loss_good":
			dst = &g.LossGood
		default:
			return g, fmt.Errorf("unknown key %q (want p, r, loss_bad, loss_good)", k)
		}
		if seen[k] {
			return g, fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		x, err := impair.ParseProbability(v)
		if err != nil {
			return g, fmt.Errorf("%s: %w", k, err)
		}
		*dst = x
	}
	if !seen["p"] || !seen["r"] {
		return g, fmt.Errorf("p and r are required")
	}
	if g.P > 0 && g.R == 0 {
		return g, fmt.Errorf("r must be positive when p is: the channel would never leave the bad state")
	}
	return g, nil
}
