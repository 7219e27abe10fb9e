package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/slaac"
)

// TestSLAACFromRouterAdvertisements has a router advertise 2001:db8:1::/64
// and a host autoconfigure: DAD on its link-local address, a Router
// Solicitation, the router's answer, DAD on the new address, which then
// answers the router's ping. The addresses are RFC 7217's for the host.
func TestSLAACFromRouterAdvertisements(t *testing.T) {
	tn := newTestNet(t, 1500)
	r := tn.addHost("r", 1, func(c *Config) { c.Forwarding = true })
	h := tn.addHost("h", 2)
	pfx := netip.MustParsePrefix("2001:db8:1::/64")
	r.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8:1::1/64"))
	tn.hub.sent = nil
	var changes []netip.Prefix
	h.Interfaces()[0].OnIPv6AddressChange(func(p netip.Prefix, added bool) {
		if added {
			changes = append(changes, p)
		}
	})
	h.Interfaces()[0].EnableSLAAC()
	assert.Empty(t, h.Interfaces()[0].IPv6Addresses(), "tentative addresses are not usable")
	tn.run(2500 * time.Millisecond) // DAD on the link-local address, a first RS unanswered
	r.Interfaces()[0].AdvertisePrefixes(pfx)
	tn.run(10 * time.Second)

	ll := slaac.Address(slaac.LinkLocalPrefix, first8(slaac.StableIID(slaac.LinkLocalPrefix, "eth0", nil, 0, []byte("h"))))
	global := slaac.Address(pfx, first8(slaac.StableIID(pfx, "eth0", nil, 0, []byte("h"))))
	assert.Equal(t, []netip.Prefix{netip.PrefixFrom(ll, 64), netip.PrefixFrom(global, 64)}, h.Interfaces()[0].IPv6Addresses())
	assert.Equal(t, h.Interfaces()[0].IPv6Addresses(), changes, "OnIPv6AddressChange saw each address")
	gw, ok := h.Interfaces()[0].DefaultRouter6()
	assert.True(t, ok, "the forwarding advertiser is the default router")
	assert.True(t, gw.IsLinkLocalUnicast())

	// What the host sent: DAD for each address (from ::, no options) and
	// a Router Solicitation.
	var kinds []string
	for _, f := range tn.hub.sent {
		if f[12] != 0x86 || f[13] != 0xdd || [6]byte(f[6:12]) != h.Interfaces()[0].MAC() {
			continue
		}
		pkt, err := ipv6.Parse(f[14:])
		require.NoError(t, err)
		m, err := icmpv6.Parse(pkt.Payload(), pkt.Src(), pkt.Dst())
		require.NoError(t, err)
		require.NoError(t, icmpv6.ValidateND(m, pkt.HopLimit(), pkt.Src(), pkt.Dst()))
		switch m.Type() {
		case icmpv6.TypeNeighborSolict:
			if pkt.Src().IsUnspecified() {
				kinds = append(kinds, "DAD "+m.Target().String())
			}
		case icmpv6.TypeRouterSolicit:
			kinds = append(kinds, "RS from "+pkt.Src().String())
		}
	}
	assert.Equal(t, []string{"DAD " + ll.String(), "RS from " + ll.String(), "DAD " + global.String()}, kinds)
	assert.Equal(t, uint64(1), h.Interfaces()[0].IPv6Stats().RSsOut, "the first advertisement stops the solicitations")
	assert.Positive(t, r.Interfaces()[0].IPv6Stats().RAsOut)

	rec := &echoRecorder{}
	r.SetEchoReplyHandler(rec)
	require.NoError(t, r.Interfaces()[0].Ping6(global, 1, 1, pattern(100)))
	tn.run(time.Second)
	require.Len(t, rec.got, 1)
	assert.Equal(t, global, rec.got[0].src)

	// A host arriving after the initial advertisements (three, 16 s apart
	// at most) is answered within MAX_RA_DELAY_TIME of its solicitation.
	tn.run(time.Minute)
	h2 := tn.addHost("h2", 3)
	h2.Interfaces()[0].EnableSLAAC()
	sentRA := r.Interfaces()[0].IPv6Stats().RAsOut
	tn.run(2*time.Second + maxRADelayTime + 2*time.Second)
	assert.Equal(t, uint64(1), h2.Interfaces()[0].IPv6Stats().RSsOut)
	assert.Equal(t, sentRA+1, r.Interfaces()[0].IPv6Stats().RAsOut, "the solicitation is answered")
	assert.Len(t, h2.Interfaces()[0].IPv6Addresses(), 2)
}

func first8(iid [8]byte, _ uint8) [8]byte { return iid }

// TestDADConflictInStack answers every DAD probe of a host with a Neighbor
// Advertisement: each conflict makes the host try the next RFC 7217
// identifier (RFC 4862 section 5.4.4, RFC 7217 section 6), and after
// IDGEN_RETRIES it gives up without a link-local address.
func TestDADConflictInStack(t *testing.T) {
	tn := newTestNet(t, 1500)
	h := tn.addHost("h", 2)
	p := &v6Peer{t: t, port: tn.hub.port(), mac: peerMAC, addr: v6Peer1}
	p.port.SetReceiver(p)
	tn.run(5 * time.Second)
	h.Interfaces()[0].EnableSLAAC()
	var targets []netip.Addr
	for range 10 {
		tn.run(500 * time.Millisecond)
		for _, g := range p.got {
			m, err := icmpv6.Parse(g.pkt.Payload(), g.pkt.Src(), g.pkt.Dst())
			require.NoError(t, err)
			if m.Type() != icmpv6.TypeNeighborSolict || !g.pkt.Src().IsUnspecified() {
				continue
			}
			targets = append(targets, m.Target())
			na, err := icmpv6.NeighborAdvertisement(make([]byte, 64), m.Target(), ipv6.AllNodes, m.Target(),
				icmpv6.FlagOverride, icmpv6.AppendLinkAddr(nil, icmpv6.OptTargetLinkAddr, p.mac))
			require.NoError(t, err)
			b := make([]byte, ipv6.HeaderLen+len(na))
			copy(b[ipv6.HeaderLen:], na)
			pkt, err := ipv6.Encode(b, &ipv6.Fields{NextHeader: ipv6.ProtoICMPv6, HopLimit: 255, Src: m.Target(), Dst: ipv6.AllNodes}, len(na))
			require.NoError(t, err)
			p.send(ipv6.MulticastMAC(ipv6.AllNodes), pkt)
		}
		p.got = nil
	}
	require.Len(t, targets, 1+slaac.IDGenRetries)
	for k, a := range targets {
		want := slaac.Address(slaac.LinkLocalPrefix, first8(slaac.StableIID(slaac.LinkLocalPrefix, "eth0", nil, uint8(k), []byte("h"))))
		assert.Equal(t, want, a, "attempt %d uses DAD_Counter %d", k, k)
	}
	assert.Empty(t, h.Interfaces()[0].IPv6Addresses())
	assert.Equal(t, uint64(1), h.Interfaces()[0].IPv6Stats().DADFailures)
}

// TestIPv6Deterministic runs the autoconfiguration and a ping twice with
// the same seeds: the frames on the wire are the same, byte for byte.
func TestIPv6Deterministic(t *testing.T) {
	run := func() [][]byte {
		tn := newTestNet(t, 1500)
		r := tn.addHost("r", 1, func(c *Config) { c.Forwarding = true })
		h := tn.addHost("h", 2)
		r.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8:1::1/64"))
		r.Interfaces()[0].AdvertisePrefixes(netip.MustParsePrefix("2001:db8:1::/64"))
		h.Interfaces()[0].EnableSLAAC()
		tn.run(10 * time.Second)
		addrs := h.Interfaces()[0].IPv6Addresses()
		require.Len(t, addrs, 2)
		require.NoError(t, r.Interfaces()[0].Ping6(addrs[1].Addr(), 1, 1, pattern(3000)))
		tn.run(time.Minute)
		return tn.hub.sent
	}
	a, b := run(), run()
	require.NotEmpty(t, a)
	assert.Equal(t, a, b)
}
