package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
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
		v, err := parseProbability(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
		*dst = v
	}
	dur := func(flag, s string, dst *time.Duration) {
		if s == "" {
			return
		}
		v, err := parseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
		*dst = v
	}
	prob("loss", f.loss, &c.Loss)
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
		v, err := parseRate(f.rate)
		if err != nil {
			errs = append(errs, fmt.Errorf("--rate: %w", err))
		}
		c.Rate = v
	}
	if f.queue != "" {
		pkts, bytes, err := parseQueue(f.queue)
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

// parseProbability reads a percentage ("5%") or a fraction (0.05).
func parseProbability(s string) (float64, error) {
	num, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err == nil && pct {
		v /= 100
	}
	if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
		return 0, fmt.Errorf("invalid probability %q (want 0%%..100%% or 0..1)", s)
	}
	return v, nil
}

// parseDuration reads a non-negative duration with a unit, or "0".
func parseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q (want a number with a unit, e.g. 10ms, 1.5s)", s)
	}
	return v, nil
}

// rateUnits are the bandwidth units in bits per second, matched without
// regard to case, as in scenario files.
var rateUnits = []struct {
	suffix string
	mult   float64
}{
	{"gbit", 1e9}, {"gbps", 1e9},
	{"mbit", 1e6}, {"mbps", 1e6},
	{"kbit", 1e3}, {"kbps", 1e3},
	{"bit", 1}, {"bps", 1},
}

// parseRate reads a bandwidth in bits per second, optionally with a unit.
func parseRate(s string) (int64, error) {
	num, mult := s, 1.0
	lower := strings.ToLower(s)
	for _, u := range rateUnits {
		if strings.HasSuffix(lower, u.suffix) {
			num, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	v *= mult
	if err != nil || math.IsNaN(v) || v < 0 || v > 1e12 || (v > 0 && v < 1) {
		return 0, fmt.Errorf("invalid rate %q (want e.g. 10Mbit, 512kbit, 1Gbit; 0 for unlimited)", s)
	}
	return int64(v), nil
}

// sizeUnits are the byte-size units of a queue bound.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000000}, {"B", 1},
}

// parseQueue reads a queue bound: a packet count, or bytes with a unit.
func parseQueue(s string) (packets, bytes int, err error) {
	for _, u := range sizeUnits {
		if num, found := strings.CutSuffix(s, u.suffix); found {
			v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || v < 1 || v > (1<<30)/u.mult {
				break
			}
			return 0, int(v * u.mult), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil && v >= 1 && v <= 1<<20 {
		return int(v), 0, nil
	}
	return 0, 0, fmt.Errorf("invalid queue %q (want packets, e.g. 64, or bytes with a unit: B, KB, KiB, MB, MiB)", s)
}

// describe renders a configuration for the startup banner, "" when it
// impairs nothing.
func describe(c impair.Config) string {
	var parts []string
	if c.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", c.Loss*100))
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
