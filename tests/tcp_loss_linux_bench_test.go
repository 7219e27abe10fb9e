package tests

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// tcpLossLinuxMiB is BenchmarkTCPLossLinux's transfer size.
var tcpLossLinuxMiB = flag.Int("tcplosslinux.mib", 20, "MiB each BenchmarkTCPLossLinux transfer moves")

// BenchmarkTCPLossLinux is the Linux reference for BenchmarkTCPLoss: the
// kernel's own TCP (cubic, then reno), in a network namespace of its own,
// sends to a simnet TCP sink behind the same path as BenchmarkTCPLoss
// (tcpLossLink: 100 Mbit/s, one-BDP queue, 10 ms each way, 1% random loss
// each way), run live on the wall clock at the tap. It reports goodput
// (bytes from the sink's first to its last read, over that wall time), the
// kernel's retransmitted segments and retransmission timeouts
// (/proc/net/snmp, /proc/net/netstat in the namespace), and the path's
// queue-full drops, which should stay near zero if the live loop keeps up.
// simnet-cubic-live is the control: simnet's own CUBIC sender over the same
// live pipes, to set against BenchmarkTCPLoss/simnet-cubic on the virtual
// clock. Namespaces need root: without it the Linux runs skip (and fail
// under SIMNET_REQUIRE=all).
func BenchmarkTCPLossLinux(b *testing.B) {
	for _, cc := range []string{"cubic", "reno"} {
		b.Run("linux-"+cc, benchLinuxLoss(cc))
	}
	b.Run("simnet-cubic-live", benchSimnetLive)
}

// linuxLossRun is one transfer's outcome.
type linuxLossRun struct {
	mbps          float64
	retrans, rtos int64
	in, out       impair.Counters
	tapTxDrops    string
	firstToEnd    time.Duration
	ss            string
}

// benchLinuxLoss runs b.N kernel-to-simnet transfers with the kernel's
// congestion control cc and reports their mean figures.
func benchLinuxLoss(cc string) func(*testing.B) {
	return func(b *testing.B) {
		size := int64(*tcpLossLinuxMiB) << 20
		var mbps, retrans, rtos, qdrops float64
		for i := 0; i < b.N; i++ {
			r := linuxLossTransfer(b, cc, size, uint64(20261203+i))
			b.Logf("linux-%s run %d: %.2f Mbit/s (%v first to last byte), %d segments retransmitted, %d RTOs; "+
				"path in (kernel to sink) %d frames, %d lost, %d queue full; out (ACKs) %d frames, %d lost, %d queue full; tap %s; ss: %s",
				cc, i+1, r.mbps, r.firstToEnd.Round(time.Millisecond), r.retrans, r.rtos,
				r.in.Offered, r.in.DroppedLoss, r.in.DroppedQueueFull, r.out.Offered, r.out.DroppedLoss, r.out.DroppedQueueFull, r.tapTxDrops, r.ss)
			mbps += r.mbps
			retrans += float64(r.retrans)
			rtos += float64(r.rtos)
			qdrops += float64(r.in.DroppedQueueFull + r.out.DroppedQueueFull)
		}
		n := float64(b.N)
		b.ReportMetric(mbps/n, "Mbit/s")
		b.ReportMetric(retrans/n, "retrans")
		b.ReportMetric(rtos/n, "rtos")
		b.ReportMetric(qdrops/n, "qdrops")
	}
}

// linuxLossTransfer makes a namespace with tap0, runs a simnet sink on it
// behind tcpLossLink, and sends size bytes to it from a kernel socket using
// congestion control cc. The namespace is deleted before it returns.
func linuxLossTransfer(b *testing.B, cc string, size int64, seed uint64) linuxLossRun {
	b.Helper()
	ns := tapNS(b)
	defer ns.Delete(b)
	// Namespaced sysctls (Linux >= 4.15): the defaults packetdrill assumes
	// (SACK and timestamps on); no cached metrics from earlier
	// connections. The congestion control is set on the socket
	// (dialCC): a namespace other than the host's may only make a
	// congestion control its default if the host allows it
	// (tcp_allowed_congestion_control), and that is host state.
	// sh rather than sysctl(8), which is not in every base image; the
	// process runs wholly in the namespace, so /proc/sys/net is its own.
	for _, name := range []string{"tcp_sack", "tcp_timestamps", "tcp_no_metrics_save"} {
		path := "/proc/sys/net/ipv4/" + name
		ns.Run(b, "sh", "-c", "echo 1 > "+path)
		require.Equal(b, "1", strings.TrimSpace(ns.Run(b, "cat", path)), name)
	}

	sinkAt, pin, pout, stop := startLossSink(b, ns, seed)
	defer stop()
	res := make(chan sinkResult, 1)
	go func() { res <- sinkAt.accept() }()

	c := dialCC(b, ns, tapStackIP+":5001", cc)
	require.NoError(b, c.SetDeadline(time.Now().Add(10*time.Minute)))
	_, err := c.Write(patternN(size))
	require.NoError(b, err)
	// The kernel's view near the end (RTT, cwnd, ssthresh), while the
	// last few MiB are still in flight.
	ssInfo, err := ns.Output(context.Background(), "ss", "-tin", "dst", tapStackIP)
	if err != nil {
		ssInfo = err.Error()
	}
	require.NoError(b, c.(*net.TCPConn).CloseWrite())
	var r sinkResult
	select {
	case r = <-res:
	case <-time.After(10 * time.Minute):
		b.Fatalf("sink did not finish")
	}
	require.NoError(b, r.err)
	require.Equal(b, size, r.n, "bytes at the sink")
	_ = c.Close()

	out := linuxLossRun{firstToEnd: r.last.Sub(r.first), ss: ssSummary(ssInfo)}
	out.mbps = float64(r.n-r.firstN) * 8 / out.firstToEnd.Seconds() / 1e6
	snmp := ns.Run(b, "cat", "/proc/net/snmp")
	netstat := ns.Run(b, "cat", "/proc/net/netstat")
	out.retrans = procField(b, snmp, "Tcp:", "RetransSegs")
	out.rtos = procField(b, netstat, "TcpExt:", "TCPTimeouts")
	out.tapTxDrops = tapDrops(ns.Run(b, "ip", "-s", "link", "show", "tap0"))
	out.in, out.out = pin(), pout()
	return out
}

// dialCC opens a kernel TCP connection from inside ns to addr with
// congestion control cc (TCP_CONGESTION, set before connect so that the
// handshake already runs under it) and checks the kernel kept it.
func dialCC(b *testing.B, ns *netns.NS, addr, cc string) net.Conn {
	b.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt TCP_CONGESTION %s: %w", cc, serr)
		}
		return nil
	}}
	var c net.Conn
	require.NoError(b, ns.Do(func() error {
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	}))
	b.Cleanup(func() { _ = c.Close() })
	rc, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(b, err)
	var got string
	var gerr error
	require.NoError(b, rc.Control(func(fd uintptr) {
		got, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	}))
	require.NoError(b, gerr)
	require.Equal(b, cc, strings.TrimRight(got, "\x00"), "congestion control of the kernel socket")
	return c
}

// patternN returns n bytes of a repeating pattern.
func patternN(n int64) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}

// sinkResult is what the sink read: n bytes, firstN of them in the first
// read at first, the last at last.
type sinkResult struct {
	n, firstN   int64
	first, last time.Time
	err         error
}

// lossSink is a simnet TCP listener on port 5001 of the live host.
type lossSink struct{ ln net.Listener }

// accept takes one connection and reads it to EOF, timing the first and
// last reads.
func (s lossSink) accept() sinkResult {
	c, err := s.ln.Accept()
	if err != nil {
		return sinkResult{err: fmt.Errorf("accept: %w", err)}
	}
	defer c.Close()
	var r sinkResult
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			now := time.Now()
			if r.n == 0 {
				r.first, r.firstN = now, int64(n)
			}
			r.n += int64(n)
			r.last = now
		}
		if errors.Is(err, io.EOF) {
			return r
		}
		if err != nil {
			r.err = fmt.Errorf("read after %d bytes: %w", r.n, err)
			return r
		}
	}
}

// startLossSink opens tap0 in ns and runs, on a live loop, a simnet host
// at 192.0.2.2 behind tcpLossLink in each direction (in: frames from the
// kernel; out: frames to it), with tcpLossConfig's buffers. It returns the
// sink, functions reading each direction's counters on the loop, and a
// stop function that ends the loop and closes the tap.
func startLossSink(b *testing.B, ns *netns.NS, seed uint64) (lossSink, func() impair.Counters, func() impair.Counters, func()) {
	b.Helper()
	l := loop.New()
	var dev *tap.Endpoint
	require.NoError(b, ns.Do(func() error {
		var err error
		dev, err = tap.Open(l, tap.Config{Name: "tap0"})
		return err
	}))
	in, out := lossPipes(b, l, seed)
	ep, err := impair.Wrap(dev, out, in)
	require.NoError(b, err)
	_, ts := lossHost(l, ep, "sink", tapStackCIDR, seed)
	stopLoop := runLoop(l)
	ln, err := netconn.Listen(l, ts, netip.MustParseAddrPort("0.0.0.0:5001"), 4)
	require.NoError(b, err)
	stop := func() {
		_ = ln.Close()
		stopLoop()
		_ = dev.Close()
	}
	return lossSink{ln: ln}, pipeCounters(b, l, in), pipeCounters(b, l, out), stop
}

// lossPipes returns the two directions of tcpLossLink on l's clock.
func lossPipes(b *testing.B, l *loop.Loop, seed uint64) (in, out *impair.Pipe) {
	b.Helper()
	in, err := impair.New(l.Clock(), rng.New(seed, "linuxloss/in"), tcpLossLink(), nil)
	require.NoError(b, err)
	out, err = impair.New(l.Clock(), rng.New(seed, "linuxloss/out"), tcpLossLink(), nil)
	require.NoError(b, err)
	return in, out
}

// lossHost makes a simnet host with TCP (tcpLossConfig, cubic) on ep at
// cidr, on l's clock.
func lossHost(l *loop.Loop, ep link.Endpoint, name, cidr string, seed uint64) (*stack.Host, *tcp.Stack) {
	mac := ether.Addr{0x02, 0x00, 0x5e, 0x00, 0x02, netip.MustParsePrefix(cidr).Addr().As4()[3]}
	h := stack.New(stack.Config{Name: name, Clock: l.Clock(), Rand: rng.New(seed, "host/"+name)})
	ifc := h.AddInterface("eth0", mac, ep)
	ts := tcp.New(h, l.Clock(), rng.New(seed, "tcp/"+name), tcpLossConfig("cubic"))
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	ifc.SetAddress(netip.MustParsePrefix(cidr))
	return h, ts
}

// runLoop runs l until the returned stop function is called.
func runLoop(l *loop.Loop) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = l.Run(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

// pipeCounters returns a function reading p's counters on l.
func pipeCounters(b *testing.B, l *loop.Loop, p *impair.Pipe) func() impair.Counters {
	return func() impair.Counters {
		var c impair.Counters
		require.NoError(b, l.Call(context.Background(), func() { c = p.Counters() }))
		return c
	}
}

// wireEnd is one end of a live link made of two impair pipes: it sends
// into send and receives what recv delivers.
type wireEnd struct{ send, recv *impair.Pipe }

func (w wireEnd) Send(frame []byte) link.Note { return w.send.Send(frame) }
func (w wireEnd) SetReceiver(r link.Receiver) { w.recv.SetReceiver(r) }
func (w wireEnd) MTU() int                    { return 1500 }

// benchSimnetLive is the control for the Linux runs: simnet's cubic sender
// to the same simnet sink over the same pipes on the same kind of live
// loop, no tap. Its goodput next to BenchmarkTCPLoss/simnet-cubic (same
// path on the virtual clock) shows what the live loop itself costs.
func benchSimnetLive(b *testing.B) {
	size := int64(*tcpLossLinuxMiB) << 20
	var mbps, retrans, rtos float64
	for i := 0; i < b.N; i++ {
		m, st := simnetLiveTransfer(b, size, i)
		mbps += m
		retrans += float64(st.Retransmits)
		rtos += float64(st.TimeoutRetransmits)
	}
	n := float64(b.N)
	b.ReportMetric(mbps/n, "Mbit/s")
	b.ReportMetric(retrans/n, "retrans")
	b.ReportMetric(rtos/n, "rtos")
}

// simnetLiveTransfer runs run i of simnet-cubic-live: size bytes from a
// simnet sender to the sink over lossPipes on a live loop. It returns the
// goodput in Mbit/s and the sender's statistics.
func simnetLiveTransfer(b *testing.B, size int64, i int) (float64, tcp.ConnStats) {
	b.Helper()
	l := loop.New()
	in, out := lossPipes(b, l, uint64(20261203+i))
	_, sts := lossHost(l, wireEnd{send: in, recv: out}, "sender", tapKernelCIDR, uint64(i))
	_, rts := lossHost(l, wireEnd{send: out, recv: in}, "sink", tapStackCIDR, uint64(i))
	defer runLoop(l)()
	ln, err := netconn.Listen(l, rts, netip.MustParseAddrPort("0.0.0.0:5001"), 4)
	require.NoError(b, err)
	defer ln.Close()
	res := make(chan sinkResult, 1)
	go func() { res <- lossSink{ln: ln}.accept() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := netconn.Dial(ctx, l, sts, netip.MustParseAddrPort(tapStackIP+":5001"))
	cancel()
	require.NoError(b, err)
	defer c.Close()
	require.NoError(b, c.SetDeadline(time.Now().Add(10*time.Minute)))
	_, err = c.Write(patternN(size))
	require.NoError(b, err)
	require.NoError(b, c.CloseWrite())
	var r sinkResult
	select {
	case r = <-res:
	case <-time.After(10 * time.Minute):
		b.Fatalf("sink did not finish")
	}
	require.NoError(b, r.err)
	require.Equal(b, size, r.n, "bytes at the sink")
	st := c.Stats()
	pin, pout := pipeCounters(b, l, in)(), pipeCounters(b, l, out)()
	d := r.last.Sub(r.first)
	m := float64(r.n-r.firstN) * 8 / d.Seconds() / 1e6
	b.Logf("simnet-cubic-live run %d: %.2f Mbit/s (%v first to last byte), %d rtx (%d rto), srtt %v; path in %d frames, %d lost, %d queue full; out %d frames, %d lost, %d queue full",
		i+1, m, d.Round(time.Millisecond), st.Retransmits, st.TimeoutRetransmits, st.SRTT,
		pin.Offered, pin.DroppedLoss, pin.DroppedQueueFull, pout.Offered, pout.DroppedLoss, pout.DroppedQueueFull)
	return m, st
}

// procField returns the value of field in the two-line table whose lines
// start with prefix (the /proc/net/snmp and /proc/net/netstat layout).
func procField(b *testing.B, text, prefix, field string) int64 {
	b.Helper()
	var rows [][]string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			rows = append(rows, strings.Fields(line))
		}
	}
	require.Len(b, rows, 2, "%s table in:\n%s", prefix, text)
	for i, name := range rows[0] {
		if name == field && i < len(rows[1]) {
			v, err := strconv.ParseInt(rows[1][i], 10, 64)
			require.NoError(b, err)
			return v
		}
	}
	b.Fatalf("no %s %s in:\n%s", prefix, field, text)
	return 0
}

// ssSummary picks the congestion control, RTT, cwnd and ssthresh fields
// out of `ss -tin` output.
func ssSummary(out string) string {
	var keep []string
	for _, f := range strings.Fields(out) {
		for _, p := range []string{"cubic", "reno", "rtt:", "cwnd:", "ssthresh:", "retrans:"} {
			if f == p || strings.HasPrefix(f, p) && strings.HasSuffix(p, ":") {
				keep = append(keep, f)
			}
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(out)
	}
	return strings.Join(keep, " ")
}

// tapDrops returns the TX (kernel to tap reader) packet and drop counts of
// `ip -s link show` output, as "tx N packets, D dropped".
func tapDrops(out string) string {
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		if strings.Contains(line, "TX:") && i+1 < len(lines) {
			f := strings.Fields(lines[i+1])
			if len(f) >= 4 {
				return fmt.Sprintf("tx %s packets, %s dropped", f[1], f[3])
			}
		}
	}
	return "tx counters unknown"
}
