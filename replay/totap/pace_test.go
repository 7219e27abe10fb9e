package totap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPacerOffsets(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	tests := []struct {
		name string
		rate Rate
		// frames are recorded offsets and sizes (nil: 100 bytes each);
		// NextPass is called before frame passAt when it is positive.
		frames []time.Duration
		sizes  []int
		want   []time.Duration
		passAt int
	}{
		{"recorded pace", Rate{}, []time.Duration{0, 100 * ms, 300 * ms}, nil, []time.Duration{0, 100 * ms, 300 * ms}, 0},
		{"multiplier 2", Rate{Multiplier: 2}, []time.Duration{0, 100 * ms, 300 * ms}, nil, []time.Duration{0, 50 * ms, 150 * ms}, 0},
		{"multiplier 0.5", Rate{Multiplier: 0.5}, []time.Duration{0, 100 * ms}, nil, []time.Duration{0, 200 * ms}, 0},
		{"backwards timestamps wait for nobody", Rate{}, []time.Duration{100 * ms, 50 * ms, 120 * ms}, nil, []time.Duration{0, 0, 20 * ms}, 0},
		{"second pass follows the first", Rate{}, []time.Duration{0, 100 * ms, 0, 30 * ms}, nil, []time.Duration{0, 100 * ms, 100 * ms, 130 * ms}, 2},
		{"second pass at double speed", Rate{Multiplier: 2}, []time.Duration{0, 100 * ms, 0, 30 * ms}, nil, []time.Duration{0, 50 * ms, 50 * ms, 65 * ms}, 2},
		// 1250 bytes are 10,000 bits: 1 ms each at 10 Mbps.
		{"mbps counts the bits before each frame", Rate{Mbps: 10}, []time.Duration{0, 0, 0, 0}, []int{1250, 1250, 2500, 60}, []time.Duration{0, ms, 2 * ms, 4 * ms}, 0},
		{"pps ignores timestamps", Rate{PPS: 1000}, []time.Duration{0, 500 * ms, time.Hour}, nil, []time.Duration{0, ms, 2 * ms}, 0},
		{"topspeed", Rate{Topspeed: true}, []time.Duration{0, time.Hour, 2 * time.Hour}, nil, []time.Duration{0, 0, 0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &Pacer{Rate: tc.rate}
			for i, f := range tc.frames {
				if tc.passAt > 0 && i == tc.passAt {
					p.NextPass()
				}
				size := 100
				if tc.sizes != nil {
					size = tc.sizes[i]
				}
				assert.Equal(t, tc.want[i], p.Offset(t0.Add(f), size), "frame %d", i)
			}
		})
	}
}

// TestPacerNoDrift checks that deadlines are absolute: after 10,000 frames
// at 1000 pps (or 10 s of 1250-byte frames at 10 Mbps) the last deadline is
// exactly 10 s, and a frame handed over late shortens the next wait instead
// of moving the schedule.
func TestPacerNoDrift(t *testing.T) {
	t.Parallel()
	for _, r := range []Rate{{PPS: 1000}, {Mbps: 10}} {
		p := &Pacer{Rate: r}
		var last time.Duration
		for i := 0; i <= 10000; i++ {
			last = p.Offset(t0, 1250)
		}
		assert.Equal(t, 10*time.Second, last, "%v", r)
	}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Pacer{Rate: Rate{PPS: 1000}}
	require.Equal(t, time.Duration(0), p.Due(t0, 60, start, start))
	// Frame 1 is due at 1 ms; we ask 0.7 ms late (at 1.7 ms) for frame 2,
	// due at 2 ms: the wait is 0.3 ms, not a full period.
	p.Offset(t0, 60)
	assert.Equal(t, 300*time.Microsecond, p.Due(t0, 60, start, start.Add(1700*time.Microsecond)))
	// Far behind: due at once.
	assert.Equal(t, time.Duration(0), p.Due(t0, 60, start, start.Add(time.Second)))
}

func TestRateValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Rate
		ok   bool
	}{
		{"recorded", Rate{}, true},
		{"mbps", Rate{Mbps: 10}, true},
		{"pps and mbps", Rate{Mbps: 10, PPS: 5}, false},
		{"topspeed and multiplier", Rate{Topspeed: true, Multiplier: 2}, false},
		{"negative pps", Rate{PPS: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.ok {
				assert.NoError(t, tc.r.Validate())
			} else {
				assert.Error(t, tc.r.Validate())
			}
		})
	}
}
