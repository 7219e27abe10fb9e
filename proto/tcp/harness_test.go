package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/require"
)

// seg is a decoded segment captured from the stack under test.
type seg struct {
	h    Header
	o    Options
	data []byte
}

func (s seg) seq() seqnum { return seqnum(s.h.Seq()) }
func (s seg) ack() seqnum { return seqnum(s.h.Ack()) }
func (s seg) has(f uint8) bool {
	return s.h.Flags()&f == f
}

// rig drives one Stack with crafted segments from a scripted peer, on
// the shared harness of internal/tcptest: it adds the typed segments
// (Fields, Options) of this package.
type rig struct {
	t     *testing.T
	sched *clock.Scheduler
	net   *tcptest.Net
	s     *Stack
	local netip.Addr
	peer  netip.Addr
	lport uint16
	pport uint16
	log   tcptest.Log
	conn  *Conn
	ev    *EventFuncs
	// peer's sequence state
	pISS seqnum
	pNxt seqnum
	pTS  uint32
}

func newRig(t *testing.T, cfg Config) *rig {
	sched := clock.NewScheduler(clock.Time(1_000_000_000_000))
	n := tcptest.NewNet(sched, netip.MustParseAddr("10.9.0.1"), 1500)
	r := &rig{t: t, sched: sched, net: n, local: n.Local, peer: netip.MustParseAddr("10.9.0.2"), lport: 80, pport: 40000, pISS: 1000, pTS: 5000}
	r.s = New(n, sched, rng.New(9, "rig"), cfg)
	r.ev = &EventFuncs{
		Established: func(*Conn) { r.log.Add("established") },
		Readable:    func(*Conn) { r.log.Add("readable") },
		Writable:    func(*Conn) { r.log.Add("writable") },
		Urgent:      func(*Conn) { r.log.Add("urgent") },
		Closed:      func(_ *Conn, err error) { r.log.Closed(err) },
	}
	return r
}

// inject delivers a crafted segment from the peer.
func (r *rig) inject(f Fields, o *Options, payload []byte) {
	r.t.Helper()
	f.SrcPort, f.DstPort = r.pport, r.lport
	b := make([]byte, HeaderLen+MaxOptionsLen+len(payload))
	n, err := Encode(b, f, o, payload, r.peer, r.local)
	require.NoError(r.t, err)
	r.s.HandleIP(r.peer, r.local, b[:n])
}

// ts returns peer timestamp options echoing ecr.
func (r *rig) ts(ecr uint32) *Options {
	r.pTS++
	return &Options{HasTS: true, TSVal: r.pTS, TSEcr: ecr}
}

// take pops the oldest captured segment.
func (r *rig) take() seg {
	r.t.Helper()
	out, ok := r.net.Pop()
	require.True(r.t, ok, "expected a segment")
	b := out.Data
	require.True(r.t, tcptest.ChecksumOK(r.local, r.peer, b), "checksum")
	h, err := ParseHeader(b)
	require.NoError(r.t, err)
	var s seg
	s.h = h
	require.NoError(r.t, ParseOptions(h.Options(), &s.o))
	s.data = h.Payload()
	return s
}

func (r *rig) none() {
	r.t.Helper()
	require.Empty(r.t, r.net.Out, "expected no segment")
}

func (r *rig) drain() { r.net.Drain() }

func (r *rig) advance(d time.Duration) { r.sched.RunUntil(r.sched.Now().Add(d)) }

// established opens a passive connection with the given peer SYN options
// and returns the stack's ISS+1 (its SND.NXT).
func (r *rig) established(o *Options) seqnum {
	r.t.Helper()
	_, err := r.s.Listen(netip.AddrPortFrom(r.local, r.lport), 8, func(l *Listener) {
		c, err := l.Accept(r.ev)
		require.NoError(r.t, err)
		r.conn = c
	})
	require.NoError(r.t, err)
	r.inject(Fields{Seq: uint32(r.pISS), Flags: FlagSYN, Window: 65535}, o, nil)
	sa := r.take()
	require.True(r.t, sa.has(FlagSYN|FlagACK))
	r.pNxt = r.pISS + 1
	var ao *Options
	if o != nil && o.HasTS {
		ao = r.ts(sa.o.TSVal)
	}
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(sa.seq() + 1), Flags: FlagACK, Window: 65535}, ao, nil)
	require.NotNil(r.t, r.conn)
	require.Equal(r.t, StateEstablished, r.conn.State())
	return sa.seq() + 1
}

// plain are SYN options without timestamps or SACK (simplest segments).
var plain = &Options{HasMSS: true, MSS: 1460}

func nil2rand() *rand.Rand { return rng.New(0, "unused") }
