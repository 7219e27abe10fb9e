package hostrole

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// simBulkCapture records, in the simulator, a client of ours sending n
// bytes to our echo server over a link with 1 % loss, and returns the
// server's capture.
func simBulkCapture(tb testing.TB, n int64) string {
	tb.Helper()
	return simCapture(tb, func(w *sim.World, srv, cli *simHost) func() bool {
		_, err := tcpapps.StartEcho(srv.ts, netip.MustParseAddrPort("0.0.0.0:7"), 8)
		require.NoError(tb, err)
		done := false
		_, err = tcpapps.StartBulkSender(cli.ts, w.Clock(), netip.MustParseAddrPort("192.0.2.1:7"), n, func(tcpapps.BulkResult) { done = true })
		require.NoError(tb, err)
		return func() bool { return done }
	})
}

// simHost is one of our hosts in a simulated capture.
type simHost struct {
	h  *stack.Host
	ts *tcp.Stack
}

// simCapture runs a simulated exchange between a server (192.0.2.1) and a
// client (192.0.2.2) of ours over a link with 1 % loss, started by setup,
// until the function setup returns reports done, and returns the server's
// capture.
func simCapture(tb testing.TB, setup func(w *sim.World, srv, cli *simHost) func() bool) string {
	tb.Helper()
	dir := tb.TempDir()
	w, err := sim.New(sim.Config{Seed: 3, CaptureDir: dir})
	require.NoError(tb, err)
	imp := impair.Config{Delay: 2 * time.Millisecond, Loss: 0.01}
	l, err := w.Connect("wire", sim.Iface{Host: "server", Name: "eth0"}, sim.Iface{Host: "client", Name: "eth0"}, sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(tb, err)
	mk := func(name string, mac ether.Addr, addr string, server bool) *simHost {
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		ep := l.B()
		if server {
			ep = l.A()
		}
		h.AddInterface("eth0", mac, ep).SetAddress(netip.MustParsePrefix(addr))
		ts := tcp.New(h, w.Clock(), w.Rand("host/"+name+"/tcp"), tcp.Config{})
		h.RegisterProtocol(tcp.ProtocolNumber, ts)
		return &simHost{h: h, ts: ts}
	}
	srv := mk("server", ether.Addr{2, 0, 0, 0, 0, 1}, "192.0.2.1/24", true)
	cli := mk("client", ether.Addr{2, 0, 0, 0, 0, 2}, "192.0.2.2/24", false)
	done := setup(w, srv, cli)
	for !done() && w.Step() {
	}
	w.RunFor(5 * time.Second)
	require.NoError(tb, w.Close())
	return filepath.Join(dir, "server.pcapng")
}

// TestReplayOwnStacks replays the server of a simulated exchange between
// two of our stacks (with loss): an empty diff.
func TestReplayOwnStacks(t *testing.T) {
	path := simBulkCapture(t, 256<<10)
	res, err := Run(path, Config{As: netip.MustParseAddr("192.0.2.1"), EchoPort: 7})
	require.NoError(t, err)
	require.Len(t, res.Report.Flows, 1)
	require.Greater(t, res.Report.Flows[0].Matched, 100)
	require.True(t, res.Report.Empty(), "totals %v", res.Report.Totals)
}

// TestReplayHTTPOwnStacks replays the server of simulated HTTP GETs
// between two of our stacks with the HTTP service: the responses, Date
// headers included (the host's clock follows capture time), are the
// recorded ones byte for byte.
func TestReplayHTTPOwnStacks(t *testing.T) {
	path := simCapture(t, func(w *sim.World, srv, cli *simHost) func() bool {
		s, err := httpapp.NewServer(httpapp.ServerConfig{Name: "web", Port: 80})
		require.NoError(t, err)
		require.NoError(t, s.Start(&app.Env{Clock: w.Clock(), Rand: w.Rand("app/web"), Net: app.NewStackNet(srv.h), TCP: srv.ts}))
		c, err := httpapp.NewClient(httpapp.ClientConfig{Name: "get", URL: "http://192.0.2.1/", Count: 3, Interval: 1500 * time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, c.Start(&app.Env{Clock: w.Clock(), Rand: w.Rand("app/get"), Net: app.NewStackNet(cli.h), TCP: cli.ts}))
		end := w.Now().Add(20 * time.Second)
		return func() bool { return w.Now() > end }
	})
	res, err := Run(path, Config{As: netip.MustParseAddr("192.0.2.1"), HTTPPort: 80})
	require.NoError(t, err)
	require.NotEmpty(t, res.Report.Flows)
	var segs int
	for _, f := range res.Report.Flows {
		segs += f.Matched
	}
	assert.GreaterOrEqual(t, segs, 9, "three GETs answered on one connection")
	assert.Equal(t, []uint16{80}, res.Profile.TCPPorts)
	require.True(t, res.Report.Empty(), "totals %v", res.Report.Totals)
}

// BenchmarkHostRoleReplay measures a whole host-role replay (learning pass,
// replay, diff) of a bulk echo capture, in capture frames per second.
func BenchmarkHostRoleReplay(b *testing.B) {
	path := simBulkCapture(b, 2<<20)
	as := netip.MustParseAddr("192.0.2.1")
	var frames int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Run(path, Config{As: as, EchoPort: 7})
		if err != nil {
			b.Fatal(err)
		}
		if !res.Report.Empty() {
			b.Fatalf("diff not empty: %v", res.Report.Totals)
		}
		frames += res.Stats.Frames
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}
