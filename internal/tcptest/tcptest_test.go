package tcptest_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
)

// A crafted segment decodes with proto/tcp's parser to the fields it was
// given, and both checksums (ours and proto/tcp's) verify it.
func TestCraftEncode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		opts     []byte
		payload  []byte
	}{
		{"v4-bare", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), nil, nil},
		{"v4-mss-odd-payload", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.18.0.1"), []byte{2, 4, 5, 0xb4}, []byte("abc")},
		{"v4-padded-options", netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), []byte{1, 3, 3, 7}, []byte("hello")},
		{"v6-sackok", netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), []byte{4, 2}, []byte("x")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := tcptest.Craft{SrcPort: 40000, DstPort: 8080, Seq: 1000, Ack: 2000, Flags: tcp.FlagACK | tcp.FlagPSH,
				Window: 512, Urgent: 3, Options: tc.opts, Payload: tc.payload}
			b := f.Encode(tc.src, tc.dst)
			assert.Zero(t, tcp.Checksum(tc.src, tc.dst, b), "proto/tcp verifies our checksum")
			assert.True(t, tcptest.ChecksumOK(tc.src, tc.dst, b))
			h, err := tcp.ParseHeader(b)
			require.NoError(t, err)
			assert.Equal(t, uint16(40000), h.SrcPort())
			assert.Equal(t, uint16(8080), h.DstPort())
			assert.Equal(t, uint32(1000), h.Seq())
			assert.Equal(t, uint32(2000), h.Ack())
			assert.Equal(t, tcp.FlagACK|tcp.FlagPSH, h.Flags())
			assert.Equal(t, uint16(512), h.Window())
			assert.Equal(t, uint16(3), h.Urgent())
			assert.Zero(t, len(h.Options())%4, "options padded to 32 bits")
			assert.Equal(t, string(tc.opts), string(h.Options()[:len(tc.opts)]))
			assert.Equal(t, string(tc.payload), string(h.Payload()))

			b[len(b)-1] ^= 0x40
			assert.False(t, tcptest.ChecksumOK(tc.src, tc.dst, b), "a flipped bit fails the checksum")
		})
	}
}

// Checksum agrees with proto/tcp's on the segments a stack really sends.
func TestChecksumMatchesStack(t *testing.T) {
	t.Parallel()
	clk := clock.NewScheduler(clock.Time(1e12))
	n := tcptest.NewNet(clk, netip.MustParseAddr("192.0.2.1"), 1500)
	s := tcp.New(n, clk, rng.New(1, "t"), tcp.Config{})
	dst := netip.MustParseAddrPort("192.0.2.9:80")
	_, err := s.Connect(netip.AddrPort{}, dst, &tcp.EventFuncs{})
	require.NoError(t, err)
	clk.RunUntil(clk.Now().Add(5 * time.Second))
	require.GreaterOrEqual(t, len(n.Out), 2, "the SYN and its retransmission")
	for i, seg := range n.Out {
		assert.True(t, tcptest.ChecksumOK(n.Local, dst.Addr(), seg.Data), "segment %d", i)
		assert.Equal(t, tcp.Checksum(n.Local, dst.Addr(), seg.Data), tcptest.Checksum(n.Local, dst.Addr(), seg.Data))
	}
	assert.Less(t, n.Out[0].At, n.Out[1].At, "segments carry the time they left")
}

// Capture keeps segments in order with their time and epoch.
func TestCapture(t *testing.T) {
	t.Parallel()
	clk := clock.NewScheduler(clock.Time(1e9))
	var c tcptest.Capture
	c.Clock = clk
	c.Add([]byte("a"))
	c.Mark()
	clk.SetNow(clk.Now().Add(time.Millisecond))
	seg := []byte("b")
	c.Add(seg)
	seg[0] = 'z' // the capture holds a copy
	s, ok := c.Pop()
	require.True(t, ok)
	assert.Equal(t, tcptest.Segment{At: clock.Time(1e9), Data: []byte("a"), Epoch: 0}, s)
	s, ok = c.Pop()
	require.True(t, ok)
	assert.Equal(t, tcptest.Segment{At: clock.Time(1e9 + 1e6), Data: []byte("b"), Epoch: 1}, s)
	_, ok = c.Pop()
	assert.False(t, ok)
	c.Add([]byte("c"))
	c.Drain()
	assert.Empty(t, c.Out)
}

// recorder is a Host that records what it receives and when.
type recorder struct {
	clk *clock.Scheduler
	at  []clock.Time
}

func (r *recorder) HandleIP(_, _ netip.Addr, _ []byte) { r.at = append(r.at, r.clk.Now()) }

// Pipe delivers after its delay, and loses, duplicates or delays more as
// configured.
func TestPipe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		loss, dup, reord float64
		wantN            int
		wantDelay        time.Duration
	}{
		{"clean", 0, 0, 0, 4, 5 * time.Millisecond},
		{"lossy", 1, 0, 0, 0, 0},
		{"duplicating", 0, 1, 0, 8, 5 * time.Millisecond},
		{"reordering", 0, 0, 1, 4, 7500 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewScheduler(0)
			r := &recorder{clk: clk}
			p := &tcptest.Pipe{Clock: clk, Local: netip.MustParseAddr("192.0.2.1"), Peer: r, Delay: 5 * time.Millisecond,
				Loss: tc.loss, Dup: tc.dup, Reorder: tc.reord, Rand: rng.New(3, "pipe"), MTU: 1500}
			for range 4 {
				require.NoError(t, p.SendIP(6, p.Local, netip.MustParseAddr("192.0.2.2"), []byte{1, 2}))
			}
			clk.RunUntil(clock.Time(time.Second))
			assert.Equal(t, 4, p.Sent)
			require.Len(t, r.at, tc.wantN)
			for _, at := range r.at {
				assert.Equal(t, clock.Time(tc.wantDelay), at)
			}
		})
	}
}

// Log names the events and the error that closed the connection.
func TestLog(t *testing.T) {
	t.Parallel()
	var l tcptest.Log
	l.Add("established")
	l.Closed(nil)
	l.Closed(errors.New("tcp: connection reset by peer"))
	assert.Equal(t, []string{"established", "closed", "closed:tcp: connection reset by peer"}, l.Events)
}
