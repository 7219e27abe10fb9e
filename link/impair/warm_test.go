package impair

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
)

// TestCursorWalksDeliveryOrder checks that the warming cursor visits the
// wheel's frames in the order pop takes them out, across sparse and dense
// buckets, bitmap words and the wheel's wrap-around.
func TestCursorWalksDeliveryOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   []clock.Time // delivery instants, pushed in this order
		// wheel is how many frames are in the wheel, the first in
		// delivery order; the rest are in the overflow heap.
		wheel int
	}{
		{"one frame", []clock.Time{5000}, 1},
		{"same bucket", []clock.Time{1000, 1001, 1001, 1500}, 4},
		{"out of order in a bucket", []clock.Time{1900, 1100, 1500, 1100}, 4},
		{"sparse buckets", []clock.Time{1 << 10, 70 << 10, 64 << 10, 200 << 10, 63 << 10, 127 << 10, 128 << 10}, 7},
		{"across the wrap", []clock.Time{(wheelBuckets - 2) << 10, (wheelBuckets + 3) << 10, (wheelBuckets - 1) << 10, wheelBuckets << 10}, 4},
		{"beyond the horizon", []clock.Time{1 << 10, 2 << 10, (wheelBuckets + 5) << 10}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var d delayLine
			for i, at := range tc.at {
				d.push(at, uint64(i+1), held{buf: []byte{byte(i)}})
			}
			var walked []byte
			for c := d.ahead(); c.s != nilSlot; {
				walked = append(walked, d.slots[c.s].buf[0])
				if !c.next() {
					break
				}
			}
			var popped []byte
			for d.len() > 0 {
				popped = append(popped, d.pop().buf[0])
			}
			require.Equal(t, popped[:tc.wheel], walked)
		})
	}
}
