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
