package app_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

type testHost struct {
	net *app.StackNet
	tcp *tcp.Stack
}

// pair builds two hosts, 10.9.0.1 and 10.9.0.2, on one link.
func pair(t *testing.T) (*sim.World, testHost, testHost) {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: 1})
	require.NoError(t, err)
	l, err := w.Connect("ab", sim.Iface{Host: "a", Name: "eth0"}, sim.Iface{Host: "b", Name: "eth0"}, sim.LinkConfig{})
	require.NoError(t, err)
	mk := func(name string, ip string, mac byte, ep link.Endpoint) testHost {
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		h.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 0, mac}, ep).SetAddress(netip.MustParsePrefix(ip + "/24"))
		ts := tcp.New(h, w.Clock(), w.Rand("host/"+name+"/tcp"), tcp.Config{})
		h.RegisterProtocol(tcp.ProtocolNumber, ts)
		return testHost{net: app.NewStackNet(h), tcp: ts}
	}
	return w, mk("a", "10.9.0.1", 1, l.A()), mk("b", "10.9.0.2", 2, l.B())
}

func env(w *sim.World, h testHost, name string) *app.Env {
	return &app.Env{Clock: w.Clock(), Rand: w.Rand("app/" + name), Net: h.net, TCP: h.tcp}
}

func TestAppsOverTheStack(t *testing.T) {
	w, a, b := pair(t)
	p, err := ping.New(ping.Config{Name: "p", Target: netip.MustParseAddr("10.9.0.2"), Count: 3, Interval: time.Second, Size: 100})
	require.NoError(t, err)
	sink, err := udpapp.NewSink(udpapp.SinkConfig{Name: "s", Port: 9000})
	require.NoError(t, err)
	tx, err := udpapp.NewSender(udpapp.SendConfig{Name: "u", Target: netip.MustParseAddrPort("10.9.0.2:9000"), Count: 20, Size: 64, Interval: time.Millisecond})
	require.NoError(t, err)
	echo := app.NewTCPServer("echo", 7, true)
	bulk := app.NewTCPBulkSender("bulk", netip.MustParseAddrPort("10.9.0.2:7"), 100000)

	require.NoError(t, sink.Start(env(w, b, "s")))
	require.NoError(t, echo.Start(env(w, b, "echo")))
	require.NoError(t, p.Start(env(w, a, "p")))
	require.NoError(t, tx.Start(env(w, a, "u")))
	require.NoError(t, bulk.Start(env(w, a, "bulk")))
	w.RunFor(10 * time.Second)

	pr := p.Result().(ping.Result)
	assert.Equal(t, 3, pr.Received)
	assert.Zero(t, pr.Mismatched)
	sr := sink.Result().(udpapp.SinkResult)
	assert.Equal(t, 20, sr.Datagrams)
	assert.True(t, sr.BytesVerified)
	br := bulk.Result().(tcpapps.BulkResult)
	assert.True(t, br.Verified, br.Error)
	assert.Equal(t, uint64(100000), echo.Result().(tcpapps.ServerStats).Bytes)
}

func TestStackNetErrors(t *testing.T) {
	w, a, _ := pair(t)
	h := handlerFunc(func() {})
	require.NoError(t, a.net.ListenEcho(5, h))
	assert.ErrorContains(t, a.net.ListenEcho(5, h), "identifier 5 already in use on a")
	_, err := a.net.ListenUDP(9000, nil)
	require.NoError(t, err)
	_, err = a.net.ListenUDP(9000, nil)
	assert.ErrorContains(t, err, "listen on UDP port 9000 of a")
	assert.ErrorContains(t, a.net.Ping(netip.MustParseAddr("192.0.2.1"), 1, 1, nil), "ping 192.0.2.1")

	noTCP := &app.Env{Clock: w.Clock(), Rand: w.Rand("x"), Net: a.net}
	assert.ErrorContains(t, app.NewTCPServer("d", 9, false).Start(noTCP), "tcp server d: host has no TCP stack")
	assert.ErrorContains(t, app.NewTCPBulkReceiver("r", 9, 1).Start(noTCP), "tcp bulk r: host has no TCP stack")
}

type handlerFunc func()

func (handlerFunc) HandleEchoReply(netip.Addr, uint16, uint16, []byte, uint8) {}
