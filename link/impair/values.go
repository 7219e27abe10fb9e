package impair

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The words below are how impairments are written wherever a person types
// them: a scenario file's impair block and taprun's flags. One parser each,
// so "5%", "10Mbit" and "64KiB" mean the same everywhere.

// MaxDuration bounds a duration accepted by ParseDuration.
const MaxDuration = 1000 * time.Hour

// MaxRate bounds a rate accepted by ParseRate, in bits per second (1 Tbit/s).
const MaxRate = 1e12

// MaxQueuePackets and MaxQueueBytes bound a queue accepted by ParseQueue.
const (
	MaxQueuePackets = 1 << 20
	MaxQueueBytes   = 1 << 30
)

// ErrValue is wrapped by every error of the Parse functions.
var ErrValue = errors.New("invalid impairment value")

// valueError is a parse error: its text explains the word expected and it
// matches ErrValue.
type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }

// Is reports whether target is ErrValue.
func (e *valueError) Is(target error) bool { return target == ErrValue }

func invalid(format string, args ...any) error {
	return &valueError{msg: fmt.Sprintf(format, args...)}
}

// ParseProbability reads a probability written as a percentage ("5%",
// "0.1 %") or a fraction ("0.05"), between 0 and 1 inclusive.
func ParseProbability(s string) (float64, error) {
	num, pct := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err == nil && pct {
		v /= 100
	}
	if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
		return 0, invalid("invalid probability %q (want 0%%..100%% or 0..1)", s)
	}
	return v, nil
}

// ParseDuration reads a duration with a unit as time.ParseDuration does
// ("10ms", "1.5s", "2m"), or a bare "0", from 0 to MaxDuration.
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, invalid("invalid duration %q (want a number with a unit, e.g. 10ms, 1.5s, 2m)", s)
	case v < 0:
		return 0, invalid("duration %q must not be negative", s)
	case v > MaxDuration:
		return 0, invalid("duration %q is longer than %v", s, MaxDuration)
	}
	return v, nil
}

// rateUnits are the bandwidth units, in bits per second, matched without
// regard to case, longest suffix first among those that share an ending.
var rateUnits = []struct {
	suffix string
	mult   float64
}{
	{"gbit", 1e9}, {"gbps", 1e9},
	{"mbit", 1e6}, {"mbps", 1e6},
	{"kbit", 1e3}, {"kbps", 1e3},
	{"bit", 1}, {"bps", 1},
}

// ParseRate reads a bandwidth in bits per second: a bare number, or one
// with a unit (bit, kbit, Mbit, Gbit or the same with bps; any case), such
// as "10Mbit" or "1.5Gbps". "0" means unlimited; anything else is at least
// 1 bit/s and at most MaxRate. Fractions of a bit are truncated.
func ParseRate(s string) (int64, error) {
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
	if err != nil || math.IsNaN(v) || v < 0 || v > MaxRate || (v > 0 && v < 1) {
		return 0, invalid("invalid rate %q (want e.g. 10Mbit, 512kbit, 1Gbit; 0 for unlimited)", s)
	}
	return int64(v), nil
}

// queueUnits are the byte-size units of a queue bound (case matters: KB is
// 1000 bytes, KiB 1024).
var queueUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"KB", 1000}, {"MB", 1000000}, {"B", 1},
}

// ParseQueue reads a rate limiter's queue bound: a packet count ("64", 1 to
// MaxQueuePackets) or a byte size with a unit ("64KiB", "1500B"; B, KB,
// KiB, MB, MiB; 1 byte to MaxQueueBytes). Exactly one of packets and bytes
// is set when err is nil.
func ParseQueue(s string) (packets, bytes int, err error) {
	for _, u := range queueUnits {
		if num, found := strings.CutSuffix(s, u.suffix); found {
			v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || v < 1 || v > MaxQueueBytes/u.mult {
				break
			}
			return 0, int(v * u.mult), nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil && v >= 1 && v <= MaxQueuePackets {
		return int(v), 0, nil
	}
	return 0, 0, invalid("invalid queue %q (want packets, e.g. 64, or bytes with a unit: B, KB, KiB, MB, MiB)", s)
}
