package arp

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/simnet-go/simnet/internal/capturetest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
)

var (
	macA = ether.Addr{0x02, 0, 0, 0, 0, 0x0a}
	macB = ether.Addr{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = netip.MustParseAddr("10.0.0.1")
	ipB  = netip.MustParseAddr("10.0.0.2")
)

func TestParse(t *testing.T) {
	good := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x0a, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	mut := func(i int, v byte) []byte {
		b := append([]byte{}, good...)
		b[i] = v
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"request", good, nil},
		{"padded", append(append([]byte{}, good...), make([]byte, 18)...), nil},
		{"reply", mut(7, 2), nil},
		{"truncated", good[:27], ErrTruncated},
		{"empty", nil, ErrTruncated},
		{"htype", mut(1, 6), ErrUnsupported},
		{"ptype", mut(2, 0x86), ErrUnsupported},
		{"hlen", mut(4, 8), ErrUnsupported},
		{"plen", mut(5, 16), ErrUnsupported},
		{"op 0", mut(7, 0), ErrBadOp},
		{"op rarp", mut(7, 3), ErrBadOp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Len(t, p, PacketLen)
			assert.Equal(t, macA, p.SenderHW())
			assert.Equal(t, ipA, p.SenderIP())
			assert.Equal(t, ipB, p.TargetIP())
			assert.Equal(t, ether.Addr{}, p.TargetHW())
		})
	}
}

func TestBuilders(t *testing.T) {
	b := make([]byte, PacketLen)
	p := Request(b, macA, ipA, ipB)
	assert.Equal(t, []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x0a, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}, []byte(p))
	assert.False(t, p.IsGratuitous())
	assert.Equal(t, "request", p.Op().String())

	p = Reply(b, macB, ipB, macA, ipA)
	q, err := Parse(p)
	require.NoError(t, err)
	assert.Equal(t, Fields{Op: OpReply, SenderHW: macB, SenderIP: ipB.As4(), TargetHW: macA, TargetIP: ipA.As4()}, q.Fields())

	p = Gratuitous(b, macA, ipA)
	assert.True(t, p.IsGratuitous())
	assert.Equal(t, OpRequest, p.Op())
	assert.Equal(t, ipA, p.TargetIP())
	assert.True(t, p.TargetHW().IsZero())

	p = Request(b, macA, netip.MustParseAddr("::ffff:10.0.0.1"), netip.Addr{})
	assert.Equal(t, ipA, p.SenderIP())
	assert.Equal(t, netip.MustParseAddr("0.0.0.0"), p.TargetIP())
}

var captureNames = []string{"arkime__cloudshark-arp.pcap", "chrissanders__arp_gratuitous.pcapng",
	"pcapplusplus__ArpRequestWithVlan.pcap", "tcpdump__arp-too-long-tha.pcap", "suricata__detect-arp-03-vlan__input.pcap"}

func TestDifferentialGopacket(t *testing.T) {
	payloads := capturetest.Payloads(capturetest.Frames(t, captureNames...), uint16(ether.TypeARP))
	require.NotEmpty(t, payloads)
	b := make([]byte, PacketLen)
	payloads = append(payloads, append([]byte{}, Gratuitous(b, macA, ipA)...), append([]byte{}, Reply(b, macB, ipB, macA, ipA)...))
	n := 0
	for i, pay := range payloads {
		var g layers.ARP
		gerr := g.DecodeFromBytes(pay, gopacket.NilDecodeFeedback)
		p, err := Parse(pay)
		if err != nil {
			continue // gopacket accepts other hardware types and opcodes
		}
		require.NoError(t, gerr, "payload %d", i)
		n++
		assert.Equal(t, uint16(g.Operation), uint16(p.Op()))
		assert.Equal(t, uint16(g.AddrType), p.HardwareType())
		assert.Equal(t, uint16(g.Protocol), p.ProtocolType())
		sha, tha, spa, tpa := p.SenderHW(), p.TargetHW(), p.SenderIP4(), p.TargetIP4()
		assert.Equal(t, g.SourceHwAddress, sha[:])
		assert.Equal(t, g.DstHwAddress, tha[:])
		assert.Equal(t, g.SourceProtAddress, spa[:])
		assert.Equal(t, g.DstProtAddress, tpa[:])
	}
	assert.GreaterOrEqual(t, n, 4)
}

func FuzzParse(f *testing.F) {
	b := make([]byte, PacketLen)
	f.Add(append([]byte{}, Request(b, macA, ipA, ipB)...))
	f.Add(append([]byte{}, Reply(b, macB, ipB, macA, ipA)...))
	f.Add([]byte{0, 1, 8, 0, 6, 4})
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "captures")); err == nil {
		for _, p := range capturetest.Payloads(capturetest.Frames(f, captureNames...), uint16(ether.TypeARP)) {
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Parse(in)
		if err != nil {
			return
		}
		out := Encode(make([]byte, PacketLen), p.Fields())
		if !bytes.Equal(out, in[:PacketLen]) {
			t.Fatalf("re-encoded %x, parsed %x", []byte(out), in[:PacketLen])
		}
	})
}
