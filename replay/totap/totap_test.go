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

func TestPacer(t *testing.T) {
	tests := []struct {
		name  string
		speed float64
		// frames are recorded offsets; now the wall-clock offsets at which
		// Due is asked; want the waits.
		frames, now, want []time.Duration
	}{
		{"recorded pace", 1, []time.Duration{0, 100, 300}, []time.Duration{0, 10, 320}, []time.Duration{0, 90, 0}},
		{"twice as fast", 2, []time.Duration{0, 100, 300}, []time.Duration{0, 0, 100}, []time.Duration{0, 50, 50}},
		{"half speed", 0.5, []time.Duration{0, 100}, []time.Duration{0, 0}, []time.Duration{0, 200}},
		{"as fast as possible", 0, []time.Duration{0, 100, 300}, []time.Duration{0, 0, 0}, []time.Duration{0, 0, 0}},
		{"backwards timestamps", 1, []time.Duration{100, 50, 120}, []time.Duration{0, 0, 0}, []time.Duration{0, 0, 20}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pacer{Speed: tc.speed}
			wall := time.Date(2030, 5, 5, 0, 0, 0, 0, time.UTC)
			for i := range tc.frames {
				got := p.Due(t0.Add(tc.frames[i]*time.Millisecond), wall.Add(tc.now[i]*time.Millisecond))
				assert.Equal(t, tc.want[i]*time.Millisecond, got, "frame %d", i)
			}
		})
	}
}

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

func pcapOf(t *testing.T, lt layers.LinkType, frames ...[]byte) *input.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	require.NoError(t, w.WriteFileHeader(65536, lt))
	for i, f := range frames {
		ts := t0.Add(time.Duration(i) * time.Millisecond)
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(f), Length: len(f)}, f))
	}
	r, err := input.NewReader(&buf)
	require.NoError(t, err)
	return r
}

func TestReplayEthernet(t *testing.T) {
	a := make([]byte, 60)
	ether.Encode(a, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
	b := make([]byte, 1514)
	ether.Encode(b, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	b[14] = 0x45
	big := make([]byte, 3000)
	ether.Encode(big, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	s := &sink{max: 1514}
	st, err := Replay(context.Background(), pcapOf(t, layers.LinkTypeEthernet, a, b, big), s, &Pacer{})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Frames)
	assert.Equal(t, int64(60+1514), st.Bytes)
	assert.Equal(t, 1, st.Errors, "the device refused the oversized frame")
	require.Len(t, s.frames, 2)
	assert.Equal(t, a, s.frames[0])
	assert.Equal(t, b, s.frames[1])
}

func TestReplayRawIPGetsEthernetHeader(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2}
	s := &sink{max: 1514}
	st, err := Replay(context.Background(), pcapOf(t, layers.LinkTypeRaw, ip), s, &Pacer{})
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
	a := make([]byte, 60)
	ether.Encode(a, ether.Broadcast, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeARP)
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	require.NoError(t, w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: t0, CaptureLength: 60, Length: 60}, a))
	require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Hour), CaptureLength: 60, Length: 60}, a))
	r, err := input.NewReader(&buf)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &sink{max: 1514}
	st, err := Replay(ctx, r, s, &Pacer{Speed: 1})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1, st.Frames, "the first frame is due at once, the second an hour later")
}

func TestToTapErrors(t *testing.T) {
	_, err := ToTap(context.Background(), "/nonexistent/capture.pcap", "tap0", 0)
	assert.Error(t, err)
}
