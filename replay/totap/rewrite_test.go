package totap

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
)

var (
	macA = net.HardwareAddr{2, 0, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
	macN = net.HardwareAddr{2, 0, 0, 0, 0, 0xe}
	ipA  = net.IP{192, 0, 2, 1}
	ipB  = net.IP{192, 0, 2, 2}
	ipN  = net.IP{198, 18, 0, 7}
)

// pkt describes a crafted frame: Ethernet (optionally VLAN-tagged), then
// IPv4 with one of TCP, UDP, ICMP echo, ICMP error; or ARP.
type pkt struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       net.IP
	kind           string // tcp, udp, udp0 (no checksum), echo, unreach, arp, frag
	vlan           bool
	// quoteSrc, quoteDst are the addresses of the IPv4 header an ICMP
	// error quotes.
	quoteSrc, quoteDst net.IP
}

// build serialises p with every checksum computed from scratch.
func (p pkt) build(t testing.TB) []byte {
	t.Helper()
	opts := gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}
	eth := &layers.Ethernet{SrcMAC: p.srcMAC, DstMAC: p.dstMAC, EthernetType: layers.EthernetTypeIPv4}
	ls := []gopacket.SerializableLayer{eth}
	if p.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4})
	}
	if p.kind == "arp" {
		eth.EthernetType = layers.EthernetTypeARP
		ls = append(ls, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPReply,
			SourceHwAddress: p.srcMAC, SourceProtAddress: p.src, DstHwAddress: p.dstMAC, DstProtAddress: p.dst})
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, opts, ls...))
		return buf.Bytes()
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, SrcIP: p.src, DstIP: p.dst}
	ls = append(ls, ip)
	payload := gopacket.Payload("simnet rewrite test payload")
	switch p.kind {
	case "tcp":
		ip.Protocol = layers.IPProtocolTCP
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 2000, ACK: true, PSH: true, Window: 512}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		ls = append(ls, tcp, payload)
	case "udp", "udp0":
		ip.Protocol = layers.IPProtocolUDP
		udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
		require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
		ls = append(ls, udp, payload)
	case "frag":
		// A later fragment: its payload is the middle of a UDP datagram.
		ip.Protocol = layers.IPProtocolUDP
		ip.Flags = layers.IPv4MoreFragments
		ip.FragOffset = 185
		ls = append(ls, payload)
	case "echo":
		ip.Protocol = layers.IPProtocolICMPv4
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}, payload)
	case "unreach":
		ip.Protocol = layers.IPProtocolICMPv4
		q := &layers.IPv4{Version: 4, IHL: 5, TTL: 63, Protocol: layers.IPProtocolUDP, SrcIP: p.quoteSrc, DstIP: p.quoteDst}
		qu := &layers.UDP{SrcPort: 40000, DstPort: 53}
		require.NoError(t, qu.SetNetworkLayerForChecksum(q))
		qb := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(qb, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true},
			q, qu, gopacket.Payload("query")))
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(qb.Bytes()))
	default:
		t.Fatalf("unknown kind %q", p.kind)
	}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, opts, ls...))
	b := buf.Bytes()
	if p.kind == "udp0" {
		off := len(b) - len(payload) - 2
		b[off], b[off+1] = 0, 0
	}
	return b
}

// TestRewriterIncremental rewrites crafted frames and compares them byte
// for byte with the same frames built with the new addresses and checksums
// computed from scratch: the RFC 1624 updates must give the same checksums.
func TestRewriterIncremental(t *testing.T) {
	t.Parallel()
	rw := &Rewriter{
		IP:  map[[4]byte][4]byte{[4]byte(ipA): [4]byte(ipN)},
		MAC: map[ether.Addr]ether.Addr{ether.Addr(macA): ether.Addr(macN)},
	}
	tests := []struct {
		name     string
		in, want pkt
	}{
		{"tcp source", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "tcp"},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "tcp"}},
		{"tcp destination", pkt{srcMAC: macB, dstMAC: macA, src: ipB, dst: ipA, kind: "tcp"},
			pkt{srcMAC: macB, dstMAC: macN, src: ipB, dst: ipN, kind: "tcp"}},
		{"udp", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "udp"},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "udp"}},
		{"udp without checksum keeps none", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "udp0"},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "udp0"}},
		{"vlan-tagged tcp", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "tcp", vlan: true},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "tcp", vlan: true}},
		{"later fragment: only the IP header", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "frag"},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "frag"}},
		{"icmp echo", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "echo"},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "echo"}},
		{"icmp error quoting the rewritten host", pkt{srcMAC: macB, dstMAC: macA, src: ipB, dst: ipA, kind: "unreach", quoteSrc: ipA, quoteDst: ipB},
			pkt{srcMAC: macB, dstMAC: macN, src: ipB, dst: ipN, kind: "unreach", quoteSrc: ipN, quoteDst: ipB}},
		{"arp", pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "arp"},
			pkt{srcMAC: macN, dstMAC: macB, src: ipN, dst: ipB, kind: "arp"}},
		{"other hosts untouched", pkt{srcMAC: macB, dstMAC: macB, src: ipB, dst: ipB, kind: "tcp"},
			pkt{srcMAC: macB, dstMAC: macB, src: ipB, dst: ipB, kind: "tcp"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.in.build(t)
			rw.Rewrite(got)
			assert.Equal(t, tc.want.build(t), got)
		})
	}
}

// TestRewriterFixCsum damages every checksum of crafted frames; --fixcsum
// restores them.
func TestRewriterFixCsum(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"tcp", "udp", "echo", "unreach"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: kind, quoteSrc: ipB, quoteDst: ipA}
			want := p.build(t)
			got := append([]byte(nil), want...)
			got[14+10] ^= 0x55 // IP header checksum
			switch kind {
			case "tcp":
				got[14+20+16] ^= 0x55
			case "udp":
				got[14+20+6] ^= 0x55
			default:
				got[14+20+2] ^= 0x55
			}
			require.NotEqual(t, want, got)
			(&Rewriter{FixCsum: true}).Rewrite(got)
			assert.Equal(t, want, got)
		})
	}
}

// TestRewriterShortFrames feeds cut-off frames: nothing panics and an
// inactive rewriter changes nothing.
func TestRewriterShortFrames(t *testing.T) {
	t.Parallel()
	full := pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: "tcp"}.build(t)
	rw := &Rewriter{IP: map[[4]byte][4]byte{[4]byte(ipA): [4]byte(ipN)}, FixCsum: true}
	for n := 0; n <= len(full); n++ {
		b := append([]byte(nil), full[:n]...)
		rw.Rewrite(b)
	}
	var none *Rewriter
	b := append([]byte(nil), full...)
	none.Rewrite(b)
	assert.Equal(t, full, b)
	assert.False(t, none.Active())
}

// FuzzRewrite feeds arbitrary frames to the rewriter: it must not panic,
// must keep the length, and must change nothing when no address matches
// and FixCsum is off.
func FuzzRewrite(f *testing.F) {
	for _, k := range []string{"tcp", "udp", "echo", "unreach", "arp", "frag"} {
		f.Add(pkt{srcMAC: macA, dstMAC: macB, src: ipA, dst: ipB, kind: k, quoteSrc: ipA, quoteDst: ipB}.build(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, rw := range []*Rewriter{
			{IP: map[[4]byte][4]byte{[4]byte(ipA): [4]byte(ipN)}, MAC: map[ether.Addr]ether.Addr{ether.Addr(macA): ether.Addr(macN)}},
			{IP: map[[4]byte][4]byte{[4]byte(ipA): [4]byte(ipN)}, FixCsum: true},
		} {
			c := append([]byte(nil), b...)
			rw.Rewrite(c)
			require.Len(t, c, len(b))
		}
		other := &Rewriter{IP: map[[4]byte][4]byte{{203, 0, 113, 9}: [4]byte(ipN)}}
		if !bytes.Contains(b, []byte{203, 0, 113, 9}) {
			c := append([]byte(nil), b...)
			other.Rewrite(c)
			require.True(t, bytes.Equal(b, c))
		}
	})
}
