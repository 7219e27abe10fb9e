package tcp

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

type pair struct {
	sched  *clock.Scheduler
	a, b   *Stack
	na, nb *tcptest.Pipe
}

func newPair(seed uint64, cfg Config) *pair {
	sched := clock.NewScheduler(clock.Time(1e18))
	na := &tcptest.Pipe{Clock: sched, Local: addrA, Delay: 5 * time.Millisecond, Rand: rng.New(seed, "link-ab"), MTU: 1500}
	nb := &tcptest.Pipe{Clock: sched, Local: addrB, Delay: 5 * time.Millisecond, Rand: rng.New(seed, "link-ba"), MTU: 1500}
	a := New(na, sched, rng.New(seed, "a"), cfg)
	b := New(nb, sched, rng.New(seed, "b"), cfg)
	na.Peer, nb.Peer = b, a
	return &pair{sched: sched, a: a, b: b, na: na, nb: nb}
}

// transfer sends n pattern bytes from a to b and returns what b received.
func (p *pair) transfer(t *testing.T, n int, limit time.Duration) ([]byte, *Conn, *Conn) {
	t.Helper()
	var got bytes.Buffer
	var srv *Conn
	srvClosed := false
	buf := make([]byte, 64<<10)
	srvEv := &EventFuncs{}
	srvEv.Readable = func(c *Conn) {
		for {
			k, err := c.Read(buf)
			got.Write(buf[:k])
			if err == io.EOF {
				require.NoError(t, c.Close())
				return
			}
			if err != nil {
				return
			}
		}
	}
	srvEv.Closed = func(*Conn, error) { srvClosed = true }
	_, err := p.b.Listen(netip.AddrPortFrom(addrB, 80), 16, func(l *Listener) {
		c, err := l.Accept(srvEv)
		require.NoError(t, err)
		srv = c
		srvEv.OnReadable(c)
	})
	require.NoError(t, err)
	data := pattern(n)
	off := 0
	cliClosed := false
	var cliErr error
	cliEv := &EventFuncs{}
	write := func(c *Conn) {
		for off < len(data) {
			k, err := c.Write(data[off:])
			off += k
			if err != nil {
				return
			}
		}
		require.NoError(t, c.Shutdown())
	}
	cliEv.Established = write
	cliEv.Writable = func(c *Conn) {
		if off < len(data) {
			write(c)
		}
	}
	cliEv.Readable = func(c *Conn) {
		_, err := c.Read(buf)
		if err == io.EOF {
			require.NoError(t, c.Close())
		}
	}
	cliEv.Closed = func(_ *Conn, err error) { cliClosed, cliErr = true, err }
	cli, err := p.a.Connect(netip.AddrPort{}, netip.AddrPortFrom(addrB, 80), cliEv)
	require.NoError(t, err)
	deadline := p.sched.Now().Add(limit)
	for p.sched.Now() < deadline && !(cliClosed && srvClosed) {
		if !p.sched.Step() {
			break
		}
	}
	assert.True(t, cliClosed, "client closed")
	assert.True(t, srvClosed, "server closed")
	assert.NoError(t, cliErr)
	return got.Bytes(), cli, srv
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestTransferClean(t *testing.T) {
	p := newPair(1, Config{})
	got, cli, _ := p.transfer(t, 1<<20, time.Minute)
	require.Equal(t, 1<<20, len(got))
	assert.True(t, bytes.Equal(pattern(1<<20), got))
	st := cli.Stats()
	assert.Zero(t, st.Retransmits)
	assert.Equal(t, uint64(1<<20), st.BytesSent)
}

func TestTransferLossy(t *testing.T) {
	for _, tc := range []struct {
		name               string
		loss, dup, reorder float64
		cfg                Config
	}{
		{"loss5-sack-cubic", 0.05, 0, 0, Config{}},
		{"loss5-newreno-nosack", 0.05, 0, 0, Config{CongestionControl: "newreno", DisableSACK: true}},
		{"loss10-nots", 0.10, 0, 0, Config{DisableTimestamps: true}},
		{"reorder-dup", 0.01, 0.05, 0.1, Config{}},
		{"noscale", 0.02, 0, 0, Config{DisableWindowScale: true}},
		{"loss5-linux", 0.05, 0, 0, LinuxProfile()},
		{"loss10-linux-nots", 0.10, 0, 0, func() Config { c := LinuxProfile(); c.DisableTimestamps = true; return c }()},
		{"reorder-dup-linux", 0.01, 0.05, 0.1, LinuxProfile()},
		{"loss5-rfc", 0.05, 0, 0, RFCProfile()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(7, tc.cfg)
			for _, n := range []*tcptest.Pipe{p.na, p.nb} {
				n.Loss, n.Dup, n.Reorder = tc.loss, tc.dup, tc.reorder
			}
			const size = 1 << 20
			got, cli, _ := p.transfer(t, size, 10*time.Minute)
			require.Equal(t, size, len(got))
			want := pattern(size)
			for i := range want {
				if want[i] != got[i] {
					t.Fatalf("first mismatch at %d", i)
				}
			}
			t.Logf("%+v", cli.Stats())
		})
	}
}
