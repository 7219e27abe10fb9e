package attack

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// injectStep is the distance between two guessed sequence numbers of a
// sweep: a little under the 256 KiB receive window of simnet's TCP, so a
// sweep of the sequence space (about 16,400 guesses) lands in the window
// at least once.
const injectStep = 256<<10 - 4096

// TCPInjectConfig describes a blind injection attack on a TCP connection
// (RFC 5961).
type TCPInjectConfig struct {
	Name string
	// Target is the server side of the attacked connection.
	Target netip.AddrPort
	// Rate is the number of forged segments a second; Count the number in
	// all.
	Rate, Count int
	// Locate returns the client side of the established connection to
	// Target: RFC 5961's attacker knows the four-tuple (section 1), not
	// the sequence numbers.
	Locate func(server netip.AddrPort) (netip.AddrPort, bool)
}

// TCPInjectResult is what a blind injection attack sent.
type TCPInjectResult struct {
	Target string `json:"target"`
	Client string `json:"client"`
	// RSTs, SYNs and Data count the forged segments of each kind, Errors
	// those the host refused.
	RSTs   int `json:"rsts"`
	SYNs   int `json:"syns"`
	Data   int `json:"data"`
	Errors int `json:"errors"`
}

// TCPInject forges segments from the client of an established connection
// to its server, in turn: four pairs of a RST and a data segment (16 bytes,
// ACK set with a guessed acknowledgment number) whose sequence numbers
// sweep the sequence space a window at a time, so some land in the
// window, and a SYN, which RFC 5961 section 4 answers with a challenge ACK wherever it
// falls. The server must not reset the connection (section 3: only a RST
// at exactly RCV.NXT does) nor accept the data (section 5: its ACK is
// outside the acceptable range), and rate-limits its challenge ACKs
// (section 7).
type TCPInject struct {
	cfg    TCPInjectConfig
	env    *app.Env
	host   *stack.Host
	client netip.AddrPort
	base   uint32
	sweep  uint32
	pace   pacer
	n      int
	buf    []byte
	timer  clock.Timer
	res    TCPInjectResult
}

// NewTCPInject returns a blind injection attack for cfg.
func NewTCPInject(cfg TCPInjectConfig) (*TCPInject, error) {
	if !cfg.Target.IsValid() || !cfg.Target.Addr().Is4() || cfg.Target.Port() == 0 {
		return nil, fmt.Errorf("tcp_inject %s: need an IPv4 target address:port", cfg.Name)
	}
	if cfg.Rate < 1 || cfg.Rate > MaxRate || cfg.Count < 1 {
		return nil, fmt.Errorf("tcp_inject %s: need a rate in [1, %d] segments a second and count >= 1", cfg.Name, MaxRate)
	}
	i := &TCPInject{cfg: cfg, buf: make([]byte, tcp.HeaderLen+tcp.MaxOptionsLen+16), res: TCPInjectResult{Target: cfg.Target.String()}}
	i.timer.Init(clock.HandlerFunc(i.tick))
	return i, nil
}

// SetLocate sets how the attack finds the connection's client side (see
// TCPInjectConfig.Locate), for drivers that know it only once the app
// exists.
func (i *TCPInject) SetLocate(f func(server netip.AddrPort) (netip.AddrPort, bool)) { i.cfg.Locate = f }

// Name returns the app's name.
func (i *TCPInject) Name() string { return i.cfg.Name }

// Start waits for the connection to exist, then injects.
func (i *TCPInject) Start(env *app.Env) error {
	h, ok := env.Net.(interface{ Host() *stack.Host })
	if !ok || i.cfg.Locate == nil {
		return fmt.Errorf("tcp_inject %s: the driver gives no raw IP access", i.cfg.Name)
	}
	i.env, i.host = env, h.Host()
	i.base = env.Rand.Uint32()
	i.tick(env.Clock.Now())
	return nil
}

func (i *TCPInject) tick(now clock.Time) {
	if !i.client.IsValid() {
		c, ok := i.cfg.Locate(i.cfg.Target)
		if !ok {
			i.env.Clock.Schedule(&i.timer, now.Add(resolveEvery))
			return
		}
		i.client = c
		i.res.Client = c.String()
	}
	n := i.pace.due(i.cfg.Rate)
	for ; n > 0 && i.n < i.cfg.Count; n-- {
		i.send()
	}
	if i.n < i.cfg.Count {
		i.env.Clock.Schedule(&i.timer, now.Add(floodTick))
	}
}

// send forges one segment.
func (i *TCPInject) send() {
	r := i.env.Rand
	f := tcp.Fields{SrcPort: i.client.Port(), DstPort: i.cfg.Target.Port(), Window: 1024}
	var payload []byte
	switch k := i.n % 9; {
	case k == 8:
		f.Seq, f.Flags = r.Uint32(), tcp.FlagSYN
		i.res.SYNs++
	case k%2 == 0:
		f.Seq, f.Flags = i.base+i.sweep*injectStep, tcp.FlagRST
		i.res.RSTs++
	default:
		f.Seq, f.Ack, f.Flags = i.base+i.sweep*injectStep, r.Uint32(), tcp.FlagACK|tcp.FlagPSH
		payload = []byte("INJECTED-DATA!!\n")
		i.res.Data++
		i.sweep++
	}
	i.n++
	// A guessed timestamp (RFC 7323): a connection that uses timestamps
	// drops segments without one before RFC 5961's checks, and PAWS drops
	// the half of the guesses that are older than TS.Recent.
	o := &tcp.Options{HasTS: true, TSVal: r.Uint32()}
	n, err := tcp.Encode(i.buf, f, o, payload, i.client.Addr(), i.cfg.Target.Addr())
	if err == nil {
		err = i.host.SendIP(tcp.ProtocolNumber, i.client.Addr(), i.cfg.Target.Addr(), i.buf[:n])
	}
	if err != nil {
		i.res.Errors++
	}
}

// Result returns the counts so far.
func (i *TCPInject) Result() any { return i.res }
