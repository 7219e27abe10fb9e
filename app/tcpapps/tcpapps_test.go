package tcpapps

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hop delivers segments to a peer stack after a delay, dropping every
// dropEvery-th one when dropEvery > 0.
type hop struct {
	sched     *clock.Scheduler
	local     netip.Addr
	peer      *tcp.Stack
	dropEvery int
	n         int
}

type seg struct {
	t        clock.Timer
	to       *tcp.Stack
	src, dst netip.Addr
	b        []byte
}

func (s *seg) OnTimer(clock.Time) { s.to.HandleIP(s.src, s.dst, s.b) }

func (h *hop) SendIP(_ uint8, src, dst netip.Addr, p []byte) error {
	h.n++
	if h.dropEvery > 0 && h.n%h.dropEvery == 0 {
		return nil
	}
	s := &seg{to: h.peer, src: src, dst: dst, b: append([]byte(nil), p...)}
	s.t.Init(s)
	h.sched.Schedule(&s.t, h.sched.Now().Add(2*time.Millisecond))
	return nil
}

func (h *hop) SourceFor(netip.Addr) (netip.Addr, bool) { return h.local, true }
func (h *hop) PathMTU(netip.Addr) int                  { return 1500 }

var (
	a = netip.MustParseAddr("10.1.0.1")
	b = netip.MustParseAddr("10.1.0.2")
)

func world(dropEvery int) (*clock.Scheduler, *tcp.Stack, *tcp.Stack) {
	sched := clock.NewScheduler(0)
	ha := &hop{sched: sched, local: a, dropEvery: dropEvery}
	hb := &hop{sched: sched, local: b, dropEvery: dropEvery}
	sa := tcp.New(ha, sched, rng.New(3, "a"), tcp.Config{})
	sb := tcp.New(hb, sched, rng.New(3, "b"), tcp.Config{})
	ha.peer, hb.peer = sb, sa
	return sched, sa, sb
}

func run(sched *clock.Scheduler, limit time.Duration, done func() bool) {
	end := sched.Now().Add(limit)
	for !done() && sched.Now() < end && sched.Step() {
	}
}

func TestBulkTransferVerified(t *testing.T) {
	for _, drop := range []int{0, 50} {
		sched, sa, sb := world(drop)
		const n = 3 << 20
		var sres, rres *BulkResult
		_, err := StartBulkReceiver(sb, sched, netip.AddrPortFrom(b, 5001), n, func(r BulkResult) { rres = &r })
		require.NoError(t, err)
		_, err = StartBulkSender(sa, sched, netip.AddrPortFrom(b, 5001), n, func(r BulkResult) { sres = &r })
		require.NoError(t, err)
		run(sched, 10*time.Minute, func() bool { return sres != nil && rres != nil })
		require.NotNil(t, sres)
		require.NotNil(t, rres)
		assert.True(t, rres.Verified, "receiver verified (drop every %d)", drop)
		assert.True(t, sres.Verified, "sender verified")
		assert.Equal(t, int64(n), rres.Bytes)
		assert.Greater(t, rres.Goodput, 0.0)
		if drop > 0 {
			assert.NotZero(t, sres.TCP.Retransmits)
		}
	}
}

func TestBulkReceiverDetectsCorruptPattern(t *testing.T) {
	sched, sa, sb := world(0)
	var rres *BulkResult
	_, err := StartBulkReceiver(sb, sched, netip.AddrPortFrom(b, 5001), 4, func(r BulkResult) { rres = &r })
	require.NoError(t, err)
	ev := &tcp.EventFuncs{Established: func(c *tcp.Conn) {
		_, _ = c.Write([]byte{PatternByte(0), PatternByte(1), PatternByte(2) + 1, PatternByte(3)})
		_ = c.Shutdown()
	}, Readable: func(c *tcp.Conn) {
		if _, err := c.Read(make([]byte, 8)); errors.Is(err, io.EOF) {
			_ = c.Close()
		}
	}}
	_, err = sa.Connect(netip.AddrPort{}, netip.AddrPortFrom(b, 5001), ev)
	require.NoError(t, err)
	run(sched, time.Minute, func() bool { return rres != nil })
	require.NotNil(t, rres)
	assert.Equal(t, int64(4), rres.Bytes)
	assert.False(t, rres.Verified)
}

func TestEchoAndDiscard(t *testing.T) {
	sched, sa, sb := world(0)
	echo, err := StartEcho(sb, netip.AddrPortFrom(b, 7), 4)
	require.NoError(t, err)
	disc, err := StartDiscard(sb, netip.AddrPortFrom(b, 9), 4)
	require.NoError(t, err)

	msg := bytes.Repeat([]byte("echo me "), 100000) // larger than the buffers
	var got bytes.Buffer
	off := 0
	closed := false
	buf := make([]byte, 64<<10)
	ev := &tcp.EventFuncs{}
	write := func(c *tcp.Conn) {
		for off < len(msg) {
			n, err := c.Write(msg[off:])
			off += n
			if err != nil {
				return
			}
		}
		_ = c.Shutdown()
	}
	ev.Established = write
	ev.Writable = func(c *tcp.Conn) {
		if off < len(msg) {
			write(c)
		}
	}
	ev.Readable = func(c *tcp.Conn) {
		for {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if errors.Is(err, io.EOF) {
				_ = c.Close()
				return
			}
			if err != nil {
				return
			}
		}
	}
	ev.Closed = func(*tcp.Conn, error) { closed = true }
	_, err = sa.Connect(netip.AddrPort{}, netip.AddrPortFrom(b, 7), ev)
	require.NoError(t, err)

	discDone := false
	_, err = StartBulkSender(sa, sched, netip.AddrPortFrom(b, 9), 1<<20, func(BulkResult) { discDone = true })
	require.NoError(t, err)

	run(sched, 10*time.Minute, func() bool { return closed && discDone })
	assert.True(t, closed)
	assert.True(t, bytes.Equal(msg, got.Bytes()), "echoed byte-exact")
	assert.Equal(t, uint64(len(msg)), echo.Stats().Bytes)
	assert.Equal(t, uint64(1<<20), disc.Stats().Bytes)
	assert.Equal(t, uint64(1), disc.Stats().Accepted)
}
