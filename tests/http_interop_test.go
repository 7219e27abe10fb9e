package tests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/sim"
)

var (
	httpOurMAC = [6]byte{2, 0, 0, 0, 0, 1}
	httpGVMAC  = [6]byte{2, 0, 0, 0, 0, 2}
)

// httpInterop is a sim world with a simnet host (10.0.0.1) and a gVisor
// peer (10.0.0.2) on one link.
type httpInterop struct {
	w    *sim.World
	env  *app.Env
	peer *gvisorpeer.Peer
}

func newHTTPInterop(t *testing.T, imp impair.Config) *httpInterop {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 11})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	l, err := w.Connect("wire", sim.Iface{Host: "simnet", Name: "eth0"}, sim.Iface{Host: "gvisor", Name: "eth0"},
		sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	_, env := httpSimHost(w, "simnet", l.A(), httpOurMAC[5], httpServerAddr)
	peer, err := gvisorpeer.New(gvisorpeer.Config{
		Addr: httpClientAddr, PrefixLen: 24, MAC: httpGVMAC, Start: w.Now(),
		Neighbors: map[netip.Addr][6]byte{httpServerAddr: httpOurMAC},
	})
	require.NoError(t, err)
	peer.Attach(l.B())
	peer.Drive(w.Clock(), time.Millisecond)
	t.Cleanup(peer.Close)
	return &httpInterop{w: w, env: env, peer: peer}
}

// runUntil steps the world until done or limit of simulated time.
func (h *httpInterop) runUntil(limit time.Duration, done func() bool) bool {
	return httpRun(h.w, limit, done)
}

// httpFetch is what net/http's client got for one request.
type httpFetch struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// TestHTTPInteropNetHTTPClient has net/http's client, dialling through
// gVisor's gonet, fetch pages from simnet's server.
func TestHTTPInteropNetHTTPClient(t *testing.T) {
	t.Parallel()
	for _, l := range httpInteropLinks {
		t.Run(l.name, func(t *testing.T) { netHTTPClientFetch(t, l.imp) })
	}
}

// httpInteropLinks are the links the interop tests run over.
var httpInteropLinks = []struct {
	name string
	imp  impair.Config
}{
	{"clean", impair.Config{Delay: 2 * time.Millisecond}},
	{"loss3", impair.Config{Delay: 5 * time.Millisecond, Loss: 0.03}},
}

func netHTTPClientFetch(t *testing.T, imp impair.Config) {
	hi := newHTTPInterop(t, imp)
	srv, err := httpapp.NewServer(httpapp.ServerConfig{Name: "web"})
	require.NoError(t, err)
	require.NoError(t, srv.Start(hi.env))

	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil {
				return nil, fmt.Errorf("dial %s: %w", addr, err)
			}
			return hi.peer.Dial(ctx, ap)
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 1,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	type req struct{ method, path string }
	reqs := []req{{"GET", "/"}, {"GET", "/index.html"}, {"HEAD", "/"}, {"GET", "/missing"}, {"POST", "/"}, {"GET", "/"}}
	results := make(chan []httpFetch, 1)
	go func() {
		var out []httpFetch
		for _, r := range reqs {
			var f httpFetch
			hr, err := http.NewRequest(r.method, "http://10.0.0.1"+r.path, strings.NewReader(""))
			if err == nil {
				var resp *http.Response
				if resp, err = client.Do(hr); err == nil {
					f.status, f.header = resp.StatusCode, resp.Header
					f.body, err = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
				}
			}
			f.err = err
			out = append(out, f)
		}
		results <- out
	}()
	var got []httpFetch
	ok := hi.runUntil(5*time.Minute, func() bool {
		select {
		case got = <-results:
			return true
		default:
			return false
		}
	})
	require.True(t, ok, "net/http client did not finish")
	require.Len(t, got, len(reqs))
	page := httpapp.DefaultPage()
	wantStatus := []int{200, 200, 200, 404, 405, 200}
	for i, f := range got {
		require.NoError(t, f.err, "%v", reqs[i])
		assert.Equal(t, wantStatus[i], f.status, "%v", reqs[i])
	}
	assert.Equal(t, page, got[0].body, "byte-exact page")
	assert.Equal(t, page, got[1].body)
	assert.Empty(t, got[2].body, "HEAD has no body")
	assert.Equal(t, fmt.Sprint(len(page)), got[2].header.Get("Content-Length"))
	assert.Equal(t, "404 Not Found\n", string(got[3].body))
	assert.Equal(t, "GET, HEAD", got[4].header.Get("Allow"))
	assert.Equal(t, page, got[5].body)
	assert.Equal(t, "text/html; charset=utf-8", got[0].header.Get("Content-Type"))
	_, err = http.ParseTime(got[0].header.Get("Date"))
	assert.NoError(t, err, "Date is an IMF-fixdate")
	res := srv.Result().(httpapp.ServerResult)
	assert.Equal(t, 1, res.Connections, "net/http kept one connection alive for every request")
	assert.Equal(t, map[string]int{"200": 4, "404": 1, "405": 1}, res.Status)
}

// TestHTTPInteropOurClient has simnet's client app fetch from net/http's
// server running on gVisor's gonet listener: Content-Length, chunked and
// Connection: close responses.
func TestHTTPInteropOurClient(t *testing.T) {
	t.Parallel()
	for _, l := range httpInteropLinks {
		t.Run(l.name, func(t *testing.T) { ourClientFetch(t, l.imp) })
	}
}

func ourClientFetch(t *testing.T, imp impair.Config) {
	hi := newHTTPInterop(t, imp)
	ln, err := hi.peer.Listen(80)
	require.NoError(t, err)
	big := []byte(strings.Repeat("simnet over gVisor ", 20000)) // 380 KB
	mux := http.NewServeMux()
	mux.HandleFunc("/fixed", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		_, _ = w.Write(big)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i < len(big); i += 50000 {
			_, _ = w.Write(big[i:min(i+50000, len(big))])
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye\n")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	sum := func(b []byte) string {
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	cases := []struct {
		path    string
		framing string
		count   int
		body    []byte
		conns   int
	}{
		{"/fixed", "length", 3, big, 1},
		{"/chunked", "chunked", 2, big, 1},
		{"/close", "length", 2, []byte("bye\n"), 2},
		{"/missing", "length", 1, []byte("404 page not found\n"), 1},
	}
	for _, tc := range cases {
		cl, err := httpapp.NewClient(httpapp.ClientConfig{Name: "get", URL: "http://10.0.0.2" + tc.path, Count: tc.count})
		require.NoError(t, err)
		require.NoError(t, cl.Start(hi.env))
		require.True(t, hi.runUntil(5*time.Minute, cl.Done), tc.path)
		r := cl.Result().(httpapp.ClientResult)
		require.Empty(t, r.Error, tc.path)
		assert.True(t, r.Done, tc.path)
		assert.Equal(t, tc.count, r.Requests, tc.path)
		assert.Equal(t, tc.conns, r.Connections, tc.path)
		for _, rr := range r.Responses {
			if tc.path == "/missing" {
				assert.Equal(t, 404, rr.Status)
			} else {
				assert.Equal(t, 200, rr.Status, tc.path)
			}
			assert.Equal(t, tc.framing, rr.Framing, tc.path)
			assert.Equal(t, int64(len(tc.body)), rr.BodyLength, tc.path)
			assert.Equal(t, sum(tc.body), rr.BodySHA256, tc.path)
		}
	}
}
