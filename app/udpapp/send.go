package udpapp

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
)

// SendConfig describes a UDP sender.
type SendConfig struct {
	Name   string
	Target netip.AddrPort
	// Port is the source port, 0 for an ephemeral one.
	Port uint16
	// Count is the number of datagrams to send.
	Count int
	// Size is each datagram's payload size, at least HeaderLen.
	Size int
	// Interval is the time between two datagrams.
	Interval time.Duration
}

// SendResult is what a UDP sender did.
type SendResult struct {
	Target string `json:"target"`
	// Sent counts datagrams handed to the host, Errors those it refused.
	Sent   int `json:"sent"`
	Errors int `json:"errors"`
	// Bytes is the payload bytes sent.
	Bytes int64 `json:"bytes"`
}

// Sender sends Count numbered datagrams, one every Interval.
type Sender struct {
	cfg   SendConfig
	env   *app.Env
	conn  app.Conn
	buf   []byte
	next  uint64
	timer clock.Timer
	res   SendResult
}

// NewSender returns a UDP sender for cfg.
func NewSender(cfg SendConfig) (*Sender, error) {
	if cfg.Count < 1 || cfg.Size < HeaderLen || cfg.Interval <= 0 || !cfg.Target.IsValid() {
		return nil, fmt.Errorf("udp_send %s: need a target, count >= 1, size >= %d and a positive interval", cfg.Name, HeaderLen)
	}
	s := &Sender{cfg: cfg, buf: make([]byte, cfg.Size), res: SendResult{Target: cfg.Target.String()}}
	s.timer.Init(clock.HandlerFunc(s.tick))
	return s, nil
}

// Name returns the app's name.
func (s *Sender) Name() string { return s.cfg.Name }

// Start binds the source port and sends the first datagram.
func (s *Sender) Start(env *app.Env) error {
	s.env = env
	c, err := env.Net.ListenUDP(s.cfg.Port, nil)
	if err != nil {
		return fmt.Errorf("udp_send %s: %w", s.cfg.Name, err)
	}
	s.conn = c
	s.tick(env.Clock.Now())
	return nil
}

func (s *Sender) tick(now clock.Time) {
	Fill(s.buf, s.next)
	s.next++
	if err := s.conn.SendTo(s.cfg.Target, s.buf); err != nil {
		s.res.Errors++
	} else {
		s.res.Sent++
		s.res.Bytes += int64(len(s.buf))
	}
	if s.next < uint64(s.cfg.Count) {
		s.env.Clock.Schedule(&s.timer, now.Add(s.cfg.Interval))
	}
}

// Result returns the counts so far.
func (s *Sender) Result() any { return s.res }
