package tests

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
	"github.com/simnet-go/simnet/tests/gvisorpeer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	tcpOurAddr = netip.MustParseAddr("10.0.0.1")
	tcpGVAddr  = netip.MustParseAddr("10.0.0.2")
	tcpOurMAC  = [6]byte{0x02, 0, 0, 0, 0, 1}
	tcpGVMAC   = [6]byte{0x02, 0, 0, 0, 0, 2}
)

// tcpInteropWorld is a sim world with a simnet host (proto/stack with TCP) on
// one end of a link and a gVisor peer on the other.
type tcpInteropWorld struct {
	w    *sim.World
	host *stack.Host
	tcp  *tcp.Stack
	peer *gvisorpeer.Peer
}

func newTCPInteropWorld(t testing.TB, imp impair.Config, cfg tcp.Config) *tcpInteropWorld {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 42})
	require.NoError(t, err)
	l, err := w.Connect("wire", sim.Iface{Host: "simnet", Name: "eth0"}, sim.Iface{Host: "gvisor", Name: "eth0"},
		sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	h := stack.New(stack.Config{Name: "simnet", Clock: w.Clock(), Rand: w.Rand("host/simnet")})
	h.AddInterface("eth0", ether.Addr(tcpOurMAC), l.A()).SetAddress(netip.PrefixFrom(tcpOurAddr, 24))
	ts := tcp.New(h, w.Clock(), w.Rand("host/simnet/tcp"), cfg)
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	peer, err := gvisorpeer.New(gvisorpeer.Config{
		Addr: tcpGVAddr, PrefixLen: 24, MAC: tcpGVMAC, Start: w.Now(),
		Neighbors: map[netip.Addr][6]byte{tcpOurAddr: tcpOurMAC},
	})
	require.NoError(t, err)
	peer.Attach(l.B())
	peer.Drive(w.Clock(), time.Millisecond)
	t.Cleanup(peer.Close)
	return &tcpInteropWorld{w: w, host: h, tcp: ts, peer: peer}
}

// run steps the world until done reports true or limit of simulated time
// passes.
func (iw *tcpInteropWorld) run(limit time.Duration, done func() bool) {
	end := iw.w.Now().Add(limit)
	for !done() && iw.w.Now() < end {
		if !iw.w.Step() {
			return
		}
	}
}

type tcpGVResult struct {
	data []byte
	err  error
}

// tcpTransferToGVisor sends size bytes from simnet to a gVisor server.
func tcpTransferToGVisor(t *testing.T, iw *tcpInteropWorld, size int) {
	ln, err := iw.peer.Listen(5001)
	require.NoError(t, err)
	res := make(chan tcpGVResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			res <- tcpGVResult{err: err}
			return
		}
		data, err := io.ReadAll(c)
		if err == nil {
			err = c.Close()
		}
		res <- tcpGVResult{data: data, err: err}
	}()
	data := tcpPattern(size)
	off := 0
	var ourErr error
	ourDone := false
	ev := &tcp.EventFuncs{}
	write := func(c *tcp.Conn) {
		for off < len(data) {
			n, err := c.Write(data[off:])
			off += n
			if err != nil {
				return
			}
		}
		_ = c.Shutdown()
	}
	ev.Established = write
	ev.Writable = func(c *tcp.Conn) {
		if off < len(data) {
			write(c)
		}
	}
	ev.Readable = func(c *tcp.Conn) {
		var b [512]byte
		if _, err := c.Read(b[:]); errors.Is(err, io.EOF) {
			_ = c.Close()
		}
	}
	ev.Closed = func(_ *tcp.Conn, err error) { ourDone, ourErr = true, err }
	conn, err := iw.tcp.Connect(netip.AddrPort{}, netip.AddrPortFrom(tcpGVAddr, 5001), ev)
	require.NoError(t, err)
	var got *tcpGVResult
	iw.run(30*time.Minute, func() bool {
		if got == nil {
			select {
			case r := <-res:
				got = &r
			default:
			}
		}
		return got != nil && ourDone
	})
	require.NotNil(t, got, "gVisor side did not finish")
	require.NoError(t, got.err)
	assert.True(t, ourDone, "simnet side closed")
	assert.NoError(t, ourErr)
	require.Equal(t, size, len(got.data))
	assert.True(t, bytes.Equal(data, got.data), "byte-exact")
	st := conn.Stats()
	t.Logf("simnet sender: %v sim, goodput %.1f Mbit/s, %d segs, %d rtx (%d timeouts, %d fast), sacked %d, srtt %v",
		st.Duration, float64(size)*8/st.Duration.Seconds()/1e6, st.SegmentsSent, st.Retransmits, st.TimeoutRetransmits, st.FastRetransmits, st.SACKedBytes, st.SRTT)
}

// tcpTransferFromGVisor has a gVisor client send size bytes to simnet.
func tcpTransferFromGVisor(t *testing.T, iw *tcpInteropWorld, size int) {
	data := tcpPattern(size)
	var got bytes.Buffer
	ourDone := false
	var ourErr error
	var srv *tcp.Conn
	buf := make([]byte, 64<<10)
	ev := &tcp.EventFuncs{}
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
	ev.Closed = func(_ *tcp.Conn, err error) { ourDone, ourErr = true, err }
	_, err := iw.tcp.Listen(netip.AddrPortFrom(tcpOurAddr, 5001), 8, func(l *tcp.Listener) {
		c, err := l.Accept(ev)
		if err == nil {
			srv = c
			ev.Readable(c)
		}
	})
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		c, err := iw.peer.Dial(ctx, netip.AddrPortFrom(tcpOurAddr, 5001))
		if err != nil {
			res <- err
			return
		}
		if _, err := c.Write(data); err != nil {
			res <- err
			return
		}
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			res <- err
			return
		}
		if _, err := io.Copy(io.Discard, c); err != nil {
			res <- err
			return
		}
		res <- c.Close()
	}()
	var gvErr error
	gvDone := false
	iw.run(30*time.Minute, func() bool {
		if !gvDone {
			select {
			case gvErr = <-res:
				gvDone = true
			default:
			}
		}
		return gvDone && ourDone
	})
	require.True(t, gvDone, "gVisor side did not finish")
	require.NoError(t, gvErr)
	assert.True(t, ourDone, "simnet side closed")
	assert.NoError(t, ourErr)
	require.Equal(t, size, got.Len())
	assert.True(t, bytes.Equal(data, got.Bytes()), "byte-exact")
	require.NotNil(t, srv)
	st := srv.Stats()
	t.Logf("simnet receiver: %v sim, %d bytes, %d segs in, %d out-of-order", st.Duration, st.BytesReceived, st.SegmentsReceived, st.OOOSegments)
}

func TestTCPGVisorInterop(t *testing.T) {
	size := 20 << 20
	switch {
	case testing.Short():
		size = 2 << 20 // -short shrinks every transfer to 2 MB
	case tcpRaceEnabled:
		size = 4 << 20 // so does the race detector, to 4 MB
	}
	const d = 5 * time.Millisecond
	cases := []struct {
		name string
		imp  impair.Config
	}{
		{"clean", impair.Config{Delay: d}},
		{"loss1", impair.Config{Delay: d, Loss: 0.01}},
		{"loss5", impair.Config{Delay: d, Loss: 0.05}},
		{"loss10", impair.Config{Delay: d, Loss: 0.10}},
		{"gilbert-elliott", impair.Config{Delay: d, Burst: impair.GilbertElliott{P: 0.005, R: 0.3, LossBad: 1}}},
		{"reorder", impair.Config{Delay: d, Reorder: 0.05, ReorderDelay: 2 * time.Millisecond}},
		{"duplicate", impair.Config{Delay: d, Duplicate: 0.05}},
		{"bottleneck-10mbit", impair.Config{Delay: d, Rate: 10e6, QueuePackets: 16}},
		{"corrupt", impair.Config{Delay: d, Corrupt: 0.02}},
		{"mixed", impair.Config{Delay: d, Jitter: time.Millisecond, Loss: 0.02, Duplicate: 0.02, Reorder: 0.02, ReorderDelay: 3 * time.Millisecond, Rate: 50e6, QueuePackets: 64}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/simnet-to-gvisor", func(t *testing.T) {
			iw := newTCPInteropWorld(t, tc.imp, tcp.Config{})
			tcpTransferToGVisor(t, iw, size)
		})
		t.Run(tc.name+"/gvisor-to-simnet", func(t *testing.T) {
			iw := newTCPInteropWorld(t, tc.imp, tcp.Config{})
			tcpTransferFromGVisor(t, iw, size)
		})
	}
}

// tcpPattern is the deterministic byte pattern the transfers carry.
func tcpPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + i>>16)
	}
	return b
}
