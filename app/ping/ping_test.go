package ping

import (
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoNet answers echo requests after rtt(seq); a negative rtt drops the
// request, and dup lists sequence numbers answered twice.
type echoNet struct {
	sched  *clock.Scheduler
	target netip.Addr
	h      app.EchoHandler
	rtt    func(seq uint16) time.Duration
	dup    map[uint16]bool
	mangle uint16
	timers []*clock.Timer
}

func (n *echoNet) ListenEcho(_ uint16, h app.EchoHandler) error { n.h = h; return nil }
func (n *echoNet) ListenUDP(uint16, app.DatagramHandler) (app.Conn, error) {
	return nil, assert.AnError
}

func (n *echoNet) Ping(dst netip.Addr, id, seq uint16, payload []byte) error {
	d := n.rtt(seq)
	if d < 0 {
		return nil
	}
	b := append([]byte(nil), payload...)
	if seq == n.mangle && len(b) > 0 {
		b[0] ^= 0xff
	}
	copies := 1
	if n.dup[seq] {
		copies = 2
	}
	for range copies {
		tm := &clock.Timer{}
		tm.Init(clock.HandlerFunc(func(clock.Time) { n.h.HandleEchoReply(dst, id, seq, b, 64) }))
		n.sched.Schedule(tm, n.sched.Now().Add(d))
		n.timers = append(n.timers, tm)
	}
	return nil
}

func TestPing(t *testing.T) {
	target := netip.MustParseAddr("192.0.2.2")
	sched := clock.NewScheduler(0)
	n := &echoNet{
		sched:  sched,
		target: target,
		rtt: func(seq uint16) time.Duration {
			if seq == 3 {
				return -1 // lost
			}
			return time.Duration(seq) * time.Millisecond
		},
		dup:    map[uint16]bool{2: true},
		mangle: 5,
	}
	p, err := New(Config{Name: "p", Target: target, Count: 5, Interval: time.Second, Size: 56})
	require.NoError(t, err)
	require.NoError(t, p.Start(&app.Env{Clock: sched, Rand: rng.New(1, "p"), Net: n}))
	sched.RunUntil(clock.Time(10 * time.Second))

	r := p.Result().(Result)
	assert.Equal(t, Result{
		Target: "192.0.2.2", Sent: 5, Received: 3, Duplicates: 1, Mismatched: 1,
		LossPercent: 40, RTTMinMs: 1, RTTAvgMs: 2.333333, RTTMaxMs: 4, // average of whole nanoseconds
		RTTMin: time.Millisecond, RTTAvg: 2333333, RTTMax: 4 * time.Millisecond,
	}, r)
}

func TestPingIgnoresForeignReplies(t *testing.T) {
	target := netip.MustParseAddr("192.0.2.2")
	sched := clock.NewScheduler(0)
	n := &echoNet{sched: sched, rtt: func(uint16) time.Duration { return -1 }}
	p, err := New(Config{Name: "p", Target: target, Count: 2, Interval: time.Second, Size: 8})
	require.NoError(t, err)
	require.NoError(t, p.Start(&app.Env{Clock: sched, Rand: rng.New(1, "p"), Net: n}))
	id := p.id
	payload := []byte{0, 1, 2, 3, 4, 5, 6, 7}
	p.HandleEchoReply(target, id+1, 1, payload, 64)                         // other id
	p.HandleEchoReply(netip.MustParseAddr("192.0.2.9"), id, 1, payload, 64) // other host
	p.HandleEchoReply(target, id, 0, payload, 64)                           // never sent
	p.HandleEchoReply(target, id, 2, payload, 64)                           // not yet sent
	assert.Equal(t, 0, p.Result().(Result).Received)
	p.HandleEchoReply(target, id, 1, payload, 64)
	assert.Equal(t, 1, p.Result().(Result).Received)
	sched.RunUntil(clock.Time(5 * time.Second))
	assert.Equal(t, 2, p.Result().(Result).Sent)
}

func TestPingConfig(t *testing.T) {
	_, err := New(Config{Name: "p", Target: netip.MustParseAddr("192.0.2.2"), Count: 0, Interval: time.Second})
	assert.ErrorContains(t, err, "ping p: count 0 out of range")
	_, err = New(Config{Name: "p", Count: 1, Interval: time.Second})
	assert.ErrorContains(t, err, "ping p: no target")
}
