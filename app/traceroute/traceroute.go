// Package traceroute is the built-in traceroute app: it sends UDP probes
// with increasing TTLs toward a target, like Linux traceroute(8) in its
// default mode, and lists each hop's address and round-trip times.
//
// Probe n (from 0) goes to destination port BasePort+n from one ephemeral
// source port, so the ICMP error it draws names it by its quoted port. A
// router where the TTL runs out answers with ICMP time exceeded (RFC 792,
// RFC 1812 section 5.3.1); the target answers with port unreachable (RFC
// 1122 section 4.1.3.1), which ends the trace. Probes go one at a time:
// the next leaves when the previous is answered or its wait expires
// (Linux sends several at once; the hops and times are the same on an
// idle path).
package traceroute

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/stack"
)

// Defaults, as in Linux traceroute.
const (
	DefaultMaxHops = 30
	DefaultQueries = 3
	DefaultWait    = 5 * time.Second
	// BasePort is the destination port of the first probe (33434).
	BasePort = 33434
	// payloadSize makes a 60-byte IP datagram, Linux's default.
	payloadSize = 32
	// MaxHops bounds MaxHops: the TTL is 8 bits.
	MaxHops = 255
	// MaxQueries bounds the probes per hop.
	MaxQueries = 10
)

// Config describes a traceroute app.
type Config struct {
	Name   string
	Target netip.Addr
	// MaxHops is the largest TTL probed (default DefaultMaxHops).
	MaxHops int
	// Queries is the number of probes per hop (default DefaultQueries).
	Queries int
	// Wait is how long a probe waits for its answer (default DefaultWait).
	Wait time.Duration
}

// Probe is one probe's outcome.
type Probe struct {
	// Addr is who answered ("" when nothing did in time: "*").
	Addr string `json:"addr"`
	// RTT is the round-trip time (0 without an answer); report.json
	// writes it in integer nanoseconds, as every time it holds.
	RTT time.Duration `json:"rtt_ns"`
	// RTTMs is RTT in milliseconds, for text output (not in JSON).
	RTTMs float64 `json:"-"`
	// Note is "!H", "!N", "!P" or "!X" for an unreachable other than the
	// port's, as traceroute prints them.
	Note string `json:"note,omitempty"`
}

// Hop is what the probes of one TTL found.
type Hop struct {
	TTL int `json:"ttl"`
	// Addr is the first address that answered at this TTL ("" for none).
	Addr   string  `json:"addr"`
	Probes []Probe `json:"probes"`
}

// Result is what a traceroute found.
type Result struct {
	Target string `json:"target"`
	// Reached reports that the target answered.
	Reached bool `json:"reached"`
	// Hops lists every TTL probed, the last being the target's when
	// Reached.
	Hops []Hop `json:"hops"`
	// Errors counts probes the host refused to send.
	Errors int `json:"errors"`
}

// Traceroute is a running traceroute app.
type Traceroute struct {
	cfg     Config
	env     *app.Env
	sock    *stack.UDPSocket
	timer   clock.Timer
	payload []byte
	n       int        // probes sent
	sentAt  clock.Time // of the outstanding probe
	waiting bool
	done    bool
	stop    bool // the current hop ends the trace
	res     Result
}

// New returns a traceroute app for cfg.
func New(cfg Config) (*Traceroute, error) {
	if cfg.MaxHops == 0 {
		cfg.MaxHops = DefaultMaxHops
	}
	if cfg.Queries == 0 {
		cfg.Queries = DefaultQueries
	}
	if cfg.Wait == 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.MaxHops < 1 || cfg.MaxHops > MaxHops || cfg.Queries < 1 || cfg.Queries > MaxQueries || cfg.Wait < 0 {
		return nil, fmt.Errorf("traceroute %s: max_hops in [1, %d], queries in [1, %d] and a positive wait", cfg.Name, MaxHops, MaxQueries)
	}
	if !cfg.Target.IsValid() || cfg.Target.IsUnspecified() || cfg.Target.IsMulticast() || cfg.Target.Zone() != "" {
		return nil, errors.New("traceroute " + cfg.Name + ": no unicast target")
	}
	cfg.Target = cfg.Target.Unmap()
	t := &Traceroute{cfg: cfg, payload: make([]byte, payloadSize), res: Result{Target: cfg.Target.String(), Hops: []Hop{}}}
	// Linux fills the probe with 0x40, 0x41, ...
	for i := range t.payload {
		t.payload[i] = byte(0x40 + i)
	}
	t.timer.Init(clock.HandlerFunc(t.timeout))
	return t, nil
}

// Name returns the app's name.
func (t *Traceroute) Name() string { return t.cfg.Name }

// Start binds an ephemeral UDP port and sends the first probe.
func (t *Traceroute) Start(env *app.Env) error {
	sn, ok := env.Net.(*app.StackNet)
	if !ok {
		return fmt.Errorf("traceroute %s: the host is not a simnet stack host", t.cfg.Name)
	}
	t.env = env
	sock, err := sn.Host().BindUDP(netip.AddrPort{}, t)
	if err != nil {
		return fmt.Errorf("traceroute %s: %w", t.cfg.Name, err)
	}
	t.sock = sock
	t.send(env.Clock.Now())
	return nil
}

// send sends the next probe, or ends the trace.
func (t *Traceroute) send(now clock.Time) {
	for {
		ttl, q := t.n/t.cfg.Queries+1, t.n%t.cfg.Queries
		if q == 0 && (t.stop || ttl > t.cfg.MaxHops) {
			t.finish()
			return
		}
		if q == 0 {
			t.res.Hops = append(t.res.Hops, Hop{TTL: ttl, Probes: []Probe{}})
		}
		hop := &t.res.Hops[len(t.res.Hops)-1]
		hop.Probes = append(hop.Probes, Probe{})
		dst := netip.AddrPortFrom(t.cfg.Target, uint16(BasePort+t.n))
		t.n++
		if err := t.sock.SendToWith(dst, t.payload, stack.SendOptions{TTL: uint8(ttl)}); err != nil {
			t.res.Errors++
			continue
		}
		t.sentAt, t.waiting = now, true
		t.env.Clock.Schedule(&t.timer, now.Add(t.cfg.Wait))
		return
	}
}

func (t *Traceroute) finish() {
	t.done, t.waiting = true, false
	t.sock.Close()
}

// timeout gives up on the outstanding probe ("*") and sends the next.
func (t *Traceroute) timeout(now clock.Time) {
	if !t.waiting {
		return
	}
	t.waiting = false
	t.send(now)
}

// HandleUDP ignores datagrams: the target does not answer probes with UDP.
func (t *Traceroute) HandleUDP(*stack.UDPSocket, netip.AddrPort, netip.AddrPort, []byte) {}

// HandleUDPError records the ICMP error a probe drew.
func (t *Traceroute) HandleUDPError(_ *stack.UDPSocket, from netip.Addr, dst netip.AddrPort, typ, code uint8) {
	if !t.waiting || dst.Addr() != t.cfg.Target || int(dst.Port()) != BasePort+t.n-1 {
		return // late, or not the outstanding probe
	}
	var note string
	if from.Is6() && !from.Is4In6() {
		// ICMPv6 (RFC 4443 sections 3.1 and 3.3): the same answers
		// under other numbers.
		switch icmpv6.Type(typ) {
		case icmpv6.TypeTimeExceeded:
			if code != icmpv6.CodeHopLimitExceeded {
				return
			}
			typ, code = uint8(icmp.TypeTimeExceeded), icmp.CodeTTLExceeded
		case icmpv6.TypeDestUnreach:
			c6 := code
			typ, code = uint8(icmp.TypeDestUnreach), 255
			switch c6 {
			case icmpv6.CodePortUnreachable:
				code = icmp.CodePortUnreachable
			case icmpv6.CodeAddrUnreachable:
				code = icmp.CodeHostUnreachable
			case icmpv6.CodeNoRoute:
				code = icmp.CodeNetUnreachable
			}
		default:
			return
		}
	}
	switch icmp.Type(typ) {
	case icmp.TypeTimeExceeded:
		if code != icmp.CodeTTLExceeded {
			return
		}
	case icmp.TypeDestUnreach:
		t.stop = true
		switch code {
		case icmp.CodePortUnreachable:
			if from == t.cfg.Target {
				t.res.Reached = true
			}
		case icmp.CodeHostUnreachable:
			note = "!H"
		case icmp.CodeNetUnreachable:
			note = "!N"
		case icmp.CodeProtoUnreachable:
			note = "!P"
		default:
			note = "!X"
		}
	default:
		return
	}
	now := t.env.Clock.Now()
	hop := &t.res.Hops[len(t.res.Hops)-1]
	hop.Probes[len(hop.Probes)-1] = Probe{Addr: from.String(), RTT: now.Sub(t.sentAt), RTTMs: ms(now.Sub(t.sentAt)), Note: note}
	if hop.Addr == "" {
		hop.Addr = from.String()
	}
	t.waiting = false
	t.env.Clock.Cancel(&t.timer)
	t.send(now)
}

// Result returns the hops found so far.
func (t *Traceroute) Result() any {
	r := t.res
	r.Hops = append([]Hop(nil), t.res.Hops...)
	if r.Hops == nil {
		r.Hops = []Hop{}
	}
	return r
}

// Done reports whether the trace has ended.
func (t *Traceroute) Done() bool { return t.done }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
