package udpapp

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFillCheck(t *testing.T) {
	for _, size := range []int{HeaderLen, 17, 64, 1472} {
		b := make([]byte, size)
		Fill(b, 12345)
		seq, ok := Check(b)
		require.True(t, ok, "size %d", size)
		assert.Equal(t, uint64(12345), seq)
		for i := range b {
			b[i] ^= 0x10
			_, ok := Check(b)
			assert.False(t, ok, "size %d: flipped byte %d not detected", size, i)
			b[i] ^= 0x10
		}
	}
	_, ok := Check(make([]byte, HeaderLen-1))
	assert.False(t, ok)
	a, b := make([]byte, 64), make([]byte, 64)
	Fill(a, 1)
	Fill(b, 2)
	assert.NotEqual(t, a[HeaderLen:], b[HeaderLen:], "pattern depends on the sequence number")
}

func TestPatternWordMatchesBytes(t *testing.T) {
	x := mix(99)
	for i := HeaderLen; i < 4096; i += 8 {
		var want [8]byte
		for k := range want {
			want[k] = patternByte(x, i+k)
		}
		var got [8]byte
		binary.LittleEndian.PutUint64(got[:], patternWord(x, i))
		require.Equal(t, want, got, "offset %d", i)
	}
}

func FuzzCheck(f *testing.F) {
	good := make([]byte, 40)
	Fill(good, 7)
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, HeaderLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, ok := Check(b)
		if ok {
			c := make([]byte, len(b))
			Fill(c, seq)
			require.Equal(t, c, b)
		}
	})
}

func dgram(seq uint64, size int) []byte {
	b := make([]byte, size)
	Fill(b, seq)
	return b
}

func TestSinkCounts(t *testing.T) {
	s1 := netip.MustParseAddrPort("10.0.0.1:4000")
	s2 := netip.MustParseAddrPort("10.0.0.3:4000")
	dst := netip.MustParseAddrPort("10.0.0.2:9000")
	bad := dgram(5, 32)
	bad[20] ^= 1
	cases := []struct {
		name string
		in   []struct {
			src netip.AddrPort
			b   []byte
		}
		want SinkResult
	}{
		{"in order", []struct {
			src netip.AddrPort
			b   []byte
		}{{s1, dgram(0, 32)}, {s1, dgram(1, 32)}, {s1, dgram(2, 32)}},
			SinkResult{Port: 9000, Received: 3, Datagrams: 3, Bytes: 96, BytesVerified: true, Senders: []string{"10.0.0.1:4000"}}},
		{"duplicate and reorder", []struct {
			src netip.AddrPort
			b   []byte
		}{{s1, dgram(0, 20)}, {s1, dgram(2, 20)}, {s1, dgram(1, 20)}, {s1, dgram(2, 20)}},
			SinkResult{Port: 9000, Received: 4, Datagrams: 3, Duplicates: 1, OutOfOrder: 1, Bytes: 60, BytesVerified: true, Senders: []string{"10.0.0.1:4000"}}},
		{"two senders share sequence numbers", []struct {
			src netip.AddrPort
			b   []byte
		}{{s2, dgram(0, 16)}, {s1, dgram(0, 16)}},
			SinkResult{Port: 9000, Received: 2, Datagrams: 2, Bytes: 32, BytesVerified: true, Senders: []string{"10.0.0.1:4000", "10.0.0.3:4000"}}},
		{"corrupt and foreign", []struct {
			src netip.AddrPort
			b   []byte
		}{{s1, bad}, {s1, []byte("hello")}, {s1, dgram(1<<40, 16)}},
			SinkResult{Port: 9000, Received: 3, Invalid: 3, Senders: []string{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSink(SinkConfig{Name: "s", Port: 9000})
			require.NoError(t, err)
			for _, d := range c.in {
				s.HandleDatagram(d.src, dst, d.b)
			}
			assert.Equal(t, c.want, s.Result())
		})
	}
}

// wire is a one-host network that hands every sent datagram to a sink
// after a fixed delay, through the scheduler.
type wire struct {
	sched *clock.Scheduler
	local netip.AddrPort
	sink  app.DatagramHandler
	sent  []clock.Time
	fail  bool
}

type conn struct{ w *wire }

func (w *wire) Ping(netip.Addr, uint16, uint16, []byte) error { return nil }
func (w *wire) ListenEcho(uint16, app.EchoHandler) error      { return nil }
func (w *wire) ListenUDP(port uint16, h app.DatagramHandler) (app.Conn, error) {
	if port == 0 {
		port = 49152
	}
	w.local = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port)
	return conn{w}, nil
}

func (c conn) SendTo(dst netip.AddrPort, payload []byte) error {
	w := c.w
	if w.fail {
		return assert.AnError
	}
	w.sent = append(w.sent, w.sched.Now())
	b := append([]byte(nil), payload...)
	var tm clock.Timer
	tm.Init(clock.HandlerFunc(func(clock.Time) { w.sink.HandleDatagram(w.local, dst, b) }))
	w.sched.Schedule(&tm, w.sched.Now().Add(time.Millisecond))
	return nil
}

func TestSenderToSink(t *testing.T) {
	sched := clock.NewScheduler(0)
	sink, err := NewSink(SinkConfig{Name: "sink", Port: 9000})
	require.NoError(t, err)
	w := &wire{sched: sched, sink: sink}
	s, err := NewSender(SendConfig{Name: "tx", Target: netip.MustParseAddrPort("10.0.0.2:9000"), Count: 5, Size: 100, Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Start(&app.Env{Clock: sched, Rand: rng.New(1, "tx"), Net: w}))
	sched.RunUntil(clock.Time(time.Second))

	assert.Equal(t, SendResult{Target: "10.0.0.2:9000", Sent: 5, Bytes: 500}, s.Result())
	want := []clock.Time{0, 10e6, 20e6, 30e6, 40e6}
	assert.Equal(t, want, w.sent)
	r := sink.Result().(SinkResult)
	assert.Equal(t, 5, r.Datagrams)
	assert.True(t, r.BytesVerified)
	assert.Equal(t, []string{"10.0.0.1:49152"}, r.Senders)
}

func TestSenderCountsErrors(t *testing.T) {
	sched := clock.NewScheduler(0)
	w := &wire{sched: sched, fail: true}
	s, err := NewSender(SendConfig{Name: "tx", Target: netip.MustParseAddrPort("10.0.0.2:9000"), Count: 3, Size: 16, Interval: time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, s.Start(&app.Env{Clock: sched, Rand: rng.New(1, "tx"), Net: w}))
	sched.RunUntil(clock.Time(time.Second))
	assert.Equal(t, SendResult{Target: "10.0.0.2:9000", Errors: 3}, s.Result())
}

func TestConfigErrors(t *testing.T) {
	_, err := NewSender(SendConfig{Name: "x", Target: netip.MustParseAddrPort("10.0.0.2:9"), Count: 1, Size: 8, Interval: time.Second})
	assert.ErrorContains(t, err, "udp_send x")
	_, err = NewSink(SinkConfig{Name: "y"})
	assert.ErrorContains(t, err, "udp_sink y: need a port")
}
