package attack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/stack"
)

// resolveTries and resolveEvery bound how long an attack waits for its
// target's MAC address (it pings the target to have it resolved).
const (
	resolveTries = 100
	resolveEvery = 10 * time.Millisecond
)

// raw sends frames an attack builds itself, IP headers included, out of
// its host's interface toward one on-link target.
type raw struct {
	host   *stack.Host
	ifc    *stack.Interface
	target netip.Addr
	dstMAC ether.Addr
	buf    []byte
	timer  clock.Timer
	tries  int
	then   func(now clock.Time)
	clk    clock.Clock
}

// newRaw returns the raw sender of env's host toward target, which must be
// on the subnet of one of its interfaces.
func newRaw(name string, env *app.Env, target netip.Addr) (*raw, error) {
	h, ok := env.Net.(interface{ Host() *stack.Host })
	if !ok {
		return nil, fmt.Errorf("%s: the driver gives no raw access to the host", name)
	}
	r := &raw{host: h.Host(), target: target, clk: env.Clock, buf: make([]byte, ether.HeaderLen+ipv4.MaxTotalLen)}
	for _, i := range r.host.Interfaces() {
		if i.Address().IsValid() && i.Address().Contains(target) {
			r.ifc = i
			break
		}
	}
	if r.ifc == nil {
		return nil, fmt.Errorf("%s: target %v is on no subnet of host %s", name, target, r.host.Name())
	}
	r.timer.Init(clock.HandlerFunc(r.poll))
	return r, nil
}

// resolve calls then once the target's MAC address is known, pinging the
// target to have ARP resolve it; it gives up (then is not called) after
// resolveTries polls.
func (r *raw) resolve(then func(now clock.Time)) {
	r.then = then
	_ = r.host.Ping(r.target, 0xa77a, 0, nil)
	r.poll(r.clk.Now())
}

func (r *raw) poll(now clock.Time) {
	if mac, ok := r.ifc.Neighbor(r.target); ok {
		r.dstMAC = mac
		r.then(now)
		return
	}
	if r.tries++; r.tries < resolveTries {
		r.clk.Schedule(&r.timer, now.Add(resolveEvery))
	}
}

// sendIP sends an IPv4 packet with header f and payload to the target's
// MAC address, as is: no fragmentation, no routing.
func (r *raw) sendIP(f *ipv4.Fields, payload []byte) error {
	hl := f.HeaderLen()
	frame := r.buf[:ether.HeaderLen+hl+len(payload)]
	e := ether.Frame(frame)
	e.SetDst(r.dstMAC)
	e.SetSrc(r.ifc.MAC())
	e.SetEtherType(ether.TypeIPv4)
	copy(frame[ether.HeaderLen+hl:], payload)
	if _, err := ipv4.Encode(frame[ether.HeaderLen:], f, len(payload)); err != nil {
		return err
	}
	r.ifc.Endpoint().Send(frame) // a link's drop is the network's, not a send error
	return nil
}

// sendFrame sends an Ethernet frame the attack built whole.
func (r *raw) sendFrame(frame []byte) { r.ifc.Endpoint().Send(frame) }
