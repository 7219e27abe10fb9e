package stack

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/ether"
)

// FuzzHostReceive feeds arbitrary frames to a host that has a UDP echo
// socket, a peer on the link and pending ARP and reassembly state, then
// runs its timers. It must never panic, and reassembly memory must stay
// within its limit and drain to zero after the timeout.
func FuzzHostReceive(f *testing.F) {
	fb := frameBuilder{to: ether.Addr{2, 0, 0, 0, 0, 2}}
	f.Add([]byte{})
	f.Add(fb.echoFrame(ip(2)))
	f.Add(fb.udpFrame(ip(2), 7, []byte("echo me")))
	f.Add(fb.udpFrame(ip(2), 9, []byte("closed")))
	f.Add(fb.udpFrame(netip.MustParseAddr("10.0.0.255"), 7, []byte("bcast")))
	f.Add(fb.ipFrame(99, ip(1), ip(2), []byte("unknown protocol")))
	arpReq := make([]byte, ether.HeaderLen+arp.PacketLen)
	ether.Encode(arpReq, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
	arp.Request(arpReq[ether.HeaderLen:], ether.Addr{2, 0, 0, 0, 0, 1}, ip(1), ip(2))
	f.Add(arpReq)
	for _, fr := range fragmentFrames(f, fb.to, ip(1), ip(2), 3, pattern(100), 32) {
		f.Add(fr)
	}
	f.Add(craftedFragment(f, fb.to, 4, 8, true, make([]byte, 16)))
	f.Add(craftedFragment(f, fb.to, 4, 0, false, make([]byte, 8)))
	// Real frames from the shared captures, readdressed to b.
	for _, fr := range captureSeeds() {
		copy(fr, fb.to[:])
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		tn := newTestNet(t, 1500)
		tn.hub.logSent = false
		a := tn.addHost("a", 1)
		b := tn.addHost("b", 2)
		requireBind(t, b, "0.0.0.0:7", &udpRecorder{echo: true})
		// Pending state: a partial datagram and an unresolved neighbour.
		ifc := b.Interfaces()[0]
		ifc.Receive(craftedFragment(t, ifc.MAC(), 4, 0, true, make([]byte, 16)), link.Note{})
		_ = b.Ping(ip(9), 1, 1, nil)
		// The frame arrives twice, as a link duplicate would deliver it.
		ifc.Receive(frame, link.Note{})
		ifc.Receive(frame, link.Note{})
		if m := b.ReassemblyMemoryInUse(); m > b.Config().ReassemblyMemoryLimit {
			t.Fatalf("reassembly memory %d over the limit", m)
		}
		tn.run(time.Minute)
		if m := b.ReassemblyMemoryInUse(); m != 0 {
			t.Fatalf("reassembly memory %d after the timeout", m)
		}
		if s := a.Stats(); s.FramesIn == 0 {
			t.Fatal("peer saw no frames (announcements at least)")
		}
		if b.depth != 0 {
			t.Fatalf("scratch buffer depth %d after the run", b.depth)
		}
	})
}

// captureSeeds returns the Ethernet frames of a few shared captures, or
// nothing when they are not available.
func captureSeeds() [][]byte {
	dir := filepath.Join("..", "..", "..", "shared", "captures")
	var frames [][]byte
	for _, name := range []string{"arkime__cloudshark-arp.pcap", "pcapplusplus__IPv4Frag.pcap",
		"dpkt__dns_icmp.pcap", "chrissanders__ip_frag_source.pcapng", "arkime__wireshark-dhcp.pcap"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		var src gopacket.PacketDataSource
		if r, err := pcapgo.NewReader(bytes.NewReader(raw)); err == nil {
			src = r
		} else if r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions); err == nil {
			src = r
		} else {
			continue
		}
		for {
			data, _, err := src.ReadPacketData()
			if err != nil {
				break
			}
			if len(data) >= 6 {
				frames = append(frames, data)
			}
		}
	}
	return frames
}
