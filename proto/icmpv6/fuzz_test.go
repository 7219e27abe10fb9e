package icmpv6

import (
	"testing"
)

// FuzzParseND checks that the message view, Neighbor Discovery validation
// and the option walk never panic, and that every option they return lies
// within the message with a non-zero length.
func FuzzParseND(f *testing.F) {
	ns, _ := NeighborSolicitation(make([]byte, 64), hostA, snodeB, hostB, optSLLA)
	ra, _ := RouterAdvertisement(make([]byte, 128), llA, hostB, &RAFields{CurHopLimit: 64},
		AppendMTU(AppendPrefixInfo(nil, PrefixInfo{Prefix: prefix, Autonomous: true}), 1500))
	f.Add([]byte(ns), uint8(255))
	f.Add([]byte(ra), uint8(255))
	f.Add([]byte{136, 0, 0, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, hop uint8) {
		m, err := ParseUnchecked(b)
		if err != nil {
			return
		}
		_ = ValidateND(m, hop, llA, snodeB)
		_ = m.VerifyChecksum(llA, snodeB)
		it := Options(m.NDOptions())
		for o, ok := it.Next(); ok; o, ok = it.Next() {
			if len(o) < 8 || len(o)%8 != 0 {
				t.Fatalf("option of %d bytes", len(o))
			}
			_, _ = o.LinkAddr()
			_, _ = o.PrefixInfo()
			if o.Type() == OptMTU {
				_ = o.MTU()
			}
		}
		if m.Type() == TypeNeighborSolict && len(m) >= NSLen {
			_ = m.Target()
		}
	})
}
