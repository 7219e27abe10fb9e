package traceroute

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/sim"
)

// chain builds a - r1 - r2 - c on point-to-point links with one-way delays
// of 1, 2 and 3 ms: a on 192.0.2.0/30, r1-r2 on 192.0.2.4/30, c on
// 192.0.2.8/29, static routes everywhere.
func chain(t *testing.T) (*sim.World, *stack.Host) {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	hosts := map[string]*stack.Host{}
	host := func(name string, fwd bool) *stack.Host {
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name), Forwarding: fwd})
		hosts[name] = h
		return h
	}
	a, r1, r2, c := host("a", false), host("r1", true), host("r2", true), host("c", false)
	mac := byte(0)
	wire := func(name string, x *stack.Host, xa string, y *stack.Host, ya string, d time.Duration) {
		l, err := w.Connect(name, sim.Iface{Host: x.Name(), Name: name}, sim.Iface{Host: y.Name(), Name: name},
			sim.LinkConfig{AtoB: impair.Config{Delay: d}, BtoA: impair.Config{Delay: d}})
		require.NoError(t, err)
		mac++
		x.AddInterface(name, ether.Addr{2, 0, 0, 0, 0, mac}, l.A()).SetAddress(netip.MustParsePrefix(xa))
		mac++
		y.AddInterface(name, ether.Addr{2, 0, 0, 0, 0, mac}, l.B()).SetAddress(netip.MustParsePrefix(ya))
	}
	wire("l1", a, "192.0.2.1/30", r1, "192.0.2.2/30", time.Millisecond)
	wire("l2", r1, "192.0.2.5/30", r2, "192.0.2.6/30", 2*time.Millisecond)
	wire("l3", r2, "192.0.2.9/29", c, "192.0.2.10/29", 3*time.Millisecond)
	a.SetDefaultGateway(netip.MustParseAddr("192.0.2.2"))
	c.SetDefaultGateway(netip.MustParseAddr("192.0.2.9"))
	r1.AddRoute(netip.MustParsePrefix("192.0.2.8/29"), netip.MustParseAddr("192.0.2.6"), nil)
	r2.AddRoute(netip.MustParsePrefix("192.0.2.0/30"), netip.MustParseAddr("192.0.2.5"), nil)
	return w, a
}

func TestTraceroute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		target  string
		maxHops int
		reached bool
		hops    []string // each hop's address
		notes   []string // the last hop's notes
		rtt     []float64
	}{
		{name: "reaches the target through two routers", target: "192.0.2.10", reached: true,
			hops: []string{"192.0.2.2", "192.0.2.6", "192.0.2.10"}, rtt: []float64{2, 6, 12}},
		{name: "max_hops stops short", target: "192.0.2.10", maxHops: 2,
			hops: []string{"192.0.2.2", "192.0.2.6"}, rtt: []float64{2, 6}},
		{name: "no route at the first router", target: "198.18.0.1",
			hops: []string{"192.0.2.2", "192.0.2.2"}, notes: []string{"!N", "!N"}},
		{name: "no host behind the last router", target: "192.0.2.11",
			hops: []string{"192.0.2.2", "192.0.2.6", "192.0.2.6"}, notes: []string{"!H", "!H"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, a := chain(t)
			tr, err := New(Config{Name: "tr", Target: netip.MustParseAddr(tc.target), MaxHops: tc.maxHops, Queries: 2})
			require.NoError(t, err)
			// The first probes wait for ARP; start after one round of it.
			w.RunFor(time.Second)
			require.NoError(t, tr.Start(&app.Env{Clock: w.Clock(), Rand: w.Rand("app"), Net: app.NewStackNet(a)}))
			w.RunFor(60 * time.Second)
			require.True(t, tr.Done())
			r := tr.Result().(Result)
			assert.Equal(t, tc.reached, r.Reached)
			require.Len(t, r.Hops, len(tc.hops))
			for i, h := range r.Hops {
				assert.Equal(t, i+1, h.TTL)
				assert.Equal(t, tc.hops[i], h.Addr, "hop %d", i+1)
				require.Len(t, h.Probes, 2)
				for _, p := range h.Probes {
					assert.Equal(t, tc.hops[i], p.Addr)
				}
				if tc.rtt != nil {
					// The first probe of a hop may wait for ARP on the
					// last link; the second measures the path.
					assert.InDelta(t, tc.rtt[i], h.Probes[1].RTTMs, 0.01, "hop %d", i+1)
					assert.InDelta(t, tc.rtt[i]*1e6, float64(h.Probes[1].RTT), 1e4, "hop %d in ns", i+1)
				}
			}
			if tc.notes != nil {
				last := r.Hops[len(r.Hops)-1]
				assert.Equal(t, tc.notes, []string{last.Probes[0].Note, last.Probes[1].Note})
			}
		})
	}
}

func TestTracerouteTimeout(t *testing.T) {
	t.Parallel()
	w, a := chain(t)
	tr, err := New(Config{Name: "tr", Target: netip.MustParseAddr("192.0.2.10"), MaxHops: 1, Queries: 3, Wait: 500 * time.Millisecond})
	require.NoError(t, err)
	// Take the first link down: every probe times out.
	w.Link("l1").ScheduleUp(w.Now(), false)
	require.NoError(t, tr.Start(&app.Env{Clock: w.Clock(), Rand: w.Rand("app"), Net: app.NewStackNet(a)}))
	w.RunFor(10 * time.Second)
	require.True(t, tr.Done())
	r := tr.Result().(Result)
	assert.False(t, r.Reached)
	require.Len(t, r.Hops, 1)
	assert.Equal(t, Hop{TTL: 1, Probes: []Probe{{}, {}, {}}}, r.Hops[0])
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{
		{Name: "x"},
		{Name: "x", Target: netip.MustParseAddr("192.0.2.1"), MaxHops: 256},
		{Name: "x", Target: netip.MustParseAddr("192.0.2.1"), Queries: 11},
		{Name: "x", Target: netip.MustParseAddr("ff02::1")},
	} {
		_, err := New(c)
		assert.Error(t, err, "%+v", c)
	}
}

// chain6 is chain over IPv6: a on 2001:db8:1::/64, r1-r2 on
// 2001:db8:2::/64, c on 2001:db8:3::/64, static routes everywhere.
func chain6(t *testing.T) (*sim.World, *stack.Host) {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	host := func(name string, fwd bool) *stack.Host {
		return stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name), Forwarding: fwd})
	}
	a, r1, r2, c := host("a", false), host("r1", true), host("r2", true), host("c", false)
	mac := byte(0)
	wire := func(name string, x *stack.Host, xa string, y *stack.Host, ya string) {
		l, err := w.Connect(name, sim.Iface{Host: x.Name(), Name: name}, sim.Iface{Host: y.Name(), Name: name},
			sim.LinkConfig{AtoB: impair.Config{Delay: time.Millisecond}, BtoA: impair.Config{Delay: time.Millisecond}})
		require.NoError(t, err)
		mac++
		x.AddInterface(name, ether.Addr{2, 0, 0, 0, 0, mac}, l.A()).EnableIPv6(netip.MustParsePrefix(xa))
		mac++
		y.AddInterface(name, ether.Addr{2, 0, 0, 0, 0, mac}, l.B()).EnableIPv6(netip.MustParsePrefix(ya))
	}
	wire("l1", a, "2001:db8:1::10/64", r1, "2001:db8:1::1/64")
	wire("l2", r1, "2001:db8:2::1/64", r2, "2001:db8:2::2/64")
	wire("l3", r2, "2001:db8:3::1/64", c, "2001:db8:3::10/64")
	a.AddRoute(netip.MustParsePrefix("::/0"), netip.MustParseAddr("2001:db8:1::1"), nil)
	c.AddRoute(netip.MustParsePrefix("::/0"), netip.MustParseAddr("2001:db8:3::1"), nil)
	r1.AddRoute(netip.MustParsePrefix("2001:db8:3::/64"), netip.MustParseAddr("2001:db8:2::2"), nil)
	r2.AddRoute(netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParseAddr("2001:db8:2::1"), nil)
	return w, a
}

// Traceroute over IPv6: hops answer with ICMPv6 Time Exceeded, the
// target with port unreachable, a router without a route with
// Destination Unreachable code 0 (!N), the last router when Neighbor
// Discovery finds no host with code 3 (!H, RFC 4861 section 7.2.2).
func TestTraceroute6(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target  string
		reached bool
		hops    []string
		note    string
	}{
		{"2001:db8:3::10", true, []string{"2001:db8:1::1", "2001:db8:2::2", "2001:db8:3::10"}, ""},
		{"2001:db8:9::1", false, []string{"2001:db8:1::1", "2001:db8:1::1"}, "!N"},
		{"2001:db8:3::11", false, []string{"2001:db8:1::1", "2001:db8:2::2", "2001:db8:2::2"}, "!H"},
	} {
		w, a := chain6(t)
		tr, err := New(Config{Name: "tr", Target: netip.MustParseAddr(tc.target), Queries: 2})
		require.NoError(t, err)
		w.RunFor(time.Second)
		require.NoError(t, tr.Start(&app.Env{Clock: w.Clock(), Rand: w.Rand("app"), Net: app.NewStackNet(a)}))
		w.RunFor(60 * time.Second)
		require.True(t, tr.Done(), tc.target)
		r := tr.Result().(Result)
		assert.Equal(t, tc.reached, r.Reached, tc.target)
		require.Len(t, r.Hops, len(tc.hops), tc.target)
		for i, h := range r.Hops {
			assert.Equal(t, tc.hops[i], h.Addr, "%s hop %d", tc.target, i+1)
			for _, p := range h.Probes {
				assert.Equal(t, tc.hops[i], p.Addr, "%s hop %d", tc.target, i+1)
			}
		}
		assert.Equal(t, tc.note, r.Hops[len(r.Hops)-1].Probes[1].Note, tc.target)
	}
}
