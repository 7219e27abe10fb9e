package impair_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
)

// valueCase is one word and what a parser makes of it: want, or an error
// containing err.
type valueCase[T any] struct {
	in   string
	want T
	err  string
}

// runValueCases runs parse on every case as a subtest.
func runValueCases[T any](t *testing.T, parse func(string) (T, error), cases []valueCase[T]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			v, err := parse(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, impair.ErrValue)
				assert.Contains(t, err.Error(), tc.err)
				assert.Zero(t, v)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, v)
		})
	}
}

func TestParseProbability(t *testing.T) {
	runValueCases(t, impair.ParseProbability, []valueCase[float64]{
		{in: "5%", want: 0.05},
		{in: "0.05", want: 0.05},
		{in: " 12.5 % ", want: 0.125},
		{in: "0", want: 0},
		{in: "0%", want: 0},
		{in: "100%", want: 1},
		{in: "1", want: 1},
		{in: "1e-3", want: 0.001},
		{in: "150%", err: `invalid probability "150%" (want 0%..100% or 0..1)`},
		{in: "1.01", err: `invalid probability "1.01"`},
		{in: "-1%", err: `invalid probability "-1%"`},
		{in: "NaN", err: `invalid probability "NaN"`},
		{in: "lots", err: `invalid probability "lots"`},
		{in: "%", err: `invalid probability "%"`},
		{in: "", err: `invalid probability ""`},
		{in: "5%%", err: `invalid probability "5%%"`},
	})
}

func TestParseDuration(t *testing.T) {
	runValueCases(t, impair.ParseDuration, []valueCase[time.Duration]{
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "20ms", want: 20 * time.Millisecond},
		{in: "1.5s", want: 1500 * time.Millisecond},
		{in: "2m", want: 2 * time.Minute},
		{in: "1000h", want: impair.MaxDuration},
		{in: "10", err: `invalid duration "10" (want a number with a unit, e.g. 10ms, 1.5s, 2m)`},
		{in: "", err: `invalid duration ""`},
		{in: "fast", err: `invalid duration "fast"`},
		{in: "-5ms", err: `duration "-5ms" must not be negative`},
		{in: "1001h", err: `duration "1001h" is longer than 1000h0m0s`},
		{in: "9999999999h", err: `invalid duration "9999999999h"`},
	})
}

func TestParseRate(t *testing.T) {
	runValueCases(t, impair.ParseRate, []valueCase[int64]{
		{in: "0", want: 0},
		{in: "9600", want: 9600},
		{in: "10Mbit", want: 10_000_000},
		{in: "10mbps", want: 10_000_000},
		{in: "512kbit", want: 512_000},
		{in: "512 Kbps", want: 512_000},
		{in: "1.5Gbps", want: 1_500_000_000},
		{in: "1GBIT", want: 1_000_000_000},
		{in: "100bit", want: 100},
		{in: "2.7bps", want: 2},
		{in: "1000Gbit", want: 1e12},
		{in: "fast", err: `invalid rate "fast" (want e.g. 10Mbit, 512kbit, 1Gbit; 0 for unlimited)`},
		{in: "0.5bit", err: `invalid rate "0.5bit"`},
		{in: "-1Mbit", err: `invalid rate "-1Mbit"`},
		{in: "1001Gbit", err: `invalid rate "1001Gbit"`},
		{in: "Mbit", err: `invalid rate "Mbit"`},
		{in: "NaNbit", err: `invalid rate "NaNbit"`},
		{in: "", err: `invalid rate ""`},
	})
}

// queue is ParseQueue's result.
type queue struct{ packets, bytes int }

func parseQueue(s string) (queue, error) {
	p, b, err := impair.ParseQueue(s)
	return queue{p, b}, err
}

func TestParseQueue(t *testing.T) {
	runValueCases(t, parseQueue, []valueCase[queue]{
		{in: "64", want: queue{packets: 64}},
		{in: "1", want: queue{packets: 1}},
		{in: "1048576", want: queue{packets: impair.MaxQueuePackets}},
		{in: "64KiB", want: queue{bytes: 64 << 10}},
		{in: "64 KB", want: queue{bytes: 64_000}},
		{in: "1500B", want: queue{bytes: 1500}},
		{in: "2MiB", want: queue{bytes: 2 << 20}},
		{in: "3MB", want: queue{bytes: 3_000_000}},
		{in: "1024MiB", want: queue{bytes: impair.MaxQueueBytes}},
		{in: "0", err: `invalid queue "0" (want packets, e.g. 64, or bytes with a unit: B, KB, KiB, MB, MiB)`},
		{in: "1048577", err: `invalid queue "1048577"`},
		{in: "1025MiB", err: `invalid queue "1025MiB"`},
		{in: "0B", err: `invalid queue "0B"`},
		{in: "12XB", err: `invalid queue "12XB"`},
		{in: "64kib", err: `invalid queue "64kib"`},
		{in: "1.5KB", err: `invalid queue "1.5KB"`},
		{in: "-3", err: `invalid queue "-3"`},
		{in: "", err: `invalid queue ""`},
	})
}

// TestParsedValuesValidate checks that what the parsers accept at their
// bounds is a valid Config (durations also serve for times other than
// delays: Validate bounds a delay by MaxDelay).
func TestParsedValuesValidate(t *testing.T) {
	p, err := impair.ParseProbability("100%")
	require.NoError(t, err)
	d, err := impair.ParseDuration(impair.MaxDelay.String())
	require.NoError(t, err)
	r, err := impair.ParseRate("1000Gbit")
	require.NoError(t, err)
	_, qb, err := impair.ParseQueue("1024MiB")
	require.NoError(t, err)
	c := impair.Config{Loss: p, Delay: d, Rate: r, QueueBytes: qb}
	assert.NoError(t, c.Validate())
}

// FuzzParseValues feeds arbitrary words to every parser: none may panic,
// an error always matches ErrValue, and an accepted value is in range.
func FuzzParseValues(f *testing.F) {
	for _, s := range []string{"5%", "0.05", "100%", "-1", "NaN", "Inf", "1e309", "20ms", "0", "-5ms", "1001h",
		"10Mbit", "1.5Gbps", "0.5bit", "64", "64KiB", "12XB", "", "%", "1e12bit", "9223372036854775807B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if p, err := impair.ParseProbability(s); err == nil {
			assert.True(t, p >= 0 && p <= 1, "probability %v from %q", p, s)
		} else {
			assert.ErrorIs(t, err, impair.ErrValue)
		}
		if d, err := impair.ParseDuration(s); err == nil {
			assert.True(t, d >= 0 && d <= impair.MaxDuration, "duration %v from %q", d, s)
		} else {
			assert.ErrorIs(t, err, impair.ErrValue)
		}
		if r, err := impair.ParseRate(s); err == nil {
			assert.True(t, r >= 0 && r <= impair.MaxRate, "rate %d from %q", r, s)
		} else {
			assert.ErrorIs(t, err, impair.ErrValue)
		}
		if pk, by, err := impair.ParseQueue(s); err == nil {
			assert.True(t, (pk > 0) != (by > 0), "queue %d packets %d bytes from %q", pk, by, s)
			assert.LessOrEqual(t, pk, impair.MaxQueuePackets)
			assert.LessOrEqual(t, by, impair.MaxQueueBytes)
		} else {
			assert.ErrorIs(t, err, impair.ErrValue)
		}
	})
}
