package analyze

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/input"
)

const (
	syn    = tcp.FlagSYN
	synack = tcp.FlagSYN | tcp.FlagACK
	ack    = tcp.FlagACK
	psh    = tcp.FlagPSH | tcp.FlagACK
	fin    = tcp.FlagFIN | tcp.FlagACK
	rst    = tcp.FlagRST | tcp.FlagACK
)

func TestTCPConnectionLifecycle(t *testing.T) {
	c2s := func(seq, a uint32, fl uint8, p string) []byte {
		return segment(t, ipA, ipB, 40000, 9, seq, a, fl, []byte(p))
	}
	s2c := func(seq, a uint32, fl uint8, p string) []byte {
		return segment(t, ipB, ipA, 9, 40000, seq, a, fl, []byte(p))
	}
	res, _ := analyzeFrames(
		c2s(100, 0, syn, ""),
		s2c(500, 101, synack, ""),
		c2s(101, 501, ack, ""),
		c2s(101, 501, psh, "hello"),
		c2s(101, 501, psh, "hello"), // retransmission
		s2c(501, 106, psh, "hi"),
		c2s(106, 503, fin, ""),
		s2c(503, 107, fin, ""),
		c2s(107, 504, ack, ""),
	)
	assert.Equal(t, 9, res.Counts.TCP)
	assert.Equal(t, 9, res.Counts.IPv4)
	assert.Equal(t, 9, res.Counts.Ethernet)
	assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
	assert.Zero(t, res.BadChecksums)
	require.Len(t, res.Flows.TCP, 1)
	c := res.Flows.TCP[0]
	assert.Equal(t, "10.0.0.1:40000", c.Client)
	assert.Equal(t, "10.0.0.2:9", c.Server)
	assert.True(t, c.SYN && c.SYNACK && c.ACK)
	assert.True(t, c.FINClient && c.FINServer)
	assert.False(t, c.RST)
	assert.Equal(t, "closed", c.State)
	assert.Equal(t, 9, c.Segments)
	assert.Equal(t, 1, c.Retransmissions)
	assert.Equal(t, uint64(10), c.BytesClientToServer)
	assert.Equal(t, uint64(2), c.BytesServerToClient)
	assert.Equal(t, 1, c.FirstFrame, "frames count from 1, as in Wireshark")
	assert.Equal(t, 9, c.LastFrame)
}

func TestTCPStates(t *testing.T) {
	tests := []struct {
		name   string
		frames func() [][]byte
		state  string
		client string
	}{
		{"refused", func() [][]byte {
			return [][]byte{segment(t, ipA, ipB, 1234, 80, 1, 0, syn, nil), segment(t, ipB, ipA, 80, 1234, 0, 2, rst, nil)}
		}, "refused", "10.0.0.1:1234"},
		{"syn only", func() [][]byte { return [][]byte{segment(t, ipB, ipA, 5555, 22, 1, 0, syn, nil)} }, "syn_sent", "10.0.0.2:5555"},
		{"seen from the syn-ack", func() [][]byte { return [][]byte{segment(t, ipB, ipA, 22, 5555, 9, 2, synack, nil)} }, "midstream", "10.0.0.1:5555"},
		// Finding 2 of issue 11: a flow of resets only (the SYN they
		// answer was not captured) has the resetting side as server.
		{"reset only", func() [][]byte { return [][]byte{segment(t, ipB, ipA, 80, 1234, 0, 2, rst, nil)} }, "reset", "10.0.0.1:1234"},
		{"bare reset only", func() [][]byte {
			return [][]byte{segment(t, ipB, ipA, 443, 5000, 7, 0, tcp.FlagRST, nil), segment(t, ipB, ipA, 443, 5000, 7, 0, tcp.FlagRST, nil)}
		}, "reset", "10.0.0.1:5000"},
		{"midstream data", func() [][]byte { return [][]byte{segment(t, ipA, ipB, 7, 8, 9, 10, psh, []byte("x"))} }, "midstream", "10.0.0.1:7"},
		{"half closed", func() [][]byte {
			return [][]byte{segment(t, ipA, ipB, 1, 2, 1, 0, syn, nil), segment(t, ipB, ipA, 2, 1, 5, 2, synack, nil), segment(t, ipA, ipB, 1, 2, 2, 6, fin, nil)}
		}, "half_closed", "10.0.0.1:1"},
		{"reset", func() [][]byte {
			return [][]byte{segment(t, ipA, ipB, 1, 2, 1, 0, syn, nil), segment(t, ipB, ipA, 2, 1, 5, 2, synack, nil), segment(t, ipA, ipB, 1, 2, 2, 6, rst, nil)}
		}, "reset", "10.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := analyzeFrames(tt.frames()...)
			require.Len(t, res.Flows.TCP, 1)
			assert.Equal(t, tt.state, res.Flows.TCP[0].State)
			assert.Equal(t, tt.client, res.Flows.TCP[0].Client)
		})
	}
}

func dnsMsg(t testing.TB, id uint16, response bool, name string, answers int) []byte {
	t.Helper()
	m := dns.Msg{Header: dns.Header{ID: id, Response: response, RecursionDesired: true}}
	m.Question = []dns.Question{{Name: name, Type: dns.TypeA, Class: dns.ClassINET}}
	for i := range answers {
		m.Answer = append(m.Answer, dns.RR{Name: name, Type: dns.TypeA, Class: dns.ClassINET, TTL: 60,
			Data: &dns.A{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})}})
	}
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

func TestDNSOverUDP(t *testing.T) {
	res, ps := analyzeFrames(
		udpFrame(t, ipA, ipB, 33000, 53, dnsMsg(t, 0x1234, false, "example.com.", 0)),
		udpFrame(t, ipA, ipB, 33001, 53, dnsMsg(t, 0x9999, false, "lost.example.", 0)),
		udpFrame(t, ipB, ipA, 53, 33000, dnsMsg(t, 0x1234, true, "example.com.", 2)),
	)
	assert.Equal(t, 3, res.Counts.UDP)
	assert.Equal(t, 3, res.Counts.DNS)
	assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
	for _, p := range ps {
		assert.True(t, p.Has("dns") && p.Has("udp") && p.Has("ipv4") && p.Has("ethernet"))
		assert.False(t, p.Has("tcp") || p.Has("dhcp"))
	}
	require.Len(t, res.Flows.DNS, 2)
	x := res.Flows.DNS[0]
	assert.Equal(t, "udp", x.Transport)
	assert.Equal(t, "10.0.0.1:33000", x.Client)
	assert.Equal(t, "10.0.0.2:53", x.Server)
	assert.Equal(t, "example.com.", x.Name)
	assert.Equal(t, "A", x.Type)
	assert.Equal(t, 1, x.QueryFrame, "frames count from 1, as in Wireshark")
	assert.Equal(t, 3, x.ResponseFrame)
	assert.Equal(t, 2, x.Answers)
	assert.Equal(t, dns.RcodeSuccess.String(), x.Rcode)
	assert.Zero(t, res.Flows.DNS[1].ResponseFrame, "no response")

	// On a timeline, the response time is measured.
	raw := pcapOf(t,
		udpFrame(t, ipA, ipB, 33000, 53, dnsMsg(t, 0x1234, false, "example.com.", 0)),
		udpFrame(t, ipA, ipB, 33001, 53, dnsMsg(t, 0x9999, false, "lost.example.", 0)),
		udpFrame(t, ipB, ipA, 53, 33000, dnsMsg(t, 0x1234, true, "example.com.", 2)))
	r, err := input.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	res, err = Run(r)
	require.NoError(t, err)
	require.Len(t, res.Flows.DNS, 2)
	assert.Equal(t, int64(2000), res.Flows.DNS[0].RTTMicros, "pcapOf stamps frames 1 ms apart")
	assert.Zero(t, res.Flows.DNS[1].RTTMicros)
}

// TestDNSOverTCPSplit sends a length-prefixed DNS message over TCP in two
// segments: DNS counts in the frame that completes it only (as tshark's
// reassembly does).
func TestDNSOverTCPSplit(t *testing.T) {
	q := dnsMsg(t, 7, false, "tcp.example.", 0)
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	framed = append(framed, q...)
	r := dnsMsg(t, 7, true, "tcp.example.", 1)
	rframed := binary.BigEndian.AppendUint16(nil, uint16(len(r)))
	rframed = append(rframed, r...)
	res, ps := analyzeFrames(
		segment(t, ipA, ipB, 40001, 53, 10, 0, syn, nil),
		segment(t, ipB, ipA, 53, 40001, 90, 11, synack, nil),
		segment(t, ipA, ipB, 40001, 53, 11, 91, psh, framed[:5]),
		segment(t, ipA, ipB, 40001, 53, 11+5, 91, psh, framed[5:]),
		segment(t, ipB, ipA, 53, 40001, 91, uint32(11+len(framed)), psh, rframed),
	)
	assert.Equal(t, 2, res.Counts.DNS)
	assert.False(t, ps[2].Has("dns"))
	assert.True(t, ps[3].Has("dns"))
	assert.True(t, ps[4].Has("dns"))
	require.Len(t, res.Flows.DNS, 1)
	assert.Equal(t, "tcp", res.Flows.DNS[0].Transport)
	assert.Equal(t, 4, res.Flows.DNS[0].QueryFrame)
	assert.Equal(t, 5, res.Flows.DNS[0].ResponseFrame)
}

// dhcpMsg builds a BOOTP message (RFC 2131 section 2) with option 53.
func dhcpMsg(op byte, xid uint32, mac ether.Addr, yiaddr [4]byte, msgType byte) []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = op, 1, 6
	binary.BigEndian.PutUint32(b[4:], xid)
	copy(b[16:], yiaddr[:])
	copy(b[28:], mac[:])
	binary.BigEndian.PutUint32(b[236:], 0x63825363)
	return append(b, 53, 1, msgType, 255)
}

func TestDHCPExchange(t *testing.T) {
	bcast := netip.MustParseAddr("255.255.255.255")
	zero := netip.MustParseAddr("0.0.0.0")
	lease := [4]byte{10, 0, 0, 50}
	res, _ := analyzeFrames(
		udpFrame(t, zero, bcast, 68, 67, dhcpMsg(1, 0xabcd, macA, [4]byte{}, 1)),
		udpFrame(t, ipB, bcast, 67, 68, dhcpMsg(2, 0xabcd, macA, lease, 2)),
		udpFrame(t, zero, bcast, 68, 67, dhcpMsg(1, 0xabcd, macA, [4]byte{}, 3)),
		udpFrame(t, ipB, bcast, 67, 68, dhcpMsg(2, 0xabcd, macA, lease, 5)),
		udpFrame(t, zero, bcast, 68, 67, dhcpMsg(1, 0x1111, macB, [4]byte{}, 1)),
	)
	assert.Equal(t, 5, res.Counts.DHCP)
	assert.Zero(t, res.Counts.DNS)
	assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
	require.Len(t, res.Flows.DHCP, 2)
	x := res.Flows.DHCP[0]
	assert.Equal(t, uint32(0xabcd), x.XID)
	assert.Equal(t, macA.String(), x.Client)
	assert.Equal(t, []string{"DISCOVER", "OFFER", "REQUEST", "ACK"}, x.Messages)
	assert.Equal(t, []int{1, 2, 3, 4}, x.Frames)
	assert.Equal(t, "10.0.0.50", x.Yiaddr)
	assert.Equal(t, []string{"DISCOVER"}, res.Flows.DHCP[1].Messages)
}

// fragments splits a UDP datagram into IPv4 fragments of at most size
// payload bytes (a multiple of 8).
func fragments(t *testing.T, id uint16, transport []byte, size int) [][]byte {
	var out [][]byte
	for off := 0; off < len(transport); off += size {
		end := min(off+size, len(transport))
		more := end < len(transport)
		out = append(out, ipFrame(t, ipA, ipB, ipv4.ProtoUDP, transport[off:end], func(f *ipv4.Fields) {
			f.ID, f.FragmentOffset, f.MF = id, off, more
		}))
	}
	return out
}

func TestFragmentReassembly(t *testing.T) {
	whole := udpFrame(t, ipA, ipB, 33333, 53, dnsMsg(t, 1, false, "a-rather-long-name-to-need-fragments.example.", 0))
	transport := whole[ether.HeaderLen+ipv4.MinHeaderLen:]
	frags := fragments(t, 99, transport, 24)
	require.Greater(t, len(frags), 2)
	// Deliver out of order: last first.
	order := append([][]byte{frags[len(frags)-1]}, frags[:len(frags)-1]...)
	res, ps := analyzeFrames(order...)
	assert.Equal(t, len(frags), res.Counts.IPv4Fragments)
	assert.Equal(t, 1, res.Counts.UDP)
	assert.Equal(t, 1, res.Counts.DNS)
	last := ps[len(ps)-1]
	assert.True(t, last.Has("udp") && last.Has("dns"), "the completing fragment carries the datagram")
	for _, p := range ps[:len(ps)-1] {
		assert.False(t, p.Has("udp"))
		assert.True(t, p.Has("ipv4_fragments"))
	}
	assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
	require.Len(t, res.Flows.DNS, 1)

	// A missing fragment: nothing above IPv4 is counted.
	res, _ = analyzeFrames(frags[0], frags[2])
	assert.Zero(t, res.Counts.UDP)
	assert.Equal(t, 2, res.Counts.IPv4Fragments)
}

// TestFragmentExpiry runs fragments through Run: a datagram whose first
// fragment is more than a minute older on the capture's timeline is dropped.
func TestFragmentExpiry(t *testing.T) {
	whole := udpFrame(t, ipA, ipB, 4000, 4001, make([]byte, 40))
	frags := fragments(t, 5, whole[ether.HeaderLen+ipv4.MinHeaderLen:], 24)
	require.Len(t, frags, 2)
	for _, tt := range []struct {
		gap time.Duration
		udp int
	}{{59 * time.Second, 1}, {61 * time.Second, 0}} {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
		t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
		for i, f := range frags {
			ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * tt.gap), CaptureLength: len(f), Length: len(f)}
			require.NoError(t, w.WritePacket(ci, f))
		}
		r, err := input.NewReader(&buf)
		require.NoError(t, err)
		res, err := Run(r)
		require.NoError(t, err)
		assert.Equal(t, tt.udp, res.Counts.UDP, "gap %v", tt.gap)
		assert.Equal(t, 2, res.Counts.IPv4Fragments)
	}
}

func TestReassemblerBounds(t *testing.T) {
	var r reassembler
	r.init()
	for i := range maxDatagrams + 10 {
		_, done := r.add(0, fragKey{id: uint32(i)}, 0, true, []byte{1, 2, 3, 4, 5, 6, 7, 8})
		assert.False(t, done)
	}
	assert.Len(t, r.m, maxDatagrams)
	assert.Len(t, r.order, maxDatagrams)
	_, done := r.add(0, fragKey{id: 1}, 65528, false, make([]byte, 16))
	assert.False(t, done, "a datagram past 65535 bytes is dropped")
	data, done := r.add(0, fragKey{id: uint32(maxDatagrams + 9)}, 8, false, []byte{9})
	require.True(t, done)
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, data)
	assert.Len(t, r.m, maxDatagrams-1)
}

func TestHTTPMessages(t *testing.T) {
	req := "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"
	post := "POST /form HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\n0123456789"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world!"
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
	notModified := "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
	tests := []struct {
		name     string
		segments []string
		want     []bool // http counted per data segment
	}{
		{"request in one segment", []string{req}, []bool{true}},
		{"header split", []string{req[:10], req[10 : len(req)-1], req[len(req)-1:]}, []bool{false, false, true}},
		{"body split", []string{post[:60], post[60:]}, []bool{false, true}},
		{"pipelined", []string{req + req}, []bool{true}},
		{"response with body", []string{resp[:20], resp[20:]}, []bool{false, true}},
		{"chunked", []string{chunked[:52], chunked[52:70], chunked[70:]}, []bool{false, false, true}},
		{"304 has no body", []string{notModified}, []bool{true}},
		{"not http", []string{"\x16\x03\x01 binary"}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames := [][]byte{
				segment(t, ipA, ipB, 40000, 80, 0, 0, syn, nil),
				segment(t, ipB, ipA, 80, 40000, 0, 1, synack, nil),
			}
			seq := uint32(1)
			for _, s := range tt.segments {
				frames = append(frames, segment(t, ipA, ipB, 40000, 80, seq, 1, psh, []byte(s)))
				seq += uint32(len(s))
			}
			_, ps := analyzeFrames(frames...)
			for i, w := range tt.want {
				assert.Equal(t, w, ps[2+i].Has("http"), "segment %d", i)
			}
		})
	}
}

// TestStreamBufferBudget opens many connections that each leave an HTTP
// header unfinished: the buffers together stay under maxBuffered.
func TestStreamBufferBudget(t *testing.T) {
	partial := append([]byte("GET /"), bytes.Repeat([]byte("a"), 60000)...)
	a := New()
	n := maxBuffered/len(partial) + 20
	for i := range n {
		b := segment(t, ipA, ipB, uint16(1024+i), 80, 1, 1, psh, partial)
		f := input.Frame{Index: i, LinkType: input.LinkEthernet, Data: b, CapLen: len(b), OrigLen: len(b)}
		require.NoError(t, input.Normalise(&f))
		a.Frame(&f, nil)
		require.LessOrEqual(t, a.buffered, maxBuffered)
	}
	assert.Greater(t, a.buffered, maxBuffered/2)
	// A complete request in one segment needs no buffer and still counts.
	b := segment(t, ipB, ipA, 2000, 80, 1, 1, psh, []byte("GET / HTTP/1.1\r\n\r\n"))
	f := input.Frame{Index: n, LinkType: input.LinkEthernet, Data: b, CapLen: len(b), OrigLen: len(b)}
	require.NoError(t, input.Normalise(&f))
	assert.True(t, a.Frame(&f, nil).Has("http"))
}

func TestHTTPOnOtherPortAndRetransmission(t *testing.T) {
	req := []byte("GET / HTTP/1.0\r\n\r\n")
	_, ps := analyzeFrames(
		segment(t, ipA, ipB, 40000, 9999, 1, 1, psh, req),
		segment(t, ipA, ipB, 40000, 9999, 1, 1, psh, req), // retransmission
	)
	assert.True(t, ps[0].Has("http"), "an HTTP request line is recognised on any port")
	assert.False(t, ps[1].Has("http"), "retransmitted bytes are not fed to the stream again")
}

func TestICMPErrorQuotesUDP(t *testing.T) {
	orig := udpFrame(t, ipA, ipB, 33000, 53, dnsMsg(t, 5, false, "q.example.", 0))[ether.HeaderLen:]
	quote := orig[:icmp.QuoteLen(orig)]
	b := make([]byte, icmp.HeaderLen+len(quote))
	m, err := icmp.Error(b, icmp.TypeDestUnreach, icmp.CodePortUnreachable, 0, quote)
	require.NoError(t, err)
	res, ps := analyzeFrames(ipFrame(t, ipB, ipA, ipv4.ProtoICMP, m, nil))
	p := ps[0]
	assert.True(t, p.Has("icmp") && p.Has("ipv4") && p.Has("udp") && p.Has("dns"))
	assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
	assert.Empty(t, res.Flows.DNS, "a quoted datagram is not a DNS exchange")
	assert.Zero(t, res.BadChecksums.ICMP)
}

// TestL2TPTunnel carries an IPv4 DNS query in PPP over an L2TPv2 data
// message: the inner protocols count, as in tshark.
func TestL2TPTunnel(t *testing.T) {
	inner := udpFrame(t, ipA, ipB, 5000, 53, dnsMsg(t, 3, false, "tunnel.example.", 0))[ether.HeaderLen:]
	tests := []struct {
		name   string
		header []byte
		dns    bool
	}{
		{"plain", []byte{0x00, 0x02, 0, 1, 0, 2, 0xff, 0x03, 0x00, 0x21}, true},
		{"length, sequence, offset, no address", []byte{0x4a, 0x02, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 2, 9, 9, 0x00, 0x21}, true},
		{"compressed protocol", []byte{0x00, 0x02, 0, 1, 0, 2, 0x21}, true},
		{"control message", []byte{0xc8, 0x02, 0, 12, 0, 1, 0, 2, 0, 0, 0, 0}, false},
		{"version 3", []byte{0x00, 0x03, 0, 1, 0, 2, 0xff, 0x03, 0x00, 0x21}, false},
		{"cut", []byte{0x00, 0x02, 0, 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := append(append([]byte(nil), tt.header...), inner...)
			res, ps := analyzeFrames(udpFrame(t, ipA, ipB, 1701, 1701, payload))
			assert.True(t, ps[0].Has("udp"))
			assert.Equal(t, tt.dns, ps[0].Has("dns"))
			assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
			if tt.dns {
				require.Len(t, res.Flows.DNS, 1)
				assert.Equal(t, "tunnel.example.", res.Flows.DNS[0].Name)
			}
		})
	}
}

func TestRejectedFrames(t *testing.T) {
	badSum := udpFrame(t, ipA, ipB, 1, 2, []byte("x"))
	badSum[ether.HeaderLen+10] ^= 0xff // IPv4 header checksum
	badUDPLen := udpFrame(t, ipA, ipB, 1, 2, []byte("abc"))
	binary.BigEndian.PutUint16(badUDPLen[ether.HeaderLen+20+4:], 200)
	badArp := make([]byte, ether.HeaderLen+arp.PacketLen)
	ether.Encode(badArp, ether.Broadcast, macA, ether.TypeARP)
	arp.Request(badArp[ether.HeaderLen:], macA, ipA, ipB)
	badArp[ether.HeaderLen+7] = 9 // opcode
	goodArp := make([]byte, ether.HeaderLen+arp.PacketLen)
	ether.Encode(goodArp, ether.Broadcast, macA, ether.TypeARP)
	arp.Request(goodArp[ether.HeaderLen:], macA, ipA, ipB)
	badDNS := udpFrame(t, ipA, ipB, 5353, 53, []byte{0, 1, 2})
	shortIP := ipFrame(t, ipA, ipB, 17, nil, nil)[:ether.HeaderLen+12]
	badTCPSum := segment(t, ipA, ipB, 1, 2, 3, 4, ack, []byte("data"))
	badTCPSum[len(badTCPSum)-1] ^= 1
	deepVLAN := append(ethFrameTags(10), 0x45)

	res, ps := analyzeFrames(badSum, badUDPLen, badArp, goodArp, badDNS, shortIP, badTCPSum, deepVLAN)
	assert.Equal(t, 6, res.RejectedTotal)
	reasons := map[int]string{}
	for _, r := range res.Rejected {
		reasons[r.Frame-1] = r.Reason // frames count from 1
	}
	assert.Contains(t, reasons[0], "checksum")
	assert.True(t, ps[0].Has("udp"), "decoding goes on after a bad header checksum, as in tshark")
	assert.Contains(t, reasons[1], "length")
	assert.Contains(t, reasons[2], "opcode")
	assert.NotContains(t, reasons, 3)
	assert.True(t, ps[3].Has("arp"))
	assert.Contains(t, reasons[4], "dns")
	assert.Contains(t, reasons[5], "truncated")
	assert.NotContains(t, reasons, 6, "a bad TCP checksum is counted, not rejected")
	assert.Equal(t, 1, res.BadChecksums.TCP)
	assert.Equal(t, 1, res.BadChecksums.IPv4)
	assert.Contains(t, reasons[7], "vlan")
	assert.Equal(t, 8, res.Counts.Frames)
}

func TestIPv4Options(t *testing.T) {
	tests := []struct {
		name string
		opts []byte
		ok   bool
	}{
		{"nop and end", []byte{1, 1, 0, 0}, true},
		{"router alert", []byte{148, 4, 0, 0}, true},
		{"record route", []byte{7, 7, 4, 0, 0, 0, 0, 0}, true},
		{"short security", []byte{130, 2, 1, 0}, false},
		{"long router alert", []byte{148, 8, 0, 0, 0, 0, 0, 0}, false},
		{"length past header", []byte{1, 1, 68, 12}, false},
		{"length below 2", []byte{25, 1, 0, 0}, false},
		{"no length", []byte{1, 1, 1, 25}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := udpFrame(t, ipA, ipB, 1, 2, []byte{0})
			// Rebuild with options.
			udpPart := fr[ether.HeaderLen+ipv4.MinHeaderLen:]
			b := ipFrame(t, ipA, ipB, ipv4.ProtoUDP, udpPart, func(f *ipv4.Fields) { f.Options = tt.opts })
			res, ps := analyzeFrames(b)
			assert.True(t, ps[0].Has("ipv4"))
			assert.Equal(t, tt.ok, ps[0].Has("udp"), "decoding stops at a malformed option")
			if tt.ok {
				assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
			} else {
				require.Len(t, res.Rejected, 1)
				assert.Contains(t, res.Rejected[0].Reason, "malformed option")
			}
		})
	}
}

// ethFrameTags returns an Ethernet header followed by n 802.1Q tags.
func ethFrameTags(n int) []byte {
	b := make([]byte, ether.HeaderLen, ether.HeaderLen+4*n+2)
	ether.Encode(b, macB, macA, ether.TypeVLAN)
	for i := range n {
		next := uint16(ether.TypeVLAN)
		if i == n-1 {
			next = uint16(ether.TypeIPv4)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(i+1))
		b = binary.BigEndian.AppendUint16(b, next)
	}
	return b
}

func TestSnappedFrames(t *testing.T) {
	full := segment(t, ipA, ipB, 40000, 80, 1, 1, psh, []byte("GET /a-long-path HTTP/1.1\r\nHost: example\r\n\r\n"))
	cut := full[:ether.HeaderLen+20+20+10]
	a := New()
	f := input.Frame{LinkType: input.LinkEthernet, Data: cut, CapLen: len(cut), OrigLen: len(full)}
	require.NoError(t, input.Normalise(&f))
	p := a.Frame(&f, nil)
	res := a.Result()
	assert.True(t, p.Has("tcp") && p.Has("http"), "a snapped segment is decoded as far as it goes")
	assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
	assert.Equal(t, 1, res.Snapped)
	assert.Zero(t, res.BadChecksums.TCP, "checksums of snapped frames are not checked")
}

func TestRunTruncatedFile(t *testing.T) {
	raw := pcapOf(t, udpFrame(t, ipA, ipB, 1, 53, dnsMsg(t, 1, false, "x.", 0)), segment(t, ipA, ipB, 1, 2, 3, 4, syn, nil))
	r, err := input.NewReader(bytes.NewReader(raw[:len(raw)-3]))
	require.NoError(t, err)
	res, err := Run(r)
	var te *input.TruncatedError
	require.ErrorAs(t, err, &te)
	require.NotNil(t, res)
	assert.Equal(t, 1, res.Counts.Frames)
	assert.Equal(t, 1, res.Counts.DNS)
	require.Len(t, res.Warnings, 1)
	assert.True(t, strings.Contains(res.Warnings[0], "truncated after 1 frames"), res.Warnings[0])
}

func TestCountsGet(t *testing.T) {
	c := Counts{Frames: 1, Ethernet: 2, ARP: 3, IPv4: 4, IPv4Fragments: 5, ICMP: 6, UDP: 7, TCP: 8, DHCP: 9, DNS: 10, HTTP: 11,
		IPv6: 12, ICMPv6: 13, IPv6Fragments: 14}
	for i, n := range CountNames {
		assert.Equal(t, i+1, c.Get(n), n)
	}
	assert.Equal(t, -1, c.Get("sctp"))
	assert.False(t, Protocols(0xffff).Has("frames"))
	assert.True(t, Protocols(1<<9).Has("http"))
}

// FuzzAnalyzeFrame decodes arbitrary bytes as frames of each link type: the
// analysis must never panic, whatever the bytes.
func FuzzAnalyzeFrame(f *testing.F) {
	f.Add(segment(f, ipA, ipB, 40000, 80, 1, 1, psh, []byte("GET / HTTP/1.1\r\n\r\n")), uint8(0))
	f.Add(udpFrame(f, ipA, ipB, 68, 67, dhcpMsg(1, 1, macA, [4]byte{}, 1)), uint8(0))
	f.Add(udpFrame(f, ipA, ipB, 1, 53, []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12}), uint8(0))
	f.Add(ipFrame(f, ipA, ipB, ipv4.ProtoUDP, make([]byte, 16), func(x *ipv4.Fields) { x.MF = true }), uint8(0))
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 44, 64}, uint8(1))
	f.Add([]byte{0, 0, 0, 2, 0x45, 0, 0, 20}, uint8(2))
	links := []input.LinkType{input.LinkEthernet, input.LinkRaw, input.LinkNull, input.LinkSLL, input.LinkSLL2}
	f.Fuzz(func(t *testing.T, data []byte, link uint8) {
		a := New()
		for i := range 3 {
			// The same bytes three times exercise the flow and stream state.
			fr := input.Frame{Index: i, LinkType: links[int(link)%len(links)], Data: data, CapLen: len(data), OrigLen: len(data) + int(link>>4)}
			err := input.Normalise(&fr)
			if err != nil {
				err = &input.FrameError{Index: i, Err: err}
			}
			a.Frame(&fr, err)
		}
		res := a.Result()
		if res.Counts.Frames != 3 {
			t.Fatalf("counted %d frames", res.Counts.Frames)
		}
	})
}
