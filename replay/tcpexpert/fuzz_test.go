package tcpexpert

import (
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/replay/input"
)

// FuzzAnalyzer feeds arbitrary network-layer bytes, as IPv4 and as IPv6,
// through one analyzer: it must never panic, whatever the lengths claim.
func FuzzAnalyzer(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
		0, 80, 0, 81, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}, 100)
	f.Add(make([]byte, 60), 0)
	a := New()
	t0 := time.Unix(0, 0)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		for i, proto := range []ether.EtherType{ether.TypeIPv4, ether.TypeIPv6} {
			fr := input.Frame{Time: t0.Add(time.Duration(i) * time.Millisecond), Proto: proto, Network: b,
				CapLen: len(b), OrigLen: len(b) + cut%2000}
			a.Add(&fr)
		}
	})
}
