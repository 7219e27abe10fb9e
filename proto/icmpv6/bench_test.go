package icmpv6

import "testing"

// BenchmarkEchoVerify measures checksum verification of a 64-byte echo
// request (ping's default), pseudo-header included.
func BenchmarkEchoVerify(b *testing.B) {
	m, err := Echo(make([]byte, 64), TypeEchoRequest, 1, 1, make([]byte, 56), hostA, hostB)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(m)))
	for b.Loop() {
		if !m.VerifyChecksum(hostA, hostB) {
			b.Fatal("bad checksum")
		}
	}
}

// BenchmarkNSParseValidate measures the receive path of a Neighbor
// Solicitation: checksum, validation and finding its link-layer address.
func BenchmarkNSParseValidate(b *testing.B) {
	ns, err := NeighborSolicitation(make([]byte, 64), hostA, snodeB, hostB, optSLLA)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(ns, hostA, snodeB)
		if err != nil {
			b.Fatal(err)
		}
		if err := ValidateND(m, HopLimit, hostA, snodeB); err != nil {
			b.Fatal(err)
		}
		if o, ok := FindOption(m.NDOptions(), OptSourceLinkAddr); !ok || o.Type() != OptSourceLinkAddr {
			b.Fatal("no option")
		}
	}
}
