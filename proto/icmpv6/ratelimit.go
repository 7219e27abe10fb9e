package icmpv6

import (
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// Default error rate limit: Linux's global icmp_msgs_per_sec and
// icmp_msgs_burst.
const (
	DefaultErrorRate  = 1000 // tokens per second
	DefaultErrorBurst = 50
)

// RateLimiter is the token bucket RFC 4443 section 2.4 (f) suggests for
// error messages: it holds at most burst tokens, gains one every
// 1/rate seconds of the clock, and each error sent takes one. Integer
// arithmetic on clock.Time keeps it deterministic.
type RateLimiter struct {
	interval time.Duration
	burst    int
	tokens   int
	last     clock.Time
	started  bool
}

// NewRateLimiter returns a full bucket of burst tokens refilled at rate
// tokens per second. Non-positive arguments take the defaults.
func NewRateLimiter(rate, burst int) *RateLimiter {
	if rate <= 0 {
		rate = DefaultErrorRate
	}
	if burst <= 0 {
		burst = DefaultErrorBurst
	}
	return &RateLimiter{interval: time.Second / time.Duration(rate), burst: burst, tokens: burst}
}

// Allow reports whether an error may be sent at now, taking a token if so.
func (r *RateLimiter) Allow(now clock.Time) bool {
	if !r.started {
		r.started, r.last = true, now
	}
	if now > r.last {
		n := int64(now.Sub(r.last) / r.interval)
		if int64(r.tokens)+n >= int64(r.burst) {
			r.tokens, r.last = r.burst, now
		} else {
			r.tokens += int(n)
			r.last = r.last.Add(time.Duration(n) * r.interval)
		}
	}
	if r.tokens == 0 {
		return false
	}
	r.tokens--
	return true
}
