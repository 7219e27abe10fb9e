package pcap

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

// end is one end of a two-pipe link: it sends into out and receives from in.
type end struct{ out, in *impair.Pipe }

func (e end) Send(f []byte) link.Note     { return e.out.Send(f) }
func (e end) SetReceiver(r link.Receiver) { e.in.SetReceiver(r) }
func (e end) MTU() int                    { return 1500 }

func TestTapRecordsBothDirections(t *testing.T) {
	sched := clock.NewScheduler(epoch)
	ab, err := impair.New(sched, rng.New(1, "ab"), impair.Config{Delay: time.Millisecond}, nil)
	require.NoError(t, err)
	ba, err := impair.New(sched, rng.New(1, "ba"), impair.Config{Delay: 2 * time.Millisecond}, nil)
	require.NoError(t, err)

	var buf bytes.Buffer
	w, err := NewWriter(&buf, PcapNG)
	require.NoError(t, err)
	tapA, err := NewTap(end{ab, ba}, sched, w, "a:eth0")
	require.NoError(t, err)
	tapB, err := NewTap(end{ba, ab}, sched, w, "b:eth0")
	require.NoError(t, err)
	assert.Equal(t, 1500, tapA.MTU())
	assert.Same(t, w, tapA.Writer())

	// Nothing attached on b yet: the link sees no peer and says so.
	assert.Equal(t, link.DropNoPeer, tapA.Send(udpFrame(10, 1)).Drop)

	var gotB [][]byte
	tapB.SetReceiver(link.ReceiverFunc(func(f []byte, n link.Note) {
		gotB = append(gotB, append([]byte(nil), f...))
		// b answers every frame.
		tapB.Send(udpFrame(30, 9))
	}))
	tapA.SetReceiver(link.ReceiverFunc(func([]byte, link.Note) {}))
	require.NoError(t, ab.SetConfig(impair.Config{Delay: time.Millisecond, Duplicate: 1}))
	note := tapA.Send(udpFrame(20, 2))
	assert.True(t, note.Duplicated)
	for sched.Step() {
	}
	require.Len(t, gotB, 2)
	require.NoError(t, w.Flush())

	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	type rec struct {
		ifc     int
		at      time.Duration
		dir     pcapgo.NgEpbFlag
		comment string
	}
	var got []rec
	for {
		_, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		c := ""
		if len(opts.Comments) > 0 {
			c = opts.Comments[0]
		}
		got = append(got, rec{ci.InterfaceIndex, clock.FromTime(ci.Timestamp).Sub(epoch), opts.Flags.Direction, c})
	}
	out, in := pcapgo.NgEpbFlagDirectionOutbound, pcapgo.NgEpbFlagDirectionInbound
	dup := link.Note{Duplicated: true}.String()
	assert.Equal(t, []rec{
		{0, 0, out, link.Note{Drop: link.DropNoPeer}.String()},
		{0, 0, out, dup},
		{1, time.Millisecond, in, ""},
		{1, time.Millisecond, out, ""},
		{1, time.Millisecond, in, dup},
		{1, time.Millisecond, out, ""},
		{0, 3 * time.Millisecond, in, ""},
		{0, 3 * time.Millisecond, in, ""},
	}, got)

	// Detaching the receiver makes the link drop for lack of a peer again.
	tapB.SetReceiver(nil)
	assert.Equal(t, link.DropNoPeer, tapA.Send(udpFrame(10, 3)).Drop)

	_, err = NewTap(nil, sched, w, "x")
	assert.Error(t, err)
}

// fateEndpoint is an endpoint whose Send leaves every other frame's fate
// pending, reported later through its FateFunc.
type fateEndpoint struct {
	fate   link.FateFunc
	ticket uint64
}

func (e *fateEndpoint) Send(frame []byte) link.Note {
	e.ticket++
	if e.ticket%2 == 0 {
		return link.Note{}
	}
	return link.Note{Ticket: e.ticket}
}
func (e *fateEndpoint) SetReceiver(link.Receiver) {}
func (e *fateEndpoint) MTU() int                  { return 1500 }
func (e *fateEndpoint) SetFate(f link.FateFunc)   { e.fate = f }

// TestTapPendingFates: a frame whose fate is pending is recorded when sent,
// with the note its fate gives, and later records wait so the file stays in
// order; a fate never given leaves the frame commented as still queued.
func TestTapPendingFates(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, PcapNG)
	require.NoError(t, err)
	sched := clock.NewScheduler(clock.Time(1e18))
	ep := &fateEndpoint{}
	tap, err := NewTap(ep, sched, w, "h:eth0")
	require.NoError(t, err)
	require.NotNil(t, ep.fate, "the tap registers for fates")
	frame := make([]byte, 60)
	for i := 0; i < 5; i++ { // tickets 1, 3, 5 pending
		frame[59] = byte(i)
		tap.Send(frame)
		sched.SetNow(sched.Now() + 1000)
	}
	ep.fate(3, link.Note{Drop: link.DropAQM, Qdisc: "codel", Ticket: 3})
	ep.fate(1, link.Note{CE: "codel", Ticket: 1})
	require.NoError(t, w.Close())

	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	var comments []string
	var last int64
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err != nil {
			break
		}
		require.GreaterOrEqual(t, ci.Timestamp.UnixNano(), last)
		last = ci.Timestamp.UnixNano()
		require.Equal(t, byte(len(comments)), data[59], "records in send order")
		c := ""
		if len(opts.Comments) > 0 {
			c = opts.Comments[0]
		}
		comments = append(comments, c)
	}
	assert.Equal(t, []string{
		"simnet: ecn CE marked by codel",
		"",
		"simnet: dropped by link: AQM congestion signal (codel)",
		"",
		StillQueuedComment,
	}, comments)
}
