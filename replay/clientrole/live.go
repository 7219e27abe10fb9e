package clientrole

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/jsontime"
)

// DefaultMAC is our host's hardware address when the capture has no
// Ethernet header for the client.
var DefaultMAC = ether.Addr{0x02, 0x73, 0x6e, 0x00, 0x00, 0x04}

// Defaults for Config.
const (
	DefaultStepTimeout = 3 * time.Second
	DefaultDialTimeout = 5 * time.Second
)

// Output file names in Config.OutDir.
const (
	CaptureFile = "live.pcapng"
	DiffFile    = "diff.json"
	SummaryFile = "summary.txt"
)

// Config describes a live client-role replay.
type Config struct {
	// Client is our host's address and prefix (the recorded client's
	// address, or another one on the tap's subnet).
	Client netip.Prefix
	// Server is the live server's address and port.
	Server netip.AddrPort
	// Tap is the existing tap device our host sends and receives on.
	Tap string
	// MAC is our host's hardware address (default: the recorded client's,
	// else DefaultMAC).
	MAC ether.Addr
	// StepTimeout is how long a write waits for the server bytes the
	// recorded client had received before it, and how long the end waits
	// for the server to close (default 3 s).
	StepTimeout time.Duration
	// DialTimeout bounds the connection's opening (default 5 s).
	DialTimeout time.Duration
	// OutDir, when not empty, receives CaptureFile (what crossed the tap),
	// DiffFile and SummaryFile.
	OutDir string
	// Seed seeds our host's random sources.
	Seed uint64
}

// Result is the outcome of a live client-role replay.
type Result struct {
	// Recorded names the recorded flow; Live the live connection.
	Recorded string `json:"recorded"`
	Live     string `json:"live"`
	// Writes and Sent count the client's writes and bytes sent; Waited
	// counts the writes sent after StepTimeout without the server bytes
	// the recorded client had (the live server sent less).
	Writes int `json:"writes"`
	Sent   int `json:"sent"`
	Waited int `json:"waited"`
	// Received is what the live server sent; RecordedReceived what the
	// recorded server sent.
	Received         int `json:"received"`
	RecordedReceived int `json:"recorded_received"`
	// ServerClosed is set when the live server closed its side.
	ServerClosed bool `json:"server_closed"`
	// TapFrames counts the frames that crossed the tap, both ways.
	TapFrames int `json:"tap_frames"`
	// Report compares the recorded server's segments ("recorded") with
	// the live server's ("sent"), streams included.
	Report *diff.Report `json:"report"`
}

// Run replays s against cfg.Server through our stack on cfg.Tap. ctx
// bounds the whole replay.
func Run(ctx context.Context, s *Script, cfg Config) (*Result, error) {
	if cfg.StepTimeout <= 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MAC.IsZero() {
		cfg.MAC = s.ClientMAC
		if cfg.MAC.IsZero() || cfg.MAC.IsMulticast() {
			cfg.MAC = DefaultMAC
		}
	}
	lp := loop.New()
	dev, err := tap.Open(lp, tap.Config{Name: cfg.Tap})
	if err != nil {
		return nil, fmt.Errorf("client-role replay: tap %s: %w", cfg.Tap, err)
	}
	defer dev.Close()
	clk := lp.Clock()
	obs := &observer{inner: dev, clk: clk, server: cfg.Server}
	var ep link.Endpoint = obs
	var capw *pcap.Writer
	if cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return nil, fmt.Errorf("client-role replay: %w", err)
		}
		if capw, err = pcap.Create(filepath.Join(cfg.OutDir, CaptureFile), pcap.PcapNG); err != nil {
			return nil, fmt.Errorf("client-role replay: capture: %w", err)
		}
		t, err := pcap.NewTap(obs, clk, capw, "clientrole:"+cfg.Tap)
		if err != nil {
			_ = capw.Close()
			return nil, fmt.Errorf("client-role replay: capture: %w", err)
		}
		ep = t
	}
	host := stack.New(stack.Config{Name: "client", Clock: clk, Rand: rng.New(cfg.Seed, "host/clientrole")})
	ifc := host.AddInterface("eth0", cfg.MAC, ep)
	ts := tcp.New(host, clk, rng.New(cfg.Seed, "clientrole/tcp"), tcp.Config{})
	host.RegisterProtocol(tcp.ProtocolNumber, ts)

	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() {
		_ = lp.Run(loopCtx)
		close(loopDone)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			if capw != nil {
				_ = lp.Call(context.Background(), func() { _ = capw.Close() })
			}
			stopLoop()
			<-loopDone
		}
	}
	defer stop()
	if err := lp.Call(ctx, func() { ifc.SetAddress(cfg.Client) }); err != nil {
		return nil, err
	}

	res := &Result{Recorded: fmt.Sprintf("tcp %s -> %s", s.Client, s.Server), RecordedReceived: len(s.ServerStream)}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	conn, err := netconn.Dial(dctx, lp, ts, cfg.Server)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("client-role replay: connect to %s: %w", cfg.Server, err)
	}
	res.Live = fmt.Sprintf("tcp %s -> %s", conn.LocalAddr(), cfg.Server)
	rd := newReader(conn)
	for _, st := range s.Steps {
		if !rd.waitFor(ctx, st.After, cfg.StepTimeout) {
			res.Waited++
		}
		if _, err := conn.Write(st.Data); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("client-role replay: write %d bytes (recorded frame %d): %w", len(st.Data), st.Frame, err)
		}
		res.Writes++
		res.Sent += len(st.Data)
	}
	if s.FIN {
		if !rd.waitFor(ctx, s.FINAfter, cfg.StepTimeout) {
			res.Waited++
		}
		_ = conn.CloseWrite()
	}
	res.ServerClosed = rd.waitEOF(ctx, cfg.StepTimeout)
	_ = conn.Close()
	// Let the closing handshake finish on the wire before stopping.
	time.Sleep(100 * time.Millisecond)
	got := rd.bytes()
	res.Received = len(got)
	stop()

	live := obs.segments()
	res.TapFrames = obs.frames
	flow := diff.Flow{Name: fmt.Sprintf("tcp %s -> %s (recorded) / %s (live)", s.Server, s.Client, cfg.Server), Proto: diff.TCP,
		Recorded: s.ServerSegments, Ours: live, RecordedStream: nonNil(s.ServerStream), OurStream: nonNil(got)}
	res.Report = diff.Compare([]diff.Flow{flow}, diff.Config{})
	if cfg.OutDir != "" {
		if err := writeReports(cfg.OutDir, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func writeReports(dir string, res *Result) error {
	for _, w := range []struct {
		name  string
		write func(io.Writer) error
	}{{DiffFile, res.Report.WriteJSON}, {SummaryFile, func(w io.Writer) error { return res.WriteSummary(w) }}} {
		f, err := os.Create(filepath.Join(dir, w.name))
		if err != nil {
			return fmt.Errorf("client-role replay: %w", err)
		}
		werr := w.write(f)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("client-role replay: %s: %w", w.name, werr)
		}
	}
	return nil
}

// WriteSummary writes what was replayed and the comparison.
func (r *Result) WriteSummary(w io.Writer) error {
	closed := "the live server did not close"
	if r.ServerClosed {
		closed = "the live server closed"
	}
	if _, err := fmt.Fprintf(w, "client-role replay of %s as %s: %d bytes in %d writes (%d sent without waiting for all the recorded answer); received %d bytes (recorded %d); %s\n",
		r.Recorded, r.Live, r.Sent, r.Writes, r.Waited, r.Received, r.RecordedReceived, closed); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return r.Report.WriteSummary(w, 10)
}

// reader reads the live server's bytes in the background.
type reader struct {
	mu   sync.Mutex
	got  []byte
	eof  bool
	wake chan struct{}
}

func newReader(c *netconn.Conn) *reader {
	rd := &reader{wake: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			rd.mu.Lock()
			if len(rd.got)+n <= MaxStream {
				rd.got = append(rd.got, buf[:n]...)
			}
			if err != nil {
				rd.eof = true
			}
			rd.mu.Unlock()
			select {
			case rd.wake <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return rd
}

func (rd *reader) state() (int, bool) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return len(rd.got), rd.eof
}

func (rd *reader) bytes() []byte {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return append([]byte(nil), rd.got...)
}

// waitFor waits until n bytes arrived (or the server closed); it reports
// false when timeout passed without progress first.
func (rd *reader) waitFor(ctx context.Context, n int, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		got, eof := rd.state()
		if got >= n || eof {
			return true
		}
		select {
		case <-rd.wake:
			t.Reset(timeout)
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// waitEOF waits until the server closes, as long as it keeps sending
// within timeout; it reports whether it closed.
func (rd *reader) waitEOF(ctx context.Context, timeout time.Duration) bool {
	return rd.waitFor(ctx, int(^uint(0)>>1), timeout) && func() bool { _, eof := rd.state(); return eof }()
}

// observer is our host's link: the tap, with the live server's segments
// noted on the way in. It runs on the loop.
type observer struct {
	inner  link.Endpoint
	clk    clock.Clock
	server netip.AddrPort
	frames int
	segs   []diff.Segment
	raw    []rawSeg
	sISN   uint32
	cISN   uint32
	haveS  bool
	haveC  bool
	cWS    int
	sWS    int
	opts   tcp.Options
	mu     sync.Mutex
}

// Send notes our SYN's sequence number and window scale, and sends.
func (o *observer) Send(frame []byte) link.Note {
	o.frames++
	if seg, ok := o.tcpOf(frame, false); ok && seg.Flags()&tcp.FlagSYN != 0 && !o.haveC {
		o.cISN, o.haveC, o.cWS = seg.Seq(), true, o.wscale(seg)
	}
	return o.inner.Send(frame)
}

// SetReceiver hands frames from the tap to r after noting them.
func (o *observer) SetReceiver(r link.Receiver) {
	o.inner.SetReceiver(link.ReceiverFunc(func(frame []byte, n link.Note) {
		o.frames++
		o.inbound(frame)
		r.Receive(frame, n)
	}))
}

// MTU is the tap's.
func (o *observer) MTU() int { return o.inner.MTU() }

func (o *observer) wscale(h tcp.Header) int {
	if tcp.ParseOptions(h.Options(), &o.opts) == nil && o.opts.HasWScale {
		return int(o.opts.WScale)
	}
	return -1
}

// tcpOf returns the TCP segment of frame between our host and the server.
func (o *observer) tcpOf(frame []byte, fromServer bool) (tcp.Header, bool) {
	e, err := ether.Parse(frame)
	if err != nil || e.EtherType() != ether.TypeIPv4 {
		return nil, false
	}
	h, err := ipv4.ParseUnchecked(e.Payload())
	if err != nil || h.Protocol() != tcp.ProtocolNumber || h.IsFragment() {
		return nil, false
	}
	seg, err := tcp.ParseHeader(h.Payload())
	if err != nil {
		return nil, false
	}
	if fromServer && netip.AddrPortFrom(h.Src(), seg.SrcPort()) != o.server {
		return nil, false
	}
	if !fromServer && netip.AddrPortFrom(h.Dst(), seg.DstPort()) != o.server {
		return nil, false
	}
	return seg, true
}

func (o *observer) inbound(frame []byte) {
	seg, ok := o.tcpOf(frame, true)
	if !ok {
		return
	}
	if seg.Flags()&tcp.FlagSYN != 0 && !o.haveS {
		o.sISN, o.haveS, o.sWS = seg.Seq(), true, o.wscale(seg)
	}
	if !o.haveS {
		return
	}
	opts := ""
	if tcp.ParseOptions(seg.Options(), &o.opts) == nil {
		opts = diff.OptionString(&o.opts)
	}
	pl := seg.Payload()
	o.mu.Lock()
	o.segs = append(o.segs, diff.Segment{Frame: o.frames, Time: jsontime.Of(o.clk.Now().Std()), Flags: seg.Flags(),
		Len: len(pl), Sum: diff.PayloadSum(pl), Options: opts})
	o.raw = append(o.raw, rawSeg{seq: seg.Seq(), ack: seg.Ack(), win: seg.Window()})
	o.mu.Unlock()
}

// segments returns the live server's segments, relative; call it after
// the loop stopped.
func (o *observer) segments() []diff.Segment {
	o.mu.Lock()
	defer o.mu.Unlock()
	shift := uint(0)
	if o.cWS >= 0 && o.sWS >= 0 && o.haveC {
		shift = uint(o.sWS)
	}
	relativise(o.segs, o.raw, o.sISN, o.cISN, shift)
	return o.segs
}
