// Package simtest runs Go code (net/http, crypto/tls, a protocol over UDP)
// on simnet's simulated network from a Go test: hosts with DialContext,
// Listen and ListenPacket, links with loss, delay and partitions, and a
// capture per host kept when the test fails.
//
// Inside a testing/synctest bubble the world's virtual clock is the
// bubble's clock: time.Sleep, timers, context deadlines and connection
// deadlines in the test and simnet's events (segments in flight,
// retransmission timers) share one time, which advances only when every
// goroutine of the bubble is blocked. Simulated minutes take milliseconds
// and the run is deterministic. Outside a bubble the same calls run on the
// wall clock (the live loop), so one test helper serves both.
//
//	synctest.Test(t, func(t *testing.T) {
//		w := simtest.New(t, simtest.Options{Seed: 1})
//		srv := w.Host("server", "192.0.2.1/24")
//		cli := w.Host("client", "192.0.2.2/24")
//		w.Link(srv, cli, impair.Config{Loss: 0.05, Delay: 20 * time.Millisecond})
//		ln, _ := srv.Listen("tcp", ":80")
//		go http.Serve(ln, handler)
//		hc := &http.Client{Transport: &http.Transport{DialContext: cli.DialContext}}
//		resp, err := hc.Get("http://192.0.2.1/")
//		...
//	})
//
// # Determinism
//
// The network's decisions (loss draws, ISNs, ports, DNS IDs) come from the
// seed. The world's loop is one goroutine of the bubble: it runs simnet's
// events when their virtual time comes, which is only once every goroutine
// is blocked, and the calls the test's goroutines post (Read, Write, Dial)
// in the order they are posted. For byte-identical captures across runs
// and GOMAXPROCS values, a test must not do real I/O inside the bubble and
// should run one goroutine per role (a server loop, a client): calls posted
// by two goroutines woken at the same instant run in the order the Go
// scheduler lets them post. See docs/go-api.md for crypto/tls and
// net.Resolver. synctest.Wait (or World.Wait) may be called: the loop is
// durably blocked whenever it has nothing to do.
package simtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/sim"
)

// Options configure a World.
type Options struct {
	// Seed determines every random draw of the network.
	Seed uint64
	// CaptureDir, when not empty, receives one capture per host
	// (HOST.pcapng) when the world closes, whether the test passed or not.
	// Otherwise captures are written to a new temporary directory only
	// when the test failed, and its path is logged.
	CaptureDir string
	// NoCapture turns captures off.
	NoCapture bool
	// CaptureFormat is the capture format (pcapng by default).
	CaptureFormat pcap.Format
}

// World is a simulated network inside a test. Its methods are called from
// the test's goroutines (not from the world's loop); a construction error
// fails the test with t.Fatal.
type World struct {
	t      testing.TB
	opts   Options
	sw     *sim.World
	lp     *loop.Loop
	bubble bool
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	open   []io.Closer
	closed bool

	// Used on the loop only.
	hosts    []*Host
	switches []*Switch
	links    []*Link
	ifaces   int // interfaces made so far, for MAC addresses
	caps     map[string]*capBuf
	capNames []string
	dns      []netip.AddrPort
	apps     []*loadedApp

	captures []Capture // taken when the world closes
}

// Capture is one host's capture file.
type Capture struct {
	// Host is the host's name.
	Host string
	// Name is the file name, such as "client.pcapng".
	Name string
	// Path is where the file was written, or "" when it was not.
	Path string
	// Data is the file's content.
	Data []byte
}

// capBuf holds a capture in memory; writes after freeze are discarded, so
// the capture ends with the test body, not with the world's teardown.
type capBuf struct {
	bytes.Buffer
	frozen bool
}

// Write appends p unless the buffer is frozen.
func (c *capBuf) Write(p []byte) (int, error) {
	if c.frozen {
		return len(p), nil
	}
	return c.Buffer.Write(p)
}

// inBubble reports whether the calling goroutine runs in a synctest
// bubble. synctest.Wait panics outside one; inside, it returns once the
// other goroutines are blocked, or panics because another goroutine
// (another world's loop) is waiting.
func inBubble() (in bool) {
	defer func() {
		if r := recover(); r != nil {
			in = fmt.Sprint(r) != "goroutine is not in a bubble"
		}
	}()
	synctest.Wait()
	return true
}

// New returns an empty world whose loop runs until the test ends: on the
// bubble's clock when called inside synctest.Test, else on the wall clock.
// The world closes itself in t.Cleanup (see Close).
func New(t testing.TB, opts Options) *World {
	t.Helper()
	w := &World{t: t, opts: opts, bubble: inBubble(), done: make(chan struct{}), caps: make(map[string]*capBuf)}
	cfg := sim.Config{Seed: opts.Seed, Start: clock.FromTime(time.Now()), CaptureFormat: opts.CaptureFormat}
	if !opts.NoCapture {
		cfg.CaptureOpen = func(name string) (io.Writer, error) {
			b := &capBuf{}
			w.caps[name] = b
			w.capNames = append(w.capNames, name)
			return b, nil
		}
	}
	sw, err := sim.New(cfg)
	if err != nil {
		t.Fatalf("simtest: %v", err)
	}
	w.sw = sw
	w.lp = loop.NewOn(sw.Scheduler(), time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		if w.bubble {
			_ = w.lp.RunVirtual(ctx)
		} else {
			_ = w.lp.Run(ctx)
		}
	}()
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("simtest: %v", err)
		}
	})
	return w
}

// Wait returns once every other goroutine of the bubble, the world's loop
// included, is blocked: synctest.Wait (which may also be called directly).
// Outside a bubble it only waits for the loop to run the work posted so far.
func (w *World) Wait() {
	if !w.bubble {
		w.do(func() {})
		return
	}
	synctest.Wait()
}

// InBubble reports whether the world runs on a synctest bubble's clock.
func (w *World) InBubble() bool { return w.bubble }

// do runs fn on the world's loop and waits for it.
func (w *World) do(fn func()) {
	if err := w.lp.Call(context.Background(), fn); err != nil {
		w.t.Fatalf("simtest: %v", err)
	}
}

// track records a connection, listener or packet connection for Close.
func (w *World) track(c io.Closer) {
	w.mu.Lock()
	w.open = append(w.open, c)
	w.mu.Unlock()
}

// Seed returns the world's seed.
func (w *World) Seed() uint64 { return w.opts.Seed }

// Stats returns the counters of every link and switch.
func (w *World) Stats() sim.Stats {
	var s sim.Stats
	w.do(func() { s = w.sw.Stats() })
	return s
}

// fatalf fails the test from a world method.
func (w *World) fatalf(format string, args ...any) {
	w.t.Helper()
	w.t.Fatalf("simtest: "+format, args...)
}

// Node is what a link joins: a *Host or a *Switch.
type Node interface {
	nodeName() string
}

// Switch is a learning Ethernet switch of the world.
type Switch struct {
	w    *World
	name string
	sw   *sim.Switch
}

func (s *Switch) nodeName() string { return s.name }

// Name returns the switch's name.
func (s *Switch) Name() string { return s.name }

// Switch adds a learning switch called name.
func (w *World) Switch(name string) *Switch {
	w.t.Helper()
	s := &Switch{w: w, name: name}
	var err error
	w.do(func() {
		s.sw, err = w.sw.NewSwitch(name, sim.SwitchConfig{})
		if err == nil {
			w.switches = append(w.switches, s)
		}
	})
	if err != nil {
		w.fatalf("%v", err)
	}
	return s
}

// Link is a point-to-point link between two nodes, impaired the same way
// in both directions unless changed.
type Link struct {
	w    *World
	a, b Node
	l    *sim.Link
	// swapped: the world's end A is node b (a switch-to-host link).
	swapped bool
}

// Name returns the link's name ("a-b").
func (l *Link) Name() string { return l.l.Name() }

// Link joins a and b (hosts or switches) with a link impaired by cfg in
// each direction (each direction draws its own random numbers). A host's
// first link is its eth0 and carries its first address, and so on.
func (w *World) Link(a, b Node, cfg impair.Config) *Link {
	w.t.Helper()
	if a == nil || b == nil || a == b {
		w.fatalf("link: needs two different nodes")
	}
	l := &Link{w: w, a: a, b: b}
	var err error
	w.do(func() {
		if err = w.link(l, cfg); err == nil {
			w.links = append(w.links, l)
		}
	})
	if err != nil {
		w.fatalf("link %s-%s: %v", a.nodeName(), b.nodeName(), err)
	}
	return l
}

// linkName returns an unused link name for a and b.
func (w *World) linkName(a, b Node) string {
	base := a.nodeName() + "-" + b.nodeName()
	name := base
	for i := 2; w.sw.Link(name) != nil; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// link builds l on the loop.
func (w *World) link(l *Link, cfg impair.Config) error {
	lc := sim.LinkConfig{MTU: cfg.MTU, AtoB: cfg, BtoA: cfg}
	name := w.linkName(l.a, l.b)
	ha, aHost := l.a.(*Host)
	hb, bHost := l.b.(*Host)
	var err error
	switch {
	case aHost && bHost:
		ia, ib := ha.nextIface(), hb.nextIface()
		if l.l, err = w.sw.Connect(name, sim.Iface{Host: ha.name, Name: ia}, sim.Iface{Host: hb.name, Name: ib}, lc); err != nil {
			return err
		}
		if err := ha.attach(ia, l.l.A()); err != nil {
			return err
		}
		return hb.attach(ib, l.l.B())
	case aHost:
		ia := ha.nextIface()
		if l.l, err = w.sw.ConnectSwitch(name, sim.Iface{Host: ha.name, Name: ia}, l.b.(*Switch).sw, lc); err != nil {
			return err
		}
		return ha.attach(ia, l.l.A())
	case bHost:
		l.swapped = true
		ib := hb.nextIface()
		if l.l, err = w.sw.ConnectSwitch(name, sim.Iface{Host: hb.name, Name: ib}, l.a.(*Switch).sw, lc); err != nil {
			return err
		}
		return hb.attach(ib, l.l.A())
	default:
		l.l, err = w.sw.ConnectSwitches(name, l.a.(*Switch).sw, l.b.(*Switch).sw, lc)
		return err
	}
}

// dir returns the world's direction for frames from node from.
func (l *Link) dir(from Node) sim.Dir {
	if (from == l.a) != l.swapped {
		return sim.AtoB
	}
	return sim.BtoA
}

// SetUp brings the link up or down; going down loses the frames in
// flight.
func (l *Link) SetUp(up bool) { l.w.do(func() { l.l.SetUp(up) }) }

// SetImpair changes the impairment of both directions for frames sent from
// now on.
func (l *Link) SetImpair(cfg impair.Config) {
	l.w.t.Helper()
	var err error
	l.w.do(func() {
		if err = l.l.SetImpair(sim.AtoB, cfg); err == nil {
			err = l.l.SetImpair(sim.BtoA, cfg)
		}
	})
	if err != nil {
		l.w.fatalf("%v", err)
	}
}

// SetImpairFrom changes the impairment of the direction leaving from (one
// of the link's nodes).
func (l *Link) SetImpairFrom(from Node, cfg impair.Config) {
	l.w.t.Helper()
	if from != l.a && from != l.b {
		l.w.fatalf("link %s: %s is not on it", l.Name(), from.nodeName())
	}
	var err error
	l.w.do(func() { err = l.l.SetImpair(l.dir(from), cfg) })
	if err != nil {
		l.w.fatalf("%v", err)
	}
}

// Stats returns the link's counters, in the world's A/B orientation (A is
// the host of a switch-to-host link).
func (l *Link) Stats() sim.LinkStats {
	var s sim.LinkStats
	l.w.do(func() { s = l.l.Stats() })
	return s
}

// between returns the links joining a and b, failing the test if none.
func (w *World) between(a, b Node) []*Link {
	w.t.Helper()
	var ls []*Link
	w.do(func() {
		for _, l := range w.links {
			if l.a == a && l.b == b || l.a == b && l.b == a {
				ls = append(ls, l)
			}
		}
	})
	if len(ls) == 0 {
		w.fatalf("no link between %s and %s", a.nodeName(), b.nodeName())
	}
	return ls
}

// Partition takes down every link joining a and b: frames in flight on
// them are lost and new ones dropped until Heal.
func (w *World) Partition(a, b Node) {
	w.t.Helper()
	for _, l := range w.between(a, b) {
		l.SetUp(false)
	}
}

// Heal brings the links joining a and b back up.
func (w *World) Heal(a, b Node) {
	w.t.Helper()
	for _, l := range w.between(a, b) {
		l.SetUp(true)
	}
}

// SetImpair changes the impairment of both directions of every link
// joining a and b.
func (w *World) SetImpair(a, b Node, cfg impair.Config) {
	w.t.Helper()
	for _, l := range w.between(a, b) {
		l.SetImpair(cfg)
	}
}

// Captures returns every host's capture as the world has written it so
// far (after Close: the files as kept, with their paths).
func (w *World) Captures() []Capture {
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return append([]Capture(nil), w.captures...)
	}
	var cs []Capture
	w.do(func() {
		_ = w.sw.FlushCaptures()
		cs = w.snapshot()
	})
	return cs
}

// snapshot copies the capture buffers (on the loop, or after it stopped).
func (w *World) snapshot() []Capture {
	cs := make([]Capture, 0, len(w.capNames))
	for _, n := range w.capNames {
		cs = append(cs, Capture{Host: strings.TrimSuffix(n, filepath.Ext(n)), Name: n, Data: bytes.Clone(w.caps[n].Bytes())})
	}
	return cs
}

// Close ends the world: it freezes the captures, closes every connection,
// listener and packet connection the hosts opened (so goroutines blocked in
// Accept or Read return and the bubble can end), waits for the bubble to
// settle, stops the loop and writes the captures (see Options.CaptureDir).
// It is called by t.Cleanup; calling it earlier is allowed, and later
// calls do nothing.
func (w *World) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	open := w.open
	w.open = nil
	w.mu.Unlock()

	var flushErr error
	_ = w.lp.Call(context.Background(), func() {
		flushErr = w.sw.FlushCaptures()
		for _, c := range w.caps {
			c.frozen = true
		}
	})
	for i := len(open) - 1; i >= 0; i-- {
		_ = open[i].Close()
	}
	w.Wait()
	w.cancel()
	<-w.done
	closeErr := w.sw.Close()
	w.captures = w.snapshot()
	if flushErr != nil {
		return flushErr
	}
	if closeErr != nil {
		return closeErr
	}
	return w.writeCaptures()
}

// writeCaptures writes the captures to Options.CaptureDir, or to a new
// temporary directory when the test failed.
func (w *World) writeCaptures() error {
	if len(w.captures) == 0 {
		return nil
	}
	dir := w.opts.CaptureDir
	if dir == "" {
		if !w.t.Failed() {
			return nil
		}
		var err error
		name := strings.NewReplacer("/", "_", " ", "_").Replace(w.t.Name())
		if dir, err = os.MkdirTemp("", "simtest-"+name+"-"); err != nil {
			return fmt.Errorf("keep captures: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("keep captures: %w", err)
	}
	for i := range w.captures {
		c := &w.captures[i]
		p := filepath.Join(dir, c.Name)
		if err := os.WriteFile(p, c.Data, 0o644); err != nil {
			return fmt.Errorf("keep captures: %w", err)
		}
		c.Path = p
	}
	w.t.Logf("simtest: captures of %s (seed %d) in %s", w.t.Name(), w.opts.Seed, dir)
	return nil
}

// mac returns the next interface's locally administered MAC address.
func (w *World) mac() [6]byte {
	w.ifaces++
	return [6]byte{0x02, 0x53, 0x54, byte(w.ifaces >> 16), byte(w.ifaces >> 8), byte(w.ifaces)}
}
