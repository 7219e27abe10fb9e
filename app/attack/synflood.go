// Package attack holds simnet's adversarial apps: traffic a hostile host
// sends to check that the stack under attack keeps working (SYN floods
// first). They are apps like the others: driven by the host's clock, random
// only through the generator the driver gives them, deterministic in the
// simulator.
package attack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// floodTick is how often a flood sends its next burst of SYNs.
const floodTick = time.Millisecond

// pacer spreads a rate of packets a second over floodTick ticks, carrying
// the fraction of a packet owed from one tick to the next.
type pacer struct{ carry int } // thousandths of a packet

// due returns how many packets the tick that just came owes at rate.
func (p *pacer) due(rate int) int {
	owed := rate*int(floodTick/time.Microsecond)/1000 + p.carry
	p.carry = owed % 1000
	return owed / 1000
}

// MaxRate bounds a flood's rate, in SYNs a second.
const MaxRate = 10_000_000

// SYNFloodConfig describes a SYN flood (RFC 4987 section 2.2).
type SYNFloodConfig struct {
	Name string
	// Target is the address and port flooded.
	Target netip.AddrPort
	// Rate is the number of SYNs a second.
	Rate int
	// Count is the number of SYNs sent in all.
	Count int
	// Spoof, when valid, is the prefix the SYNs' source addresses are drawn
	// from (a spoofed flood: the SYN-ACKs go to nobody, so the target's
	// half-open connections are never reset); otherwise the SYNs come from
	// the host's own address, as hping3 --flood -S sends them.
	Spoof netip.Prefix
}

// SYNFloodResult is what a SYN flood did.
type SYNFloodResult struct {
	Target string `json:"target"`
	// Sent counts SYNs handed to the host, Errors those it refused.
	Sent   int `json:"sent"`
	Errors int `json:"errors"`
}

// SYNFlood sends Count SYNs to Target at Rate a second, each from a random
// source port (and address, when spoofing) with a random sequence number,
// and never completes a handshake.
type SYNFlood struct {
	cfg   SYNFloodConfig
	env   *app.Env
	host  *stack.Host
	buf   []byte
	pace  pacer
	timer clock.Timer
	res   SYNFloodResult
}

// NewSYNFlood returns a SYN flood for cfg.
func NewSYNFlood(cfg SYNFloodConfig) (*SYNFlood, error) {
	if !cfg.Target.IsValid() || !cfg.Target.Addr().Is4() || cfg.Target.Port() == 0 {
		return nil, fmt.Errorf("syn_flood %s: need an IPv4 target address:port", cfg.Name)
	}
	if cfg.Rate < 1 || cfg.Rate > MaxRate || cfg.Count < 1 {
		return nil, fmt.Errorf("syn_flood %s: need a rate in [1, %d] SYNs a second and count >= 1", cfg.Name, MaxRate)
	}
	if cfg.Spoof.IsValid() && !cfg.Spoof.Addr().Is4() {
		return nil, fmt.Errorf("syn_flood %s: spoof prefix %v is not IPv4", cfg.Name, cfg.Spoof)
	}
	f := &SYNFlood{cfg: cfg, buf: make([]byte, tcp.HeaderLen+tcp.MaxOptionsLen),
		res: SYNFloodResult{Target: cfg.Target.String()}}
	f.timer.Init(clock.HandlerFunc(f.tick))
	return f, nil
}

// Name returns the app's name.
func (f *SYNFlood) Name() string { return f.cfg.Name }

// Start sends the first burst.
func (f *SYNFlood) Start(env *app.Env) error {
	h, ok := env.Net.(interface{ Host() *stack.Host })
	if !ok {
		return fmt.Errorf("syn_flood %s: the driver gives no raw IP access", f.cfg.Name)
	}
	f.env, f.host = env, h.Host()
	f.tick(env.Clock.Now())
	return nil
}

// tick sends the SYNs due in one floodTick.
func (f *SYNFlood) tick(now clock.Time) {
	n := f.pace.due(f.cfg.Rate)
	for ; n > 0 && f.res.Sent+f.res.Errors < f.cfg.Count; n-- {
		f.send()
	}
	if f.res.Sent+f.res.Errors < f.cfg.Count {
		f.env.Clock.Schedule(&f.timer, now.Add(floodTick))
	}
}

// send sends one SYN.
func (f *SYNFlood) send() {
	r := f.env.Rand
	var src netip.Addr // the host's own address
	if p := f.cfg.Spoof; p.IsValid() {
		a := p.Masked().Addr().As4()
		base := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		host := uint32(0)
		if bits := 32 - p.Bits(); bits > 0 {
			host = r.Uint32() & (1<<bits - 1)
		}
		v := base | host
		src = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	ip := src
	if !ip.IsValid() {
		var ok bool
		if ip, ok = f.host.SourceFor(f.cfg.Target.Addr()); !ok {
			f.res.Errors++
			return
		}
	}
	fl := tcp.Fields{SrcPort: uint16(1024 + r.IntN(65536-1024)), DstPort: f.cfg.Target.Port(),
		Seq: r.Uint32(), Flags: tcp.FlagSYN, Window: 512}
	n, err := tcp.Encode(f.buf, fl, nil, nil, ip, f.cfg.Target.Addr())
	if err == nil {
		err = f.host.SendIP(tcp.ProtocolNumber, ip, f.cfg.Target.Addr(), f.buf[:n])
	}
	if err != nil {
		f.res.Errors++
		return
	}
	f.res.Sent++
}

// Result returns the counts so far.
func (f *SYNFlood) Result() any { return f.res }
