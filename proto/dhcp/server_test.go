package dhcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientMsg builds a client message from hardware address byte hw.
func clientMsg(hw byte, t MessageType, xid uint32) *Message {
	m := &Message{Op: BootRequest, HType: 1, HLen: 6, Xid: xid,
		CIAddr: netip.IPv4Unspecified(), YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified(),
		CHAddr: [16]byte{2, 0, 0, 0, 1, hw}}
	m.Options.Set(OptMessageType, []byte{byte(t)})
	return m
}

func handle(t *testing.T, s *Server, m *Message) (*Message, netip.AddrPort) {
	r, ok := s.Handle(m.Marshal())
	if !ok {
		return nil, netip.AddrPort{}
	}
	var out Message
	require.NoError(t, out.Unmarshal(r.Msg))
	assert.Equal(t, m.Xid, out.Xid)
	assert.Equal(t, m.CHAddr, out.CHAddr)
	assert.Equal(t, BootReply, out.Op)
	return &out, r.Dst
}

func smallPool(t *testing.T, sch *clock.Scheduler) *Server {
	cfg := testCfg
	cfg.PoolEnd = netip.MustParseAddr("10.0.0.11")
	s, err := NewServer(sch, cfg)
	require.NoError(t, err)
	return s
}

func TestServerOfferAndExhaustion(t *testing.T) {
	sch := clock.NewScheduler(0)
	s := smallPool(t, sch)
	o1, dst := handle(t, s, clientMsg(1, Discover, 1))
	require.NotNil(t, o1)
	assert.Equal(t, Offer, o1.Type())
	assert.Equal(t, netip.AddrPortFrom(broadcastAddr, ClientPort), dst)
	assert.Equal(t, netip.MustParseAddr("10.0.0.10"), o1.YIAddr)
	mask, _ := o1.Options.Addr(OptSubnetMask)
	assert.Equal(t, netip.MustParseAddr("255.255.255.0"), mask)
	t1, _ := o1.Options.Seconds(OptRenewalTime)
	assert.Equal(t, 30*time.Minute, t1)
	// A second DISCOVER from the same client gets the same offer.
	o1b, _ := handle(t, s, clientMsg(1, Discover, 2))
	assert.Equal(t, o1.YIAddr, o1b.YIAddr)
	o2, _ := handle(t, s, clientMsg(2, Discover, 3))
	assert.Equal(t, netip.MustParseAddr("10.0.0.11"), o2.YIAddr)
	// Pool full while the offers are held.
	o3, _ := handle(t, s, clientMsg(3, Discover, 4))
	assert.Nil(t, o3)
	assert.Equal(t, uint64(1), s.Stats.Exhausted)
	// Offers expire after OfferHold.
	sch.SetNow(clock.Time(time.Minute))
	o3, _ = handle(t, s, clientMsg(3, Discover, 5))
	require.NotNil(t, o3)
	assert.Equal(t, netip.MustParseAddr("10.0.0.10"), o3.YIAddr)
}

func TestServerRequestForms(t *testing.T) {
	sch := clock.NewScheduler(0)
	s := smallPool(t, sch)
	o, _ := handle(t, s, clientMsg(1, Discover, 1))
	require.NotNil(t, o)
	// Another server selected: our offer is freed, no reply.
	req := clientMsg(1, Request, 1)
	req.Options.SetAddrs(OptServerID, netip.MustParseAddr("10.0.0.2"))
	req.Options.SetAddrs(OptRequestedIP, o.YIAddr)
	r, _ := handle(t, s, req)
	assert.Nil(t, r)
	o2, _ := handle(t, s, clientMsg(2, Discover, 2))
	assert.Equal(t, o.YIAddr, o2.YIAddr, "freed offer reused")

	// Relay: replies go to giaddr:67.
	relayed := clientMsg(3, Discover, 3)
	relayed.GIAddr = netip.MustParseAddr("10.0.0.254")
	_, dst := handle(t, s, relayed)
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.254:67"), dst)

	// SELECTING ACK, then renewal unicast back to ciaddr.
	req = clientMsg(2, Request, 4)
	req.Options.SetAddrs(OptServerID, serverIP)
	req.Options.SetAddrs(OptRequestedIP, o2.YIAddr)
	ack, dst := handle(t, s, req)
	require.NotNil(t, ack)
	assert.Equal(t, Ack, ack.Type())
	assert.Equal(t, netip.AddrPortFrom(broadcastAddr, ClientPort), dst)
	renew := clientMsg(2, Request, 5)
	renew.CIAddr = o2.YIAddr
	ack, dst = handle(t, s, renew)
	require.NotNil(t, ack)
	assert.Equal(t, Ack, ack.Type())
	assert.Equal(t, netip.AddrPortFrom(o2.YIAddr, ClientPort), dst)
	assert.Equal(t, o2.YIAddr, ack.CIAddr)
	// Renewal from a client that does not hold the address: NAK.
	thief := clientMsg(9, Request, 6)
	thief.CIAddr = o2.YIAddr
	nak, _ := handle(t, s, thief)
	require.NotNil(t, nak)
	assert.Equal(t, Nak, nak.Type())
	// After the lease expires a renewal is not acknowledged.
	sch.SetNow(clock.Time(2 * time.Hour))
	r, _ = handle(t, s, renew)
	assert.Nil(t, r)
}

func TestServerInformDeclineRelease(t *testing.T) {
	sch := clock.NewScheduler(0)
	s := smallPool(t, sch)
	inf := clientMsg(5, Inform, 9)
	inf.CIAddr = netip.MustParseAddr("10.0.0.99")
	ack, dst := handle(t, s, inf)
	require.NotNil(t, ack)
	assert.Equal(t, Ack, ack.Type())
	assert.True(t, ack.YIAddr.IsUnspecified())
	_, hasLease := ack.Options.Get(OptLeaseTime)
	assert.False(t, hasLease, "RFC 2131 4.3.5: no lease time in an INFORM ACK")
	assert.Equal(t, []netip.Addr{serverIP}, ack.Options.Addrs(OptRouter))
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.99:68"), dst)

	// DECLINE quarantines the address for DeclineHold.
	o, _ := handle(t, s, clientMsg(1, Discover, 1))
	dec := clientMsg(1, Decline, 1)
	dec.Options.SetAddrs(OptRequestedIP, o.YIAddr)
	dec.Options.SetAddrs(OptServerID, serverIP)
	r, _ := handle(t, s, dec)
	assert.Nil(t, r)
	o2, _ := handle(t, s, clientMsg(2, Discover, 2))
	assert.NotEqual(t, o.YIAddr, o2.YIAddr)
	o3, _ := handle(t, s, clientMsg(3, Discover, 3))
	assert.Nil(t, o3, "declined address held out of the pool")
	sch.SetNow(clock.Time(time.Hour))
	o3, _ = handle(t, s, clientMsg(3, Discover, 3))
	require.NotNil(t, o3)

	// RELEASE by someone who does not hold the address is ignored.
	rel := clientMsg(7, Release, 1)
	rel.CIAddr = o3.YIAddr
	before := s.Stats.Ignored
	r, _ = handle(t, s, rel)
	assert.Nil(t, r)
	assert.Equal(t, before+1, s.Stats.Ignored)
	// Garbage and BOOTREPLYs are counted, not answered.
	_, ok := s.Handle([]byte("garbage"))
	assert.False(t, ok)
	rep := clientMsg(1, Discover, 1)
	rep.Op = BootReply
	r, _ = handle(t, s, rep)
	assert.Nil(t, r)
	assert.Equal(t, uint64(1), s.Stats.Malformed)
}

func TestNewServerRejects(t *testing.T) {
	sch := clock.NewScheduler(0)
	bad := []func(c *ServerConfig){
		func(c *ServerConfig) { c.ServerID = netip.Addr{} },
		func(c *ServerConfig) { c.PoolEnd = netip.MustParseAddr("10.0.1.5") },
		func(c *ServerConfig) { c.PoolStart, c.PoolEnd = c.PoolEnd, c.PoolStart },
		func(c *ServerConfig) {
			c.Subnet = netip.MustParsePrefix("10.0.0.0/8")
			c.PoolEnd = netip.MustParseAddr("10.255.0.0")
		},
	}
	for i, f := range bad {
		cfg := testCfg
		f(&cfg)
		_, err := NewServer(sch, cfg)
		assert.Error(t, err, "case %d", i)
	}
}

// FuzzServerAndClient feeds arbitrary datagrams to a server and to a
// client waiting for an ACK: nothing may panic, and any reply the server
// sends decodes.
func FuzzServerAndClient(f *testing.F) {
	f.Add(clientMsg(1, Discover, 1).Marshal())
	req := clientMsg(1, Request, 1)
	req.Options.SetAddrs(OptServerID, serverIP)
	req.Options.SetAddrs(OptRequestedIP, netip.MustParseAddr("10.0.0.10"))
	f.Add(req.Marshal())
	f.Add(sampleMessage().Marshal())
	f.Add(clientMsg(8, Discover, 2).Marshal())
	f.Add(selecting(7, 3, netip.MustParseAddr("10.0.0.11")).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		sch := clock.NewScheduler(0)
		s, err := NewServer(sch, reservedCfg())
		require.NoError(t, err)
		if r, ok := s.Handle(b); ok {
			var m Message
			require.NoError(t, m.Unmarshal(r.Msg))
		}
		n := newTestNet(t, false)
		n.serverDown = true
		n.cli.Start(netip.Addr{})
		n.cli.Handle(b)
		n.runFor(time.Minute)
	})
}

func BenchmarkServerDiscover(b *testing.B) {
	sch := clock.NewScheduler(0)
	s, err := NewServer(sch, testCfg)
	require.NoError(b, err)
	msg := clientMsg(1, Discover, 1).Marshal()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Handle(msg); !ok {
			b.Fatal("no offer")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// reservedCfg is smallPool's configuration (10.0.0.10-11) with client 7
// reserved at 10.0.0.11, inside the pool, and client 8 at 10.0.0.100,
// outside it.
func reservedCfg() ServerConfig {
	cfg := testCfg
	cfg.PoolEnd = netip.MustParseAddr("10.0.0.11")
	cfg.Reservations = []Reservation{
		{HW: [6]byte{2, 0, 0, 0, 1, 7}, Addr: netip.MustParseAddr("10.0.0.11")},
		{HW: [6]byte{2, 0, 0, 0, 1, 8}, Addr: netip.MustParseAddr("10.0.0.100")},
	}
	return cfg
}

// selecting returns client hw's SELECTING REQUEST for addr.
func selecting(hw byte, xid uint32, addr netip.Addr) *Message {
	m := clientMsg(hw, Request, xid)
	m.Options.SetAddrs(OptServerID, serverIP)
	m.Options.SetAddrs(OptRequestedIP, addr)
	return m
}

func TestServerReservations(t *testing.T) {
	sch := clock.NewScheduler(0)
	s, err := NewServer(sch, reservedCfg())
	require.NoError(t, err)
	in, out := netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.100")

	// Client 1 gets the only unreserved pool address; client 2 finds the
	// pool full even when it asks for the reserved one.
	o, _ := handle(t, s, clientMsg(1, Discover, 1))
	require.NotNil(t, o)
	assert.Equal(t, netip.MustParseAddr("10.0.0.10"), o.YIAddr)
	greedy := clientMsg(2, Discover, 2)
	greedy.Options.SetAddrs(OptRequestedIP, in)
	o, _ = handle(t, s, greedy)
	assert.Nil(t, o, "a reserved address is never offered to another client")
	assert.Equal(t, uint64(1), s.Stats.Exhausted)

	// Client 7 gets its address by hardware address, although it also
	// sends a client identifier, and keeps it after a release.
	d7 := clientMsg(7, Discover, 3)
	d7.Options.Set(OptClientID, []byte("seven"))
	o, _ = handle(t, s, d7)
	require.NotNil(t, o)
	assert.Equal(t, in, o.YIAddr)
	r7 := selecting(7, 3, in)
	r7.Options.Set(OptClientID, []byte("seven"))
	ack, _ := handle(t, s, r7)
	require.NotNil(t, ack)
	assert.Equal(t, Ack, ack.Type())
	assert.Equal(t, in, ack.YIAddr)

	// Client 8's reservation beats the address it asks for, and lies
	// outside the pool.
	d8 := clientMsg(8, Discover, 4)
	d8.Options.SetAddrs(OptRequestedIP, netip.MustParseAddr("10.0.0.10"))
	o, _ = handle(t, s, d8)
	require.NotNil(t, o)
	assert.Equal(t, out, o.YIAddr)
	ack, _ = handle(t, s, selecting(8, 4, out))
	require.NotNil(t, ack)
	assert.Equal(t, Ack, ack.Type())
	got, ok := s.Leased(ClientKey(clientMsg(8, Discover, 0)))
	require.True(t, ok)
	assert.Equal(t, out, got)

	// Another client claiming a reserved address is refused in every
	// REQUEST form (RFC 2131 section 4.3.2).
	for _, a := range []netip.Addr{in, out} {
		sel := selecting(3, 5, a)
		nak, _ := handle(t, s, sel)
		require.NotNil(t, nak, "SELECTING %v", a)
		assert.Equal(t, Nak, nak.Type())
		reboot := clientMsg(3, Request, 6)
		reboot.Options.SetAddrs(OptRequestedIP, a)
		nak, _ = handle(t, s, reboot)
		require.NotNil(t, nak, "INIT-REBOOT %v", a)
		assert.Equal(t, Nak, nak.Type())
		renew := clientMsg(3, Request, 7)
		renew.CIAddr = a
		nak, _ = handle(t, s, renew)
		require.NotNil(t, nak, "RENEWING %v", a)
		assert.Equal(t, Nak, nak.Type())
	}

	// Even with the reserved clients gone and their leases expired, the
	// addresses stay theirs.
	sch.SetNow(clock.Time(3 * time.Hour))
	o, _ = handle(t, s, clientMsg(4, Discover, 8))
	require.NotNil(t, o)
	assert.Equal(t, netip.MustParseAddr("10.0.0.10"), o.YIAddr)
	o, _ = handle(t, s, clientMsg(5, Discover, 9))
	assert.Nil(t, o)
	renew := clientMsg(8, Request, 10)
	renew.CIAddr = out
	nak, _ := handle(t, s, renew)
	assert.Nil(t, nak, "an expired lease is not renewed, but its owner is not refused either")
	o, _ = handle(t, s, clientMsg(8, Discover, 11))
	require.NotNil(t, o)
	assert.Equal(t, out, o.YIAddr)
}

func TestServerReservationDeclined(t *testing.T) {
	sch := clock.NewScheduler(0)
	s, err := NewServer(sch, reservedCfg())
	require.NoError(t, err)
	out := netip.MustParseAddr("10.0.0.100")
	o, _ := handle(t, s, clientMsg(8, Discover, 1))
	require.NotNil(t, o)
	require.Equal(t, out, o.YIAddr)
	decl := clientMsg(8, Decline, 2)
	decl.Options.SetAddrs(OptServerID, serverIP)
	decl.Options.SetAddrs(OptRequestedIP, out)
	r, _ := handle(t, s, decl)
	assert.Nil(t, r)
	// The reserved address is in use by someone else: the owner gets a
	// pool address until the decline hold ends.
	o, _ = handle(t, s, clientMsg(8, Discover, 3))
	require.NotNil(t, o)
	assert.Equal(t, netip.MustParseAddr("10.0.0.10"), o.YIAddr)
	sch.SetNow(clock.Time(2 * time.Hour))
	o, _ = handle(t, s, clientMsg(8, Discover, 4))
	require.NotNil(t, o)
	assert.Equal(t, out, o.YIAddr)
}

func TestServerReservationConfig(t *testing.T) {
	hw := func(b byte) [6]byte { return [6]byte{2, 0, 0, 0, 1, b} }
	a := netip.MustParseAddr
	tests := []struct {
		name string
		rs   []Reservation
		err  string
	}{
		{"outside subnet", []Reservation{{hw(1), a("10.0.1.5")}}, "reservation 0 (10.0.1.5 for 02:00:00:00:01:01): address not inside 10.0.0.0/24"},
		{"IPv6", []Reservation{{hw(1), a("2001:db8::1")}}, "address not inside"},
		{"unset address", []Reservation{{hw(1), netip.Addr{}}}, "address not inside"},
		{"network address", []Reservation{{hw(1), a("10.0.0.0")}}, "the network or broadcast address of 10.0.0.0/24"},
		{"broadcast address", []Reservation{{hw(1), a("10.0.0.255")}}, "the network or broadcast address"},
		{"server address", []Reservation{{hw(1), serverIP}}, "the server's own address"},
		{"address twice in pool", []Reservation{{hw(1), a("10.0.0.12")}, {hw(2), a("10.0.0.12")}}, "reservation 1 (10.0.0.12 for 02:00:00:00:01:02): address reserved twice"},
		{"address twice outside pool", []Reservation{{hw(1), a("10.0.0.99")}, {hw(2), a("10.0.0.99")}}, "address reserved twice"},
		{"hardware address twice", []Reservation{{hw(1), a("10.0.0.12")}, {hw(1), a("10.0.0.13")}}, "hardware address reserved twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testCfg
			cfg.Reservations = tc.rs
			_, err := NewServer(clock.NewScheduler(0), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	cfg := testCfg
	cfg.Reservations = []Reservation{{hw(1), a("10.0.0.12")}, {hw(2), a("10.0.0.200")}}
	_, err := NewServer(clock.NewScheduler(0), cfg)
	assert.NoError(t, err)
}
