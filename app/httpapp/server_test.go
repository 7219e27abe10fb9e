package httpapp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func startServer(t testing.TB, n *testNet, cfg ServerConfig) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(n.server.env))
	return s
}

// get runs a client app to completion and returns its result.
func get(t testing.TB, n *testNet, cfg ClientConfig) ClientResult {
	t.Helper()
	c, err := NewClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Start(n.client.env))
	n.run(10*time.Minute, func() bool { return c.done })
	return c.Result().(ClientResult)
}

var testFS = fstest.MapFS{
	"index.html":     {Data: []byte("<h1>root</h1>\n")},
	"a.txt":          {Data: []byte("alpha\n")},
	"dir/index.html": {Data: []byte("<p>dir</p>\n")},
	"dir/b.css":      {Data: []byte("b{}")},
	"blob.bin":       {Data: []byte(strings.Repeat("0123456789abcdef", 40000))}, // 640 KB: streamed
	"emptydir":       {Mode: os.ModeDir | 0o755},
}

func TestServerDefaultPage(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: 2 * time.Millisecond})
	s := startServer(t, n, ServerConfig{Name: "web"})
	page := DefaultPage()
	require.Contains(t, string(page), "served by simnet")
	for _, path := range []string{"/", "/index.html", "/?x=1", "/./index.html"} {
		r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1" + path})
		require.Empty(t, r.Error, path)
		assert.True(t, r.Done, path)
		assert.Equal(t, 200, r.Status, path)
		assert.Equal(t, int64(len(page)), r.BodyLength, path)
		assert.Equal(t, sha(page), r.BodySHA256, path)
		assert.Equal(t, 1, r.Connections)
		assert.Greater(t, r.DurationMs, 4.0, "at least two round trips of 4 ms")
	}
	r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/nope.html"})
	assert.Equal(t, 404, r.Status)
	assert.Equal(t, sha([]byte("404 Not Found\n")), r.BodySHA256)
	res := s.Result().(ServerResult)
	assert.Equal(t, map[string]int{"200": 4, "404": 1}, res.Status)
	assert.Equal(t, 5, res.Requests)
	assert.Equal(t, 5, res.Connections)
}

func TestServerFiles(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	startServer(t, n, ServerConfig{Name: "web", Port: 8080, Root: testFS})
	cases := []struct {
		path   string
		status int
		body   []byte
	}{
		{"/", 200, testFS["index.html"].Data},
		{"/a.txt", 200, testFS["a.txt"].Data},
		{"/dir/", 200, testFS["dir/index.html"].Data},
		{"/dir", 200, testFS["dir/index.html"].Data},
		{"/dir/b.css", 200, testFS["dir/b.css"].Data},
		{"/dir/../a.txt", 200, testFS["a.txt"].Data},
		{"/%61.txt", 200, testFS["a.txt"].Data},
		{"/blob.bin", 200, testFS["blob.bin"].Data},
		{"/emptydir/", 404, []byte("404 Not Found\n")},
		{"/missing", 404, []byte("404 Not Found\n")},
		{"/a.txt/", 404, []byte("404 Not Found\n")},
	}
	for _, tc := range cases {
		r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1:8080" + tc.path})
		require.Empty(t, r.Error, tc.path)
		assert.Equal(t, tc.status, r.Status, tc.path)
		assert.Equal(t, int64(len(tc.body)), r.BodyLength, tc.path)
		assert.Equal(t, sha(tc.body), r.BodySHA256, tc.path)
	}
}

// TestServerNoEscape checks that ".." and its encodings cannot leave an
// os.DirFS root.
func TestServerNoEscape(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o600))
	www := filepath.Join(dir, "www")
	require.NoError(t, os.Mkdir(www, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(www, "index.html"), []byte("public"), 0o600))
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	startServer(t, n, ServerConfig{Name: "web", Root: os.DirFS(www)})
	for _, target := range []string{
		"/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt", "/a/../../secret.txt",
		"/..%2f..%2fsecret.txt", "/....//secret.txt", "http://h/../secret.txt",
	} {
		raw := n.send(t, 80, []byte("GET "+target+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), false)
		require.True(t, n.run(time.Minute, func() bool { return raw.eof }), target)
		rs := parseResponses(t, raw.got.Bytes())
		require.Len(t, rs, 1, target)
		assert.Equal(t, 404, rs[0].status, target)
		assert.NotContains(t, string(rs[0].body), "secret", target)
	}
	r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/"})
	assert.Equal(t, sha([]byte("public")), r.BodySHA256)
}

func TestServerRaw(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxRequestLine)
	cases := []struct {
		name     string
		in       string
		head     []bool
		statuses []int
		closes   bool // the server closes without our FIN
		check    func(t *testing.T, rs []parsedResponse)
	}{
		{name: "get", in: "GET / HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{200}, check: func(t *testing.T, rs []parsedResponse) {
			assert.Equal(t, "text/html; charset=utf-8", rs[0].header["Content-Type"])
			assert.Equal(t, "simnet", rs[0].header["Server"])
			assert.Equal(t, "Thu, 01 Jan 2026 00:00:00 GMT", rs[0].header["Date"])
			assert.NotContains(t, rs[0].header, "Connection")
		}},
		{name: "head", in: "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", head: []bool{true}, statuses: []int{200}, check: func(t *testing.T, rs []parsedResponse) {
			assert.Equal(t, strconv.Itoa(len(DefaultPage())), rs[0].header["Content-Length"], "HEAD announces the GET length")
			assert.Empty(t, rs[0].body)
		}},
		{name: "garbage", in: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", statuses: []int{400}, closes: true, check: func(t *testing.T, rs []parsedResponse) {
			assert.Equal(t, "close", rs[0].header["Connection"])
			assert.Equal(t, "400 Bad Request\n", string(rs[0].body))
		}},
		{name: "post", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyGET / HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{405, 200}, check: func(t *testing.T, rs []parsedResponse) {
			assert.Equal(t, "GET, HEAD", rs[0].header["Allow"])
		}},
		{name: "chunked body discarded", in: "DELETE /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\n",
			head: []bool{false, true}, statuses: []int{405, 200}},
		{name: "pipelined", in: "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /nope HTTP/1.1\r\nHost: h\r\n\r\nHEAD / HTTP/1.1\r\nHost: h\r\n\r\nGET /index.html HTTP/1.1\r\nHost: h\r\n\r\n",
			head: []bool{false, false, true, false}, statuses: []int{200, 404, 200, 200}},
		{name: "connection close", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{200}, closes: true, check: func(t *testing.T, rs []parsedResponse) {
			assert.Equal(t, "close", rs[0].header["Connection"])
		}},
		{name: "http/1.0", in: "GET / HTTP/1.0\r\n\r\n", statuses: []int{200}, closes: true},
		{name: "http/1.0 keep-alive", in: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", statuses: []int{200, 404}, check: func(t *testing.T, rs []parsedResponse) {
			assert.Equal(t, "keep-alive", rs[0].header["Connection"])
		}},
		{name: "bad escapes", in: "GET /%zz HTTP/1.1\r\nHost: h\r\n\r\nGET /a%00.txt HTTP/1.1\r\nHost: h\r\n\r\nGET /a%5c..%5ca.txt HTTP/1.1\r\nHost: h\r\n\r\n",
			statuses: []int{400, 400, 400}},
		{name: "missing host", in: "GET / HTTP/1.1\r\n\r\n", statuses: []int{400}, closes: true},
		{name: "http/2", in: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", statuses: []int{505}, closes: true},
		{name: "gzip body", in: "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", statuses: []int{501}, closes: true},
		{name: "uri too long", in: "GET /" + long + " HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{414}, closes: true},
		{name: "header too large", in: "GET / HTTP/1.1\r\nHost: h\r\nCookie: " + long + "\r\n\r\n", statuses: []int{431}, closes: true},
		{name: "endless header", in: "GET / HTTP/1.1\r\nHost: h\r\nCookie: " + long + long, statuses: []int{431}, closes: true},
		{name: "body too large", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", statuses: []int{413}, closes: true},
		{name: "chunked body too large", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("8000\r\n"+strings.Repeat("z", 0x8000)+"\r\n", 40),
			statuses: []int{413}, closes: true},
		{name: "bad chunk", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", statuses: []int{400}, closes: true},
		{name: "error after good", in: "GET / HTTP/1.1\r\nHost: h\r\n\r\nBAD\r\n\r\n", statuses: []int{200, 400}, closes: true},
		{name: "unknown method", in: "BREW / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{501, 200}},
		{name: "known methods", in: "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nOPTIONS / HTTP/1.1\r\nHost: h\r\n\r\nPATCH / HTTP/1.1\r\nHost: h\r\n\r\nTRACE / HTTP/1.1\r\nHost: h\r\n\r\n",
			statuses: []int{405, 405, 405, 405}, check: func(t *testing.T, rs []parsedResponse) {
				for _, r := range rs {
					assert.Equal(t, "GET, HEAD", r.header["Allow"])
				}
			}},
		{name: "CONNECT is never tunnelled", in: "CONNECT 10.0.0.1:80 HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{405, 200}},
		{name: "Transfer-Encoding and Content-Length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
			statuses: []int{400}, closes: true},
		{name: "leading empty lines", in: "\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", statuses: []int{200}},
		{name: "expect 100-continue refused at once", in: "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n", statuses: []int{405}, closes: true,
			check: func(t *testing.T, rs []parsedResponse) { assert.Equal(t, "close", rs[0].header["Connection"]) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t, impair.Config{Delay: time.Millisecond})
			startServer(t, n, ServerConfig{Name: "web"})
			raw := n.send(t, 80, []byte(tc.in), false)
			closed := n.run(10*time.Second, func() bool { return raw.eof })
			assert.Equal(t, tc.closes, closed, "server closed the connection")
			rs := parseResponses(t, raw.got.Bytes(), tc.head...)
			got := make([]int, len(rs))
			for i, r := range rs {
				got[i] = r.status
			}
			require.Equal(t, tc.statuses, got)
			if tc.check != nil {
				tc.check(t, rs)
			}
			if closed {
				n.run(10*time.Second, func() bool { return raw.closed })
				assert.NoError(t, raw.err, "a clean close, not a reset")
			}
		})
	}
}

func TestServerHalfClosedClient(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	s := startServer(t, n, ServerConfig{Name: "web"})
	raw := n.send(t, 80, []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), true)
	require.True(t, n.run(time.Minute, func() bool { return raw.closed }))
	assert.NoError(t, raw.err)
	rs := parseResponses(t, raw.got.Bytes())
	require.Len(t, rs, 2, "both requests answered before the server closes")
	assert.True(t, n.run(time.Minute, func() bool { return s.active == 0 }), "the server released the connection")
}

func TestServerKeepAlive(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	s := startServer(t, n, ServerConfig{Name: "web", Root: testFS})
	r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/a.txt", Count: 200})
	require.Empty(t, r.Error)
	assert.True(t, r.Done)
	assert.Equal(t, 200, r.Requests)
	assert.Equal(t, 1, r.Connections, "one connection carries every request")
	require.Len(t, r.Responses, maxRecorded)
	for _, rr := range r.Responses {
		assert.Equal(t, 200, rr.Status)
		assert.Equal(t, sha(testFS["a.txt"].Data), rr.BodySHA256)
	}
	res := s.Result().(ServerResult)
	assert.Equal(t, 1, res.Connections)
	assert.Equal(t, map[string]int{"200": 200}, res.Status)
	// The client closed after its last response: the server followed.
	n.run(time.Minute, func() bool { return s.active == 0 })
	assert.Equal(t, 0, s.active)
}

func TestServerIdleTimeout(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	s := startServer(t, n, ServerConfig{Name: "web", IdleTimeout: 5 * time.Second})
	start := n.w.Now()
	raw := n.send(t, 80, []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), false)
	require.True(t, n.run(time.Minute, func() bool { return raw.closed }))
	assert.NoError(t, raw.err)
	el := n.w.Now().Sub(start)
	assert.GreaterOrEqual(t, el, 5*time.Second)
	assert.Less(t, el, 6*time.Second)
	require.Len(t, parseResponses(t, raw.got.Bytes()), 1)
	assert.Equal(t, 1, s.Result().(ServerResult).Timeouts)

	// A client that sends half a head and stalls is reset.
	raw = n.send(t, 80, []byte("GET / HTTP/1.1\r\nHo"), false)
	require.True(t, n.run(time.Minute, func() bool { return raw.closed }))
	assert.Error(t, raw.err)
	assert.Equal(t, 2, s.Result().(ServerResult).Timeouts)
	assert.Equal(t, 0, s.active)
}

func TestServerMaxConns(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	s := startServer(t, n, ServerConfig{Name: "web", MaxConns: 2})
	a := n.send(t, 80, nil, false)
	b := n.send(t, 80, nil, false)
	n.run(time.Second, func() bool { return s.active == 2 })
	c := n.send(t, 80, []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), false)
	require.True(t, n.run(time.Minute, func() bool { return c.closed }))
	assert.Error(t, c.err, "the third connection is reset")
	assert.False(t, a.closed || b.closed)
	res := s.Result().(ServerResult)
	assert.Equal(t, 1, res.Rejected)
	assert.Equal(t, 2, res.Connections)
}

func TestServerLossyLink(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: 5 * time.Millisecond, Loss: 0.05})
	startServer(t, n, ServerConfig{Name: "web", Root: testFS})
	r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/blob.bin", Count: 3})
	require.Empty(t, r.Error)
	assert.Equal(t, 3, r.Requests)
	assert.Equal(t, int64(len(testFS["blob.bin"].Data)), r.BodyLength)
	assert.Equal(t, sha(testFS["blob.bin"].Data), r.BodySHA256)
}

// dnsServe answers DNS queries on the server host's UDP port 53.
func dnsServe(t testing.TB, n *testNet, zone string) {
	t.Helper()
	z, err := dns.ParseZone(strings.NewReader(zone), "example.com.", "test.zone")
	require.NoError(t, err)
	srv, err := dns.NewServer(z)
	require.NoError(t, err)
	_, err = n.server.host.BindUDP(netip.MustParseAddrPort("0.0.0.0:53"), stack.UDPHandlerFunc(
		func(s *stack.UDPSocket, src, _ netip.AddrPort, payload []byte) {
			if resp := srv.Answer(payload, dns.UDP); resp != nil {
				_ = s.SendTo(src, resp)
			}
		}))
	require.NoError(t, err)
}

const testZone = `$TTL 300
@	SOA	ns hostmaster 1 3600 600 86400 60
	NS	ns
ns	A	10.0.0.1
www	A	10.0.0.1
alias	CNAME	www
`

func TestClientDNS(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	dnsServe(t, n, testZone)
	startServer(t, n, ServerConfig{Name: "web"})
	dnsSrv := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:53")}
	for _, host := range []string{"www.example.com", "alias.example.com"} {
		r := get(t, n, ClientConfig{Name: "get", URL: "http://" + host + "/", DNSServers: dnsSrv})
		require.Empty(t, r.Error, host)
		assert.Equal(t, "10.0.0.1:80", r.Address)
		assert.Equal(t, 200, r.Status)
		assert.Equal(t, sha(DefaultPage()), r.BodySHA256)
	}
	r := get(t, n, ClientConfig{Name: "get", URL: "http://nxdomain.example.com/", DNSServers: dnsSrv})
	assert.Contains(t, r.Error, "no address")
	assert.False(t, r.Done)
	assert.Zero(t, r.Requests)

	c, err := NewClient(ClientConfig{Name: "get", URL: "http://www.example.com/"})
	require.NoError(t, err)
	assert.ErrorContains(t, c.Start(n.client.env), "no resolver")
}

// staticResolver is a Resolver with a fixed table.
type staticResolver map[string]netip.Addr

func (s staticResolver) Resolve(name string, done func(netip.Addr, error)) {
	if a, ok := s[name]; ok {
		done(a, nil)
		return
	}
	done(netip.Addr{}, ErrNoAddress)
}

func TestClientPluggableResolver(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	startServer(t, n, ServerConfig{Name: "web", Port: 8000})
	r := get(t, n, ClientConfig{Name: "get", URL: "http://web.local:8000/", Resolver: staticResolver{"web.local": serverAddr}})
	require.Empty(t, r.Error)
	assert.Equal(t, 200, r.Status)
	assert.Equal(t, "10.0.0.1:8000", r.Address)
}

func TestClientErrors(t *testing.T) {
	for _, bad := range []ClientConfig{
		{URL: "https://10.0.0.1/"}, {URL: "ftp://x/"}, {URL: "http:///x"}, {URL: "http://10.0.0.1:0/"},
		{URL: "http://10.0.0.1:99999/"}, {URL: "http://[::1]/"}, {URL: "http://u:p@h/"},
		{URL: "http://h/", Count: -1}, {URL: "http://h/", Count: MaxCount + 1}, {URL: "http://h/", Interval: -time.Second},
		{URL: "%zz"},
	} {
		_, err := NewClient(bad)
		assert.Error(t, err, "%+v", bad)
	}
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/"})
	assert.Contains(t, r.Error, "refused")
	r = get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.3/", Timeout: 5 * time.Second})
	assert.Contains(t, r.Error, "timed out")
	c, err := NewClient(ClientConfig{Name: "get", URL: "http://10.0.0.1/"})
	require.NoError(t, err)
	plain := &app.Env{Clock: n.w.Clock(), Rand: n.w.Rand("plain"), Net: app.NewStackNet(n.client.host)}
	assert.ErrorContains(t, c.Start(plain), "no TCP")
}

func TestClientDeterministic(t *testing.T) {
	run := func() []byte {
		n := newTestNet(t, impair.Config{Delay: 3 * time.Millisecond, Jitter: time.Millisecond, Loss: 0.02})
		startServer(t, n, ServerConfig{Name: "web", Root: testFS})
		r := get(t, n, ClientConfig{Name: "get", URL: "http://10.0.0.1/blob.bin", Count: 3, Interval: 100 * time.Millisecond})
		require.Empty(t, r.Error)
		b, err := json.Marshal(r)
		require.NoError(t, err)
		return b
	}
	assert.JSONEq(t, string(run()), string(run()))
}

func TestServerClientGoesAway(t *testing.T) {
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	s := startServer(t, n, ServerConfig{Name: "web", Root: testFS})
	// A reset in the middle of a streamed response.
	raw := n.send(t, 80, []byte("GET /blob.bin HTTP/1.1\r\nHost: h\r\n\r\n"), false)
	require.True(t, n.run(time.Minute, func() bool { return raw.got.Len() > 100000 }))
	raw.conn.Abort()
	require.True(t, n.run(time.Minute, func() bool { return s.active == 0 }), "the server released the connection")
	// A body cut short by the client's FIN.
	raw = n.send(t, 80, []byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nshort"), true)
	require.True(t, n.run(time.Minute, func() bool { return raw.closed }))
	assert.Error(t, raw.err, "reset: the request could not be completed")
	assert.Empty(t, raw.got.Bytes())
	assert.Equal(t, 0, s.active)
	// A partial head followed by FIN.
	raw = n.send(t, 80, []byte("GET / HTTP/1.1\r\nHo"), true)
	require.True(t, n.run(time.Minute, func() bool { return raw.closed }))
	rs := parseResponses(t, raw.got.Bytes())
	require.Len(t, rs, 1)
	assert.Equal(t, 400, rs[0].status)
	require.True(t, n.run(time.Minute, func() bool { return s.active == 0 }))
	s.Close()
	raw = n.send(t, 80, []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), false)
	require.True(t, n.run(time.Minute, func() bool { return raw.closed }))
	assert.ErrorIs(t, raw.err, tcp.ErrConnRefused, "closed server")
}

var fuzzFS = fstest.MapFS{
	"index.html": {Data: []byte("<h1>root</h1>\n")},
	"a.txt":      {Data: []byte("alpha\n")},
}

// FuzzServerStream sends arbitrary bytes to the server, half-closes and
// checks that it answers with well-formed responses, closes cleanly or
// resets, and releases the connection.
func FuzzServerStream(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n"))
	f.Add([]byte("\x00\x01\x02\xff"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4096 {
			in = in[:4096] // keeps runs and minimization short
		}
		// Small files only: a pipeline of requests for a large one would
		// make each run as slow as the transfer it amplifies into. The
		// server's TCP talks straight to the client's (pipeNet): hosts,
		// links and ARP would cost more than the stream itself.
		n := newPipeNet()
		s, err := NewServer(ServerConfig{Name: "web", Root: fuzzFS, Limits: Limits{MaxBody: 1 << 10}})
		if err == nil {
			err = s.Start(n.env())
		}
		if err != nil {
			t.Fatal(err)
		}
		raw, err := n.send(80, in, true)
		if err != nil {
			t.Fatal(err)
		}
		if !n.run(time.Hour, func() bool { return raw.closed && s.active == 0 }) {
			t.Fatalf("connection not finished: closed %v, %d active", raw.closed, s.active)
		}
		// Bodies (testFS files and error texts) never start like a
		// response, which tells a HEAD response's empty body apart. A reset
		// may cut the stream anywhere.
		out := raw.got.Bytes()
		for len(out) > 0 {
			var r Response
			k, err := ParseResponse(out, &r, 0)
			if raw.err != nil && errors.Is(err, ErrIncomplete) {
				return
			}
			require.NoError(t, err, "the server sends well-formed responses")
			require.GreaterOrEqual(t, r.ContentLength, int64(0), "Content-Length on every response")
			out = out[k:]
			if r.ContentLength == 0 || len(out) == 0 || bytes.HasPrefix(out, []byte("HTTP/1.1 ")) {
				continue
			}
			if raw.err != nil && int64(len(out)) < r.ContentLength {
				return
			}
			require.GreaterOrEqual(t, int64(len(out)), r.ContentLength, "complete body")
			out = out[r.ContentLength:]
		}
	})
}

// TestServerExpectContinue checks RFC 9110 section 10.1.1: a request with
// Expect: 100-continue gets 100 (Continue) before it sends its content,
// then the final response.
func TestServerExpectContinue(t *testing.T) {
	t.Parallel()
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	startServer(t, n, ServerConfig{Name: "web"})
	raw := n.send(t, 80, []byte("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"), false)
	const cont = "HTTP/1.1 100 Continue\r\n\r\n"
	require.True(t, n.run(10*time.Second, func() bool { return raw.got.Len() >= len(cont) }), "no 100 (Continue) without the body")
	require.Equal(t, cont, raw.got.String())
	raw.out = []byte("body")
	raw.OnWritable(raw.conn)
	require.True(t, n.run(10*time.Second, func() bool { return raw.got.Len() > len(cont)+100 }))
	n.run(time.Second, func() bool { return false })
	rs := parseResponses(t, raw.got.Bytes()[len(cont):])
	require.Len(t, rs, 1)
	assert.Equal(t, 200, rs[0].status)
	assert.False(t, raw.eof, "the connection stays open")
}

// TestServerRootConfines checks that an os.Root file system keeps a
// symlink inside the served directory from reaching a file outside it,
// while os.DirFS would follow it.
func TestServerRootConfines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o600))
	www := filepath.Join(dir, "www")
	require.NoError(t, os.Mkdir(www, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(www, "index.html"), []byte("public"), 0o600))
	require.NoError(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(www, "abs.txt")))
	require.NoError(t, os.Symlink("../secret.txt", filepath.Join(www, "rel.txt")))
	require.NoError(t, os.Symlink("index.html", filepath.Join(www, "inside.html")))
	root, err := os.OpenRoot(www)
	require.NoError(t, err)
	t.Cleanup(func() { _ = root.Close() })
	n := newTestNet(t, impair.Config{Delay: time.Millisecond})
	startServer(t, n, ServerConfig{Name: "web", Root: root.FS(), NoCache: true})
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/abs.txt", 404, "404 Not Found\n"},
		{"/rel.txt", 404, "404 Not Found\n"},
		{"/inside.html", 200, "public"},
		{"/%2e%2e/secret.txt", 404, "404 Not Found\n"},
	} {
		raw := n.send(t, 80, []byte("GET "+tc.path+" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), false)
		require.True(t, n.run(time.Minute, func() bool { return raw.eof }), tc.path)
		rs := parseResponses(t, raw.got.Bytes())
		require.Len(t, rs, 1, tc.path)
		assert.Equal(t, tc.status, rs[0].status, tc.path)
		assert.Equal(t, tc.body, string(rs[0].body), tc.path)
	}
	// NoCache: a changed file is served as it is now.
	require.NoError(t, os.WriteFile(filepath.Join(www, "index.html"), []byte("changed"), 0o600))
	raw := n.send(t, 80, []byte("GET /inside.html HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"), false)
	require.True(t, n.run(time.Minute, func() bool { return raw.eof }))
	assert.Equal(t, "changed", string(parseResponses(t, raw.got.Bytes())[0].body))
}
