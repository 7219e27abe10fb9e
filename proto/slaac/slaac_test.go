package slaac

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/rng"
)

var (
	t0     = clock.Time(time.Hour)
	pfx    = netip.MustParsePrefix("2001:db8:1::/64")
	secret = []byte("0123456789abcdef")
)

type recorder struct {
	clk    *clock.Scheduler
	events []string
}

func (r *recorder) log(format string, args ...any) {
	r.events = append(r.events, fmt.Sprintf("%v ", r.clk.Now().Sub(t0))+fmt.Sprintf(format, args...))
}

func (r *recorder) SolicitDAD(target netip.Addr) { r.log("DAD %v", target) }
func (r *recorder) Changed(a netip.Addr, s State, ok bool) {
	if ok {
		r.log("%v %v", s, a)
	} else {
		r.log("removed %v", a)
	}
}
func (r *recorder) Failed(p netip.Prefix) { r.log("failed %v", p) }

func newAuto(t *testing.T, cfg Config) (*Autoconf, *recorder, *clock.Scheduler) {
	t.Helper()
	clk := clock.NewScheduler(t0)
	r := &recorder{clk: clk}
	if cfg.Secret == nil {
		cfg.Secret, cfg.NetIface = secret, "eth0"
	}
	return New(clk, rng.New(1, "slaac"), r, cfg), r, clk
}

func TestStableIID(t *testing.T) {
	t.Parallel()
	base, n := StableIID(pfx, "eth0", nil, 0, secret)
	assert.Zero(t, n)
	again, _ := StableIID(netip.MustParsePrefix("2001:db8:1::1234/64"), "eth0", nil, 0, secret)
	assert.Equal(t, base, again, "stable for the same prefix, whatever its low bits")
	for name, other := range map[string][8]byte{
		"prefix":     first(StableIID(netip.MustParsePrefix("2001:db8:2::/64"), "eth0", nil, 0, secret)),
		"interface":  first(StableIID(pfx, "eth1", nil, 0, secret)),
		"network":    first(StableIID(pfx, "eth0", []byte("ssid"), 0, secret)),
		"dadcounter": first(StableIID(pfx, "eth0", nil, 1, secret)),
		"secret":     first(StableIID(pfx, "eth0", nil, 0, []byte("another secret!!"))),
	} {
		assert.NotEqual(t, base, other, name)
	}
	addr := Address(pfx, base)
	assert.True(t, pfx.Contains(addr))
	assert.Equal(t, base, [8]byte(addr.AsSlice()[8:]))
}

func first(iid [8]byte, _ uint8) [8]byte { return iid }

func TestReserved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		iid  [8]byte
		want bool
	}{
		{[8]byte{}, true},
		{[8]byte{0x02, 0x00, 0x5e, 0xff, 0xfe, 0, 0, 0}, true},
		{[8]byte{0x02, 0x00, 0x5e, 0xff, 0xfe, 0x00, 0x52, 0x13}, true},
		{[8]byte{0x02, 0x00, 0x5e, 0xff, 0xfe, 0xff, 0xff, 0xff}, true},
		{[8]byte{0x02, 0x00, 0x5e, 0xff, 0xff, 0, 0, 0}, false},
		{[8]byte{0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80}, true},
		{[8]byte{0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, false},
		{[8]byte{0, 0, 0, 0, 0, 0, 0, 1}, false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, Reserved(tc.iid), "%x", tc.iid)
	}
}

// TestDADPasses checks RFC 4862 section 5.4: one solicitation after a
// random delay of at most a second, the address assigned RetransTimer
// later, and no sooner.
func TestDADPasses(t *testing.T) {
	t.Parallel()
	a, r, clk := newAuto(t, Config{})
	ll := a.StartLinkLocal()
	assert.True(t, ll.IsLinkLocalUnicast())
	assert.Equal(t, ll, a.StartLinkLocal(), "started once")
	x, ok := a.Lookup(ll)
	require.True(t, ok)
	assert.Equal(t, Tentative, x.State)
	clk.RunUntil(t0.Add(MaxRtrSolicitationDelay))
	require.Len(t, r.events, 1)
	delay, err := time.ParseDuration(strings.Fields(r.events[0])[0])
	require.NoError(t, err)
	assert.LessOrEqual(t, delay, MaxRtrSolicitationDelay)
	clk.RunUntil(t0.Add(delay + RetransTimer - 1))
	assert.Equal(t, Tentative, must(a.Lookup(ll)).State, "not before RetransTimer")
	clk.RunUntil(t0.Add(delay + RetransTimer))
	assert.Equal(t, Preferred, must(a.Lookup(ll)).State)
	assert.Equal(t, []string{
		fmt.Sprintf("%v DAD %v", delay, ll),
		fmt.Sprintf("%v preferred %v", delay+RetransTimer, ll),
	}, r.events)
	assert.Zero(t, clk.Len(), "infinite lifetimes arm no timer")
	assert.False(t, a.NeighborSolicitation(netip.IPv6Unspecified(), ll), "an assigned address is defended, not abandoned")
}

func must(x Addr, ok bool) Addr {
	if !ok {
		return Addr{}
	}
	return x
}

// TestDADConflict checks RFC 4862 sections 5.4.3 and 5.4.4 with RFC 7217
// section 6: a conflict (NA for the tentative address, or another node's
// DAD solicitation) replaces the identifier with the next DAD_Counter's,
// up to IDGEN_RETRIES, then gives up.
func TestDADConflict(t *testing.T) {
	t.Parallel()
	a, r, clk := newAuto(t, Config{})
	a.PrefixInfo(icmpv6.PrefixInfo{Prefix: pfx, Autonomous: true, OnLink: true, ValidLifetime: 86400, PreferredLifetime: 3600})
	addrs := []netip.Addr{must(a.Addresses()[0], true).Addr}
	clk.RunUntil(t0.Add(MaxRtrSolicitationDelay))
	a.NeighborAdvertisement(addrs[0])
	x := a.Addresses()[0]
	assert.Equal(t, uint8(1), x.DADCounter)
	assert.Equal(t, Tentative, x.State)
	want, _ := StableIID(pfx, "eth0", nil, 1, secret)
	assert.Equal(t, Address(pfx, want), x.Addr, "RFC 7217: the next DAD_Counter")
	addrs = append(addrs, x.Addr)

	// A solicitation from a unicast source is address resolution, not DAD.
	assert.True(t, a.NeighborSolicitation(netip.MustParseAddr("2001:db8:1::99"), x.Addr), "tentative: do not answer")
	assert.Equal(t, x.Addr, a.Addresses()[0].Addr)
	// Another node's DAD for the same address.
	assert.True(t, a.NeighborSolicitation(netip.IPv6Unspecified(), x.Addr))
	addrs = append(addrs, a.Addresses()[0].Addr)
	a.NeighborAdvertisement(addrs[2])
	addrs = append(addrs, a.Addresses()[0].Addr)
	assert.Equal(t, uint8(3), a.Addresses()[0].DADCounter)
	for i := range addrs {
		for j := range i {
			assert.NotEqual(t, addrs[i], addrs[j])
		}
	}
	a.NeighborAdvertisement(addrs[3])
	assert.Empty(t, a.Addresses(), "IDGEN_RETRIES exhausted")
	assert.Equal(t, fmt.Sprintf("%v failed %v", MaxRtrSolicitationDelay, pfx), r.events[len(r.events)-1])
	assert.Zero(t, clk.Len())
}

// TestRALifetimes checks RFC 4862 section 5.5.3: which prefixes form
// addresses, deprecation at the preferred lifetime, removal at the valid
// lifetime, and the two-hour rule that keeps a forged RA from cutting the
// valid lifetime short.
func TestRALifetimes(t *testing.T) {
	t.Parallel()
	t.Run("ignored prefixes", func(t *testing.T) {
		t.Parallel()
		a, _, _ := newAuto(t, Config{})
		for _, pi := range []icmpv6.PrefixInfo{
			{Prefix: pfx, Autonomous: false, ValidLifetime: 100, PreferredLifetime: 50},
			{Prefix: netip.MustParsePrefix("fe80::/64"), Autonomous: true, ValidLifetime: 100, PreferredLifetime: 50},
			{Prefix: pfx, Autonomous: true, ValidLifetime: 50, PreferredLifetime: 100},
			{Prefix: netip.MustParsePrefix("2001:db8::/48"), Autonomous: true, ValidLifetime: 100, PreferredLifetime: 50},
			{Prefix: pfx, Autonomous: true, ValidLifetime: 0, PreferredLifetime: 0},
		} {
			a.PrefixInfo(pi)
		}
		assert.Empty(t, a.Addresses())
	})
	t.Run("preferred then deprecated then removed", func(t *testing.T) {
		t.Parallel()
		a, r, clk := newAuto(t, Config{DADTransmits: -1})
		a.PrefixInfo(icmpv6.PrefixInfo{Prefix: pfx, Autonomous: true, ValidLifetime: 600, PreferredLifetime: 300})
		clk.RunUntil(t0.Add(time.Hour))
		ad := Address(pfx, first(StableIID(pfx, "eth0", nil, 0, secret)))
		assert.Equal(t, []string{
			"0s preferred " + ad.String(),
			"5m0s deprecated " + ad.String(),
			"10m0s removed " + ad.String(),
		}, r.events)
		assert.Empty(t, a.Addresses())
	})
	tests := []struct {
		name      string
		initial   uint32 // valid lifetime of the first RA, seconds
		after     time.Duration
		received  uint32
		wantValid time.Duration // remaining after the second RA
	}{
		{"longer than remaining", 3600, 0, 7000, 7000 * time.Second},
		{"above two hours", 3 * 3600, 0, 2*3600 + 1, (2*3600 + 1) * time.Second},
		{"short cut to two hours", 10 * 3600, 0, 60, 2 * time.Hour},
		{"ignored when at most two hours remain", 3600, 10 * time.Minute, 60, 50 * time.Minute},
		{"zero ignored near the end", 7200, time.Minute, 0, 119 * time.Minute},
		{"infinite", 3600, 0, icmpv6.Infinite, 0},
		{"infinite cut to two hours", icmpv6.Infinite, 0, 60, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, _, clk := newAuto(t, Config{DADTransmits: -1})
			a.PrefixInfo(icmpv6.PrefixInfo{Prefix: pfx, Autonomous: true, ValidLifetime: tc.initial, PreferredLifetime: 0})
			clk.RunUntil(t0.Add(tc.after))
			a.PrefixInfo(icmpv6.PrefixInfo{Prefix: pfx, Autonomous: true, ValidLifetime: tc.received, PreferredLifetime: 0})
			x := a.Addresses()
			require.Len(t, x, 1)
			assert.Equal(t, Deprecated, x[0].State, "preferred lifetime 0")
			if tc.wantValid == 0 {
				assert.Zero(t, x[0].ValidUntil, "infinite")
				return
			}
			assert.Equal(t, tc.wantValid, x[0].ValidUntil.Sub(clk.Now()))
		})
	}
	t.Run("refresh moves deprecation", func(t *testing.T) {
		t.Parallel()
		a, _, clk := newAuto(t, Config{DADTransmits: -1})
		pi := icmpv6.PrefixInfo{Prefix: pfx, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 600}
		a.PrefixInfo(pi)
		clk.RunUntil(t0.Add(500 * time.Second))
		a.PrefixInfo(pi)
		clk.RunUntil(t0.Add(1000 * time.Second))
		assert.Equal(t, Preferred, a.Addresses()[0].State)
		clk.RunUntil(t0.Add(1100 * time.Second))
		assert.Equal(t, Deprecated, a.Addresses()[0].State)
	})
}

func TestAny(t *testing.T) {
	t.Parallel()
	a, _, _ := newAuto(t, Config{})
	ll := a.StartLinkLocal()
	assert.True(t, a.Any(func(x netip.Addr) bool { return x == ll }), "tentative addresses count")
	assert.False(t, a.Any(func(x netip.Addr) bool { return !x.IsLinkLocalUnicast() }))
}
