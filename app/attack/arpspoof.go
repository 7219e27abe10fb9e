package attack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
)

// ARPSpoofConfig describes an ARP spoofing attack (cache poisoning).
type ARPSpoofConfig struct {
	Name string
	// Target is the host whose ARP cache is attacked; Claim is the address
	// the attacker claims there with its own MAC address.
	Target, Claim netip.Addr
	// Count is the number of forged replies; Interval the time between two.
	Count    int
	Interval time.Duration
}

// ARPSpoofResult is what an ARP spoofing attack did.
type ARPSpoofResult struct {
	Target string `json:"target"`
	Claim  string `json:"claim"`
	// Sent counts forged ARP replies sent.
	Sent int `json:"sent"`
}

// ARPSpoof sends Target unicast ARP replies saying that Claim is at the
// attacker's MAC address, one every Interval, as arpspoof does.
type ARPSpoof struct {
	cfg   ARPSpoofConfig
	env   *app.Env
	raw   *raw
	frame []byte
	timer clock.Timer
	res   ARPSpoofResult
}

// NewARPSpoof returns an ARP spoofing attack for cfg.
func NewARPSpoof(cfg ARPSpoofConfig) (*ARPSpoof, error) {
	if !cfg.Target.Is4() || !cfg.Claim.Is4() || cfg.Count < 1 || cfg.Interval <= 0 {
		return nil, fmt.Errorf("arp_spoof %s: need IPv4 target and claim, count >= 1 and a positive interval", cfg.Name)
	}
	a := &ARPSpoof{cfg: cfg, frame: make([]byte, ether.HeaderLen+arp.PacketLen),
		res: ARPSpoofResult{Target: cfg.Target.String(), Claim: cfg.Claim.String()}}
	a.timer.Init(clock.HandlerFunc(a.tick))
	return a, nil
}

// Name returns the app's name.
func (a *ARPSpoof) Name() string { return a.cfg.Name }

// Start resolves the target's MAC address, then sends the forged replies.
func (a *ARPSpoof) Start(env *app.Env) error {
	r, err := newRaw("arp_spoof "+a.cfg.Name, env, a.cfg.Target)
	if err != nil {
		return err
	}
	a.env, a.raw = env, r
	r.resolve(a.tick)
	return nil
}

func (a *ARPSpoof) tick(now clock.Time) {
	mac := a.raw.ifc.MAC()
	f := ether.Frame(a.frame)
	f.SetDst(a.raw.dstMAC)
	f.SetSrc(mac)
	f.SetEtherType(ether.TypeARP)
	arp.Encode(a.frame[ether.HeaderLen:], arp.Fields{Op: arp.OpReply, SenderHW: mac, SenderIP: a.cfg.Claim.As4(),
		TargetHW: a.raw.dstMAC, TargetIP: a.cfg.Target.As4()})
	a.raw.sendFrame(a.frame)
	a.res.Sent++
	if a.res.Sent < a.cfg.Count {
		a.env.Clock.Schedule(&a.timer, now.Add(a.cfg.Interval))
	}
}

// Result returns the counts so far.
func (a *ARPSpoof) Result() any { return a.res }
