package tests

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// v6Frame is a frame built for the tshark check and what tshark must see
// in it.
type v6Frame struct {
	name  string
	frame []byte
	// want is what tshark prints for the fields icmpv6.type,
	// ipv6.fraghdr and udp.srcport, e.g. "135,," for a Neighbor
	// Solicitation.
	want string
}

// v6Frames builds IPv6 frames with proto/ipv6 and proto/icmpv6: echo
// (56 bytes and 4000 bytes in fragments), every Neighbor Discovery
// message, errors, and UDP behind a Hop-by-Hop header.
func v6Frames(t *testing.T) []v6Frame {
	t.Helper()
	macA, macB := ether.Addr{2, 0, 0, 0, 0, 0xa}, ether.Addr{2, 0, 0, 0, 0, 0xb}
	a, b := netip.MustParseAddr("2001:db8::a"), netip.MustParseAddr("2001:db8::b")
	llA := ipv6.LinkLocal(ipv6.EUI64(macA))
	var out []v6Frame
	// packet puts payload behind an IPv6 header.
	packet := func(src, dst netip.Addr, hop uint8, next uint8, payload []byte) ipv6.Header {
		buf := make([]byte, ipv6.HeaderLen+len(payload))
		copy(buf[ipv6.HeaderLen:], payload)
		h, err := ipv6.Encode(buf, &ipv6.Fields{NextHeader: next, HopLimit: hop, Src: src, Dst: dst}, len(payload))
		require.NoError(t, err)
		return h
	}
	frame := func(dst ether.Addr, pkt []byte) []byte {
		f := make([]byte, ether.HeaderLen+len(pkt))
		ether.Encode(f, dst, macA, ether.TypeIPv6)
		copy(f[ether.HeaderLen:], pkt)
		return f
	}
	add := func(name string, dst ether.Addr, pkt []byte, want string) {
		out = append(out, v6Frame{name, frame(dst, pkt), want})
	}
	must := func(m icmpv6.Message, err error) icmpv6.Message {
		require.NoError(t, err)
		return m
	}
	icmp := func(src, dst netip.Addr, hop uint8, m icmpv6.Message) ipv6.Header {
		return packet(src, dst, hop, ipv6.ProtoICMPv6, m)
	}
	data := func(n int) []byte {
		d := make([]byte, n)
		for i := range d {
			d[i] = byte(i)
		}
		return d
	}
	buf := func() []byte { return make([]byte, 8192) }

	echo := icmp(a, b, 64, must(icmpv6.Echo(buf(), icmpv6.TypeEchoRequest, 1, 1, data(56), a, b)))
	add("echo 56", macB, echo, "128,,")
	big := icmp(a, b, 64, must(icmpv6.Echo(buf(), icmpv6.TypeEchoRequest, 1, 2, data(4000), a, b)))
	fb := make([]byte, 1500)
	var frags [][]byte
	require.NoError(t, ipv6.Fragment(fb, big, 1500, 0x1234, func(f ipv6.Header) error {
		frags = append(frags, append([]byte(nil), f...))
		return nil
	}))
	require.Len(t, frags, 3)
	for i, f := range frags {
		want := ",ipv6.fraghdr,"
		if i == len(frags)-1 {
			want = "128,ipv6.fraghdr," // tshark reassembles in the last fragment
		}
		add(fmt.Sprintf("echo 4000 fragment %d", i), macB, f, want)
	}
	reply := append([]byte(nil), echo...)
	copy(reply[8:24], echo[24:40])
	copy(reply[24:40], echo[8:24])
	icmpv6.Message(reply[ipv6.HeaderLen:]).SetType(icmpv6.TypeEchoReply)
	add("echo reply in place", macB, reply, "129,,")

	sn := ipv6.SolicitedNode(b)
	sll := icmpv6.AppendLinkAddr(nil, icmpv6.OptSourceLinkAddr, macA)
	add("neighbor solicitation", ipv6.MulticastMAC(sn), icmp(a, sn, 255, must(icmpv6.NeighborSolicitation(buf(), a, sn, b, sll))), "135,,")
	un := netip.IPv6Unspecified()
	add("duplicate address detection", ipv6.MulticastMAC(sn), icmp(un, sn, 255, must(icmpv6.NeighborSolicitation(buf(), un, sn, b, nil))), "135,,")
	tll := icmpv6.AppendLinkAddr(nil, icmpv6.OptTargetLinkAddr, macA)
	add("neighbor advertisement", macB, icmp(a, b, 255, must(icmpv6.NeighborAdvertisement(buf(), a, b, a, icmpv6.FlagSolicited|icmpv6.FlagOverride, tll))), "136,,")
	add("router solicitation", ipv6.MulticastMAC(ipv6.AllRouters), icmp(llA, ipv6.AllRouters, 255, must(icmpv6.RouterSolicitation(buf(), llA, ipv6.AllRouters, sll))), "133,,")
	raOpts := icmpv6.AppendMTU(icmpv6.AppendPrefixInfo(append([]byte(nil), sll...), icmpv6.PrefixInfo{
		Prefix: netip.MustParsePrefix("2001:db8:1::/64"), OnLink: true, Autonomous: true, ValidLifetime: 86400, PreferredLifetime: 14400}), 1500)
	add("router advertisement", ipv6.MulticastMAC(ipv6.AllNodes), icmp(llA, ipv6.AllNodes, 255, must(icmpv6.RouterAdvertisement(buf(), llA, ipv6.AllNodes,
		&icmpv6.RAFields{CurHopLimit: 64, RouterLifetime: 1800 * time.Second}, raOpts))), "134,,")
	add("packet too big", macB, icmp(b, a, 64, must(icmpv6.Error(buf(), icmpv6.TypePacketTooBig, 0, 1280, big, b, a))), "2,,")
	add("port unreachable", macB, icmp(b, a, 64, must(icmpv6.Error(buf(), icmpv6.TypeDestUnreach, icmpv6.CodePortUnreachable, 0, echo, b, a))), "1,,")

	// UDP behind a Hop-by-Hop header with a Router Alert option.
	u := make([]byte, 8+20)
	binary.BigEndian.PutUint16(u[0:], 40000)
	binary.BigEndian.PutUint16(u[2:], 9999)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	copy(u[8:], "simnet ipv6 over udp!")
	binary.BigEndian.PutUint16(u[6:], ipv6.UpperChecksum(a.As16(), b.As16(), ipv6.ProtoUDP, u))
	hbh := []byte{ipv6.ProtoUDP, 0, ipv6.OptRouterAlert, 2, 0, 0, ipv6.OptPadN, 0}
	add("udp behind hop-by-hop", macB, packet(a, b, 64, ipv6.ProtoHopByHop, append(hbh, u...)), ",,40000")
	return out
}

// v6TsharkFilter selects frames tshark finds malformed, with an expert
// error, or with a bad ICMPv6 or UDP checksum.
var v6TsharkFilter = fmt.Sprintf("_ws.malformed || _ws.expert.severity >= %d || icmpv6.checksum.status == 0 || udp.checksum.status == 0", scnExpertError)

// writeV6Capture writes frames to a pcapng file and returns its path.
func writeV6Capture(t *testing.T, frames [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ipv6.pcapng")
	w, err := pcap.Create(path, pcap.PcapNG)
	require.NoError(t, err)
	ifc, err := w.AddInterface("a:eth0")
	require.NoError(t, err)
	for i, f := range frames {
		require.NoError(t, w.WritePacket(ifc, clock.Time(1767225600e9+int64(i)*1e6), pcap.Outbound, f, link.Note{}))
	}
	require.NoError(t, w.Close())
	return path
}

// tsharkV6 runs tshark with UDP checksum validation on path and returns
// the output lines of the given fields for frames matching filter.
func tsharkV6(t *testing.T, tshark, path, filter string, fields ...string) []string {
	t.Helper()
	args := []string{"-n", "-r", path, "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=,", "-E", "occurrence=f"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(tshark, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark: %s", stderr.String())
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// TestTsharkDecodesIPv6Frames writes the IPv6 frames we build to a pcapng
// file and checks that tshark decodes each as intended (ICMPv6 type,
// fragment header, UDP, the fragmented echo reassembled) with no malformed
// frame, no expert error and no bad checksum. A corrupted copy of one frame
// must be flagged, so the check is known to bite.
func TestTsharkDecodesIPv6Frames(t *testing.T) {
	t.Parallel()
	tshark := requireTool(t, "tshark")
	fs := v6Frames(t)
	raw := make([][]byte, len(fs))
	for i, f := range fs {
		raw[i] = f.frame
	}
	t.Run("clean", func(t *testing.T) {
		t.Parallel()
		path := writeV6Capture(t, raw)
		lines := tsharkV6(t, tshark, path, "", "icmpv6.type", "ipv6.fraghdr", "udp.srcport")
		require.Len(t, lines, len(fs))
		for i, f := range fs {
			assert.Equal(t, f.want, lines[i], "frame %d (%s)", i+1, f.name)
		}
		assert.Empty(t, tsharkV6(t, tshark, path, v6TsharkFilter, "frame.number", "_ws.expert.message"))
	})
	t.Run("corruption is caught", func(t *testing.T) {
		t.Parallel()
		bad := append([]byte(nil), raw[0]...)
		bad[len(bad)-1] ^= 0x55
		path := writeV6Capture(t, [][]byte{raw[0], bad})
		assert.Equal(t, []string{"2"}, tsharkV6(t, tshark, path, v6TsharkFilter, "frame.number"))
	})
}
