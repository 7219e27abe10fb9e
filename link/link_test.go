package link

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestNoteMergeAndCarried(t *testing.T) {
	tests := []struct {
		name    string
		own, up Note
		want    Note
		comment string
	}{
		{"nothing", Note{}, Note{}, Note{}, ""},
		{"upstream corruption kept", Note{}, Note{CorruptByte: 20}, Note{CorruptByte: 20},
			"simnet: corrupted by link at byte 19"},
		{"own corruption wins", Note{CorruptByte: 5}, Note{CorruptByte: 20}, Note{CorruptByte: 5},
			"simnet: corrupted by link at byte 4"},
		{"duplicate and hold-back add up", Note{Reordered: true, HeldBack: time.Millisecond},
			Note{Duplicated: true, Reordered: true, HeldBack: 2 * time.Millisecond},
			Note{Duplicated: true, Reordered: true, HeldBack: 3 * time.Millisecond},
			"simnet: duplicated by link; reordered by link (held back 3ms)"},
		{"a drop is not carried", Note{}, Note{Drop: DropLoss, CorruptByte: 3}.Carried(), Note{CorruptByte: 3},
			"simnet: corrupted by link at byte 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.own.Merge(tc.up)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.comment, got.String())
		})
	}
}

func TestDropReasonString(t *testing.T) {
	assert.Equal(t, "queue overflow", DropQueueFull.String())
	assert.Equal(t, "drop reason 200", DropReason(200).String())
	assert.Equal(t, "simnet: dropped by link: link down", Note{Drop: DropLinkDown}.String())
}
