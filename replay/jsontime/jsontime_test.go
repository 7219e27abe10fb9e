package jsontime

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"ordinary", time.Date(2026, 12, 3, 8, 0, 1, 5, time.UTC), `"2026-12-03T08:00:01.000000005Z"`},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), `"0000-01-01T00:00:00Z"`},
		{"year 10001 as tshark prints it", time.Date(10001, 2, 4, 0, 0, 0, 1000, time.UTC), `"10001-02-04T00:00:00.000001Z"`},
		{"leap day far out", time.Date(586524, 2, 29, 23, 59, 59, 0, time.UTC), `"586524-02-29T23:59:59Z"`},
		{"negative year", time.Date(-44, 3, 15, 12, 0, 0, 0, time.UTC), `"-44-03-15T12:00:00Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(Of(tt.at))
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
			var back Time
			require.NoError(t, json.Unmarshal(b, &back))
			assert.True(t, tt.at.Equal(back.Time), "%v != %v", tt.at, back.Time)
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "-", "x-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "12345-01-01"} {
		_, err := Parse(s)
		assert.Error(t, err, s)
	}
	var v Time
	assert.Error(t, json.Unmarshal([]byte(`12`), &v))
}

// FuzzRoundTrip checks that every instant a capture can hold (any 64-bit
// count of nanoseconds, microseconds or seconds) survives JSON.
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(253402300800+86400*400), int64(1000))
	f.Add(int64(-62135596800), int64(999999999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		at := time.Unix(sec, nsec%1e9).UTC()
		b, err := json.Marshal(Of(at))
		if err != nil {
			t.Fatalf("marshal %v: %v", at, err)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !back.Equal(at) {
			t.Fatalf("%s: got %v, want %v", b, back.Time, at)
		}
	})
}
