package hostrole

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
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
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/input"
)

var (
	hostMAC = ether.Addr{0x02, 0, 0, 0, 0, 1}
	peerMAC = ether.Addr{0x02, 0, 0, 0, 0, 9}
	gwMAC   = ether.Addr{0x02, 0, 0, 0, 0, 0xfe}
)

// capture collects crafted frames and writes them as a pcap.
type capture struct {
	t   testing.TB
	buf bytes.Buffer
	w   *pcapgo.Writer
	at  time.Time
}

func newCapture(t testing.TB) *capture {
	c := &capture{t: t, at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.w = pcapgo.NewWriterNanos(&c.buf)
	require.NoError(t, c.w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	return c
}

func (c *capture) frame(b []byte) {
	c.at = c.at.Add(time.Millisecond)
	require.NoError(c.t, c.w.WritePacket(gopacket.CaptureInfo{Timestamp: c.at, CaptureLength: len(b), Length: len(b)}, b))
}

func (c *capture) tcp(srcMAC, dstMAC ether.Addr, src, dst netip.AddrPort, f tcp.Fields, payload string) {
	f.SrcPort, f.DstPort = src.Port(), dst.Port()
	b := make([]byte, 1600)
	n, err := tcp.Encode(b[34:], f, nil, []byte(payload), src.Addr(), dst.Addr())
	require.NoError(c.t, err)
	_, err = ipv4.Encode(b[14:], &ipv4.Fields{TTL: 64, Protocol: tcp.ProtocolNumber, Src: src.Addr(), Dst: dst.Addr()}, n)
	require.NoError(c.t, err)
	ether.Encode(b, dstMAC, srcMAC, ether.TypeIPv4)
	c.frame(b[:34+n])
}

func (c *capture) arp(op arp.Op, sha ether.Addr, spa, tpa netip.Addr, dst ether.Addr) {
	b := make([]byte, 14+arp.PacketLen)
	arp.Encode(b[14:], arp.Fields{Op: op, SenderHW: sha, SenderIP: spa.As4(), TargetIP: tpa.As4()})
	ether.Encode(b, dst, sha, ether.TypeARP)
	c.frame(b)
}

func (c *capture) write(dir string) string {
	p := filepath.Join(dir, "in.pcap")
	require.NoError(c.t, os.WriteFile(p, c.buf.Bytes(), 0o644))
	return p
}

// echoCapture is a recorded exchange with a host that runs a TCP echo on
// port 7: handshake, "hello" echoed, close. The recorded host's numbers
// follow ISN 1000 and its ACK policy is ours (immediate ACK of the FIN
// with the echo), so our stack reproduces it.
func echoCapture(t testing.TB) *capture {
	c := newCapture(t)
	host := netip.MustParseAddrPort("192.0.2.1:7")
	peer := netip.MustParseAddrPort("192.0.2.9:40000")
	c.arp(arp.OpRequest, peerMAC, peer.Addr(), host.Addr(), ether.Broadcast)
	c.arp(arp.OpReply, hostMAC, host.Addr(), peer.Addr(), peerMAC)
	c.tcp(peerMAC, hostMAC, peer, host, tcp.Fields{Seq: 500, Flags: tcp.FlagSYN, Window: 65535}, "")
	c.tcp(hostMAC, peerMAC, host, peer, tcp.Fields{Seq: 1000, Ack: 501, Flags: tcp.FlagSYN | tcp.FlagACK, Window: 16384}, "")
	c.tcp(peerMAC, hostMAC, peer, host, tcp.Fields{Seq: 501, Ack: 1001, Flags: tcp.FlagACK, Window: 65535}, "")
	return c
}

func TestLearnProfile(t *testing.T) {
	c := echoCapture(t)
	// An off-subnet peer reached through the gateway, and an ARP request
	// of the host for an address outside its /24.
	far := netip.MustParseAddrPort("203.0.113.5:5555")
	c.tcp(gwMAC, hostMAC, far, netip.MustParseAddrPort("192.0.2.1:7"), tcp.Fields{Seq: 1, Flags: tcp.FlagSYN}, "")
	c.arp(arp.OpRequest, hostMAC, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.3.20"), ether.Broadcast)
	r, err := input.NewReader(bytes.NewReader(c.buf.Bytes()))
	require.NoError(t, err)
	p, err := Learn(r, netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, err)
	assert.Equal(t, hostMAC.String(), p.MAC)
	assert.Equal(t, netip.MustParsePrefix("192.0.2.0/23"), p.Prefix, "widened to hold the ARP target")
	assert.Equal(t, []uint16{7}, p.TCPPorts)
	assert.Equal(t, gwMAC.String(), p.GatewayMAC)
	assert.True(t, p.GatewaySynthetic, "no on-link address seen with the gateway's MAC")
	assert.True(t, p.Prefix.Contains(p.Gateway))
	require.Len(t, p.Neighbors, 1)
	assert.Equal(t, netip.MustParseAddr("192.0.2.9"), p.Neighbors[0].IP)
	assert.Equal(t, peerMAC.String(), p.Neighbors[0].MAC)
	assert.Equal(t, 7, p.Frames)

	r, err = input.NewReader(bytes.NewReader(c.buf.Bytes()))
	require.NoError(t, err)
	_, err = Learn(r, netip.MustParseAddr("198.51.100.1"))
	assert.ErrorContains(t, err, "no frame to or from it")
	_, err = Learn(r, netip.MustParseAddr("ff02::1"))
	assert.ErrorContains(t, err, "not a unicast address")
}

func TestReplayEchoCapture(t *testing.T) {
	c := echoCapture(t)
	host := netip.MustParseAddrPort("192.0.2.1:7")
	peer := netip.MustParseAddrPort("192.0.2.9:40000")
	c.tcp(peerMAC, hostMAC, peer, host, tcp.Fields{Seq: 501, Ack: 1001, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 65535}, "hello")
	// Quick ACK after the handshake, then the echo; the window stays at
	// the reduced value (receiver SWS avoidance, RFC 1122 4.2.3.3).
	c.tcp(hostMAC, peerMAC, host, peer, tcp.Fields{Seq: 1001, Ack: 506, Flags: tcp.FlagACK, Window: 16379}, "")
	c.tcp(hostMAC, peerMAC, host, peer, tcp.Fields{Seq: 1001, Ack: 506, Flags: tcp.FlagACK | tcp.FlagPSH, Window: 16379}, "hello")
	c.tcp(peerMAC, hostMAC, peer, host, tcp.Fields{Seq: 506, Ack: 1006, Flags: tcp.FlagACK, Window: 65535}, "")
	dir := t.TempDir()
	path := c.write(dir)
	out := filepath.Join(dir, "out")
	res, err := Run(path, Config{As: host.Addr(), OutDir: out, EchoPort: 7, TCP: tcp.Config{RecvBuffer: 16384, DisableSACK: true, DisableTimestamps: true, DisableWindowScale: true}})
	require.NoError(t, err)
	assert.Equal(t, 5, res.Stats.Delivered, "ARP request, SYN, ACK, data, ACK")
	assert.Equal(t, 4, res.Stats.Recorded)
	require.Len(t, res.Report.Flows, 1)
	f := res.Report.Flows[0]
	assert.Equal(t, "tcp 192.0.2.1:7 <-> 192.0.2.9:40000", f.Flow)
	assert.Equal(t, 3, f.Matched, "SYN-ACK, ACK and echo")
	// Our SYN-ACK carries an MSS option the crafted one lacks; our stack
	// acknowledges the data on the echo exactly as recorded.
	var sum bytes.Buffer
	require.NoError(t, res.Report.WriteSummary(&sum, 10))
	assert.Equal(t, map[diff.Kind]int{diff.Options: 1}, f.Counts, sum.String())
	for _, name := range []string{CaptureFile, DiffFile, SummaryFile} {
		assert.FileExists(t, filepath.Join(out, name))
	}
	// The output capture interleaves the fed frames and ours.
	r, err := input.Open(filepath.Join(out, CaptureFile))
	require.NoError(t, err)
	defer r.Close()
	var fr input.Frame
	n := 0
	for r.Next(&fr) == nil {
		n++
	}
	assert.Equal(t, res.Stats.Delivered+res.Stats.Sent, n)
}

func TestReplayWithoutServiceAnswersWithReset(t *testing.T) {
	c := echoCapture(t)
	path := c.write(t.TempDir())
	res, err := Run(path, Config{As: netip.MustParseAddr("192.0.2.1")})
	require.NoError(t, err)
	require.Len(t, res.Report.Flows, 1)
	f := res.Report.Flows[0]
	assert.Equal(t, 1, f.Counts[diff.Missing], "no SYN-ACK")
	assert.GreaterOrEqual(t, f.Counts[diff.Extra], 1, "a RST instead")
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Run(filepath.Join(dir, "absent.pcap"), Config{As: netip.MustParseAddr("192.0.2.1")})
	assert.Error(t, err)
	bad := filepath.Join(dir, "bad.pcap")
	require.NoError(t, os.WriteFile(bad, []byte("not a capture at all"), 0o644))
	_, err = Run(bad, Config{As: netip.MustParseAddr("192.0.2.1")})
	assert.ErrorIs(t, err, input.ErrNotCapture)

	// A capture cut in the middle of a record is replayed up to the break.
	c := echoCapture(t)
	b := c.buf.Bytes()
	cut := filepath.Join(dir, "cut.pcap")
	require.NoError(t, os.WriteFile(cut, b[:len(b)-10], 0o644))
	res, err := Run(cut, Config{As: netip.MustParseAddr("192.0.2.1"), EchoPort: 7})
	var te *input.TruncatedError
	assert.ErrorAs(t, err, &te)
	require.NotNil(t, res)
	assert.Equal(t, 4, res.Stats.Frames)
}

// FuzzReplay replays arbitrary capture bytes as host 192.0.2.1 with an echo
// service: errors are fine, panics and hangs are not.
func FuzzReplay(f *testing.F) {
	f.Add(echoCapture(f).buf.Bytes())
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 8<<10 {
			b = b[:8<<10] // above the seeds; each frame is read twice and replayed
		}
		r, err := input.NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		as := netip.MustParseAddr("192.0.2.1")
		p, _ := Learn(r, as)
		if p == nil {
			return
		}
		r, err = input.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("second open failed: %v", err)
		}
		_, _ = Replay(r, p, Config{As: as, EchoPort: 7, Grace: time.Second})
	})
}

func (c *capture) udp(srcMAC, dstMAC ether.Addr, src, dst netip.AddrPort, payload []byte) {
	b := make([]byte, 42+len(payload))
	copy(b[42:], payload)
	_, err := udp.Encode(b[34:], src.Port(), dst.Port(), len(payload))
	require.NoError(c.t, err)
	_, err = ipv4.Encode(b[14:], &ipv4.Fields{TTL: 64, Protocol: 17, Src: src.Addr(), Dst: dst.Addr()}, 8+len(payload))
	require.NoError(c.t, err)
	ether.Encode(b, dstMAC, srcMAC, ether.TypeIPv4)
	c.frame(b)
}

// TestReplayDNS replays a DNS query to a host whose recorded answer came
// from the same zone: our DNS service answers identically, and a flow the
// recorded host opened (its own query to a resolver) is reported with a
// note.
func TestReplayDNS(t *testing.T) {
	z, err := dns.ParseZone(strings.NewReader("$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\nwww A 192.0.2.80\n"), "example.", "example.zone")
	require.NoError(t, err)
	srv, err := dns.NewServer(z)
	require.NoError(t, err)
	q := dns.Msg{Header: dns.Header{ID: 0x1234, RecursionDesired: true},
		Question: []dns.Question{{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET}}}
	query, err := q.Pack()
	require.NoError(t, err)
	answer := append([]byte(nil), srv.Answer(query, dns.UDP)...)
	require.NotEmpty(t, answer)

	host := netip.MustParseAddrPort("192.0.2.1:53")
	peer := netip.MustParseAddrPort("192.0.2.9:33333")
	c := newCapture(t)
	c.udp(peerMAC, hostMAC, peer, host, query)
	c.udp(hostMAC, peerMAC, host, peer, answer)
	c.udp(hostMAC, peerMAC, netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.9:53"), query)
	path := c.write(t.TempDir())
	res, err := Run(path, Config{As: host.Addr(), DNSPort: 53, Zones: []*dns.Zone{z}})
	require.NoError(t, err)
	assert.Equal(t, []uint16{53, 40000}, res.Profile.UDPPorts)
	require.Len(t, res.Report.Flows, 2)
	f := res.Report.Flows[0]
	assert.Equal(t, diff.UDP, f.Proto)
	assert.Equal(t, 1, f.Matched)
	assert.Zero(t, f.Total(), "same answer")
	assert.Empty(t, f.Note)
	client := res.Report.Flows[1]
	assert.Equal(t, 1, client.Counts[diff.Missing])
	assert.Contains(t, client.Note, "opened this flow")
}

// TestLearnSnappedFrames is finding 2 of issue 11: a capture whose
// snapshot length cut the host's frames (here to 40 bytes: Ethernet, the
// IPv4 header and 6 bytes of TCP) still shows the host: its addresses and
// MAC are in the captured headers.
func TestLearnSnappedFrames(t *testing.T) {
	t.Parallel()
	full := echoCapture(t)
	r, err := input.NewReader(bytes.NewReader(full.buf.Bytes()))
	require.NoError(t, err)
	var frames [][]byte
	var f input.Frame
	for r.Next(&f) == nil {
		if f.Proto == ether.TypeIPv4 {
			frames = append(frames, append([]byte(nil), f.Data...))
		}
	}
	require.Len(t, frames, 3)

	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	require.NoError(t, w.WriteFileHeader(40, layers.LinkTypeEthernet))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, fr := range frames {
		at = at.Add(time.Millisecond)
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: 40, Length: len(fr)}, fr[:40]))
	}
	r, err = input.NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	p, err := Learn(r, netip.MustParseAddr("192.0.2.1"))
	require.NoError(t, err, "the host is in the captured headers")
	assert.Equal(t, 3, p.Snapped)
	assert.Equal(t, 1, p.FromHost)
	assert.Equal(t, 2, p.ToHost)
	assert.Equal(t, hostMAC.String(), p.MAC)
	require.Len(t, p.Neighbors, 1)
	assert.Equal(t, peerMAC.String(), p.Neighbors[0].MAC)
}
