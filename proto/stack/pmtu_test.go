package stack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/tcp"
)

// pmtuNet is a - r - c with TCP on a and c: a and r's first interface on
// a 1500-byte link, r's second interface on a link of farMTU (576 for
// IPv4, 1280 for IPv6) whose other end, c, believes it 1500 bytes wide
// (as a host behind a second router would be): c advertises an MSS the
// path cannot carry, so only path MTU discovery keeps a's segments
// whole.
type pmtuNet struct {
	t                   *testing.T
	tn                  *testNet
	left                *hub
	a, r, c             *Host
	ta, tc              *tcp.Stack
	aAddr, rAddr, cAddr netip.Addr
	v6                  bool
	farMTU, ipHdrSize   int
	inject              *hubPort
	sink                *tcpEcho
}

// widePort is a hub port that reports a larger MTU than its hub carries.
type widePort struct{ *hubPort }

func (widePort) MTU() int { return 1500 }

func newPMTUNet(t *testing.T, v6 bool) *pmtuNet {
	n := &pmtuNet{t: t, v6: v6, farMTU: 576, ipHdrSize: 20}
	if v6 {
		n.farMTU, n.ipHdrSize = 1280, 40
	}
	n.tn = newTestNet(t, 1500)
	n.left = n.tn.hub
	right := newHub(n.tn.sched, n.farMTU)
	n.a = n.tn.addHost("a", 1)
	n.r = New(Config{Name: "r", Clock: n.tn.sched, Rand: rng.New(1, "host/r"), Forwarding: true})
	r0 := n.r.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 1, 3}, n.left.port())
	r1 := n.r.AddInterface("eth1", ether.Addr{2, 0, 0, 0, 2, 3}, right.port())
	n.c = New(Config{Name: "c", Clock: n.tn.sched, Rand: rng.New(1, "host/c")})
	c0 := n.c.AddInterface("eth0", ether.Addr{2, 0, 0, 0, 2, 2}, widePort{right.port()})
	if v6 {
		n.aAddr, n.rAddr, n.cAddr = a6, r61, c6
		n.a.Interfaces()[0].EnableIPv6(netip.PrefixFrom(a6, 64))
		n.a.AddRoute(netip.MustParsePrefix("::/0"), r61, nil)
		r0.EnableIPv6(netip.PrefixFrom(r61, 64))
		r1.EnableIPv6(netip.MustParsePrefix("2001:db8:2::1/64"))
		c0.EnableIPv6(netip.PrefixFrom(c6, 64))
		n.c.AddRoute(netip.MustParsePrefix("::/0"), netip.MustParseAddr("2001:db8:2::1"), nil)
	} else {
		n.aAddr, n.rAddr, n.cAddr = ip(1), netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.1.0.2")
		r0.SetAddress(netip.MustParsePrefix("10.0.0.3/24"))
		r1.SetAddress(netip.MustParsePrefix("10.1.0.3/24"))
		c0.SetAddress(netip.MustParsePrefix("10.1.0.2/24"))
		n.a.SetDefaultGateway(n.rAddr)
		n.c.SetDefaultGateway(netip.MustParseAddr("10.1.0.3"))
	}
	n.tn.run(5 * time.Second)
	n.inject = n.left.port()
	n.ta = tcp.New(n.a, n.tn.sched, rng.New(1, "tcp/a"), tcp.Config{})
	n.a.RegisterProtocol(tcp.ProtocolNumber, n.ta)
	n.tc = tcp.New(n.c, n.tn.sched, rng.New(1, "tcp/c"), tcp.Config{})
	n.c.RegisterProtocol(tcp.ProtocolNumber, n.tc)
	n.sink = &tcpEcho{}
	_, err := n.tc.Listen(netip.AddrPortFrom(netip.Addr{}, 80), 4, func(l *tcp.Listener) {
		_, _ = l.Accept(n.sink)
	})
	require.NoError(t, err)
	return n
}

// leftSegs returns the TCP segments a sent on the left link, as the IP
// packet and the TCP header within it.
func (n *pmtuNet) leftSegs() (pkts [][]byte, segs []tcp.Header) {
	for _, f := range n.left.sent {
		fr, err := ether.Parse(f)
		if err != nil || fr.Src() != n.a.Interfaces()[0].MAC() {
			continue
		}
		p := fr.Payload()
		switch {
		case !n.v6 && fr.EtherType() == ether.TypeIPv4 && p[9] == ipv4.ProtoTCP:
			h := ipv4.Header(p)
			pkts = append(pkts, p[:h.TotalLen()])
			segs = append(segs, tcp.Header(p[h.HeaderLen():h.TotalLen()]))
		case n.v6 && fr.EtherType() == ether.TypeIPv6 && p[6] == ipv6.ProtoTCP:
			pkts = append(pkts, p)
			segs = append(segs, tcp.Header(p[ipv6.HeaderLen:]))
		}
	}
	return pkts, segs
}

// icmpFrom sends a to an ICMP (IPv4) or ICMPv6 error from r of the given
// type, code and rest word quoting pkt.
func (n *pmtuNet) icmpFrom(typ, code uint8, rest uint32, pkt []byte) {
	var payload []byte
	var err error
	et := ether.TypeIPv4
	if n.v6 {
		et = ether.TypeIPv6
		var m icmpv6.Message
		m, err = icmpv6.Error(make([]byte, 1280), icmpv6.Type(typ), code, rest, pkt, n.rAddr, n.aAddr)
		require.NoError(n.t, err)
		payload = make([]byte, ipv6.HeaderLen+len(m))
		copy(payload[ipv6.HeaderLen:], m)
		_, err = ipv6.Encode(payload, &ipv6.Fields{NextHeader: ipv6.ProtoICMPv6, HopLimit: 64, Src: n.rAddr, Dst: n.aAddr}, len(m))
	} else {
		var m icmp.Message
		m, err = icmp.Error(make([]byte, 600), icmp.Type(typ), code, rest, pkt)
		require.NoError(n.t, err)
		payload = make([]byte, ipv4.MinHeaderLen+len(m))
		copy(payload[ipv4.MinHeaderLen:], m)
		_, err = ipv4.Encode(payload, &ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoICMP, Src: n.rAddr, Dst: n.aAddr}, len(m))
	}
	require.NoError(n.t, err)
	f := make([]byte, ether.HeaderLen+len(payload))
	ether.Encode(f, n.a.Interfaces()[0].MAC(), ether.Addr{2, 0, 0, 0, 1, 3}, et)
	copy(f[ether.HeaderLen:], payload)
	n.inject.Send(f)
}

// transfer writes data on c (shutting down after it) and runs the network
// until both ends closed or the step budget ran out.
func (n *pmtuNet) transfer(c *tcp.Conn, cli *tcpEcho, data []byte) {
	n.tn.run(100 * time.Millisecond) // the handshake
	off := 0
	for step := 0; step < 3000 && !(n.sink.done && cli.done); step++ {
		if off < len(data) {
			w, _ := c.Write(data[off:])
			off += w
			if off == len(data) {
				require.NoError(n.t, c.Shutdown())
			}
		}
		n.tn.run(5 * time.Millisecond)
	}
}

// TestTCPPathMTUDiscoveryAcrossRouter moves 40 KB from a to c across a
// router whose second link is smaller (576 bytes for IPv4, 1280 for
// IPv6). a's full-sized segments (IPv4 ones with Don't Fragment, as
// Linux sends them) draw "fragmentation needed" (RFC 1191) or Packet Too
// Big (RFC 8201) from the router; the connection lowers its MSS to the
// path MTU and the data arrives byte-exact with no fragment anywhere. The
// learned path MTU expires after PMTUTimeout.
func TestTCPPathMTUDiscoveryAcrossRouter(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		n := newPMTUNet(t, v6)
		cli := &tcpEcho{}
		c, err := n.ta.Connect(netip.AddrPort{}, netip.AddrPortFrom(n.cAddr, 80), cli)
		require.NoError(t, err)
		data := pattern(40 << 10)
		n.transfer(c, cli, data)
		assert.True(t, n.sink.done && cli.done, "v6 %v: both ends closed", v6)
		assert.NoError(t, cli.err, "v6 %v", v6)
		assert.NoError(t, n.sink.err, "v6 %v", v6)
		assert.True(t, bytes.Equal(data, n.sink.got.Bytes()), "v6 %v: %d bytes byte-exact", v6, n.sink.got.Len())
		assert.Equal(t, n.farMTU, n.a.PathMTU(n.cAddr), "v6 %v: path MTU learned", v6)
		assert.Equal(t, uint64(1), n.ta.Stats().PMTUReductions, "v6 %v", v6)
		assert.Equal(t, n.farMTU-n.ipHdrSize-tcp.HeaderLen-12, c.Stats().MSS, "v6 %v: MSS follows the path MTU", v6)
		assert.Zero(t, n.r.Stats().FragmentsOut, "v6 %v: the router fragments nothing", v6)
		assert.Zero(t, c.Stats().TimeoutRetransmits, "v6 %v: resent at once, not on a timeout", v6)
		pkts, _ := n.leftSegs()
		require.NotEmpty(t, pkts)
		for _, p := range pkts {
			if !v6 {
				assert.True(t, ipv4.Header(p).DF(), "IPv4 TCP segments carry DF: %x", p[:60])
			}
		}
		// RFC 1191 section 6.3, RFC 8201 section 4: the estimate ages
		// out, and the interface MTU is tried again.
		n.tn.run(PMTUTimeout - time.Minute)
		assert.Equal(t, n.farMTU, n.a.PathMTU(n.cAddr), "v6 %v: still learned", v6)
		n.tn.run(time.Minute)
		assert.Equal(t, 1500, n.a.PathMTU(n.cAddr), "v6 %v: expired", v6)
	}
}

// TestTCPICMPErrorsCrafted sends crafted ICMP and ICMPv6 errors to a
// connection: a Packet Too Big or "fragmentation needed" quoting a
// segment in flight lowers the MSS and resends it at the new size at
// once; one quoting a sequence number outside SND.UNA..SND.NXT is ignored
// (RFC 5927 section 4.1), as is an IPv4 MTU below 68 (RFC 1191), while an
// IPv6 MTU below 1280 counts as 1280 (RFC 8201 section 4); a port
// unreachable aborts a connection in SYN-SENT (a hard error, RFC 1122
// section 4.2.3.9) but not an established one, and a host unreachable
// (soft) aborts neither.
func TestTCPICMPErrorsCrafted(t *testing.T) {
	t.Parallel()
	type want struct {
		reduced bool
		mtu     int // path MTU after, when reduced
	}
	for _, v6 := range []bool{false, true} {
		ptbType, ptbCode := uint8(icmp.TypeDestUnreach), icmp.CodeFragNeeded
		if v6 {
			ptbType, ptbCode = uint8(icmpv6.TypePacketTooBig), 0
		}
		for _, tc := range []struct {
			name   string
			seqOff int64
			mtu    uint32
			want   want
		}{
			{"in window", 0, 500 + 780*b2u(v6), want{true, 500 + 780*int(b2u(v6))}},
			{"below SND.UNA", -70000, 500 + 780*b2u(v6), want{false, 0}},
			{"beyond SND.NXT", 70000, 500 + 780*b2u(v6), want{false, 0}},
			{"tiny MTU", 0, 40, want{v6, 1280}},
		} {
			n := newPMTUNet(t, v6)
			cli := &tcpEcho{}
			c, err := n.ta.Connect(netip.AddrPort{}, netip.AddrPortFrom(n.cAddr, 80), cli)
			require.NoError(t, err)
			n.tn.run(100 * time.Millisecond)
			require.Equal(t, tcp.StateEstablished, c.State(), "%s v6 %v", tc.name, v6)
			mss0 := c.Stats().MSS
			// The next data is lost on the left link and stays in flight.
			n.left.drop = func(f []byte) bool { return len(f) > 200 }
			before := len(n.left.sent)
			_, err = c.Write(pattern(1000))
			require.NoError(t, err)
			n.tn.run(2 * time.Millisecond)
			pkts, _ := n.leftSegs()
			require.Greater(t, len(n.left.sent), before)
			lost := pkts[len(pkts)-1]
			q := append([]byte(nil), lost...)
			seqAt := n.ipHdrSize + 4
			binary.BigEndian.PutUint32(q[seqAt:], uint32(int64(binary.BigEndian.Uint32(q[seqAt:]))+tc.seqOff))
			n.left.drop = nil
			sentBefore := len(n.left.sent)
			n.icmpFrom(ptbType, ptbCode, tc.mtu, q)
			n.tn.run(3 * time.Millisecond) // well before the RTO
			if !tc.want.reduced {
				assert.Equal(t, mss0, c.Stats().MSS, "%s v6 %v: MSS unchanged", tc.name, v6)
				assert.Zero(t, n.ta.Stats().PMTUReductions, "%s v6 %v", tc.name, v6)
				continue
			}
			assert.Equal(t, uint64(1), n.ta.Stats().PMTUReductions, "%s v6 %v", tc.name, v6)
			assert.Equal(t, tc.want.mtu-n.ipHdrSize-tcp.HeaderLen-12, c.Stats().MSS, "%s v6 %v", tc.name, v6)
			pktsAfter, after := n.leftSegsFrom(sentBefore)
			require.NotEmpty(t, after, "%s v6 %v: resent at once", tc.name, v6)
			assert.Equal(t, binary.BigEndian.Uint32(lost[seqAt:]), after[0].Seq(), "%s v6 %v: from the lost segment", tc.name, v6)
			assert.Equal(t, uint64(1000), c.Stats().RetransmittedBytes, "%s v6 %v", tc.name, v6)
			for _, p := range pktsAfter {
				assert.LessOrEqual(t, len(p), tc.want.mtu, "%s v6 %v: packets fit the path MTU", tc.name, v6)
			}
			assert.Zero(t, c.Stats().TimeoutRetransmits, "%s v6 %v", tc.name, v6)
		}
	}
}

// leftSegsFrom is leftSegs for the frames sent after the first from.
func (n *pmtuNet) leftSegsFrom(from int) ([][]byte, []tcp.Header) {
	keep := n.left.sent
	n.left.sent = keep[from:]
	defer func() { n.left.sent = keep }()
	return n.leftSegs()
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// TestTCPICMPHardSoftErrors checks RFC 1122 section 4.2.3.9 and RFC 5927
// section 5.2 with crafted errors quoting a segment in flight: a port
// unreachable (hard) aborts a connection in SYN-SENT with
// tcp.ErrConnRefused; an address or host unreachable (soft) does not; in
// ESTABLISHED even a hard error only leaves a soft error, which the
// timeout then reports beside tcp.ErrTimeout (RFC 1122 section 4.2.3.9).
func TestTCPICMPHardSoftErrors(t *testing.T) {
	t.Parallel()
	for _, v6 := range []bool{false, true} {
		unreach, port, host := uint8(icmp.TypeDestUnreach), icmp.CodePortUnreachable, icmp.CodeHostUnreachable
		if v6 {
			unreach, port, host = uint8(icmpv6.TypeDestUnreach), 4, 3
		}
		for _, tc := range []struct {
			name        string
			established bool
			code        uint8
			aborted     bool
		}{
			{"SYN-SENT port unreachable", false, port, true},
			{"SYN-SENT host unreachable", false, host, false},
			{"ESTABLISHED port unreachable", true, port, false},
		} {
			n := newPMTUNet(t, v6)
			cli := &tcpEcho{}
			if !tc.established {
				n.left.drop = isTCP
			}
			c, err := n.ta.Connect(netip.AddrPort{}, netip.AddrPortFrom(n.cAddr, 80), cli)
			require.NoError(t, err)
			n.tn.run(50 * time.Millisecond)
			if tc.established {
				require.Equal(t, tcp.StateEstablished, c.State())
				n.left.drop = isTCP
				_, err = c.Write(pattern(100))
				require.NoError(t, err)
				n.tn.run(time.Millisecond)
			}
			pkts, _ := n.leftSegs()
			require.NotEmpty(t, pkts)
			n.left.drop = nil
			n.icmpFrom(unreach, tc.code, 0, pkts[len(pkts)-1])
			n.tn.run(time.Millisecond)
			if tc.aborted {
				assert.Equal(t, tcp.StateClosed, c.State(), "%s v6 %v", tc.name, v6)
				assert.ErrorIs(t, cli.err, tcp.ErrConnRefused, "%s v6 %v", tc.name, v6)
				assert.Equal(t, uint64(1), n.ta.Stats().ICMPAborts)
				continue
			}
			assert.NotEqual(t, tcp.StateClosed, c.State(), "%s v6 %v: not aborted", tc.name, v6)
			assert.NoError(t, cli.err, "%s v6 %v", tc.name, v6)
			assert.Zero(t, n.ta.Stats().ICMPAborts)
			assert.Equal(t, uint64(1), n.ta.Stats().ICMPErrorsIn, "%s v6 %v: the error reached TCP", tc.name, v6)
			assert.Zero(t, n.ta.Stats().ICMPIgnored, "%s v6 %v", tc.name, v6)
			if tc.established {
				// The path stays broken: the timeout names the soft error.
				n.left.drop = isTCP
				n.tn.run(30 * time.Minute)
				require.Equal(t, tcp.StateClosed, c.State(), "%s v6 %v", tc.name, v6)
				assert.ErrorIs(t, cli.err, tcp.ErrTimeout, "%s v6 %v", tc.name, v6)
				assert.ErrorIs(t, cli.err, tcp.ErrConnRefused, "%s v6 %v: the soft error beside it", tc.name, v6)
			}
		}
	}
}

// isTCP reports whether an Ethernet frame carries TCP directly in IPv4 or
// IPv6.
func isTCP(f []byte) bool {
	fr, err := ether.Parse(f)
	if err != nil {
		return false
	}
	p := fr.Payload()
	switch fr.EtherType() {
	case ether.TypeIPv4:
		return len(p) > 9 && p[9] == ipv4.ProtoTCP
	case ether.TypeIPv6:
		return len(p) > 6 && p[6] == ipv6.ProtoTCP
	}
	return false
}
