package impair

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// TestDelayLineOrder checks the wheel and overflow heap against a sorted
// reference: frames come out in (instant, sequence) order whatever their
// delays, including delays beyond the wheel's horizon, equal instants, and
// pushes earlier than every frame held.
func TestDelayLineOrder(t *testing.T) {
	horizon := time.Duration(wheelBuckets << wheelShift)
	tests := []struct {
		name  string
		delay func(r *rand.Rand) time.Duration
	}{
		{"constant", func(*rand.Rand) time.Duration { return time.Millisecond }},
		{"jitter", func(r *rand.Rand) time.Duration { return time.Duration(800_000 + r.IntN(400_000)) }},
		{"coarse instants", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(4)) * time.Millisecond }},
		{"zero and tiny", func(r *rand.Rand) time.Duration { return time.Duration(r.IntN(3)) }},
		{"around the horizon", func(r *rand.Rand) time.Duration {
			return horizon - 50*time.Microsecond + time.Duration(r.IntN(100_000))
		}},
		{"mixed near and far", func(r *rand.Rand) time.Duration {
			if r.IntN(4) == 0 {
				return time.Duration(r.Int64N(int64(10 * horizon)))
			}
			return time.Duration(r.IntN(2_000_000))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var d delayLine
			type ref struct {
				at  clock.Time
				seq uint64
			}
			var want, got []ref
			now := epoch
			seq := uint64(0)
			for round := 0; round < 4000; round++ {
				for n := r.IntN(4); n > 0; n-- {
					seq++
					at := now.Add(tt.delay(r))
					d.push(at, seq, held{note: link.Note{Ticket: seq}})
					want = append(want, ref{at, seq})
				}
				now = now.Add(time.Duration(r.IntN(3000)))
				for d.len() > 0 && d.top().at <= now {
					k := d.top()
					e := d.pop()
					require.Equal(t, k.seq, e.note.Ticket, "pop returns the frame of top")
					got = append(got, ref{k.at, k.seq})
				}
			}
			for d.len() > 0 {
				k := d.top()
				d.pop()
				got = append(got, ref{k.at, k.seq})
			}
			sort.Slice(want, func(i, j int) bool {
				return want[i].at < want[j].at || want[i].at == want[j].at && want[i].seq < want[j].seq
			})
			assert.Equal(t, want, got)
			assert.Zero(t, d.inWh)
			assert.Empty(t, d.heap)
		})
	}
}

// TestDelayLineEarlierThanWheel pushes a frame due before every frame in
// the wheel, after the wheel's cursor moved ahead and while the latest frame
// sits at the horizon: it must not be placed where it would alias a later
// bucket.
func TestDelayLineEarlierThanWheel(t *testing.T) {
	width := time.Duration(1 << wheelShift)
	var d delayLine
	d.push(epoch.Add(10*width), 1, held{note: link.Note{Ticket: 1}})
	require.Equal(t, uint64(1), d.top().seq, "top moves the cursor to bucket 10")
	d.push(epoch.Add((wheelBuckets+9)*width), 2, held{note: link.Note{Ticket: 2}})
	d.push(epoch.Add(width), 3, held{note: link.Note{Ticket: 3}})
	d.push(epoch.Add(5*width), 4, held{note: link.Note{Ticket: 4}})
	var order []uint64
	for d.len() > 0 {
		order = append(order, d.pop().note.Ticket)
	}
	assert.Equal(t, []uint64{3, 4, 1, 2}, order)
}
