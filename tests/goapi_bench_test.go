package tests

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"regexp"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
)

// BenchmarkGoAPIHTTP measures keep-alive GETs of the default page per
// wall-clock second between two hosts, three ways in one run: net/http over
// package simtest inside a synctest bubble (links of 100 µs each way, on
// virtual time), simnet's loop-driven HTTP apps in the simulator
// (BenchmarkHTTPKeepAlive), and net/http over two gVisor netstacks joined
// by a pipe (wall clock, no delay).
func BenchmarkGoAPIHTTP(b *testing.B) {
	b.Run("simtest", benchSimtestHTTP)
	b.Run("loop-app", BenchmarkHTTPKeepAlive)
	b.Run("gvisor", benchGVisorHTTP)
}

// wallNow reads the wall clock with a system call, which a synctest
// bubble's fake clock does not replace.
func wallNow() time.Duration {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		panic(err)
	}
	return time.Duration(tv.Nano())
}

// inBubble runs f in a synctest bubble from a benchmark: synctest.Test
// wants a *testing.T, which testing.RunTests provides (with -test.run
// pointed at it for the call, as benchmarks run with -run '^$').
func inBubble(b *testing.B, name string, f func(t *testing.T)) {
	b.Helper()
	run := flag.Lookup("test.run")
	require.NotNil(b, run)
	old := run.Value.String()
	require.NoError(b, run.Value.Set("^"+regexp.QuoteMeta(name)+"$"))
	defer func() { _ = run.Value.Set(old) }()
	ok := testing.RunTests(regexp.MatchString, []testing.InternalTest{{
		Name: name,
		F:    func(t *testing.T) { synctest.Test(t, f) },
	}})
	require.True(b, ok, "%s failed", name)
}

// getLoop does n keep-alive GETs with hc and checks each body.
func getLoop(hc *http.Client, url string, n int, want int) error {
	for range n {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		got, err := io.Copy(io.Discard, resp.Body)
		if cerr := resp.Body.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if got != int64(want) {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

func pageHandler(page []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) })
}

func benchSimtestHTTP(b *testing.B) {
	page := httpapp.DefaultPage()
	n := b.N
	var elapsed time.Duration
	var runErr error
	inBubble(b, "GoAPIHTTPInBubble", func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1, NoCapture: true})
		srv := w.Host("server", "10.0.0.1/24")
		cli := w.Host("client", "10.0.0.2/24")
		w.Link(srv, cli, impair.Config{Delay: 100 * time.Microsecond})
		ln, err := srv.Listen("tcp", ":80")
		if err != nil {
			runErr = err
			return
		}
		go func() { _ = http.Serve(ln, pageHandler(page)) }()
		hc := &http.Client{Transport: &http.Transport{DialContext: cli.DialContext}}
		if runErr = getLoop(hc, "http://10.0.0.1/", 1, len(page)); runErr != nil {
			return
		}
		start := wallNow()
		runErr = getLoop(hc, "http://10.0.0.1/", n, len(page))
		elapsed = wallNow() - start
		hc.CloseIdleConnections()
	})
	require.NoError(b, runErr)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "req/s")
}

// gvisorHost is a gVisor netstack with one NIC on ep at addr/24.
func gvisorHost(b *testing.B, ep gstack.LinkEndpoint, addr [4]byte) *gstack.Stack {
	s := gstack.New(gstack.Options{
		NetworkProtocols:   []gstack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []gstack.TransportProtocolFactory{gtcp.NewProtocol},
	})
	b.Cleanup(func() {
		s.Close()
		s.Wait()
	})
	require.Nil(b, s.CreateNIC(1, ep))
	require.Nil(b, s.AddProtocolAddress(1, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(addr), PrefixLen: 24},
	}, gstack.AddressProperties{}))
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return s
}

func benchGVisorHTTP(b *testing.B) {
	page := httpapp.DefaultPage()
	epA, epB := pipe.New("\x02\x00\x00\x00\x00\x01", "\x02\x00\x00\x00\x00\x02", 1500)
	sa := gvisorHost(b, epA, [4]byte{10, 0, 0, 1})
	sb := gvisorHost(b, epB, [4]byte{10, 0, 0, 2})
	ln, err := gonet.ListenTCP(sa, tcpip.FullAddress{NIC: 1, Port: 80}, ipv4.ProtocolNumber)
	require.NoError(b, err)
	hs := &http.Server{Handler: pageHandler(page)}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { _ = hs.Close() })
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return gonet.DialContextTCP(ctx, sb, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), Port: 80}, ipv4.ProtocolNumber)
	}}}
	b.Cleanup(hc.CloseIdleConnections)
	require.NoError(b, getLoop(hc, "http://10.0.0.1/", 1, len(page)))
	b.ResetTimer()
	start := time.Now()
	require.NoError(b, getLoop(hc, "http://10.0.0.1/", b.N, len(page)))
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}
