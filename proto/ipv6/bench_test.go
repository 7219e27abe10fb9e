package ipv6

import (
	"testing"

	"github.com/simnet-go/simnet/proto/clock"
)

// BenchmarkParseWalk measures the receive path's header work: Parse and
// Walk over a packet with a Hop-by-Hop header, as MLD reports carry.
func BenchmarkParseWalk(b *testing.B) {
	pkt := packet(b, ProtoHopByHop, cat(opts(ProtoUDP, OptRouterAlert, 2, 0, 0), udp(64)))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		h, err := Parse(pkt)
		if err != nil {
			b.Fatal(err)
		}
		if c, err := Walk(h); err != nil || c.Proto != ProtoUDP {
			b.Fatal(c, err)
		}
	}
}

// BenchmarkUpperChecksum measures the pseudo-header checksum over a
// 1460-byte upper-layer packet.
func BenchmarkUpperChecksum(b *testing.B) {
	u := udp(1452)
	src, dst := srcA.As16(), dstA.As16()
	b.ReportAllocs()
	b.SetBytes(int64(len(u)))
	for b.Loop() {
		if !VerifyUpper(src, dst, ProtoUDP, u) {
			b.Fatal("bad checksum")
		}
	}
}

// BenchmarkPseudoHeaderSum measures the pseudo-header sum alone.
func BenchmarkPseudoHeaderSum(b *testing.B) {
	src, dst := srcA.As16(), dstA.As16()
	var s uint16
	for b.Loop() {
		s += PseudoHeaderSum(src, dst, ProtoTCP, 1460)
	}
	_ = s
}

// BenchmarkFragmentReassemble measures fragmenting a 4000-byte packet at
// the IPv6 minimum MTU and reassembling it.
func BenchmarkFragmentReassemble(b *testing.B) {
	pkt := packet(b, ProtoUDP, udp(4000))
	r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
	buf := make([]byte, MinMTU)
	var id uint32
	emit := func(f Header) error {
		c, err := Walk(f)
		if err != nil {
			return err
		}
		_, err = r.Add(f, c)
		return err
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		id++
		if err := Fragment(buf, pkt, MinMTU, id, emit); err != nil {
			b.Fatal(err)
		}
	}
}
