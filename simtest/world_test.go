package simtest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/simtest"
)

const zone = `$TTL 300
@    IN SOA ns admin 1 3600 600 86400 300
     IN NS  ns
ns   IN A   192.0.2.53
www  IN A   192.0.2.1
`

func hello(rw http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(rw, "hello") }

// get fetches url with a client dialing from h and returns the body.
func get(t *testing.T, h *simtest.Host, url string) string {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: h.DialContext}, Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// Three hosts on a switch; the client finds the server by name through
// the world's DNS server and fetches a page from it.
func TestSwitchDNSAndHTTPByName(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 3})
		lan := w.Switch("lan")
		srv := w.Host("server", "192.0.2.1/24")
		ns := w.Host("ns", "192.0.2.53/24")
		cli := w.Host("client", "192.0.2.2/24")
		for _, h := range []*simtest.Host{srv, ns, cli} {
			w.Link(h, lan, impair.Config{Delay: time.Millisecond})
		}
		w.DNSServer(ns, "example.test.", zone)

		addrs, err := cli.LookupHost(context.Background(), "www.example.test")
		require.NoError(t, err)
		assert.Equal(t, []string{"192.0.2.1"}, addrs)
		addrs, err = cli.Resolver().LookupHost(context.Background(), "www.example.test")
		require.NoError(t, err)
		assert.Equal(t, []string{"192.0.2.1"}, addrs)
		_, err = cli.LookupHost(context.Background(), "nope.example.test")
		var dnsErr *net.DNSError
		require.ErrorAs(t, err, &dnsErr)
		assert.True(t, dnsErr.IsNotFound)

		ln, err := srv.Listen("tcp", ":80")
		require.NoError(t, err)
		go func() { _ = http.Serve(ln, http.HandlerFunc(hello)) }()
		assert.Equal(t, "hello", get(t, cli, "http://www.example.test/"))

		st := w.Stats()
		require.Len(t, st.Switches, 1)
		assert.Len(t, st.Links, 3)
	})
}

// A TCP connection outlives a 20 s partition: what was written during it
// arrives after Heal, retransmitted.
func TestPartitionHealTCP(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1})
		a := w.Host("a", "192.0.2.1/24")
		b := w.Host("b", "192.0.2.2/24")
		w.Link(a, b, impair.Config{Delay: 5 * time.Millisecond})
		ln, err := a.Listen("tcp", ":7")
		require.NoError(t, err)
		got := make(chan string, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			buf, _ := io.ReadAll(c)
			got <- string(buf)
		}()
		c, err := b.Dial("tcp", "192.0.2.1:7")
		require.NoError(t, err)

		w.Partition(a, b)
		start := time.Now()
		_, err = c.Write([]byte("across the partition"))
		require.NoError(t, err)
		require.NoError(t, c.(*netconn.Conn).CloseWrite())
		time.Sleep(20 * time.Second)
		select {
		case s := <-got:
			t.Fatalf("delivered during the partition: %q", s)
		default:
		}
		w.Heal(a, b)
		assert.Equal(t, "across the partition", <-got)
		assert.Greater(t, time.Since(start), 20*time.Second)
		var retrans uint64
		for _, s := range b.TCPStats() {
			retrans += s.TimeoutRetransmits
		}
		assert.Positive(t, retrans)
		require.NoError(t, c.Close())
	})
}

// SetImpair with 100% loss drops every datagram until it is lifted.
func TestSetImpairLosesDatagrams(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1})
		a := w.Host("a", "192.0.2.1/24")
		b := w.Host("b", "192.0.2.2/24")
		l := w.Link(a, b, impair.Config{Delay: time.Millisecond})
		pc, err := a.ListenPacket("udp4", ":9")
		require.NoError(t, err)
		c, err := b.Dial("udp", "192.0.2.1:9")
		require.NoError(t, err)
		buf := make([]byte, 16)

		// Resolve ARP first so that the lossy phase loses datagrams only.
		_, err = c.Write([]byte("warm"))
		require.NoError(t, err)
		_, _, err = pc.ReadFrom(buf)
		require.NoError(t, err)

		w.SetImpair(a, b, impair.Config{Loss: 1})
		for range 5 {
			_, err = c.Write([]byte("lost"))
			require.NoError(t, err)
		}
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(time.Second)))
		_, _, err = pc.ReadFrom(buf)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		st := l.Stats()
		assert.Equal(t, uint64(5), st.BtoA.Dropped, "b's datagrams (b is end B)")

		l.SetImpairFrom(b, impair.Config{})
		_, err = c.Write([]byte("kept"))
		require.NoError(t, err)
		require.NoError(t, pc.SetReadDeadline(time.Time{}))
		n, _, err := pc.ReadFrom(buf)
		require.NoError(t, err)
		assert.Equal(t, "kept", string(buf[:n]))
	})
}

// The network shapes of package net: which calls fail, and how.
func TestNetworkErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1, NoCapture: true})
		a := w.Host("a", "192.0.2.1/24")
		b := w.Host("b", "192.0.2.2/24")
		w.Link(a, b, impair.Config{})
		ctx := context.Background()
		cases := []struct {
			name string
			call func() error
			is   error
		}{
			{"dial tcp6", func() error { _, err := a.DialContext(ctx, "tcp6", "[2001:db8::1]:80"); return err }, netconn.ErrIPv6},
			{"dial IPv6 literal", func() error { _, err := a.DialContext(ctx, "tcp", "[2001:db8::1]:80"); return err }, netconn.ErrIPv6},
			{"listen udp6", func() error { _, err := a.ListenPacket("udp6", ":53"); return err }, netconn.ErrIPv6},
			{"unknown network", func() error { _, err := a.DialContext(ctx, "sctp", "192.0.2.2:1"); return err }, nil},
			{"listen udp as tcp", func() error { _, err := a.Listen("udp", ":1"); return err }, nil},
			{"listen packet tcp", func() error { _, err := a.ListenPacket("tcp", ":1"); return err }, nil},
			{"no port", func() error { _, err := a.DialContext(ctx, "tcp", "192.0.2.2"); return err }, nil},
			{"name without DNS", func() error { _, err := a.DialContext(ctx, "tcp", "www.example.test:80"); return err }, nil},
			{"port in use", func() error {
				if _, err := a.Listen("tcp", ":80"); err != nil {
					return err
				}
				_, err := a.Listen("tcp", ":80")
				return err
			}, nil},
		}
		for _, c := range cases {
			err := c.call()
			require.Error(t, err, c.name)
			var op *net.OpError
			assert.True(t, errors.As(err, &op), "%s: %v is not a *net.OpError", c.name, err)
			if c.is != nil {
				assert.ErrorIs(t, err, c.is, c.name)
			}
		}
		// Nothing listens on b:81: the dial is refused at once (RST).
		_, err := a.DialContext(ctx, "tcp", "192.0.2.2:81")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "refused")
	})
}

// Outside a bubble the same calls run on the wall clock.
func TestLiveWallClock(t *testing.T) {
	t.Parallel()
	w := simtest.New(t, simtest.Options{Seed: 1})
	require.False(t, w.InBubble())
	srv := w.Host("server", "192.0.2.1/24")
	cli := w.Host("client", "192.0.2.2/24")
	w.Link(srv, cli, impair.Config{Delay: 20 * time.Millisecond})
	ln, err := srv.Listen("tcp", ":80")
	require.NoError(t, err)
	go func() { _ = http.Serve(ln, http.HandlerFunc(hello)) }()
	start := time.Now()
	assert.Equal(t, "hello", get(t, cli, "http://192.0.2.1/"))
	// ARP, the handshake and the request: at least three round trips of
	// 40 ms on the wall clock.
	assert.GreaterOrEqual(t, time.Since(start), 120*time.Millisecond)
}

// World.Wait (and synctest.Wait) return while the world runs.
func TestWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1})
		require.True(t, w.InBubble())
		a := w.Host("a", "192.0.2.1/24")
		b := w.Host("b", "192.0.2.2/24")
		w.Link(a, b, impair.Config{Delay: 10 * time.Millisecond})
		pc, err := a.ListenPacket("udp", ":9")
		require.NoError(t, err)
		var got atomic.Int32
		go func() {
			buf := make([]byte, 8)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
				got.Add(1)
			}
		}()
		c, err := b.Dial("udp", "192.0.2.1:9")
		require.NoError(t, err)
		_, err = c.Write([]byte("x"))
		require.NoError(t, err)
		w.Wait()
		assert.Equal(t, int32(0), got.Load(), "delivered before the link's delay")
		time.Sleep(35 * time.Millisecond) // ARP request and reply, then the datagram: 3 x 10 ms
		synctest.Wait()
		assert.Equal(t, int32(1), got.Load())
	})
}

// zone6 gives www both families and v6only an AAAA record alone.
const zone6 = `$TTL 300
@      IN SOA  ns admin 1 3600 600 86400 300
       IN NS   ns
ns     IN A    192.0.2.53
www    IN A    192.0.2.1
www    IN AAAA 2001:db8::1
v6only IN AAAA 2001:db8::6
`

// LookupHost asks for A and AAAA records, as net.Resolver's does, and
// returns the IPv4 addresses first; a name with only an AAAA record
// resolves, a name that does not exist does not.
func TestLookupHostBothFamilies(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 3})
		ns := w.Host("ns", "192.0.2.53/24")
		cli := w.Host("client", "192.0.2.2/24")
		w.Link(cli, ns, impair.Config{Delay: time.Millisecond})
		w.DNSServer(ns, "example.test.", zone6)
		for _, tc := range []struct {
			name string
			want []string
		}{
			{"www.example.test", []string{"192.0.2.1", "2001:db8::1"}},
			{"v6only.example.test", []string{"2001:db8::6"}},
			{"ns.example.test", []string{"192.0.2.53"}},
		} {
			addrs, err := cli.LookupHost(context.Background(), tc.name)
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.want, addrs, tc.name)
		}
		_, err := cli.LookupHost(context.Background(), "nope.example.test")
		var dnsErr *net.DNSError
		require.ErrorAs(t, err, &dnsErr)
		assert.True(t, dnsErr.IsNotFound)
	})
}
