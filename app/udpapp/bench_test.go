package udpapp

import (
	"net/netip"
	"testing"
)

func BenchmarkFillCheck(b *testing.B) {
	buf := make([]byte, 1472)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Fill(buf, uint64(i))
		if _, ok := Check(buf); !ok {
			b.Fatal("check failed")
		}
	}
}

func BenchmarkSink(b *testing.B) {
	s, err := NewSink(SinkConfig{Name: "s", Port: 9000})
	if err != nil {
		b.Fatal(err)
	}
	src := netip.MustParseAddrPort("10.0.0.1:4000")
	dst := netip.MustParseAddrPort("10.0.0.2:9000")
	buf := make([]byte, 512)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		Fill(buf, uint64(n%maxTrackedSeq))
		s.HandleDatagram(src, dst, buf)
		n++
	}
	b.ReportMetric(float64(s.Result().(SinkResult).Datagrams)/float64(n), "distinct/op")
}
