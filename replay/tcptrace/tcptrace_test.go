package tcptrace

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pkt is one crafted segment: from the client (c2s) or the server.
type pkt struct {
	at       time.Duration
	c2s      bool
	seq, ack uint32
	syn, fin bool
	ackFlag  bool
	win      uint16
	payload  int
	wscale   int // -1: no option
	sack     [][2]uint32
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writeCapture writes pkts as an Ethernet pcap and returns its path.
func writeCapture(t *testing.T, pkts []pkt) string {
	t.Helper()
	return writeCaptureSnap(t, pkts, 0)
}

// writeCaptureSnap is writeCapture with frames cut to snap bytes (0: whole).
func writeCaptureSnap(t *testing.T, pkts []pkt, snap int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w := pcapgo.NewWriter(f)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	cli, srv := net.IP{192, 0, 2, 1}, net.IP{192, 0, 2, 2}
	for _, p := range pkts {
		src, dst, sp, dp := cli, srv, layers.TCPPort(40000), layers.TCPPort(80)
		if !p.c2s {
			src, dst, sp, dp = srv, cli, 80, 40000
		}
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: sp, DstPort: dp, Seq: p.seq, Ack: p.ack, SYN: p.syn, FIN: p.fin, ACK: p.ackFlag, Window: p.win}
		if p.wscale >= 0 {
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(p.wscale)}})
		}
		if len(p.sack) > 0 {
			var data []byte
			for _, b := range p.sack {
				data = append(data, byte(b[0]>>24), byte(b[0]>>16), byte(b[0]>>8), byte(b[0]), byte(b[1]>>24), byte(b[1]>>16), byte(b[1]>>8), byte(b[1]))
			}
			tcp.Options = append(tcp.Options, layers.TCPOption{OptionType: layers.TCPOptionKindSACK, OptionLength: uint8(2 + len(data)), OptionData: data})
		}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(make([]byte, p.payload))))
		b := buf.Bytes()
		wire := len(b)
		if snap > 0 && len(b) > snap {
			b = b[:snap]
		}
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(p.at), CaptureLength: len(b), Length: wire}, b))
	}
	return path
}

const ms = time.Millisecond

// TestTraceRetransmissionKarnAndWindowScale: a handshake with window
// scaling, three 1000-byte segments, the second lost and resent after a
// SACK; RTT samples only from segments sent once.
func TestTraceRetransmissionKarnAndWindowScale(t *testing.T) {
	t.Parallel()
	const ci, si = 1000, 5000 // ISNs
	path := writeCapture(t, []pkt{
		{at: 0, c2s: true, seq: ci, syn: true, win: 65535, wscale: 7},
		{at: 10 * ms, seq: si, ack: ci + 1, syn: true, ackFlag: true, win: 65535, wscale: 7},
		{at: 20 * ms, c2s: true, seq: ci + 1, ack: si + 1, ackFlag: true, win: 512, wscale: -1},
		{at: 20 * ms, c2s: true, seq: ci + 1, ack: si + 1, ackFlag: true, win: 512, payload: 1000, wscale: -1},
		{at: 21 * ms, c2s: true, seq: ci + 1001, ack: si + 1, ackFlag: true, win: 512, payload: 1000, wscale: -1},
		{at: 22 * ms, c2s: true, seq: ci + 2001, ack: si + 1, ackFlag: true, win: 512, payload: 1000, wscale: -1},
		{at: 30 * ms, seq: si + 1, ack: ci + 1001, ackFlag: true, win: 100, wscale: -1},
		{at: 32 * ms, seq: si + 1, ack: ci + 1001, ackFlag: true, win: 100, wscale: -1, sack: [][2]uint32{{ci + 2001, ci + 3001}}},
		{at: 33 * ms, c2s: true, seq: ci + 1001, ack: si + 1, ackFlag: true, win: 512, payload: 1000, wscale: -1},
		{at: 43 * ms, seq: si + 1, ack: ci + 3001, ackFlag: true, win: 100, wscale: -1},
	})
	flows, err := Read(path, time.Time{})
	require.NoError(t, err)
	require.Len(t, flows, 1)
	f := flows[0]
	assert.Equal(t, "192.0.2.1:40000 -> 192.0.2.2:80", f.Name())
	assert.Equal(t, 10, f.Packets)
	assert.Equal(t, 4000, f.Bytes)
	assert.Equal(t, 1, f.Retransmits)
	require.Len(t, f.Segments, 5, "the SYN and four data segments")
	assert.Equal(t, Segment{T: 0.033, Seq: 1001, End: 2001, Retransmit: true}, f.Segments[4])
	assert.Equal(t, uint64(3001), f.Delivered)
	require.Len(t, f.Acks, 4, "the SYN-ACK and three ACKs")
	assert.Equal(t, uint64(1+65535), f.Acks[0].Window, "a SYN's window is never scaled")
	assert.Equal(t, uint64(1001+100<<7), f.Acks[1].Window, "later windows are scaled by 7")
	assert.Equal(t, [][2]uint64{{2001, 3001}}, f.Acks[2].SACK)
	// Samples: the SYN (10 ms) and the first segment (30-20 = 10 ms). The
	// ACK of 3001 covers the resent second segment: it is ambiguous for
	// the third too (the receiver could not acknowledge it before the
	// resend arrived), so Karn's rule gives no sample.
	var rtts []float64
	for _, s := range f.RTT {
		rtts = append(rtts, float64(time.Duration(s.RTT*float64(time.Second)).Round(time.Microsecond))/float64(ms))
	}
	assert.Equal(t, []float64{10, 10}, rtts)
	assert.InDelta(t, 3001*8/0.043, f.Goodput(), 1)
}

// TestTraceSequenceWrap: sequence numbers that wrap past 2^32 stay
// increasing in the relative space.
func TestTraceSequenceWrap(t *testing.T) {
	t.Parallel()
	var ci uint32 = 0xffffffff - 1500
	var pkts []pkt
	pkts = append(pkts, pkt{at: 0, c2s: true, seq: ci, syn: true, win: 1000, wscale: -1},
		pkt{at: ms, seq: 7, ack: ci + 1, syn: true, ackFlag: true, win: 1000, wscale: -1})
	for i := range uint32(4) {
		pkts = append(pkts, pkt{at: time.Duration(2+i) * ms, c2s: true, seq: ci + 1 + i*1000, ack: 8, ackFlag: true, win: 1000, payload: 1000, wscale: -1})
	}
	pkts = append(pkts, pkt{at: 9 * ms, seq: 8, ack: ci + 4001, ackFlag: true, win: 1000, wscale: -1})
	flows, err := Read(writeCapture(t, pkts), time.Time{})
	require.NoError(t, err)
	require.Len(t, flows, 1)
	f := flows[0]
	require.Len(t, f.Segments, 5)
	for i, s := range f.Segments[1:] {
		assert.Equal(t, uint64(1+i*1000), s.Seq)
		assert.False(t, s.Retransmit)
	}
	assert.Equal(t, uint64(4001), f.Delivered)
	assert.Equal(t, 0, f.Retransmits)
}

// TestTraceDataDirection: the flow's sender is the side with more payload
// (a server answering a short request), and connections without payload
// are left out.
func TestTraceDataDirection(t *testing.T) {
	t.Parallel()
	flows, err := Read(writeCapture(t, []pkt{
		{at: 0, c2s: true, seq: 1, syn: true, win: 1000, wscale: -1},
		{at: ms, seq: 100, ack: 2, syn: true, ackFlag: true, win: 1000, wscale: -1},
		{at: 2 * ms, c2s: true, seq: 2, ack: 101, ackFlag: true, win: 1000, payload: 50, wscale: -1},
		{at: 3 * ms, seq: 101, ack: 52, ackFlag: true, win: 1000, payload: 1400, wscale: -1},
		{at: 4 * ms, c2s: true, seq: 52, ack: 1501, ackFlag: true, win: 1000, wscale: -1},
	}), time.Time{})
	require.NoError(t, err)
	require.Len(t, flows, 1)
	assert.Equal(t, "192.0.2.2:80 -> 192.0.2.1:40000", flows[0].Name())
	assert.Equal(t, 1400, flows[0].Bytes)

	flows, err = Read(writeCapture(t, []pkt{
		{at: 0, c2s: true, seq: 1, syn: true, win: 1000, wscale: -1},
		{at: ms, seq: 100, ack: 2, syn: false, ackFlag: true, win: 0, wscale: -1},
	}), time.Time{})
	require.NoError(t, err)
	assert.Empty(t, flows)
}

// TestTraceSnapLength: frames cut by a 54-byte snapshot length (headers
// only) still count their payload, from the IP total length.
func TestTraceSnapLength(t *testing.T) {
	t.Parallel()
	flows, err := Read(writeCaptureSnap(t, []pkt{
		{at: 0, c2s: true, seq: 1, syn: true, win: 1000, wscale: -1},
		{at: ms, seq: 100, ack: 2, syn: true, ackFlag: true, win: 1000, wscale: -1},
		{at: 2 * ms, c2s: true, seq: 2, ack: 101, ackFlag: true, win: 1000, payload: 1400, wscale: -1},
		{at: 3 * ms, c2s: true, seq: 1402, ack: 101, ackFlag: true, win: 1000, payload: 1400, wscale: -1},
		{at: 4 * ms, seq: 101, ack: 2802, ackFlag: true, win: 1000, wscale: -1},
	}, 54), time.Time{})
	require.NoError(t, err)
	require.Len(t, flows, 1)
	assert.Equal(t, 2800, flows[0].Bytes)
	assert.Equal(t, uint64(2801), flows[0].Delivered)
}

// TestPick checks that each connection is drawn once, from the capture that
// saw its data first, even when two captures disagree on its data direction
// (an echo carries about as much data each way).
func TestPick(t *testing.T) {
	t.Parallel()
	cli := netip.MustParseAddrPort("192.0.2.1:40000")
	srv := netip.MustParseAddrPort("192.0.2.2:7")
	other := netip.MustParseAddrPort("192.0.2.3:80")
	flow := func(src, dst netip.AddrPort, first float64) *Flow {
		return &Flow{Src: src, Dst: dst, First: first, Segments: []Segment{{T: first, Seq: 0, End: 100}}}
	}
	cases := []struct {
		name   string
		per    [][]*Flow
		want   []string
		firsts []float64
	}{
		{
			name:   "same direction in both captures: the earlier copy",
			per:    [][]*Flow{{flow(cli, srv, 0.2)}, {flow(cli, srv, 0.1)}},
			want:   []string{cli.String() + " -> " + srv.String()},
			firsts: []float64{0.1},
		},
		{
			name:   "captures disagree on an echo's direction: one flow",
			per:    [][]*Flow{{flow(cli, srv, 0.1)}, {flow(srv, cli, 0.15)}},
			want:   []string{cli.String() + " -> " + srv.String()},
			firsts: []float64{0.1},
		},
		{
			name:   "two connections stay two, in order of first segment",
			per:    [][]*Flow{{flow(cli, other, 0.3), flow(cli, srv, 0.1)}, {flow(srv, cli, 0.05)}},
			want:   []string{srv.String() + " -> " + cli.String(), cli.String() + " -> " + other.String()},
			firsts: []float64{0.05, 0.3},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Pick(tc.per)
			var names []string
			var firsts []float64
			for _, f := range got {
				names = append(names, f.Name())
				firsts = append(firsts, f.First)
			}
			assert.Equal(t, tc.want, names)
			assert.Equal(t, tc.firsts, firsts)
		})
	}
}
