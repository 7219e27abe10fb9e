package ndp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
)

var (
	peer = netip.MustParseAddr("2001:db8::2")
	mac1 = ether.Addr{2, 0, 0, 0, 0, 1}
	mac2 = ether.Addr{2, 0, 0, 0, 0, 2}
	t0   = clock.Time(time.Hour)
)

// recorder is a Sink that logs what the cache asked for, with the time.
type recorder struct {
	clk    *clock.Scheduler
	events []string
}

func (r *recorder) log(format string, args ...any) {
	r.events = append(r.events, fmt.Sprintf("%v ", r.clk.Now().Sub(t0))+fmt.Sprintf(format, args...))
}

func (r *recorder) Solicit(target netip.Addr, lla ether.Addr) {
	if lla.IsZero() {
		r.log("NS multicast %v", target)
	} else {
		r.log("NS unicast %v to %v", target, lla)
	}
}

func (r *recorder) Deliver(target netip.Addr, lla ether.Addr, pkts [][]byte) {
	r.log("deliver %d to %v", len(pkts), lla)
}

func (r *recorder) Unreachable(target netip.Addr, pkts [][]byte) {
	r.log("unreachable %d %q", len(pkts), pkts[0])
}

func newCache(t *testing.T) (*Cache, *recorder, *clock.Scheduler) {
	t.Helper()
	clk := clock.NewScheduler(t0)
	r := &recorder{clk: clk}
	return NewCache(clk, rng.New(1, "ndp"), r, Config{}), r, clk
}

// at runs the clock to t0+d.
func at(clk *clock.Scheduler, d time.Duration) { clk.RunUntil(t0.Add(d)) }

// TestResolutionFails checks section 7.2.2: MAX_MULTICAST_SOLICIT
// solicitations RetransTimer apart, then the queued packets are returned
// as unreachable and the entry is deleted.
func TestResolutionFails(t *testing.T) {
	t.Parallel()
	c, r, clk := newCache(t)
	_, ok := c.Resolve(peer, []byte("p1"))
	require.False(t, ok)
	st, _ := c.State(peer)
	assert.Equal(t, StateIncomplete, st)
	at(clk, 2999*time.Millisecond)
	assert.Equal(t, StateIncomplete, must(c.State(peer)))
	at(clk, 3*time.Second)
	assert.Equal(t, []string{
		"0s NS multicast 2001:db8::2",
		"1s NS multicast 2001:db8::2",
		"2s NS multicast 2001:db8::2",
		`3s unreachable 1 "p1"`,
	}, r.events)
	assert.Equal(t, StateNone, must(c.State(peer)))
	assert.Zero(t, c.Len())
	assert.Zero(t, clk.Len())
}

func must(s State, _ ether.Addr) State { return s }

// TestNUDTimeline walks one entry through every state of appendix C with
// RFC 4861's timers.
func TestNUDTimeline(t *testing.T) {
	t.Parallel()
	c, r, clk := newCache(t)
	reach := c.ReachableTime()
	require.GreaterOrEqual(t, reach, 15*time.Second, "MIN_RANDOM_FACTOR of REACHABLE_TIME")
	require.LessOrEqual(t, reach, 45*time.Second, "MAX_RANDOM_FACTOR of REACHABLE_TIME")

	c.Resolve(peer, []byte("p1"))
	c.Resolve(peer, []byte("p2"))
	at(clk, 500*time.Millisecond)
	c.Advertisement(Advert{Target: peer, LLA: mac2, HasLLA: true, Solicited: true})
	st, lla := c.State(peer)
	assert.Equal(t, StateReachable, st)
	assert.Equal(t, mac2, lla)

	at(clk, 500*time.Millisecond+reach-1)
	assert.Equal(t, StateReachable, must(c.State(peer)), "not before ReachableTime")
	at(clk, 500*time.Millisecond+reach)
	assert.Equal(t, StateStale, must(c.State(peer)))
	assert.Zero(t, clk.Len(), "STALE waits for traffic, with no timer")

	at(clk, 100*time.Second)
	got, ok := c.Resolve(peer, []byte("p3"))
	require.True(t, ok, "a STALE entry is used at once")
	assert.Equal(t, mac2, got)
	assert.Equal(t, StateDelay, must(c.State(peer)))
	at(clk, 105*time.Second-1)
	assert.Equal(t, StateDelay, must(c.State(peer)))
	at(clk, 105*time.Second)
	assert.Equal(t, StateProbe, must(c.State(peer)), "after DELAY_FIRST_PROBE_TIME")
	at(clk, 107*time.Second)
	assert.Equal(t, StateProbe, must(c.State(peer)))
	at(clk, 108*time.Second)
	assert.Equal(t, StateNone, must(c.State(peer)), "MAX_UNICAST_SOLICIT probes unanswered")
	assert.Equal(t, []string{
		"0s NS multicast 2001:db8::2",
		"500ms deliver 2 to 02:00:00:00:00:02",
		"1m45s NS unicast 2001:db8::2 to 02:00:00:00:00:02",
		"1m46s NS unicast 2001:db8::2 to 02:00:00:00:00:02",
		"1m47s NS unicast 2001:db8::2 to 02:00:00:00:00:02",
	}, r.events)
}

// TestNUDConfirmations checks the ways back to REACHABLE: an upper-layer
// confirmation in DELAY (section 7.3.1) and a solicited advertisement in
// PROBE.
func TestNUDConfirmations(t *testing.T) {
	t.Parallel()
	c, _, clk := newCache(t)
	c.Observe(peer, mac1)
	assert.Equal(t, StateStale, must(c.State(peer)), "learned from a solicitation: STALE")
	c.Resolve(peer, []byte("x"))
	assert.Equal(t, StateDelay, must(c.State(peer)))
	c.Confirm(peer)
	assert.Equal(t, StateReachable, must(c.State(peer)))
	at(clk, time.Minute)
	assert.Equal(t, StateStale, must(c.State(peer)))
	c.Resolve(peer, []byte("x"))
	at(clk, time.Minute+DelayFirstProbeTime)
	assert.Equal(t, StateProbe, must(c.State(peer)))
	c.Advertisement(Advert{Target: peer, Solicited: true})
	assert.Equal(t, StateReachable, must(c.State(peer)), "a solicited NA without an address confirms too")
	c.Confirm(netip.MustParseAddr("2001:db8::99"))
	assert.Equal(t, 1, c.Len(), "confirmation of an unknown neighbour creates nothing")
}

// TestAdvertisementRules checks the table of section 7.2.5.
func TestAdvertisementRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		from      State
		adv       Advert
		wantState State
		wantLLA   ether.Addr
		router    bool
	}{
		{"incomplete, solicited", StateIncomplete, Advert{LLA: mac2, HasLLA: true, Solicited: true}, StateReachable, mac2, false},
		{"incomplete, unsolicited", StateIncomplete, Advert{LLA: mac2, HasLLA: true, Router: true}, StateStale, mac2, true},
		{"incomplete, no address", StateIncomplete, Advert{Solicited: true}, StateIncomplete, ether.Addr{}, false},
		{"reachable, no override, new address", StateReachable, Advert{LLA: mac2, HasLLA: true, Solicited: true}, StateStale, mac1, false},
		{"stale, no override, new address", StateStale, Advert{LLA: mac2, HasLLA: true, Solicited: true}, StateStale, mac1, false},
		{"delay, no override, new address ignored", StateDelay, Advert{LLA: mac2, HasLLA: true, Solicited: true, Router: true}, StateDelay, mac1, false},
		{"stale, override, new address", StateStale, Advert{LLA: mac2, HasLLA: true, Override: true}, StateStale, mac2, false},
		{"reachable, override unsolicited, new address", StateReachable, Advert{LLA: mac2, HasLLA: true, Override: true}, StateStale, mac2, false},
		{"stale, override solicited, new address", StateStale, Advert{LLA: mac2, HasLLA: true, Override: true, Solicited: true}, StateReachable, mac2, false},
		{"stale, same address, unsolicited", StateStale, Advert{LLA: mac1, HasLLA: true, Router: true}, StateStale, mac1, true},
		{"reachable, same address, unsolicited", StateReachable, Advert{LLA: mac1, HasLLA: true}, StateReachable, mac1, false},
		{"delay, solicited, same address", StateDelay, Advert{LLA: mac1, HasLLA: true, Solicited: true}, StateReachable, mac1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _, _ := newCache(t)
			switch tc.from {
			case StateIncomplete:
				c.Resolve(peer, []byte("q"))
			case StateReachable:
				c.Observe(peer, mac1)
				c.Confirm(peer)
			case StateStale:
				c.Observe(peer, mac1)
			case StateDelay:
				c.Observe(peer, mac1)
				c.Resolve(peer, []byte("q"))
			}
			require.Equal(t, tc.from, must(c.State(peer)))
			tc.adv.Target = peer
			c.Advertisement(tc.adv)
			st, lla := c.State(peer)
			assert.Equal(t, tc.wantState, st)
			assert.Equal(t, tc.wantLLA, lla)
			assert.Equal(t, tc.router, c.IsRouter(peer))
		})
	}
}

// TestQueueAndObserve checks the bounded queue (section 7.2.2: the new
// packet replaces the oldest) and that a solicitation's source link-layer
// address completes a resolution (section 7.2.3).
func TestQueueAndObserve(t *testing.T) {
	t.Parallel()
	c, r, _ := newCache(t)
	for i := 1; i <= DefaultQueueLen+1; i++ {
		c.Resolve(peer, fmt.Appendf(nil, "p%d", i))
	}
	c.Observe(peer, mac1)
	st, lla := c.State(peer)
	assert.Equal(t, StateStale, st)
	assert.Equal(t, mac1, lla)
	assert.Equal(t, []string{
		"0s NS multicast 2001:db8::2",
		`0s unreachable 1 "p1"`,
		fmt.Sprintf("0s deliver %d to 02:00:00:00:00:01", DefaultQueueLen),
	}, r.events)
	c.Observe(peer, mac2)
	assert.Equal(t, mac2, func() ether.Addr { _, a := c.State(peer); return a }(), "a new address replaces the old, STALE")

	small := NewCache(clock.NewScheduler(t0), rng.New(1, "ndp"), r, Config{MaxEntries: 2})
	for i := range 5 {
		small.Observe(netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(i)}), mac1)
	}
	assert.Equal(t, 2, small.Len(), "entries learned from solicitations are bounded")
	small.Remove(netip.AddrFrom16([16]byte{0x20, 0x01, 15: 0}))
	assert.Equal(t, 1, small.Len())
}

// TestReachableTimeRandomized checks section 6.3.2: the randomized
// ReachableTime stays within 0.5 and 1.5 times the base, differs between
// draws, and is the same for the same seed.
func TestReachableTimeRandomized(t *testing.T) {
	t.Parallel()
	clk := clock.NewScheduler(t0)
	a := NewCache(clk, rng.New(7, "x"), &recorder{clk: clk}, Config{})
	b := NewCache(clk, rng.New(7, "x"), &recorder{clk: clk}, Config{})
	seen := map[time.Duration]bool{}
	for range 50 {
		a.SetBaseReachableTime(10 * time.Second)
		b.SetBaseReachableTime(10 * time.Second)
		assert.Equal(t, a.ReachableTime(), b.ReachableTime())
		assert.GreaterOrEqual(t, a.ReachableTime(), 5*time.Second)
		assert.LessOrEqual(t, a.ReachableTime(), 15*time.Second)
		seen[a.ReachableTime()] = true
	}
	assert.Greater(t, len(seen), 40)
	a.SetRetransTimer(250 * time.Millisecond)
	a.Resolve(peer, []byte("p"))
	clk.RunUntil(t0.Add(750 * time.Millisecond))
	assert.Equal(t, StateNone, must(a.State(peer)), "three solicitations 250 ms apart")
	assert.Equal(t, "INCOMPLETE", StateIncomplete.String())
}

// TestStaticEntry: an entry added with AddStatic delivers what was queued,
// resolves without solicitations, and keeps its address and state through
// time, advertisements with another address, Observe and Confirm, until
// Remove.
func TestStaticEntry(t *testing.T) {
	t.Parallel()
	c, r, clk := newCache(t)
	_, ok := c.Resolve(peer, []byte("p1"))
	require.False(t, ok)
	c.AddStatic(peer, mac1)
	at(clk, time.Hour)
	c.Advertisement(Advert{Target: peer, LLA: mac2, HasLLA: true, Override: true, Solicited: true})
	c.Observe(peer, mac2)
	c.Confirm(peer)
	at(clk, 2*time.Hour)
	lla, ok := c.Resolve(peer, []byte("p2"))
	require.True(t, ok)
	assert.Equal(t, mac1, lla)
	st, got := c.State(peer)
	assert.Equal(t, StateReachable, st)
	assert.Equal(t, mac1, got)
	assert.Equal(t, []string{"0s NS multicast 2001:db8::2", "0s deliver 1 to " + mac1.String()}, r.events)
	c.Remove(peer)
	assert.Equal(t, StateNone, must(c.State(peer)))
}

// TestLookup: Lookup finds nothing for an unknown or INCOMPLETE address
// (and starts no resolution), and for a STALE entry returns its address
// and moves it to DELAY as a Resolve would (section 7.3.3).
func TestLookup(t *testing.T) {
	t.Parallel()
	c, r, _ := newCache(t)
	_, ok := c.Lookup(peer)
	assert.False(t, ok)
	assert.Equal(t, StateNone, must(c.State(peer)))
	assert.Empty(t, r.events, "no solicitation")
	_, _ = c.Resolve(peer, []byte("p"))
	_, ok = c.Lookup(peer)
	assert.False(t, ok, "INCOMPLETE")
	c.Observe(peer, mac1)
	assert.Equal(t, StateStale, must(c.State(peer)))
	lla, ok := c.Lookup(peer)
	require.True(t, ok)
	assert.Equal(t, mac1, lla)
	assert.Equal(t, StateDelay, must(c.State(peer)))
}
