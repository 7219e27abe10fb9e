package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmpv6"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// FuzzIPv6Receive feeds arbitrary IPv6 packets, in frames to the host's
// MAC and to the all-nodes group, to a host running SLAAC with a static
// address, a UDP socket and pending reassembly and resolution state, then
// runs its timers. It must never panic, and reassembly memory must drain.
func FuzzIPv6Receive(f *testing.F) {
	src, dst := netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::b")
	pkt := func(next uint8, payload []byte) []byte {
		b := make([]byte, ipv6.HeaderLen+len(payload))
		copy(b[ipv6.HeaderLen:], payload)
		h, _ := ipv6.Encode(b, &ipv6.Fields{NextHeader: next, HopLimit: 255, Src: src, Dst: dst}, len(payload))
		return h
	}
	echo, _ := icmpv6.Echo(make([]byte, 64), icmpv6.TypeEchoRequest, 1, 1, []byte("ping"), src, dst)
	ns, _ := icmpv6.NeighborSolicitation(make([]byte, 64), src, dst, dst, icmpv6.AppendLinkAddr(nil, icmpv6.OptSourceLinkAddr, ether.Addr{2, 0, 0, 0, 0, 2}))
	f.Add(pkt(ipv6.ProtoICMPv6, echo))
	f.Add(pkt(ipv6.ProtoICMPv6, ns))
	f.Add(pkt(ipv6.ProtoUDP, []byte{0, 1, 0, 7, 0, 12, 0, 0, 'a', 'b', 'c', 'd'}))
	f.Add(pkt(ipv6.ProtoFragment, append([]byte{ipv6.ProtoICMPv6, 0, 0, 1, 0, 0, 0, 9}, echo[:16]...)))
	f.Add(pkt(ipv6.ProtoHopByHop, []byte{ipv6.ProtoNoNext, 0, 0xc2, 4, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, p []byte) {
		tn := newTestNet(t, 1500)
		tn.hub.logSent = false
		b := tn.addHost("b", 2)
		ifc := b.Interfaces()[0]
		ifc.EnableIPv6(netip.MustParsePrefix("2001:db8::b/64"))
		ifc.EnableSLAAC()
		ifc.AdvertisePrefixes(netip.MustParsePrefix("2001:db8:1::/64"))
		requireBind(t, b, "[::]:7", &udpRecorder{echo: true})
		_ = ifc.Ping6(netip.MustParseAddr("2001:db8::99"), 1, 1, nil)
		for _, to := range []ether.Addr{ifc.MAC(), ipv6.MulticastMAC(ipv6.AllNodes)} {
			fr := make([]byte, ether.HeaderLen+len(p))
			ether.Encode(fr, to, ether.Addr{2, 0, 0, 0, 0, 2}, ether.TypeIPv6)
			copy(fr[ether.HeaderLen:], p)
			ifc.Receive(fr, link.Note{})
			ifc.Receive(fr, link.Note{})
		}
		tn.run(2 * time.Minute)
		if m := ifc.v6.reasm.Memory(); m != 0 {
			t.Fatalf("reassembly memory %d after the timeout", m)
		}
	})
}
