package diff

import (
	"fmt"

	"github.com/simnet-go/simnet/proto/tcp"
)

// OptionString names a segment's TCP options for Segment.Options, without
// the values that differ between stacks by design (timestamps, SACK block
// edges): "mss=1460,ws=7,sackOK,ts".
func OptionString(o *tcp.Options) string {
	b := make([]byte, 0, 40)
	add := func(s string) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	if o.HasMSS {
		add(fmt.Sprintf("mss=%d", o.MSS))
	}
	if o.HasWScale {
		add(fmt.Sprintf("ws=%d", o.WScale))
	}
	if o.SACKPermitted {
		add("sackOK")
	}
	if o.HasTS {
		add("ts")
	}
	if o.NumSACK > 0 {
		add("sack")
	}
	return string(b)
}

// PayloadSum is Segment.Sum of a payload: FNV-1a over its bytes.
func PayloadSum(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
