package dhcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packet is one message seen on the test network.
type packet struct {
	at        clock.Time
	fromCli   bool
	broadcast bool
	typ       MessageType
	msg       Message
}

// testNet joins a client and a server core through crafted bytes on a
// scheduler, with a 1 ms one-way delay.
type testNet struct {
	t   *testing.T
	sch *clock.Scheduler
	srv *Server
	cli *Client

	serverDown  bool // the server hears nothing
	dropUnicast bool // client unicasts to the server are lost
	log         []packet

	applied []Lease
	removed int

	inUse  map[netip.Addr]bool
	probes []netip.Addr
}

var (
	serverIP = netip.MustParseAddr("10.0.0.1")
	clientHW = [6]byte{2, 0, 0, 0, 0, 1}
	testCfg  = ServerConfig{
		ServerID:  serverIP,
		Subnet:    netip.MustParsePrefix("10.0.0.0/24"),
		PoolStart: netip.MustParseAddr("10.0.0.10"),
		PoolEnd:   netip.MustParseAddr("10.0.0.20"),
		Router:    serverIP,
		DNS:       []netip.Addr{netip.MustParseAddr("10.0.0.53")},
		LeaseTime: time.Hour,
	}
)

const oneWay = time.Millisecond

func newTestNet(t *testing.T, withProber bool) *testNet {
	n := &testNet{t: t, sch: clock.NewScheduler(0), inUse: map[netip.Addr]bool{}}
	var err error
	n.srv, err = NewServer(n.sch, testCfg)
	require.NoError(t, err)
	var p Prober
	if withProber {
		p = n
	}
	n.cli = NewClient(n.sch, rng.New(7, "dhcp-client"), clientHW, n, n, p)
	return n
}

// after runs fn once, d from now.
func (n *testNet) after(d time.Duration, fn func()) {
	tm := new(clock.Timer)
	tm.Init(clock.HandlerFunc(func(clock.Time) { fn() }))
	n.sch.Schedule(tm, n.sch.Now().Add(d))
}

func (n *testNet) record(b []byte, fromCli, bcast bool) {
	var m Message
	require.NoError(n.t, m.Unmarshal(b))
	n.log = append(n.log, packet{n.sch.Now(), fromCli, bcast, m.Type(), m})
}

func (n *testNet) toServer(msg []byte) {
	b := append([]byte(nil), msg...)
	n.after(oneWay, func() {
		if n.serverDown {
			return
		}
		r, ok := n.srv.Handle(b)
		if !ok {
			return
		}
		n.record(r.Msg, false, r.Dst.Addr() == broadcastAddr)
		rb := append([]byte(nil), r.Msg...)
		n.after(oneWay, func() { n.cli.Handle(rb) })
	})
}

// Broadcast implements Transport.
func (n *testNet) Broadcast(msg []byte) error {
	n.record(msg, true, true)
	n.toServer(msg)
	return nil
}

// Unicast implements Transport.
func (n *testNet) Unicast(dst netip.Addr, msg []byte) error {
	require.Equal(n.t, serverIP, dst)
	n.record(msg, true, false)
	if !n.dropUnicast {
		n.toServer(msg)
	}
	return nil
}

// Apply implements Configurator.
func (n *testNet) Apply(l Lease) { n.applied = append(n.applied, l) }

// Remove implements Configurator.
func (n *testNet) Remove() { n.removed++ }

// Probe implements Prober: the answer comes 1 s later.
func (n *testNet) Probe(a netip.Addr, done func(bool)) {
	n.probes = append(n.probes, a)
	n.after(time.Second, func() { done(n.inUse[a]) })
}

func (n *testNet) runFor(d time.Duration) { n.sch.RunUntil(n.sch.Now().Add(d)) }

// types returns the message types logged since index from.
func (n *testNet) types(from int) []MessageType {
	var out []MessageType
	for _, p := range n.log[from:] {
		out = append(out, p.typ)
	}
	return out
}

func (n *testNet) bind(t *testing.T) Lease {
	n.cli.Start(netip.Addr{})
	n.runFor(5 * time.Second)
	require.Equal(t, StateBound, n.cli.State())
	l, ok := n.cli.Lease()
	require.True(t, ok)
	return l
}

func TestClientLifecycle(t *testing.T) {
	n := newTestNet(t, true)
	l := n.bind(t)
	assert.Equal(t, []MessageType{Discover, Offer, Request, Ack}, n.types(0))
	assert.Equal(t, netip.MustParsePrefix("10.0.0.10/24"), l.Addr)
	assert.Equal(t, []netip.Addr{serverIP}, l.Routers)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.53")}, l.DNS)
	assert.Equal(t, serverIP, l.ServerID)
	assert.Equal(t, time.Hour, l.LeaseTime)
	assert.Equal(t, 30*time.Minute, l.T1)
	assert.Equal(t, 52*time.Minute+30*time.Second, l.T2)
	assert.Equal(t, clock.Time(2*oneWay), l.Start, "lease counted from the REQUEST")
	assert.Equal(t, []netip.Addr{l.Addr.Addr()}, n.probes)
	require.Len(t, n.applied, 1)
	// The REQUEST carries the offer's address and server, is broadcast,
	// and reuses the DISCOVER's xid.
	req := n.log[2].msg
	assert.True(t, n.log[2].broadcast)
	assert.Equal(t, n.log[0].msg.Xid, req.Xid)
	ra, _ := req.Options.Addr(OptRequestedIP)
	sa, _ := req.Options.Addr(OptServerID)
	assert.Equal(t, l.Addr.Addr(), ra)
	assert.Equal(t, serverIP, sa)
	assert.Equal(t, uint16(FlagBroadcast), req.Flags)
	got, ok := n.srv.Leased(ClientKey(&req))
	assert.True(t, ok)
	assert.Equal(t, l.Addr.Addr(), got)

	// T1: a unicast renewal with ciaddr and no server ID.
	mark := len(n.log)
	n.sch.RunUntil(l.Start.Add(l.T1).Add(10 * time.Millisecond))
	assert.Equal(t, StateBound, n.cli.State())
	assert.Equal(t, []MessageType{Request, Ack}, n.types(mark))
	renew := n.log[mark]
	assert.False(t, renew.broadcast)
	assert.Equal(t, l.Addr.Addr(), renew.msg.CIAddr)
	_, hasSID := renew.msg.Options.Get(OptServerID)
	assert.False(t, hasSID)
	assert.NotEqual(t, req.Xid, renew.msg.Xid)
	l2, _ := n.cli.Lease()
	assert.Equal(t, l.Start.Add(l.T1), l2.Start)
	assert.Len(t, n.applied, 2)
	assert.Zero(t, n.removed)
	assert.Len(t, n.probes, 1, "renewal does not probe")

	// RELEASE on shutdown.
	mark = len(n.log)
	n.cli.Stop()
	n.runFor(time.Second)
	assert.Equal(t, []MessageType{Release}, n.types(mark))
	assert.False(t, n.log[mark].broadcast)
	assert.Equal(t, StateStopped, n.cli.State())
	assert.Equal(t, 1, n.removed)
	_, ok = n.srv.Leased(ClientKey(&req))
	assert.False(t, ok)
	assert.Equal(t, uint64(1), n.srv.Stats.Releases)
	assert.Zero(t, n.sch.Len(), "no timers left")
	// Starting again, the client gets its old address back.
	n.cli.Start(netip.Addr{})
	n.runFor(5 * time.Second)
	l3, _ := n.cli.Lease()
	assert.Equal(t, l.Addr, l3.Addr)
}

func TestClientRebind(t *testing.T) {
	n := newTestNet(t, false)
	l := n.bind(t)
	n.dropUnicast = true
	mark := len(n.log)
	n.sch.RunUntil(l.Start.Add(l.T2).Add(-time.Millisecond))
	assert.Equal(t, StateRenewing, n.cli.State())
	// Renewals at T1, then half the time left to T2 (down to 60 s):
	// T1=30m, T2=52.5m: 30m, 41m15s, 46m52.5s, 49m41.25s, 51m5.6s, 52m5.6s... capped at 60s.
	var at []time.Duration
	for _, p := range n.log[mark:] {
		require.Equal(t, Request, p.typ)
		require.False(t, p.broadcast)
		at = append(at, p.at.Sub(l.Start))
	}
	require.GreaterOrEqual(t, len(at), 4)
	assert.Equal(t, 30*time.Minute, at[0])
	assert.Equal(t, 30*time.Minute+(l.T2-l.T1)/2, at[1])
	for i := 1; i < len(at); i++ {
		assert.GreaterOrEqual(t, at[i]-at[i-1], minRenewRetry)
		assert.Less(t, at[i], l.T2)
	}
	// At T2 the client broadcasts and the server answers.
	mark = len(n.log)
	n.sch.RunUntil(l.Start.Add(l.T2).Add(10 * time.Millisecond))
	assert.Equal(t, []MessageType{Request, Ack}, n.types(mark))
	assert.True(t, n.log[mark].broadcast)
	assert.Equal(t, l.Addr.Addr(), n.log[mark].msg.CIAddr)
	assert.Equal(t, StateBound, n.cli.State())
	assert.Zero(t, n.removed)
	l2, _ := n.cli.Lease()
	assert.Equal(t, l.Start.Add(l.T2), l2.Start)
}

func TestClientLeaseExpiry(t *testing.T) {
	n := newTestNet(t, false)
	l := n.bind(t)
	n.serverDown = true
	n.sch.RunUntil(l.Expiry().Add(-time.Millisecond))
	assert.Equal(t, StateRebinding, n.cli.State())
	assert.Zero(t, n.removed)
	mark := len(n.log)
	n.sch.RunUntil(l.Expiry())
	assert.Equal(t, 1, n.removed, "address removed at expiry")
	_, bound := n.cli.Lease()
	assert.False(t, bound)
	// Back to INIT: the client discovers again, without a requested address.
	assert.Equal(t, StateSelecting, n.cli.State())
	require.Equal(t, []MessageType{Discover}, n.types(mark))
	_, hasReq := n.log[mark].msg.Options.Get(OptRequestedIP)
	assert.False(t, hasReq)
	// When the server returns, the client binds again.
	n.serverDown = false
	n.runFor(70 * time.Second)
	assert.Equal(t, StateBound, n.cli.State())
}

func TestClientBackoff(t *testing.T) {
	n := newTestNet(t, false)
	n.serverDown = true
	n.cli.Start(netip.Addr{})
	n.runFor(5 * time.Minute)
	assert.Equal(t, StateSelecting, n.cli.State())
	var gaps []time.Duration
	for i := 1; i < len(n.log); i++ {
		assert.Equal(t, Discover, n.log[i].typ)
		assert.Equal(t, n.log[0].msg.Xid, n.log[i].msg.Xid)
		gaps = append(gaps, n.log[i].at.Sub(n.log[i-1].at))
	}
	base := []time.Duration{4, 8, 16, 32, 64, 64}
	require.GreaterOrEqual(t, len(gaps), len(base))
	jittered := false
	for i, b := range base {
		assert.InDelta(t, float64(b*time.Second), float64(gaps[i]), float64(time.Second), "gap %d", i)
		if gaps[i] != b*time.Second {
			jittered = true
		}
	}
	assert.True(t, jittered, "delays are randomized")
	// secs counts from the start of the exchange.
	assert.Equal(t, uint16(n.log[3].at.Sub(n.log[0].at)/time.Second), n.log[3].msg.Secs)

	// The same seed gives the same timings.
	n2 := newTestNet(t, false)
	n2.serverDown = true
	n2.cli.Start(netip.Addr{})
	n2.runFor(5 * time.Minute)
	require.Equal(t, len(n.log), len(n2.log))
	for i := range n.log {
		assert.Equal(t, n.log[i].at, n2.log[i].at)
	}
}

func TestClientDecline(t *testing.T) {
	n := newTestNet(t, true)
	first := testCfg.PoolStart
	n.inUse[first] = true
	n.cli.Start(netip.Addr{})
	n.runFor(5 * time.Second)
	assert.Equal(t, []MessageType{Discover, Offer, Request, Ack, Decline}, n.types(0))
	decl := n.log[4].msg
	ra, _ := decl.Options.Addr(OptRequestedIP)
	assert.Equal(t, first, ra)
	assert.Equal(t, StateInit, n.cli.State())
	assert.Empty(t, n.applied, "a declined address is never applied")
	assert.Equal(t, uint64(1), n.srv.Stats.Declines)
	// Ten seconds later the client starts over and gets another address.
	declinedAt := n.log[4].at
	n.runFor(10 * time.Second)
	assert.Equal(t, declinedAt.Add(declineWait), n.log[5].at)
	assert.Equal(t, StateBound, n.cli.State())
	l, _ := n.cli.Lease()
	assert.Equal(t, netip.MustParseAddr("10.0.0.11"), l.Addr.Addr())
	assert.Equal(t, []netip.Addr{first, l.Addr.Addr()}, n.probes)
}

// TestClientHalt checks that Halt keeps the lease on the server: nothing
// is sent, and a later INIT-REBOOT for the address is acknowledged by a
// server that stays silent for clients it has no record of.
func TestClientHalt(t *testing.T) {
	t.Parallel()
	n := newTestNet(t, false)
	l := n.bind(t)
	mark := len(n.log)
	n.cli.Halt()
	n.runFor(time.Second)
	assert.Empty(t, n.types(mark), "Halt sends nothing")
	assert.Equal(t, StateStopped, n.cli.State())
	assert.Equal(t, 1, n.removed)
	assert.Zero(t, n.sch.Len(), "no timers left")
	n.cli = NewClient(n.sch, rng.New(9, "dhcp-client"), clientHW, n, n, nil)
	n.cli.Start(l.Addr.Addr())
	n.runFor(time.Second)
	assert.Equal(t, []MessageType{Request, Ack}, n.types(mark))
	assert.Equal(t, StateBound, n.cli.State())
}

func TestClientInitReboot(t *testing.T) {
	n := newTestNet(t, false)
	l := n.bind(t)
	// The host reboots: the client forgets everything but the address.
	n.cli.Stop()
	n.cli = NewClient(n.sch, rng.New(8, "dhcp-client"), clientHW, n, n, nil)
	// Stop released the lease; the server still remembers the client, so
	// a reboot request for the old address is acknowledged.
	mark := len(n.log)
	n.cli.Start(l.Addr.Addr())
	assert.Equal(t, StateRebooting, n.cli.State())
	n.runFor(time.Second)
	assert.Equal(t, []MessageType{Request, Ack}, n.types(mark))
	req := n.log[mark].msg
	ra, _ := req.Options.Addr(OptRequestedIP)
	assert.Equal(t, l.Addr.Addr(), ra)
	_, hasSID := req.Options.Get(OptServerID)
	assert.False(t, hasSID)
	assert.True(t, req.CIAddr.IsUnspecified())
	assert.Equal(t, StateBound, n.cli.State())

	// A remembered address on another network is NAKed: back to INIT.
	n.cli.Stop()
	mark = len(n.log)
	n.cli.Start(netip.MustParseAddr("192.168.1.5"))
	n.runFor(time.Second)
	assert.Equal(t, []MessageType{Request, Nak, Discover, Offer, Request, Ack}, n.types(mark))
	assert.Equal(t, StateBound, n.cli.State())
	assert.Equal(t, uint64(1), n.cli.Stats.Naks)

	// A server without a record stays silent: after the retries the client
	// falls back to discovery.
	n.cli.Stop()
	srv, err := NewServer(n.sch, testCfg)
	require.NoError(t, err)
	n.srv = srv
	mark = len(n.log)
	n.cli.Start(netip.MustParseAddr("10.0.0.15"))
	n.runFor(3 * time.Minute)
	got := n.types(mark)
	require.GreaterOrEqual(t, len(got), requestRetries+1+4)
	for _, typ := range got[:requestRetries+1] {
		assert.Equal(t, Request, typ)
	}
	assert.Equal(t, []MessageType{Discover, Offer, Request, Ack}, got[requestRetries+1:requestRetries+5])
	assert.Equal(t, StateBound, n.cli.State())
}

func TestClientNak(t *testing.T) {
	n := newTestNet(t, false)
	l := n.bind(t)
	// The server reassigns the address (say, after an admin change).
	i, _ := n.srv.index(l.Addr.Addr())
	n.srv.pool[i].client = "someone else"
	mark := len(n.log)
	n.sch.RunUntil(l.Start.Add(l.T1).Add(10 * time.Millisecond))
	assert.Equal(t, []MessageType{Request, Nak, Discover, Offer, Request, Ack}, n.types(mark))
	assert.Equal(t, 1, n.removed, "a NAK in RENEWING removes the address")
	assert.Equal(t, StateBound, n.cli.State())
	l2, _ := n.cli.Lease()
	assert.NotEqual(t, l.Addr, l2.Addr)
	// NAK while REQUESTING: a forged REQUEST for an address not offered.
	var req Message
	require.NoError(t, req.Unmarshal(n.log[mark+4].msg.Marshal()))
	req.Options.SetAddrs(OptRequestedIP, netip.MustParseAddr("10.0.0.19"))
	r, ok := n.srv.Handle(req.Marshal())
	require.True(t, ok)
	var nak Message
	require.NoError(t, nak.Unmarshal(r.Msg))
	assert.Equal(t, Nak, nak.Type())
	assert.Equal(t, netip.AddrPortFrom(broadcastAddr, ClientPort), r.Dst)
}

func TestClientIgnores(t *testing.T) {
	n := newTestNet(t, false)
	n.serverDown = true
	n.cli.Start(netip.Addr{})
	xid := n.log[0].msg.Xid
	offer := sampleMessage()
	offer.Xid = xid + 1
	n.cli.Handle(offer.Marshal())
	offer.Xid = xid
	offer.CHAddr[5] = 99
	n.cli.Handle(offer.Marshal())
	offer.CHAddr = [16]byte{2, 0, 0, 0, 0, 1}
	offer.Op = BootRequest
	n.cli.Handle(offer.Marshal())
	n.cli.Handle([]byte{1, 2, 3})
	assert.Equal(t, uint64(3), n.cli.Stats.Ignored)
	assert.Equal(t, uint64(1), n.cli.Stats.Malformed)
	assert.Equal(t, StateSelecting, n.cli.State())
	// A valid offer for this xid moves the client on.
	offer.Op = BootReply
	n.cli.Handle(offer.Marshal())
	assert.Equal(t, StateRequesting, n.cli.State())
}

func TestClientFiltersOthersWithoutAllocating(t *testing.T) {
	n := newTestNet(t, false)
	n.serverDown = true
	n.cli.Start(netip.Addr{})
	other := sampleMessage()
	other.Xid = n.log[0].msg.Xid + 1
	b := other.Marshal()
	assert.Zero(t, testing.AllocsPerRun(100, func() { n.cli.Handle(b) }))
	v, err := ParseView(b)
	require.NoError(t, err)
	assert.Equal(t, other.Xid, v.Xid())
	assert.Equal(t, BootReply, v.Op())
	_, err = ParseView(b[:MinLen-1])
	assert.ErrorIs(t, err, ErrShort)
}
