package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// TestTapEchoNcat: ncat sends 10 MB to taprun's echo port and gets the same
// 10 MB back, byte for byte.
func TestTapEchoNcat(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "ncat")
	ns := tapNS(t)
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--echo", "7")
	dir := t.TempDir()
	data := randomData(10<<20, 7)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(in, data, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := ns.Output(ctx, "sh", "-c", fmt.Sprintf("ncat %s 7 < %s > %s", tapStackIP, in, out))
	require.NoError(t, err, res)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, len(data), len(got), "echoed length")
	assert.Equal(t, digest(data), digest(got), "echoed bytes differ")
	p.WaitOutput(t, fmt.Sprintf("closed after %d bytes", len(data)), 10*time.Second)
}

// TestTapUDPEcho: a kernel UDP socket gets each datagram back from the UDP
// echo service, including one that needs fragmentation both ways.
func TestTapUDPEcho(t *testing.T) {
	t.Parallel()
	ns := tapNS(t)
	startTaprun(t, ns, "--ip", tapStackCIDR, "--echo", "7")
	var c net.Conn
	require.NoError(t, ns.Do(func() error {
		var err error
		c, err = net.Dial("udp", tapStackIP+":7")
		return err
	}))
	defer c.Close()
	buf := make([]byte, 65536)
	for i, msg := range [][]byte{[]byte("hello over udp"), randomData(1472, 1), randomData(6000, 2)} {
		require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
		_, err := c.Write(msg)
		require.NoError(t, err)
		n, err := c.Read(buf)
		require.NoError(t, err, "datagram %d (%d bytes)", i, len(msg))
		assert.Equal(t, digest(msg), digest(buf[:n]), "datagram %d: got %d bytes, sent %d", i, n, len(msg))
	}
}

// TestTapHTTP: curl fetches the page 200 times over one keep-alive
// connection and 200 times over new connections.
func TestTapHTTP(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "curl")
	ns := tapNS(t)
	dir := t.TempDir()
	page := strings.Repeat("simnet over a tap device\n", 400) // 10 kB: several segments
	require.NoError(t, os.WriteFile(filepath.Join(dir, "page.html"), []byte(page), 0o644))
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--http", "80:"+dir)
	url := "http://" + tapStackIP + "/page.html"

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	body, err := ns.Output(ctx, "curl", "-sS", "--fail", url)
	require.NoError(t, err, body)
	assert.Equal(t, digest([]byte(page)), digest([]byte(body)), "page body (%d bytes, want %d)", len(body), len(page))

	for _, tc := range []struct {
		name      string
		extra     []string
		wantConns int
	}{
		{name: "keep-alive", wantConns: 1},
		{name: "new connections", extra: []string{"-H", "Connection: close"}, wantConns: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-sS", "-w", "%{http_code} %{num_connects} %{size_download}\n"}, tc.extra...)
			for i := 0; i < 200; i++ {
				args = append(args, "-o", "/dev/null", url)
			}
			out, err := ns.Output(ctx, "curl", args...)
			require.NoError(t, err, out)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.Equal(t, 200, len(lines), "curl printed %d result lines, want 200", len(lines))
			conns := 0
			for i, l := range lines {
				var code, nc, size int
				_, err := fmt.Sscanf(l, "%d %d %d", &code, &nc, &size)
				require.NoError(t, err, l)
				assert.Equal(t, 200, code, "request %d", i)
				assert.Equal(t, len(page), size, "request %d", i)
				conns += nc
			}
			assert.Equal(t, tc.wantConns, conns, "TCP connections opened")
		})
	}
	assert.Contains(t, p.Output(), "http: connection from "+tapKernelIP)
}

// testZone is the zone the DNS tests serve.
const testZone = `$ORIGIN example.test.
$TTL 300
@       IN SOA ns1 hostmaster 2026112501 3600 600 86400 300
@       IN NS  ns1
@       IN MX  10 mail
@       IN TXT "v=spf1 -all" "simnet"
ns1     IN A   192.0.2.2
mail    IN A   192.0.2.25
www     IN A   192.0.2.80
www     IN AAAA 2001:db8::80
`

// TestTapDNS: dig queries taprun's DNS server over UDP and TCP for A, AAAA,
// MX and TXT, and gets NXDOMAIN for a missing name.
func TestTapDNS(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "dig")
	ns := tapNS(t)
	zone := filepath.Join(t.TempDir(), "example.test.zone")
	require.NoError(t, os.WriteFile(zone, []byte(testZone), 0o644))
	startTaprun(t, ns, "--ip", tapStackCIDR, "--dns", "53", "--zone", zone)

	dig := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := ns.Output(ctx, "dig", append([]string{"@" + tapStackIP, "+tries=1", "+time=3"}, args...)...)
		require.NoError(t, err, out)
		return out
	}
	for _, transport := range []string{"+notcp", "+tcp"} {
		t.Run(transport, func(t *testing.T) {
			for _, tc := range []struct {
				name, typ, want string
			}{
				{"www.example.test", "A", "192.0.2.80"},
				{"www.example.test", "AAAA", "2001:db8::80"},
				{"example.test", "MX", "10 mail.example.test."},
				{"example.test", "TXT", `"v=spf1 -all" "simnet"`},
				{"WWW.Example.TEST", "A", "192.0.2.80"},
			} {
				out := dig(t, transport, "+short", tc.name, tc.typ)
				assert.Equal(t, tc.want, strings.TrimSpace(out), "%s %s", tc.name, tc.typ)
			}
			out := dig(t, transport, "missing.example.test", "A")
			assert.Contains(t, out, "status: NXDOMAIN")
			assert.Contains(t, out, "flags: qr aa")
			out = dig(t, transport, "www.example.test", "A")
			assert.Contains(t, out, "status: NOERROR")
			assert.Contains(t, out, "ANSWER: 1")
		})
	}
}
