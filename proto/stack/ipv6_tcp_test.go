package stack

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
)

// tcpSegs returns the TCP segments the peer received, with their
// pseudo-header checksums verified (RFC 8200 section 8.1).
func (p *v6Peer) tcpSegs() []tcp.Header {
	var out []tcp.Header
	for _, g := range p.got {
		c, err := ipv6.Walk(g.pkt)
		require.NoError(p.t, err)
		if c.Proto != ipv6.ProtoTCP {
			continue
		}
		b := g.pkt[c.Offset:]
		require.True(p.t, ipv6.VerifyUpper(g.pkt.Src16(), g.pkt.Dst16(), ipv6.ProtoTCP, b), "TCP checksum over the IPv6 pseudo-header")
		h, err := tcp.ParseHeader(b)
		require.NoError(p.t, err)
		out = append(out, h)
	}
	return out
}

// synTo builds a SYN from the peer to our host's port with the given
// options; bad spoils its checksum.
func (p *v6Peer) synTo(dst netip.Addr, port uint16, o *tcp.Options, bad bool) []byte {
	b := make([]byte, 80)
	n, err := tcp.Encode(b, tcp.Fields{SrcPort: 40000, DstPort: port, Seq: 1000, Flags: tcp.FlagSYN, Window: 65535}, o, nil, p.addr, dst)
	require.NoError(p.t, err)
	if bad {
		b[16] ^= 0x55
	}
	return p.packet(dst, 64, ipv6.ProtoTCP, b[:n])
}

// TestTCPOverIPv6Handshake sends crafted SYNs over IPv6 to a listening
// socket: the SYN-ACK carries the pseudo-header checksum and an MSS of the
// IPv6 MTU minus 60 (RFC 8200 section 8.3; 1440 on a 1500-byte link,
// 1220 on a 1280-byte one), a SYN with a bad checksum is not answered,
// and a SYN to a closed port is reset. gopacket decodes the answers.
func TestTCPOverIPv6Handshake(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mtu int
		mss uint16
	}{{1500, 1440}, {1280, 1220}} {
		tn, ifc, p := newV6Net(t, tc.mtu)
		h := ifc.h
		ts := tcp.New(h, tn.sched, rng.New(1, "tcp"), tcp.Config{})
		h.RegisterProtocol(tcp.ProtocolNumber, ts)
		_, err := ts.Listen(netip.AddrPortFrom(netip.Addr{}, 80), 4, nil)
		require.NoError(t, err)
		p.answer = true
		mac := ifc.MAC()
		p.send(mac, p.synTo(v6Host, 80, &tcp.Options{HasMSS: true, MSS: 1440}, true))
		tn.run(time.Second)
		assert.Empty(t, p.tcpSegs(), "mtu %d: a SYN with a bad checksum is dropped", tc.mtu)
		assert.Equal(t, uint64(1), ts.Stats().BadChecksum)

		p.send(mac, p.synTo(v6Host, 80, &tcp.Options{HasMSS: true, MSS: 1440}, false))
		p.send(mac, p.synTo(v6Host, 81, nil, false))
		tn.run(time.Second)
		segs := p.tcpSegs()
		require.Len(t, segs, 2, "mtu %d: a SYN-ACK and a RST", tc.mtu)
		var synack, rst tcp.Header
		for _, s := range segs {
			if s.Flags()&tcp.FlagRST != 0 {
				rst = s
			} else {
				synack = s
			}
		}
		require.NotNil(t, synack)
		require.NotNil(t, rst)
		assert.Equal(t, tcp.FlagSYN|tcp.FlagACK, synack.Flags()&(tcp.FlagSYN|tcp.FlagACK))
		assert.Equal(t, uint32(1001), synack.Ack())
		var o tcp.Options
		require.NoError(t, tcp.ParseOptions(synack.Options(), &o))
		require.True(t, o.HasMSS)
		assert.Equal(t, tc.mss, o.MSS, "mtu %d: MSS = IPv6 MTU - 60", tc.mtu)
		assert.Equal(t, uint16(81), rst.SrcPort())
		assert.Equal(t, uint32(1001), rst.Ack())

		for _, g := range p.got {
			pk := gopacket.NewPacket(g.pkt, layers.LayerTypeIPv6, gopacket.Default)
			assert.Nil(t, pk.ErrorLayer(), "mtu %d: gopacket decodes %v", tc.mtu, pk)
		}
	}
}

// tcpEcho collects what a connection reads and closes it at the peer's
// FIN.
type tcpEcho struct {
	got  bytes.Buffer
	done bool
	err  error
}

func (e *tcpEcho) OnEstablished(*tcp.Conn) {}
func (e *tcpEcho) OnWritable(*tcp.Conn)    {}
func (e *tcpEcho) OnReadable(c *tcp.Conn) {
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		e.got.Write(buf[:n])
		if err == io.EOF {
			_ = c.Close()
		}
		if err != nil {
			return
		}
	}
}
func (e *tcpEcho) OnClosed(_ *tcp.Conn, err error) { e.done, e.err = true, err }

// TestTCPOverIPv6Transfer moves 300 KB over IPv6 between two hosts on a
// link and within one host (IPv6 loopback to its own address), with
// neighbour discovery and the handshake's MSS from the IPv6 MTU; the
// data arrives byte-exact and both ends close cleanly.
func TestTCPOverIPv6Transfer(t *testing.T) {
	t.Parallel()
	data := pattern(300 << 10)
	for _, loop := range []bool{false, true} {
		tn := newTestNet(t, 1500)
		a, b := tn.addHost("a", 1), tn.addHost("b", 2)
		aAddr, bAddr := netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64")
		a.Interfaces()[0].EnableIPv6(aAddr)
		b.Interfaces()[0].EnableIPv6(bAddr)
		ta := tcp.New(a, tn.sched, rng.New(1, "tcp/a"), tcp.Config{})
		a.RegisterProtocol(tcp.ProtocolNumber, ta)
		tb := tcp.New(b, tn.sched, rng.New(1, "tcp/b"), tcp.Config{})
		b.RegisterProtocol(tcp.ProtocolNumber, tb)
		srvStack, dst := tb, bAddr.Addr()
		if loop {
			srvStack, dst = ta, aAddr.Addr()
		}
		sink := &tcpEcho{}
		var srv *tcp.Conn
		_, err := srvStack.Listen(netip.AddrPortFrom(netip.IPv6Unspecified(), 80), 4, func(l *tcp.Listener) {
			srv, _ = l.Accept(sink)
		})
		require.NoError(t, err)
		src, ok := a.SourceFor(dst)
		require.True(t, ok)
		assert.Equal(t, aAddr.Addr(), src)
		cli := &tcpEcho{}
		c, err := ta.Connect(netip.AddrPort{}, netip.AddrPortFrom(dst, 80), cli)
		require.NoError(t, err)
		off := 0
		for step := 0; step < 2000 && !(sink.done && cli.done); step++ {
			if off < len(data) {
				n, _ := c.Write(data[off:])
				off += n
				if off == len(data) {
					require.NoError(t, c.Shutdown())
				}
			}
			tn.run(10 * time.Millisecond)
		}
		require.NotNil(t, srv, "loop %v: accepted", loop)
		assert.True(t, sink.done && cli.done, "loop %v: both ends closed", loop)
		assert.NoError(t, sink.err)
		assert.NoError(t, cli.err)
		assert.True(t, bytes.Equal(data, sink.got.Bytes()), "loop %v: %d bytes received byte-exact", loop, sink.got.Len())
		assert.Equal(t, netip.AddrPortFrom(src, c.LocalAddr().Port()), srv.RemoteAddr())
		if !loop {
			st := c.Stats()
			assert.Equal(t, 1440-12, st.MSS, "MSS from the IPv6 MTU, less the timestamp option")
			assert.Zero(t, a.Stats().IPLoopback)
		} else {
			assert.NotZero(t, a.Stats().IPLoopback)
		}
	}
}
