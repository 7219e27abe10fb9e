package netconn

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Stack over IPv6: tcp6/udp6 and bracketed literals, HTTP over IPv6,
// a dual-stack listener, names resolved to both families, and the errors
// for the wrong family or a host without IPv6.
func TestStackIPv6(t *testing.T) {
	t.Parallel()
	lp, a, b := twoHosts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lookup := func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}, nil
	}
	sa := &Stack{Loop: lp, Host: a.h, TCP: a.tcp}
	sb := &Stack{Loop: lp, Host: b.h, TCP: b.tcp, LookupHost: lookup}

	// Before IPv6 is on: IPv6 addresses fail with ErrIPv6.
	_, err := sb.DialContext(ctx, "tcp6", "[2001:db8::1]:80")
	assert.ErrorIs(t, err, ErrIPv6)
	_, err = sa.ListenPacket("udp6", ":53")
	assert.ErrorIs(t, err, ErrIPv6)

	require.NoError(t, lp.Call(ctx, func() {
		a.h.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::1/64"))
		b.h.Interfaces()[0].EnableIPv6(netip.MustParsePrefix("2001:db8::2/64"))
	}))

	for _, c := range []struct{ network, addr string }{
		{"tcp4", "[2001:db8::1]:80"},
		{"tcp6", "192.0.2.1:80"},
		{"udp4", "[2001:db8::1]:53"},
	} {
		_, err := sb.DialContext(ctx, c.network, c.addr)
		assert.ErrorIs(t, err, ErrFamily, "%s %s", c.network, c.addr)
		var op *net.OpError
		assert.ErrorAs(t, err, &op)
	}
	_, err = sa.Listen("tcp4", "[2001:db8::1]:80")
	assert.ErrorIs(t, err, ErrFamily)

	// One listener on [::]:8080 serves HTTP over IPv6 and IPv4.
	ln, err := sa.Listen("tcp", "[::]:8080")
	require.NoError(t, err)
	body := bytes.Repeat([]byte("0123456789abcdef"), 16<<10)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.RemoteAddr+"\n")
		_, _ = w.Write(body)
	})}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	for _, c := range []struct{ network, url, from string }{
		{"tcp6", "http://[2001:db8::1]:8080/", "[2001:db8::2]:"},
		{"tcp", "http://192.0.2.1:8080/", "192.0.2.2:"},
		{"tcp6", "http://www.example.test:8080/", "[2001:db8::2]:"},
	} {
		client := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return sb.DialContext(ctx, c.network, addr)
			},
		}}
		resp, err := client.Get(c.url)
		require.NoError(t, err, c.url)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		line, rest, _ := bytes.Cut(got, []byte("\n"))
		assert.Contains(t, string(line), c.from, "%s %s: the server saw the client's address", c.network, c.url)
		assert.True(t, bytes.Equal(body, rest), "%s %s: body byte-exact", c.network, c.url)
		client.CloseIdleConnections()
	}

	// UDP over IPv6: a udp6 socket on [::]:53 and a dialed udp6 conn.
	pc, err := sa.ListenPacket("udp6", ":53")
	require.NoError(t, err)
	defer pc.Close()
	assert.Equal(t, "[::]:53", pc.LocalAddr().String())
	u, err := sb.DialContext(ctx, "udp6", "[2001:db8::1]:53")
	require.NoError(t, err)
	defer u.Close()
	_, err = u.Write([]byte("q6"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "q6", string(buf[:n]))
	assert.Equal(t, netip.MustParseAddr("2001:db8::2"), from.(*net.UDPAddr).AddrPort().Addr())
	_, err = pc.WriteTo([]byte("a6"), from)
	require.NoError(t, err)
	require.NoError(t, u.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err = u.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "a6", string(buf[:n]))
}
