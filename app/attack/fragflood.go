package attack

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// FragFloodConfig describes a flood of IPv4 fragments that never make a
// whole datagram.
type FragFloodConfig struct {
	Name string
	// Target is the address flooded; it must be on the host's subnet.
	Target netip.Addr
	// Rate is the number of datagrams started a second.
	Rate int
	// Count is the number of datagrams started in all.
	Count int
}

// FragFloodResult is what a fragment flood did.
type FragFloodResult struct {
	Target string `json:"target"`
	// Datagrams counts datagrams started, Fragments the fragments sent,
	// Errors the sends that failed. Unfinished, Overlapping and Tiny
	// count the datagrams of each kind.
	Datagrams   int `json:"datagrams"`
	Fragments   int `json:"fragments"`
	Unfinished  int `json:"unfinished"`
	Overlapping int `json:"overlapping"`
	Tiny        int `json:"tiny"`
	Errors      int `json:"errors"`
}

// FragFlood sends UDP datagrams cut into fragments that never reassemble,
// in turn: a first fragment of 1024 bytes whose other fragments never come
// (its partial datagram is held until the reassembly timeout); two
// fragments that overlap (RFC 791 section 3.2; RFC 5722 drops such a
// datagram whole, as the stack does for IPv4 too); and one 8-byte
// fragment far into a datagram whose start never comes. Each datagram has
// its own identification.
type FragFlood struct {
	cfg   FragFloodConfig
	env   *app.Env
	raw   *raw
	id    uint16
	pace  pacer
	pay   []byte
	timer clock.Timer
	res   FragFloodResult
}

// NewFragFlood returns a fragment flood for cfg.
func NewFragFlood(cfg FragFloodConfig) (*FragFlood, error) {
	if !cfg.Target.Is4() {
		return nil, fmt.Errorf("frag_flood %s: need an IPv4 target", cfg.Name)
	}
	if cfg.Rate < 1 || cfg.Rate > MaxRate || cfg.Count < 1 {
		return nil, fmt.Errorf("frag_flood %s: need a rate in [1, %d] datagrams a second and count >= 1", cfg.Name, MaxRate)
	}
	f := &FragFlood{cfg: cfg, pay: make([]byte, 1024), res: FragFloodResult{Target: cfg.Target.String()}}
	f.timer.Init(clock.HandlerFunc(f.tick))
	return f, nil
}

// Name returns the app's name.
func (f *FragFlood) Name() string { return f.cfg.Name }

// Start resolves the target's MAC address, then floods.
func (f *FragFlood) Start(env *app.Env) error {
	r, err := newRaw("frag_flood "+f.cfg.Name, env, f.cfg.Target)
	if err != nil {
		return err
	}
	f.env, f.raw = env, r
	f.id = uint16(env.Rand.Uint32())
	r.resolve(f.tick)
	return nil
}

func (f *FragFlood) tick(now clock.Time) {
	n := f.pace.due(f.cfg.Rate)
	for ; n > 0 && f.res.Datagrams < f.cfg.Count; n-- {
		f.datagram()
	}
	if f.res.Datagrams < f.cfg.Count {
		f.env.Clock.Schedule(&f.timer, now.Add(floodTick))
	}
}

// datagram sends the fragments of one datagram.
func (f *FragFlood) datagram() {
	f.id++
	src := f.raw.ifc.Address().Addr()
	h := ipv4.Fields{ID: f.id, TTL: 64, Protocol: 17, Src: src, Dst: f.cfg.Target}
	// A UDP header to port 9 (discard) claiming 4000 bytes; the rest zeros.
	clear(f.pay)
	binary.BigEndian.PutUint16(f.pay[0:], uint16(1024+f.env.Rand.IntN(60000)))
	binary.BigEndian.PutUint16(f.pay[2:], 9)
	binary.BigEndian.PutUint16(f.pay[4:], 4000)
	send := func(off int, mf bool, p []byte) {
		h.FragmentOffset, h.MF = off, mf
		if err := f.raw.sendIP(&h, p); err != nil {
			f.res.Errors++
			return
		}
		f.res.Fragments++
	}
	switch f.res.Datagrams % 3 {
	case 0:
		f.res.Unfinished++
		send(0, true, f.pay)
	case 1:
		// The same bytes twice, so only the overlap is wrong: offsets
		// 0-511 and 256-767.
		f.res.Overlapping++
		send(0, true, f.pay[:512])
		send(256, true, f.pay[256:768])
	case 2:
		f.res.Tiny++
		send(2048, true, f.pay[512:520])
	}
	f.res.Datagrams++
}

// Result returns the counts so far.
func (f *FragFlood) Result() any { return f.res }
