package tcp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

// flood sends n SYNs to the rig's listener from other ports of the peer,
// as hping3 --flood -S does, and drops the answers.
func (r *rig) flood(n int) {
	r.t.Helper()
	port := r.pport
	for i := 0; i < n; i++ {
		r.pport = uint16(1024 + i%60000)
		r.inject(Fields{Seq: uint32(7919 * i), Flags: FlagSYN, Window: 512}, nil, nil)
		if len(r.net.Out) > 64 {
			r.drain()
		}
	}
	r.drain()
	r.pport = port
}

// RFC 4987 section 3.6: a SYN flood fills the half-open queue and no more;
// a legitimate client's SYN then gets a cookie SYN-ACK, and its ACK makes
// the connection, with the options the cookie and the timestamp carried.
func TestSYNCookieFlood(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		syn     *Options
		wantMSS int // the connection's segment size (timestamps subtracted)
		ws, ts  bool
		sack    bool
		shift   uint8
	}{
		{name: "all options", syn: &Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 5000},
			wantMSS: 1460 - 12, ws: true, ts: true, sack: true, shift: 7},
		{name: "timestamps without window scaling", syn: &Options{HasMSS: true, MSS: 1400, SACKPermitted: true, HasTS: true, TSVal: 5000},
			wantMSS: 1300 - 12, ts: true, sack: true},
		{name: "no timestamps", syn: &Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true},
			wantMSS: 1460},
		{name: "no options", syn: nil, wantMSS: 536},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const backlog = 16
			r := newRig(t, Config{})
			l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), backlog, nil)
			require.NoError(t, err)
			r.flood(20000)
			assert.Equal(t, backlog, r.s.NumConns(), "the half-open queue holds the backlog, no more")
			assert.Equal(t, backlog, l.pending)
			assert.Equal(t, uint64(20000-backlog), r.s.Stats().SYNCookiesSent)
			assert.Zero(t, r.s.Stats().BacklogDrops)

			r.pport = 61000
			r.inject(Fields{Seq: 1000, Flags: FlagSYN, Window: 65535}, tc.syn, nil)
			sa := r.take()
			require.True(t, sa.has(FlagSYN|FlagACK), "cookie SYN-ACK")
			assert.Equal(t, uint32(1001), uint32(sa.ack()))
			assert.Equal(t, backlog, r.s.NumConns(), "a cookie keeps no state")
			assert.Equal(t, tc.ts, sa.o.HasTS)
			assert.Equal(t, tc.ws, sa.o.HasWScale)
			assert.Equal(t, tc.sack, sa.o.SACKPermitted)
			var ao *Options
			if tc.ts {
				assert.Equal(t, uint32(5000), sa.o.TSEcr)
				ao = &Options{HasTS: true, TSVal: 5001, TSEcr: sa.o.TSVal}
			}
			r.advance(time.Second)
			r.inject(Fields{Seq: 1001, Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 1000}, ao, []byte("GET /"))
			require.Equal(t, 1, l.Ready(), "the cookie's ACK made a connection")
			c, err := l.Accept(r.ev)
			require.NoError(t, err)
			assert.Equal(t, StateEstablished, c.State())
			assert.Equal(t, 5, c.Readable(), "data on the completing ACK")
			assert.Equal(t, tc.wantMSS, c.mss)
			assert.Equal(t, tc.ws, c.wsOK)
			assert.Equal(t, tc.ts, c.tsOK)
			assert.Equal(t, tc.sack, c.sackOK)
			assert.Equal(t, tc.shift, c.sndShift)
			assert.Equal(t, uint32(1000)<<tc.shift, c.sndWnd, "the ACK's window, scaled")
			assert.Equal(t, uint64(1), r.s.Stats().SYNCookiesValid)

			// The connection works: its ACK of the data carries the
			// timestamp clock the SYN-ACK started.
			n, err := c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
			require.NoError(t, err)
			require.Equal(t, 19, n)
			c.flush()
			d := r.take()
			for len(d.data) == 0 {
				d = r.take()
			}
			assert.Equal(t, uint32(sa.seq()+1), uint32(d.seq()))
			assert.Equal(t, uint32(1006), uint32(d.ack()))
			if tc.ts {
				assert.Equal(t, uint32(5001), d.o.TSEcr)
				assert.InDelta(t, float64(sa.o.TSVal), float64(d.o.TSVal), 1100, "TSval continues the SYN-ACK's clock")
			}
		})
	}
}

// Cookies that do not check out are reset like any stray ACK (RFC 9293
// section 3.10.7.2), and without a recent overflow no ACK is taken for a
// cookie at all (tcp_synq_no_recent_overflow).
func TestSYNCookieInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		flood   bool
		ackSkew uint32
		seqSkew uint32
		wait    time.Duration
	}{
		{name: "forged cookie", flood: true, ackSkew: 1},
		{name: "other peer ISN", flood: true, seqSkew: 1 << 20},
		{name: "expired cookie", flood: true, wait: 129 * time.Second},
		{name: "no overflow", flood: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 2, nil)
			require.NoError(t, err)
			// A cookie made by a second stack with the same key, for the
			// no-overflow case, or by this one after a flood.
			r.flood(3)
			if !tc.flood {
				r = newRig(t, Config{})
				l, err = r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 2, nil)
				require.NoError(t, err)
			}
			k := connKey{laddr: r.local, raddr: r.peer, lport: r.lport, rport: 61000}
			cookie := r.s.makeCookie(k, 1000, 3)
			if tc.wait > 0 {
				r.advance(tc.wait)
				r.flood(3) // a recent overflow again
			}
			r.pport = 61000
			r.inject(Fields{Seq: 1001 + tc.seqSkew, Ack: cookie + 1 + tc.ackSkew, Flags: FlagACK, Window: 1000}, nil, nil)
			assert.Zero(t, l.Ready())
			rst := r.take()
			assert.True(t, rst.has(FlagRST), "a bad cookie is reset")
			assert.Equal(t, cookie+1+tc.ackSkew, uint32(rst.seq()))
			assert.Zero(t, r.s.Stats().SYNCookiesValid)
		})
	}
}

// The cookie's time counter: valid in its own period and the next, and
// carrying each MSS index (check_tcp_syn_cookie).
func TestSYNCookieCounter(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	k := connKey{laddr: r.local, raddr: r.peer, lport: 80, rport: 4242}
	for idx := uint32(0); idx < 4; idx++ {
		c := r.s.makeCookie(k, 99, idx)
		assert.Equal(t, int(idx), r.s.checkCookie(k, 99, c, 4))
		assert.Equal(t, -1, r.s.checkCookie(k, 99+1<<20, c, 4), "another ISN")
		assert.Equal(t, -1, r.s.checkCookie(k, 99, c, int(idx)), "index beyond the table")
		k2 := k
		k2.rport++
		assert.Equal(t, -1, r.s.checkCookie(k2, 99, c, 4), "another port")
	}
	c := r.s.makeCookie(k, 99, 2)
	r.advance(cookiePeriod)
	assert.Equal(t, 2, r.s.checkCookie(k, 99, c, 4), "one period later")
	r.advance(cookiePeriod)
	assert.Equal(t, -1, r.s.checkCookie(k, 99, c, 4), "two periods later")
}

// A full accept queue drops SYNs (no cookie: its connection would find no
// room) and the ACKs of cookies sent before it filled (tcp_conn_request,
// tcp_v4_syn_recv_sock).
func TestSYNCookieAcceptQueueFull(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	l, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 2, nil)
	require.NoError(t, err)
	r.flood(2)
	// A cookie for a client, then the two half-open connections complete
	// and fill the accept queue.
	r.pport = 61000
	r.inject(Fields{Seq: 1000, Flags: FlagSYN, Window: 65535}, plain, nil)
	cookie := r.take()
	require.True(t, cookie.has(FlagSYN|FlagACK))
	for _, c := range r.s.conns {
		r.pport = c.key.rport
		r.inject(Fields{Seq: uint32(c.irs + 1), Ack: uint32(c.iss + 1), Flags: FlagACK, Window: 1000}, nil, nil)
	}
	require.Equal(t, 2, l.Ready())
	r.drain()
	r.pport = 61000
	r.inject(Fields{Seq: 1001, Ack: uint32(cookie.seq() + 1), Flags: FlagACK, Window: 1000}, nil, nil)
	r.none()
	assert.Equal(t, 2, l.Ready())
	assert.Equal(t, uint64(1), r.s.Stats().BacklogDrops)
	r.pport = 61001
	r.inject(Fields{Seq: 1000, Flags: FlagSYN, Window: 65535}, plain, nil)
	r.none()
	assert.Equal(t, uint64(2), r.s.Stats().BacklogDrops)
	// After an Accept, the retransmitted ACK of the cookie gets in.
	_, err = l.Accept(r.ev)
	require.NoError(t, err)
	r.pport = 61000
	r.inject(Fields{Seq: 1001, Ack: uint32(cookie.seq() + 1), Flags: FlagACK, Window: 1000}, nil, nil)
	assert.Equal(t, 2, l.Ready())
}

// discardNet drops what the stack sends.
type discardNet struct{ local netip.Addr }

func (n discardNet) SendIP(uint8, netip.Addr, netip.Addr, []byte) error { return nil }
func (n discardNet) SourceFor(netip.Addr) (netip.Addr, bool)            { return n.local, true }
func (n discardNet) PathMTU(netip.Addr) int                             { return 1500 }

// Answering a flood SYN with a cookie allocates nothing: the flood costs
// the listener no memory (the half-open queue is already full). Not
// parallel: AllocsPerRun needs the process to itself.
func TestSYNCookieNoAllocation(t *testing.T) {
	local, peer := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")
	s := New(discardNet{local}, clock.NewScheduler(clock.Time(1e12)), rng.New(9, "alloc"), Config{})
	_, err := s.Listen(netip.AddrPortFrom(local, 80), 4, nil)
	require.NoError(t, err)
	b := make([]byte, HeaderLen+MaxOptionsLen)
	port := uint16(1024)
	syn := func() {
		port++
		n, err := Encode(b, Fields{SrcPort: port, DstPort: 80, Seq: uint32(port) * 7, Flags: FlagSYN, Window: 512},
			&Options{HasMSS: true, MSS: 1460, HasTS: true, TSVal: 1, SACKPermitted: true}, nil, peer, local)
		if err != nil {
			panic(err)
		}
		s.HandleIP(peer, local, b[:n])
	}
	for i := 0; i < 10; i++ {
		syn()
	}
	require.Equal(t, 4, s.NumConns())
	assert.Zero(t, testing.AllocsPerRun(1000, syn))
	assert.Equal(t, 4, s.NumConns())
	assert.Equal(t, uint64(4), s.Stats().PeakConnections)
	assert.Equal(t, uint64(1000+1+10-4), s.Stats().SYNCookiesSent, "AllocsPerRun warms up once")
}
