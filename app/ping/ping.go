// Package ping is the built-in ping app: it sends ICMP echo requests
// (RFC 792) at a fixed interval and measures replies, like ping(8).
package ping

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
)

// MaxCount is the most echo requests one app sends: sequence numbers are 16
// bits and each request gets its own.
const MaxCount = 65535

// idTries is how many identifiers Start draws before giving up.
const idTries = 16

// Config describes a ping app.
type Config struct {
	Name   string
	Target netip.Addr
	// Count is the number of requests, 1 to MaxCount.
	Count int
	// Interval is the time between two requests.
	Interval time.Duration
	// Size is the echo payload size in bytes.
	Size int
}

// Result is what a ping app measured.
type Result struct {
	Target string `json:"target"`
	// Sent is the number of requests handed to the host.
	Sent int `json:"sent"`
	// Received is the number of requests answered (each counted once).
	Received int `json:"received"`
	// Duplicates counts extra replies to an already answered request.
	Duplicates int `json:"duplicates"`
	// Mismatched counts replies whose payload differs from the request's.
	Mismatched int `json:"mismatched"`
	// Errors counts requests the host refused to send; LastError is the
	// host's reason for the last of them (e.g. no route to the target).
	Errors    int    `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// LossPercent is the percentage of sent requests left unanswered.
	LossPercent float64 `json:"loss_percent"`
	// RTTMinMs, RTTAvgMs and RTTMaxMs are the round-trip times of the
	// answered requests, in milliseconds (0 when none was answered).
	// They are for text; report.json carries RTTMin, RTTAvg and RTTMax in
	// nanoseconds, its one time convention.
	RTTMinMs float64       `json:"-"`
	RTTAvgMs float64       `json:"-"`
	RTTMaxMs float64       `json:"-"`
	RTTMin   time.Duration `json:"rtt_min_ns"`
	RTTAvg   time.Duration `json:"rtt_avg_ns"`
	RTTMax   time.Duration `json:"rtt_max_ns"`
}

// Ping is a running ping app.
type Ping struct {
	cfg     Config
	env     *app.Env
	id      uint16
	payload []byte
	timer   clock.Timer
	sentAt  []clock.Time // by sequence number - 1
	got     []bool
	res     Result
	rttSum  time.Duration
	rttMin  time.Duration
	rttMax  time.Duration
}

// New returns a ping app for cfg.
func New(cfg Config) (*Ping, error) {
	if cfg.Count < 1 || cfg.Count > MaxCount {
		return nil, fmt.Errorf("ping %s: count %d out of range [1, %d]", cfg.Name, cfg.Count, MaxCount)
	}
	if cfg.Interval <= 0 || cfg.Size < 0 {
		return nil, fmt.Errorf("ping %s: interval and size must be positive", cfg.Name)
	}
	if !cfg.Target.IsValid() {
		return nil, errors.New("ping " + cfg.Name + ": no target")
	}
	p := &Ping{cfg: cfg, payload: make([]byte, cfg.Size), res: Result{Target: cfg.Target.String()}}
	// The payload is the same for every request, like ping -p: byte i is
	// i mod 256.
	for i := range p.payload {
		p.payload[i] = byte(i)
	}
	p.timer.Init(clock.HandlerFunc(p.tick))
	return p, nil
}

// Name returns the app's name.
func (p *Ping) Name() string { return p.cfg.Name }

// Start picks an identifier, sends the first request and arms the timer for
// the next.
func (p *Ping) Start(env *app.Env) error {
	p.env = env
	p.sentAt = make([]clock.Time, 0, p.cfg.Count)
	p.got = make([]bool, 0, p.cfg.Count)
	// Another ping on the host may hold the identifier drawn: draw again.
	var err error
	for range idTries {
		p.id = uint16(env.Rand.Uint32())
		if err = env.Net.ListenEcho(p.id, p); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("ping %s: %w", p.cfg.Name, err)
	}
	p.tick(env.Clock.Now())
	return nil
}

// tick sends the next request.
func (p *Ping) tick(now clock.Time) {
	seq := uint16(len(p.sentAt) + 1)
	p.sentAt = append(p.sentAt, now)
	p.got = append(p.got, false)
	if err := p.env.Net.Ping(p.cfg.Target, p.id, seq, p.payload); err != nil {
		p.res.Errors++
		p.res.LastError = err.Error()
	} else {
		p.res.Sent++
	}
	if len(p.sentAt) < p.cfg.Count {
		p.env.Clock.Schedule(&p.timer, now.Add(p.cfg.Interval))
	}
}

// HandleEchoReply records a reply to one of the app's requests.
func (p *Ping) HandleEchoReply(src netip.Addr, id, seq uint16, payload []byte, _ uint8) {
	if id != p.id || src != p.cfg.Target || seq == 0 || int(seq) > len(p.sentAt) {
		return
	}
	i := int(seq) - 1
	if p.got[i] {
		p.res.Duplicates++
		return
	}
	if !bytes.Equal(payload, p.payload) {
		p.res.Mismatched++
		return
	}
	p.got[i] = true
	rtt := p.env.Clock.Now().Sub(p.sentAt[i])
	if p.res.Received == 0 || rtt < p.rttMin {
		p.rttMin = rtt
	}
	if rtt > p.rttMax {
		p.rttMax = rtt
	}
	p.rttSum += rtt
	p.res.Received++
}

// Result returns the counts and round-trip times so far.
func (p *Ping) Result() any {
	r := p.res
	if r.Sent > 0 {
		r.LossPercent = float64(r.Sent-r.Received) * 100 / float64(r.Sent)
	}
	if r.Received > 0 {
		r.RTTMin, r.RTTMax, r.RTTAvg = p.rttMin, p.rttMax, p.rttSum/time.Duration(r.Received)
		r.RTTMinMs = ms(p.rttMin)
		r.RTTMaxMs = ms(p.rttMax)
		r.RTTAvgMs = ms(p.rttSum / time.Duration(r.Received))
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
