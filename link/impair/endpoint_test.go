package impair

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
)

// wire is a device-like endpoint: Send records the frame, deliver injects
// one as if it arrived from the network.
type wire struct {
	sent [][]byte
	recv link.Receiver
	mtu  int
}

func (w *wire) Send(f []byte) link.Note {
	w.sent = append(w.sent, append([]byte(nil), f...))
	return link.Note{}
}
func (w *wire) SetReceiver(r link.Receiver) { w.recv = r }
func (w *wire) MTU() int                    { return w.mtu }

func TestWrap(t *testing.T) {
	sched := clock.NewScheduler(epoch)
	out, err := New(sched, rng.New(1, "out"), Config{Delay: time.Millisecond, MTU: 1400}, nil)
	require.NoError(t, err)
	in, err := New(sched, rng.New(1, "in"), Config{Delay: 2 * time.Millisecond, Duplicate: 1}, nil)
	require.NoError(t, err)
	dev := &wire{mtu: 1500}
	ep, err := Wrap(dev, out, in)
	require.NoError(t, err)
	assert.Equal(t, 1400, ep.MTU())

	var got []link.Note
	var at []clock.Time
	ep.SetReceiver(link.ReceiverFunc(func(f []byte, n link.Note) {
		got = append(got, n)
		at = append(at, sched.Now())
	}))
	assert.True(t, ep.Send(frame(64, 1, epoch)).IsZero())
	assert.Empty(t, dev.sent, "held by the out pipe")
	dev.recv.Receive(frame(64, 2, epoch), link.Note{})
	for sched.Step() {
	}
	require.Len(t, dev.sent, 1)
	assert.Equal(t, frame(64, 1, epoch), dev.sent[0])
	assert.Equal(t, []link.Note{{}, {Duplicated: true}}, got)
	assert.Equal(t, []clock.Time{epoch.Add(2 * time.Millisecond), epoch.Add(2 * time.Millisecond)}, at)

	// Detaching passes through to the device.
	ep.SetReceiver(nil)
	assert.Nil(t, dev.recv)

	// Without pipes, the wrapper is transparent.
	plain, err := Wrap(dev, nil, nil)
	require.NoError(t, err)
	plain.Send(frame(64, 3, epoch))
	assert.Len(t, dev.sent, 2)
	var direct int
	plain.SetReceiver(link.ReceiverFunc(func([]byte, link.Note) { direct++ }))
	dev.recv.Receive(frame(64, 4, epoch), link.Note{})
	assert.Equal(t, 1, direct)
	assert.Equal(t, 1500, plain.MTU())

	_, err = Wrap(nil, nil, nil)
	assert.Error(t, err)
}
