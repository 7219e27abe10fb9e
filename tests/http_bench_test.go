package tests

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

var (
	httpServerAddr = netip.MustParseAddr("10.0.0.1")
	httpClientAddr = netip.MustParseAddr("10.0.0.2")
)

// httpSimHost builds a stack host with TCP on ep and returns the env its
// apps run in.
func httpSimHost(w *sim.World, name string, ep link.Endpoint, mac byte, addr netip.Addr) (*stack.Host, *app.Env) {
	h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
	h.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, mac}, ep).SetAddress(netip.PrefixFrom(addr, 24))
	ts := tcp.New(h, w.Clock(), w.Rand("tcp/"+name), tcp.Config{})
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	return h, &app.Env{Clock: w.Clock(), Rand: w.Rand("app/" + name), Net: app.NewStackNet(h), TCP: ts}
}

// httpRun steps w until done or limit of simulated time, and reports done.
func httpRun(w *sim.World, limit time.Duration, done func() bool) bool {
	end := w.Now().Add(limit)
	for !done() {
		next, ok := w.Scheduler().Next()
		if !ok || next > end {
			return false
		}
		w.Step()
	}
	return true
}

// BenchmarkHTTPKeepAlive measures GETs of the default page on one
// keep-alive connection between two simnet hosts in the simulator: wall
// clock requests per second and heap allocations per request, the
// connection set up beforehand.
func BenchmarkHTTPKeepAlive(b *testing.B) {
	w, err := sim.New(sim.Config{Seed: 1})
	require.NoError(b, err)
	defer w.Close()
	l, err := w.Connect("wire", sim.Iface{Host: "server", Name: "eth0"}, sim.Iface{Host: "client", Name: "eth0"},
		sim.LinkConfig{AtoB: impair.Config{Delay: 100 * time.Microsecond}, BtoA: impair.Config{Delay: 100 * time.Microsecond}})
	require.NoError(b, err)
	_, senv := httpSimHost(w, "server", l.A(), 1, httpServerAddr)
	_, cenv := httpSimHost(w, "client", l.B(), 2, httpClientAddr)
	srv, err := httpapp.NewServer(httpapp.ServerConfig{Name: "web"})
	require.NoError(b, err)
	require.NoError(b, srv.Start(senv))
	// One warm-up request opens the connection and fills the file cache.
	cl, err := httpapp.NewClient(httpapp.ClientConfig{Name: "get", URL: "http://10.0.0.1/", Count: b.N + 1})
	require.NoError(b, err)
	require.NoError(b, cl.Start(cenv))
	require.True(b, httpRun(w, time.Minute, func() bool { return cl.Completed() >= 1 }))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for !cl.Done() {
		if !w.Step() {
			b.Fatal("the world ran out of events")
		}
	}
	el := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	require.NoError(b, cl.Err())
	r := cl.Result().(httpapp.ClientResult)
	require.Equal(b, b.N+1, r.Requests)
	require.Equal(b, 1, r.Connections)
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/req")
}
