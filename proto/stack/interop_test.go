package stack

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
)

// TestFramesDecodeInGopacket checks every frame the hosts put on the wire
// (ARP, ping, UDP, fragments, ICMP errors) with gopacket's decoders and
// checksum verification: an independent implementation agrees with ours.
func TestFramesDecodeInGopacket(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	requireBind(t, b, "0.0.0.0:7", &udpRecorder{echo: true})
	cs := requireBind(t, a, "0.0.0.0:5000", &udpRecorder{})
	require.NoError(t, a.Ping(ip(2), 1, 1, []byte("abc")))
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.2:7"), pattern(4000)))
	require.NoError(t, cs.SendTo(netip.MustParseAddrPort("10.0.0.2:8"), []byte("closed")))
	tn.run(5 * time.Second)
	require.Greater(t, len(tn.hub.sent), 10)
	kinds := map[gopacket.LayerType]int{}
	for i, fr := range tn.hub.sent {
		p := gopacket.NewPacket(fr, layers.LayerTypeEthernet, gopacket.Default)
		require.Nil(t, p.ErrorLayer(), "frame %d: %v", i, p.ErrorLayer())
		if l, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			err, res := l.VerifyChecksum()
			require.NoError(t, err)
			assert.True(t, res.Valid, "frame %d: IPv4 checksum", i)
			if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
				require.NoError(t, u.SetNetworkLayerForChecksum(l))
				err, res := u.VerifyChecksum()
				require.NoError(t, err)
				assert.True(t, res.Valid, "frame %d: UDP checksum", i)
			}
		}
		if l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
			err, res := l.VerifyChecksum()
			require.NoError(t, err)
			assert.True(t, res.Valid, "frame %d: ICMP checksum", i)
		}
		for _, l := range p.Layers() {
			kinds[l.LayerType()]++
		}
	}
	assert.Positive(t, kinds[layers.LayerTypeARP])
	assert.Positive(t, kinds[layers.LayerTypeICMPv4])
	assert.Positive(t, kinds[layers.LayerTypeUDP])
	assert.Positive(t, kinds[gopacket.LayerTypeFragment])
}

// TestGopacketFramesAccepted feeds frames serialised by gopacket (with its
// own checksums) to a host.
func TestGopacketFramesAccepted(t *testing.T) {
	tn := newTestNet(t, 1500)
	b := tn.addHost("b", 2)
	srv := &udpRecorder{}
	requireBind(t, b, "0.0.0.0:53", srv)
	var rec echoRecorder
	b.SetEchoReplyHandler(&rec)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip4 := &layers.IPv4{Version: 4, TTL: 33, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}, Id: 5}
	u := &layers.UDP{SrcPort: 1111, DstPort: 53}
	require.NoError(t, u.SetNetworkLayerForChecksum(ip4))
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	require.NoError(t, gopacket.SerializeLayers(buf, opts, eth, ip4, u, gopacket.Payload("query")))
	b.Interfaces()[0].Receive(buf.Bytes(), link.Note{})
	require.Len(t, srv.got, 1)
	assert.Equal(t, []byte("query"), srv.got[0].payload)
	assert.Equal(t, netip.MustParseAddrPort("10.0.0.1:1111"), srv.got[0].src)

	ip4.Protocol = layers.IPProtocolICMPv4
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 9, Seq: 10}
	buf = gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, opts, eth, ip4, ic, gopacket.Payload("pong")))
	b.Interfaces()[0].Receive(buf.Bytes(), link.Note{})
	require.Len(t, rec.got, 1)
	assert.Equal(t, echoReply{ip(1), 9, 10, []byte("pong"), 33}, rec.got[0])
	assert.True(t, bytes.Equal([]byte("pong"), rec.got[0].payload))
}
