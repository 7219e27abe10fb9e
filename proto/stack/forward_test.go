package stack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/rng"
)

// routedNet is a - r - c: a on 10.0.0.0/24 (MTU 1500), c on 10.1.0.0/24
// (MTU 576), r forwarding between them.
type routedNet struct {
	tn          *testNet
	left, right *hub
	a, r, c     *Host
}

func newRoutedNet(t *testing.T) *routedNet {
	tn := newTestNet(t, 1500)
	right := newHub(tn.sched, 576)
	rn := &routedNet{tn: tn, left: tn.hub, right: right}
	rn.a = tn.addHost("a", 1)
	rn.r = New(Config{Name: "r", Clock: tn.sched, Rand: rng.New(1, "host/r"), Forwarding: true})
	rn.r.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 1, 3}, tn.hub.port()).SetAddress(netip.MustParsePrefix("10.0.0.3/24"))
	rn.r.AddInterface("eth1", ether.Addr{2, 0, 0, 0, 2, 3}, right.port()).SetAddress(netip.MustParsePrefix("10.1.0.3/24"))
	rn.c = New(Config{Name: "c", Clock: tn.sched, Rand: rng.New(1, "host/c")})
	rn.c.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 2, 2}, right.port()).SetAddress(netip.MustParsePrefix("10.1.0.2/24"))
	rn.a.SetDefaultGateway(netip.MustParseAddr("10.0.0.3"))
	rn.c.SetDefaultGateway(netip.MustParseAddr("10.1.0.3"))
	tn.run(5 * time.Second)
	return rn
}

func TestForwardingPingAcrossRouter(t *testing.T) {
	rn := newRoutedNet(t)
	var rec echoRecorder
	rn.a.SetEchoReplyHandler(&rec)
	c := netip.MustParseAddr("10.1.0.2")
	require.NoError(t, rn.a.Ping(c, 1, 1, []byte("via r")))
	rn.tn.run(time.Second)
	require.Len(t, rec.got, 1)
	assert.Equal(t, c, rec.got[0].src)
	assert.Equal(t, uint8(63), rec.got[0].ttl, "one hop decrements the TTL")
	assert.Equal(t, uint64(2), rn.r.Stats().Forwarded)
}

func TestForwardingTTLExceeded(t *testing.T) {
	rn := newRoutedNet(t)
	ra := &protoRecorder{}
	rn.a.RegisterProtocol(ipv4.ProtoTCP, ra)
	c := netip.MustParseAddr("10.1.0.2")
	require.NoError(t, rn.a.SendIPWith(ipv4.ProtoTCP, netip.Addr{}, c, make([]byte, 20), SendOptions{TTL: 1}))
	rn.tn.run(time.Second)
	assert.Equal(t, uint64(1), rn.r.Stats().TTLExceeded)
	assert.Equal(t, uint64(1), rn.r.Stats().TimeExceededOut)
	require.Len(t, ra.errors, 1)
	assert.Equal(t, icmpErr{netip.MustParseAddr("10.0.0.3"), uint8(icmp.TypeTimeExceeded), icmp.CodeTTLExceeded, 0, c, 28}, ra.errors[0])
}

func TestForwardingNoRoute(t *testing.T) {
	rn := newRoutedNet(t)
	ra := &protoRecorder{}
	rn.a.RegisterProtocol(ipv4.ProtoTCP, ra)
	far := netip.MustParseAddr("192.0.2.1")
	require.NoError(t, rn.a.SendIP(ipv4.ProtoTCP, netip.Addr{}, far, make([]byte, 20)))
	rn.tn.run(time.Second)
	require.Len(t, ra.errors, 1)
	assert.Equal(t, uint8(icmp.TypeDestUnreach), ra.errors[0].typ)
	assert.Equal(t, icmp.CodeNetUnreachable, ra.errors[0].code)
}

func TestForwardingFragmentsAndFragNeeded(t *testing.T) {
	rn := newRoutedNet(t)
	server := &udpRecorder{}
	requireBind(t, rn.c, "0.0.0.0:9", server)
	cs := requireBind(t, rn.a, "0.0.0.0:1000", &udpRecorder{})
	data := pattern(1400)
	// a sends one 1428-byte packet; r cuts it for the 576-byte link.
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.1.0.2:9"), data))
	rn.tn.run(time.Second)
	require.Len(t, server.got, 1)
	assert.True(t, bytes.Equal(data, server.got[0].payload))
	assert.Equal(t, uint64(3), rn.r.Stats().FragmentsOut)
	var sizes []int
	for _, h := range sentIP(rn.right) {
		if h.Dst() == netip.MustParseAddr("10.1.0.2") {
			sizes = append(sizes, h.TotalLen())
			assert.Equal(t, uint8(63), h.TTL())
		}
	}
	assert.Equal(t, []int{572, 572, 324}, sizes)

	// With DF, r answers fragmentation needed with the next-hop MTU
	// (RFC 1191), which reaches the sending protocol.
	ra := &protoRecorder{}
	rn.a.RegisterProtocol(ipv4.ProtoTCP, ra)
	require.NoError(t, rn.a.SendIPWith(ipv4.ProtoTCP, netip.Addr{}, netip.MustParseAddr("10.1.0.2"), make([]byte, 1000), SendOptions{DF: true}))
	rn.tn.run(time.Second)
	require.Len(t, ra.errors, 1)
	assert.Equal(t, icmp.CodeFragNeeded, ra.errors[0].code)
	assert.Equal(t, uint32(576), ra.errors[0].info)
}

func TestCopiedOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"none", nil, []byte{}},
		{"record route not copied", []byte{7, 7, 4, 0, 0, 0, 0, 0}, []byte{}},
		{"security copied", []byte{0x82, 4, 1, 2}, []byte{0x82, 4, 1, 2}},
		{"nop and copied, padded", []byte{1, 0x83, 3, 9, 0, 0, 0, 0}, []byte{0x83, 3, 9, 0}},
		{"malformed length", []byte{0x82, 9, 1, 2}, []byte{}},
		{"zero length", []byte{0x82, 0, 1, 2}, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var dst [40]byte
			n := copiedOptions(dst[:], tc.in)
			assert.Equal(t, tc.want, dst[:n])
		})
	}
}

func TestLoopback127(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.run(5 * time.Second)
	lo := netip.MustParseAddr("127.0.0.1")
	src, ok := a.SourceFor(lo)
	require.True(t, ok)
	assert.Equal(t, lo, src)
	assert.Equal(t, 65535, a.PathMTU(lo))
	srv := &udpRecorder{}
	requireBind(t, a, "127.0.0.1:53", srv)
	cs := requireBind(t, a, "0.0.0.0:0", &udpRecorder{})
	tn.hub.sent = nil
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("127.0.0.1:53"), pattern(30000)))
	tn.run(0)
	require.Len(t, srv.got, 1)
	assert.Len(t, srv.got[0].payload, 30000)
	assert.Equal(t, lo, srv.got[0].src.Addr())
	assert.Empty(t, tn.hub.sent)
}

func TestForwardingRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dst  string
	}{
		{"link-local destination (RFC 3927 2.7)", "169.254.1.2"},
		{"directed broadcast (RFC 2644)", "10.1.0.255"},
		{"network 0 destination (RFC 1812 5.3.7)", "0.1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rn := newRoutedNet(t)
			rn.r.AddRoute(netip.MustParsePrefix("0.0.0.0/0"), netip.MustParseAddr("10.1.0.2"), nil)
			ra := &protoRecorder{}
			rn.a.RegisterProtocol(ipv4.ProtoTCP, ra)
			rc := &protoRecorder{}
			rn.c.RegisterProtocol(ipv4.ProtoTCP, rc)
			before := rn.r.Stats()
			require.NoError(t, rn.a.SendIP(ipv4.ProtoTCP, netip.Addr{}, netip.MustParseAddr(tc.dst), make([]byte, 20)))
			rn.tn.run(time.Second)
			after := rn.r.Stats()
			assert.Equal(t, before.ForwardRefused+1, after.ForwardRefused)
			assert.Equal(t, before.Forwarded, after.Forwarded)
			assert.Empty(t, ra.errors, "refused datagrams are discarded silently")
			assert.Empty(t, rc.got)
		})
	}
}

func TestForwardingHostUnreachable(t *testing.T) {
	t.Parallel()
	rn := newRoutedNet(t)
	ra := &protoRecorder{}
	rn.a.RegisterProtocol(ipv4.ProtoTCP, ra)
	gone := netip.MustParseAddr("10.1.0.99")
	require.NoError(t, rn.a.SendIP(ipv4.ProtoTCP, netip.Addr{}, gone, make([]byte, 20)))
	rn.tn.run(10 * time.Second)
	require.Len(t, ra.errors, 1, "RFC 1812 5.2.7.1: ARP failure draws host unreachable")
	assert.Equal(t, uint8(icmp.TypeDestUnreach), ra.errors[0].typ)
	assert.Equal(t, icmp.CodeHostUnreachable, ra.errors[0].code)
	assert.Equal(t, netip.MustParseAddr("10.0.0.3"), ra.errors[0].from)
}
