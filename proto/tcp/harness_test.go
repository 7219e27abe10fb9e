package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/require"
)

// capNet records every segment a stack sends.
type capNet struct {
	local netip.Addr
	mtu   int
	out   [][]byte
}

func (n *capNet) SendIP(_ uint8, _, _ netip.Addr, p []byte) error {
	n.out = append(n.out, append([]byte(nil), p...))
	return nil
}
func (n *capNet) SourceFor(netip.Addr) (netip.Addr, bool) { return n.local, true }
func (n *capNet) PathMTU(netip.Addr) int                  { return n.mtu }

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

// rig drives one Stack with crafted segments from a scripted peer.
type rig struct {
	t      *testing.T
	sched  *clock.Scheduler
	net    *capNet
	s      *Stack
	local  netip.Addr
	peer   netip.Addr
	lport  uint16
	pport  uint16
	events []string
	conn   *Conn
	ev     *EventFuncs
	// peer's sequence state
	pISS seqnum
	pNxt seqnum
	pTS  uint32
}

func newRig(t *testing.T, cfg Config) *rig {
	sched := clock.NewScheduler(clock.Time(1_000_000_000_000))
	n := &capNet{local: netip.MustParseAddr("10.9.0.1"), mtu: 1500}
	r := &rig{t: t, sched: sched, net: n, local: n.local, peer: netip.MustParseAddr("10.9.0.2"), lport: 80, pport: 40000, pISS: 1000, pTS: 5000}
	r.s = New(n, sched, rng.New(9, "rig"), cfg)
	r.ev = &EventFuncs{
		Established: func(*Conn) { r.events = append(r.events, "established") },
		Readable:    func(*Conn) { r.events = append(r.events, "readable") },
		Writable:    func(*Conn) { r.events = append(r.events, "writable") },
		Urgent:      func(*Conn) { r.events = append(r.events, "urgent") },
		Closed: func(_ *Conn, err error) {
			if err != nil {
				r.events = append(r.events, "closed:"+err.Error())
			} else {
				r.events = append(r.events, "closed")
			}
		},
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
	require.NotEmpty(r.t, r.net.out, "expected a segment")
	b := r.net.out[0]
	r.net.out = r.net.out[1:]
	require.Zero(r.t, Checksum(r.local, r.peer, b), "checksum")
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
	require.Empty(r.t, r.net.out, "expected no segment")
}

func (r *rig) drain() { r.net.out = nil }

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
