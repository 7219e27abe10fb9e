package dnsstack

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ipPipe carries IP payloads from one tcp.Stack to another after 5 ms.
type ipPipe struct {
	sch   *clock.Scheduler
	local netip.Addr
	peer  *tcp.Stack
	down  bool
}

type ipDelivery struct {
	t        clock.Timer
	to       *tcp.Stack
	src, dst netip.Addr
	data     []byte
}

func (d *ipDelivery) OnTimer(clock.Time) { d.to.HandleIP(d.src, d.dst, d.data) }

func (p *ipPipe) SendIP(_ uint8, src, dst netip.Addr, payload []byte) error {
	if p.down {
		return nil
	}
	d := &ipDelivery{to: p.peer, src: src, dst: dst, data: append([]byte(nil), payload...)}
	d.t.Init(d)
	p.sch.Schedule(&d.t, p.sch.Now().Add(5*time.Millisecond))
	return nil
}

func (p *ipPipe) SourceFor(netip.Addr) (netip.Addr, bool) { return p.local, true }
func (p *ipPipe) PathMTU(netip.Addr) int                  { return 1500 }

type tcpWorld struct {
	sch            *clock.Scheduler
	client, server *tcp.Stack
	toServer       *ipPipe
}

func newTCPWorld() *tcpWorld {
	sch := clock.NewScheduler(0)
	na := &ipPipe{sch: sch, local: cliIP}
	nb := &ipPipe{sch: sch, local: srvIP}
	a := tcp.New(na, sch, rng.New(1, "client"), tcp.Config{})
	b := tcp.New(nb, sch, rng.New(1, "server"), tcp.Config{})
	na.peer, nb.peer = b, a
	return &tcpWorld{sch: sch, client: a, server: b, toServer: na}
}

// TestResolverTCPFallbackOverTCP runs the whole path: a dns.UDP answer with TC,
// then the query again over proto/tcp to ServeTCP.
func TestResolverTCPFallbackOverTCP(t *testing.T) {
	w := newTCPWorld()
	srv := testServer(t)
	ts, err := ServeTCP(w.server, netip.AddrPortFrom(srvIP, 53), srv)
	require.NoError(t, err)
	defer ts.Close()
	assert.Equal(t, uint16(53), ts.Addr().Port())

	server := netip.AddrPortFrom(srvIP, 53)
	udp := &recordUDP{}
	r := dns.NewResolver(w.sch, rng.New(2, "resolver"), udp, NewTCPClient(w.client, w.sch), server)
	r.UDPSize = 0
	var got []dns.Result
	require.NoError(t, r.Lookup("big.example.com.", dns.TypeTXT, func(res dns.Result) { got = append(got, res) }))
	r.HandleUDP(server, srv.Answer(udp.sent[0], dns.UDP))
	w.sch.RunUntil(w.sch.Now().Add(time.Second))
	require.Len(t, got, 1)
	require.NoError(t, got[0].Err)
	assert.True(t, got[0].TCP)
	require.Len(t, got[0].Msg.Answer, 1)
	assert.Len(t, got[0].Msg.Answer[0].Data.(*dns.TXT).Txt, 3)
	assert.False(t, got[0].Msg.Truncated)
	// Both ends closed the connection.
	w.sch.RunUntil(w.sch.Now().Add(2 * time.Minute))
	assert.Zero(t, w.client.NumConns())
	assert.Zero(t, w.server.NumConns())
}

// TestServeTCPPipelined sends two framed queries in one write, in two
// halves, and reads both answers in order.
func TestServeTCPPipelined(t *testing.T) {
	w := newTCPWorld()
	srv := testServer(t)
	_, err := ServeTCP(w.server, netip.AddrPortFrom(srvIP, 53), srv)
	require.NoError(t, err)
	var stream []byte
	for i, name := range []string{"web.example.com.", "nope.example.com."} {
		b, err := (&dns.Msg{Header: dns.Header{ID: uint16(100 + i)}, Question: []dns.Question{{Name: name, Type: dns.TypeA, Class: dns.ClassINET}}}).Pack()
		require.NoError(t, err)
		stream, err = dns.AppendTCPFrame(stream, b)
		require.NoError(t, err)
	}
	var answers []*dns.Msg
	var rd dns.TCPReader
	ev := &tcp.EventFuncs{}
	ev.Established = func(c *tcp.Conn) {
		_, err := c.Write(stream[:7])
		require.NoError(t, err)
		_, err = c.Write(stream[7:])
		require.NoError(t, err)
		require.NoError(t, c.Shutdown())
	}
	ev.Readable = func(c *tcp.Conn) {
		var buf [512]byte
		for {
			n, err := c.Read(buf[:])
			require.NoError(t, rd.Write(buf[:n], func(m []byte) {
				var msg dns.Msg
				require.NoError(t, msg.Unpack(m))
				answers = append(answers, &msg)
			}))
			if err != nil {
				return
			}
		}
	}
	_, err = w.client.Connect(netip.AddrPort{}, netip.AddrPortFrom(srvIP, 53), ev)
	require.NoError(t, err)
	w.sch.RunUntil(w.sch.Now().Add(time.Second))
	require.Len(t, answers, 2)
	assert.Equal(t, uint16(100), answers[0].ID)
	assert.Equal(t, dns.RcodeSuccess, answers[0].Rcode)
	assert.Equal(t, uint16(101), answers[1].ID)
	assert.Equal(t, dns.RcodeNameError, answers[1].Rcode)
}

func TestTCPClientTimeout(t *testing.T) {
	w := newTCPWorld()
	w.toServer.down = true
	c := NewTCPClient(w.client, w.sch)
	c.Timeout = 3 * time.Second
	var gotErr error
	calls := 0
	c.QueryTCP(netip.AddrPortFrom(srvIP, 53), []byte{1, 2, 3}, func(_ []byte, err error) { calls++; gotErr = err })
	w.sch.RunUntil(w.sch.Now().Add(time.Minute))
	assert.Equal(t, 1, calls)
	assert.True(t, errors.Is(gotErr, dns.ErrTimeout), "%v", gotErr)
	assert.Zero(t, w.client.NumConns())
}
