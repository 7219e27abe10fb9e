package tap

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/ether"
)

var (
	ourMAC    = ether.Addr{0x02, 0x00, 0x5e, 0x00, 0x02, 0x02}
	ourIP     = netip.MustParseAddr("192.0.2.2")
	kernelIP  = netip.MustParseAddr("192.0.2.1")
	kernelNet = "192.0.2.1/24"
)

// runLoop runs l until the test ends.
func runLoop(t *testing.T, l *loop.Loop) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = l.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// openIn opens a tap endpoint from inside ns.
func openIn(ns *netns.NS, l *loop.Loop, cfg Config) (*Endpoint, error) {
	var ep *Endpoint
	err := ns.Do(func() error {
		var err error
		ep, err = Open(l, cfg)
		return err
	})
	return ep, err
}

func arpRequestFrame() []byte {
	b := make([]byte, ether.HeaderLen+28)
	ether.Encode(b, ether.Broadcast, ourMAC, ether.TypeARP)
	arp.Request(b[ether.HeaderLen:], ourMAC, ourIP, kernelIP)
	return b
}

func TestEndpointExchangesFramesWithTheKernel(t *testing.T) {
	ns := netns.New(t)
	ns.AddTap(t, "tap0", kernelNet)
	l := loop.New()
	ep, err := openIn(ns, l, Config{Name: "tap0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ep.Close()) })
	assert.Equal(t, 1500, ep.MTU())
	assert.False(t, ep.Created())
	runLoop(t, l)

	replies := make(chan arp.Fields, 16)
	require.NoError(t, l.Call(context.Background(), func() {
		ep.SetReceiver(link.ReceiverFunc(func(frame []byte, note link.Note) {
			f, err := ether.Parse(frame)
			if err != nil || f.EtherType() != ether.TypeARP || f.Dst() != ourMAC {
				return
			}
			if p, err := arp.Parse(f.Payload()); err == nil && p.Op() == arp.OpReply {
				replies <- p.Fields()
			}
		}))
	}))

	// Ask the kernel who has 192.0.2.1 until it answers (the tap's carrier
	// may take a moment to come up after the open).
	var got arp.Fields
	frame := arpRequestFrame()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
asking:
	for {
		var note link.Note
		require.NoError(t, l.Call(context.Background(), func() { note = ep.Send(frame) }))
		assert.False(t, note.Dropped(), "send: %v", note)
		select {
		case got = <-replies:
			break asking
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no ARP reply from the kernel; stats %+v", ep.Stats())
		}
	}
	hw, err := ns.Output(context.Background(), "cat", "/sys/class/net/tap0/address")
	require.NoError(t, err)
	kmac, err := ether.ParseAddr(string(hw[:len(hw)-1]))
	require.NoError(t, err)
	assert.Equal(t, kernelIP.As4(), got.SenderIP)
	assert.Equal(t, kmac, got.SenderHW)
	assert.Equal(t, ourIP.As4(), got.TargetIP)
	assert.Equal(t, ourMAC, got.TargetHW)

	st := ep.Stats()
	assert.GreaterOrEqual(t, st.TxFrames, uint64(1))
	assert.Equal(t, st.TxFrames*uint64(len(frame)), st.TxBytes)
	assert.Zero(t, st.TxErrors)
	assert.GreaterOrEqual(t, st.RxFrames, uint64(1))

	// The kernel now knows our MAC for 192.0.2.2 (it learnt it from the
	// request): the neighbour entry proves the frame arrived whole.
	neigh := ns.Run(t, "ip", "neigh", "show", "dev", "tap0")
	assert.Contains(t, neigh, "192.0.2.2 lladdr "+ourMAC.String())
}

func TestEndpointWithoutReceiverCountsDrops(t *testing.T) {
	ns := netns.New(t)
	ns.AddTap(t, "tap0", kernelNet)
	l := loop.New()
	ep, err := openIn(ns, l, Config{Name: "tap0", Buffers: 2})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ep.Close()) })
	runLoop(t, l)

	// Pinging an unknown neighbour makes the kernel broadcast ARP requests
	// (one a second) out of the tap; with no receiver they are dropped.
	_, _ = ns.Output(context.Background(), "ping", "-c", "2", "-i", "0.2", "-W", "1", ourIP.String())
	require.Eventually(t, func() bool { return ep.Stats().RxDropped > 0 }, 10*time.Second, 20*time.Millisecond)
	assert.Zero(t, ep.Stats().RxFrames)
}

func TestOpenErrors(t *testing.T) {
	ns := netns.New(t)
	ns.AddTap(t, "tap0", "")
	ns.Run(t, "ip", "tuntap", "add", "dev", "tun0", "mode", "tun")
	l := loop.New()

	_, err := openIn(ns, l, Config{Name: "absent0"})
	assert.ErrorIs(t, err, ErrNotFound)
	_, err = openIn(ns, l, Config{Name: "lo"})
	assert.ErrorIs(t, err, ErrNotTap)
	_, err = openIn(ns, l, Config{Name: "tun0"})
	assert.ErrorIs(t, err, ErrNotTap)
	_, err = openIn(ns, l, Config{})
	assert.Error(t, err)
	_, err = openIn(ns, l, Config{Name: "a-name-far-too-long-for-linux"})
	assert.Error(t, err)

	ep, err := openIn(ns, l, Config{Name: "tap0"})
	require.NoError(t, err)
	_, err = openIn(ns, l, Config{Name: "tap0"})
	assert.ErrorIs(t, err, ErrBusy)
	require.NoError(t, ep.Close())
	require.NoError(t, ep.Close(), "second Close")
	<-ep.Done()
	assert.NoError(t, ep.Err())

	// The device we opened but did not create survives the close.
	ns.Run(t, "ip", "link", "show", "tap0")
}

func TestCloseWithEveryBufferWaitingForTheLoop(t *testing.T) {
	ns := netns.New(t)
	ns.AddTap(t, "tap0", kernelNet)
	ns.Run(t, "ip", "neigh", "add", ourIP.String(), "lladdr", ourMAC.String(), "dev", "tap0")
	l := loop.New() // never run: posted frames are never handled
	ep, err := openIn(ns, l, Config{Name: "tap0", Buffers: 2})
	require.NoError(t, err)
	_, _ = ns.Output(context.Background(), "ping", "-c", "5", "-i", "0.01", "-W", "1", ourIP.String())
	closed := make(chan error, 1)
	go func() { closed <- ep.Close() }()
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs while the reader waits for a free buffer")
	}
}

func TestOpenRejectsABadMTU(t *testing.T) {
	ns := netns.New(t)
	ns.AddTap(t, "tap0", "")
	_, err := openIn(ns, loop.New(), Config{Name: "tap0", MTU: 20})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrNotTap)
	assert.Contains(t, err.Error(), "set MTU 20")
}

func TestCreateSetsMTUAndRemovesTheDevice(t *testing.T) {
	ns := netns.New(t)
	l := loop.New()
	ep, err := openIn(ns, l, Config{Name: "made0", Create: true, MTU: 9000})
	require.NoError(t, err)
	assert.True(t, ep.Created())
	assert.Equal(t, 9000, ep.MTU())
	out := ns.Run(t, "ip", "link", "show", "made0")
	assert.Contains(t, out, "mtu 9000")
	assert.Contains(t, out, "UP")
	require.NoError(t, ep.Close())
	_, err = ns.Output(context.Background(), "ip", "link", "show", "made0")
	assert.Error(t, err, "created device must be gone after Close")
}

func TestClassifyMapsErrnos(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		want  error
	}{
		{errno: unix.EBUSY, want: ErrBusy},
		{errno: unix.EPERM, want: ErrPermission},
		{errno: unix.EACCES, want: ErrPermission},
		{errno: unix.EINVAL, want: ErrNotTap},
	} {
		err := classify(os.NewSyscallError("ioctl", tc.errno))
		assert.ErrorIs(t, err, tc.want, "%v", tc.errno)
		assert.ErrorIs(t, err, tc.errno, "the errno stays in the chain")
	}
	other := os.NewSyscallError("ioctl", unix.EIO)
	assert.Equal(t, other, classify(other))
}

func TestSendDoesNotAllocate(t *testing.T) {
	ns := netns.New(t)
	ns.AddTap(t, "tap0", kernelNet)
	ep, err := openIn(ns, loop.New(), Config{Name: "tap0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ep.Close()) })
	frame := arpRequestFrame()
	allocs := testing.AllocsPerRun(200, func() { ep.Send(frame) })
	assert.Zero(t, allocs)
	assert.Zero(t, ep.Stats().TxErrors)
}

// BenchmarkSend measures writing frames to the device (the kernel drops
// them: the ARP requests are for an address it does not have).
func BenchmarkSend(b *testing.B) {
	ns := netns.New(b)
	ns.AddTap(b, "tap0", "198.18.0.1/15")
	ep, err := openIn(ns, loop.New(), Config{Name: "tap0"})
	require.NoError(b, err)
	b.Cleanup(func() { _ = ep.Close() })
	frame := arpRequestFrame()
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		ep.Send(frame)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
	require.Zero(b, ep.Stats().TxErrors)
}

// BenchmarkReceive measures frames from the kernel to the receiver on the
// loop: an AF_PACKET socket in the namespace transmits frames out of the
// kernel side of the tap as fast as it can, and the benchmark reports the
// frames delivered per second and the heap allocations per delivered frame
// (the tap drops what the reader cannot keep up with).
func BenchmarkReceive(b *testing.B) {
	ns := netns.New(b)
	ns.AddTap(b, "tap0", "198.18.0.1/15")
	l := loop.New()
	ep, err := openIn(ns, l, Config{Name: "tap0"})
	require.NoError(b, err)
	b.Cleanup(func() { _ = ep.Close() })
	var got atomic.Int64
	ep.SetReceiver(link.ReceiverFunc(func([]byte, link.Note) { got.Add(1) }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = l.Run(ctx)
		close(done)
	}()
	b.Cleanup(func() {
		cancel()
		<-done
	})

	fd := -1
	require.NoError(b, ns.Do(func() error {
		ifi, err := net.InterfaceByName("tap0")
		if err != nil {
			return err
		}
		proto := int(uint16(unix.ETH_P_ALL)>>8 | uint16(unix.ETH_P_ALL)<<8) // htons
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: uint16(proto)})
	}))
	b.Cleanup(func() { _ = unix.Close(fd) })
	frame := make([]byte, 1514)
	copy(frame, arpRequestFrame())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for {
			_, err := unix.Write(fd, frame)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EAGAIN) {
				b.Fatalf("write: %v", err)
			}
			runtime.Gosched()
		}
	}
	// Wait for the reader to drain what the tap queued.
	for last := int64(-1); last != got.Load(); {
		last = got.Load()
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := got.Load()
	require.Positive(b, n)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/frame")
	b.ReportMetric(100*(1-float64(n)/float64(b.N)), "%dropped")
}
