package totap

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/replay/input"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// sink records what Replay sends; frames longer than max are refused.
type sink struct {
	frames [][]byte
	max    int
}

func (s *sink) Send(frame []byte) link.Note {
	if len(frame) > s.max {
		return link.Note{Drop: link.DropMTU}
	}
	s.frames = append(s.frames, append([]byte(nil), frame...))
	return link.Note{}
}

// pcapOf returns a Source of a pcap holding frames 1 ms apart.
func pcapOf(t *testing.T, lt layers.LinkType, frames ...[]byte) Source {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	require.NoError(t, w.WriteFileHeader(65536, lt))
	for i, f := range frames {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f))
	}
	b := buf.Bytes()
	return func() (*input.Reader, error) { return input.NewReader(bytes.NewReader(b)) }
}

var topspeed = Options{Rate: Rate{Topspeed: true}, Loop: 1}

func TestReplayEthernet(t *testing.T) {
	t.Parallel()
	a := make([]byte, 60)
	ether.Encode(a, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
	b := make([]byte, 1514)
	ether.Encode(b, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	b[14] = 0x45
	big := make([]byte, 3000)
	ether.Encode(big, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	s := &sink{max: 1514}
	st, err := Replay(context.Background(), pcapOf(t, layers.LinkTypeEthernet, a, b, big), s, topspeed)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Frames)
	assert.Equal(t, int64(60+1514), st.Bytes)
	assert.Equal(t, 1, st.Errors, "the device refused the oversized frame")
	require.Len(t, s.frames, 2)
	assert.Equal(t, a, s.frames[0])
	assert.Equal(t, b, s.frames[1])
}

func TestReplayRawIPGetsEthernetHeader(t *testing.T) {
	t.Parallel()
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}
	s := &sink{max: 1514}
	st, err := Replay(context.Background(), pcapOf(t, layers.LinkTypeRaw, ip), s, topspeed)
	require.NoError(t, err)
	require.Equal(t, 1, st.Frames)
	f, err := ether.Parse(s.frames[0])
	require.NoError(t, err)
	assert.Equal(t, ether.Broadcast, f.Dst())
	assert.Equal(t, SourceMAC, f.Src())
	assert.Equal(t, ether.TypeIPv4, f.EtherType())
	assert.Equal(t, ip, f.Payload())
}

func TestReplayCancelled(t *testing.T) {
	t.Parallel()
	a := make([]byte, 60)
	ether.Encode(a, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	require.NoError(t, w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 60, Length: 60}, a))
	require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Hour), CaptureLength: 60, Length: 60}, a))
	b := buf.Bytes()
	src := func() (*input.Reader, error) { return input.NewReader(bytes.NewReader(b)) }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &sink{max: 1514}
	st, err := Replay(ctx, src, s, Options{Loop: 1})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, st.Frames, "the first frame is due at once, the second an hour later")
}

func TestToTapErrors(t *testing.T) {
	t.Parallel()
	_, err := ToTap(context.Background(), "/nonexistent/capture.pcap", "tap0", topspeed)
	assert.Error(t, err)
}

// arpFrame returns a 60-byte ARP frame whose last byte is i.
func arpFrame(i byte) []byte {
	a := make([]byte, 60)
	ether.Encode(a, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
	a[59] = i
	return a
}

func TestReplayLoopLimitDuration(t *testing.T) {
	t.Parallel()
	src := pcapOf(t, layers.LinkTypeEthernet, arpFrame(1), arpFrame(2), arpFrame(3))
	tests := []struct {
		name       string
		o          Options
		wantFrames int
		wantPasses int
		wantLast   byte
	}{
		{"loop 3 sends three times the frames", Options{Rate: Rate{Topspeed: true}, Loop: 3}, 9, 3, 3},
		{"limit stops mid-pass", Options{Rate: Rate{Topspeed: true}, Loop: 3, Limit: 5}, 5, 2, 2},
		{"loop 0 runs until the limit", Options{Rate: Rate{Topspeed: true}, Loop: 0, Limit: 100}, 100, 34, 1},
		// 1000 pps: frames due at 0, 1, 2 ... ms; 25 ms let about 25 go.
		{"duration stops a paced loop", Options{Rate: Rate{PPS: 1000}, Loop: 0, Duration: 25 * time.Millisecond}, -1, -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &sink{max: 1514}
			st, err := Replay(context.Background(), src, s, tc.o)
			require.NoError(t, err)
			if tc.wantFrames < 0 {
				// Frames are due at 0, 1, ... 24 ms; a loaded machine
				// may send fewer, never more.
				assert.Positive(t, st.Frames)
				assert.LessOrEqual(t, st.Frames, 25)
				assert.GreaterOrEqual(t, st.Duration, 25*time.Millisecond)
				assert.Less(t, st.Duration, time.Second)
				return
			}
			assert.Equal(t, tc.wantFrames, st.Frames)
			assert.Equal(t, tc.wantPasses, st.Passes)
			require.Len(t, s.frames, tc.wantFrames)
			assert.Equal(t, tc.wantLast, s.frames[len(s.frames)-1][59])
		})
	}
}

// TestReplayPacedRateAndStats sends 60 frames at 1000 pps: they take 59 ms
// of deadlines (not 60 sleeps' worth of drift), the pacing is measured and
// the periodic stats are called.
func TestReplayPacedRateAndStats(t *testing.T) {
	t.Parallel()
	frames := make([][]byte, 60)
	for i := range frames {
		frames[i] = arpFrame(byte(i))
	}
	var calls []Stats
	o := Options{Rate: Rate{PPS: 1000}, Loop: 1, StatsEvery: 10 * time.Millisecond, OnStats: func(s Stats) { calls = append(calls, s) }}
	st, err := Replay(context.Background(), pcapOf(t, layers.LinkTypeEthernet, frames...), &sink{max: 1514}, o)
	require.NoError(t, err)
	assert.Equal(t, 60, st.Frames)
	assert.GreaterOrEqual(t, st.Duration, 59*time.Millisecond)
	assert.Less(t, st.Duration, 59*time.Millisecond+200*time.Millisecond, "deadlines are absolute")
	assert.Positive(t, st.MaxLate, "lateness is measured")
	assert.LessOrEqual(t, st.MeanLate, st.MaxLate)
	// A loaded machine may wake late and skip intervals, never add any.
	require.NotEmpty(t, calls)
	assert.LessOrEqual(t, len(calls), int(st.Duration/(10*time.Millisecond)))
	for i, c := range calls {
		assert.GreaterOrEqual(t, c.Duration, time.Duration(i+1)*10*time.Millisecond, "call %d", i)
		assert.Less(t, c.Frames, 60, "call %d comes before the end", i)
	}
}

func TestReplayRewrites(t *testing.T) {
	t.Parallel()
	a := arpFrame(1)
	rw := &Rewriter{MAC: map[ether.Addr]ether.Addr{{2, 0, 0, 0, 0, 1}: {2, 0, 0, 0, 0, 9}}}
	s := &sink{max: 1514}
	_, err := Replay(context.Background(), pcapOf(t, layers.LinkTypeEthernet, a), s, Options{Rate: Rate{Topspeed: true}, Loop: 2, Rewrite: rw})
	require.NoError(t, err)
	require.Len(t, s.frames, 2)
	for _, f := range s.frames {
		assert.Equal(t, ether.Addr{2, 0, 0, 0, 0, 9}, ether.Frame(f).Src())
	}
}
