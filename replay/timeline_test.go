package replay

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/replay/input"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// capture writes Ethernet frames stamped at the given offsets from t0.
func capture(t *testing.T, offsets ...time.Duration) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	for _, off := range offsets {
		frame := make([]byte, 14+20)
		frame[12], frame[13], frame[14] = 0x08, 0x00, 0x45
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(off), CaptureLength: len(frame), Length: len(frame)}
		require.NoError(t, w.WritePacket(ci, frame))
	}
	return buf.Bytes()
}

// TestTimelineFiresTimersBetweenFrames arms timers from the frame handler
// and checks they fire before the first frame stamped after them, at their
// own instant, and that the clock never runs backwards.
func TestTimelineFiresTimersBetweenFrames(t *testing.T) {
	raw := capture(t, 0, 10*time.Millisecond, 5*time.Millisecond, 30*time.Millisecond)
	r, err := input.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	tl := NewTimeline(r)
	var events []string
	var timer clock.Timer
	timer.Init(clock.HandlerFunc(func(now clock.Time) {
		events = append(events, "timer@"+now.Sub(clock.FromTime(t0)).String())
	}))
	err = tl.Run(func(f *input.Frame, err error) {
		require.NoError(t, err)
		now := tl.Clock().Now()
		events = append(events, "frame"+string(rune('0'+f.Index))+"@"+now.Sub(clock.FromTime(t0)).String())
		if f.Index == 0 {
			tl.Clock().Schedule(&timer, now.Add(20*time.Millisecond))
		}
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"frame0@0s", "frame1@10ms", "frame2@10ms", "timer@20ms", "frame3@30ms"}, events)
}

func TestTimelineTruncated(t *testing.T) {
	raw := capture(t, 0, time.Second)
	r, err := input.NewReader(bytes.NewReader(raw[:len(raw)-4]))
	require.NoError(t, err)
	tl := NewTimeline(r)
	n := 0
	err = tl.Run(func(*input.Frame, error) { n++ })
	var te *input.TruncatedError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 1, n)
	assert.Equal(t, clock.FromTime(t0), tl.Clock().Now())
	var f input.Frame
	assert.ErrorAs(t, tl.Next(&f), &te)
}

func TestTimelineEmpty(t *testing.T) {
	r, err := input.NewReader(bytes.NewReader(capture(t)))
	require.NoError(t, err)
	tl := NewTimeline(r)
	var f input.Frame
	assert.Equal(t, io.EOF, tl.Next(&f))
	assert.NoError(t, tl.Run(func(*input.Frame, error) { t.Fatal("no frames expected") }))
}

// TestTimelineBeyondClockRange is part of finding 5 of issue 11: a capture
// stamped after 2262 (beyond an int64 of nanoseconds) still runs on a
// steady clock measured from its first frame, and Std gives back the
// capture's own times.
func TestTimelineBeyondClockRange(t *testing.T) {
	t.Parallel()
	start := time.Date(2500, 6, 1, 12, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for _, off := range []time.Duration{0, 10 * time.Millisecond, 1500 * time.Millisecond} {
		frame := make([]byte, 14+20)
		frame[12], frame[13], frame[14] = 0x08, 0x00, 0x45
		ci := gopacket.CaptureInfo{Timestamp: start.Add(off), CaptureLength: len(frame), Length: len(frame)}
		require.NoError(t, w.WritePacket(ci, frame))
	}
	require.NoError(t, w.Flush())
	r, err := input.NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	tl := NewTimeline(r)
	var offsets []time.Duration
	var stamps []time.Time
	require.NoError(t, tl.Run(func(f *input.Frame, err error) {
		require.NoError(t, err)
		offsets = append(offsets, tl.Clock().Now().Sub(0))
		stamps = append(stamps, tl.Std(tl.Clock().Now()))
	}))
	assert.Equal(t, []time.Duration{0, 10 * time.Millisecond, 1500 * time.Millisecond}, offsets)
	require.Len(t, stamps, 3)
	assert.True(t, start.Add(1500*time.Millisecond).Equal(stamps[2]), "%v", stamps[2])
}
