package sim

import (
	"encoding/binary"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// mac returns the locally administered unicast address 02:00:00:00:hi:lo.
func mac(i int) [6]byte { return [6]byte{0x02, 0, 0, 0, byte(i >> 8), byte(i)} }

// broadcast is the Ethernet broadcast address.
var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// node is a frame generator standing in for a host: every gap it sends a
// crafted Ethernet frame (EtherType 0x88B5, local experimental) carrying its
// sequence number, and it counts and optionally records what it receives.
type node struct {
	w       *World
	ep      link.Endpoint
	frame   []byte
	timer   clock.Timer
	gap     time.Duration
	left    int
	seq     uint64
	sent    int
	dropped int
	got     int
	record  bool
	seqs    []uint64
	notes   []link.Note
}

func newNode(w *World, ep link.Endpoint, src, dst [6]byte, size int) *node {
	n := &node{w: w, ep: ep, frame: make([]byte, size)}
	copy(n.frame[0:6], dst[:])
	copy(n.frame[6:12], src[:])
	binary.BigEndian.PutUint16(n.frame[12:14], 0x88b5)
	for i := 22; i < size; i++ {
		n.frame[i] = byte(i)
	}
	n.timer.Init(n)
	ep.SetReceiver(n)
	return n
}

// setDst changes the destination address of later frames.
func (n *node) setDst(dst [6]byte) { copy(n.frame[0:6], dst[:]) }

// start sends count frames, the first at once, then one every gap.
func (n *node) start(count int, gap time.Duration) {
	n.left, n.gap = count, gap
	if count > 0 {
		n.w.sched.Schedule(&n.timer, n.w.Now())
	}
}

// sendOne sends one frame now and returns its note.
func (n *node) sendOne() link.Note {
	n.seq++
	binary.BigEndian.PutUint64(n.frame[14:22], n.seq)
	n.sent++
	note := n.ep.Send(n.frame)
	if note.Dropped() {
		n.dropped++
	}
	return note
}

// OnTimer sends the next frame.
func (n *node) OnTimer(now clock.Time) {
	n.sendOne()
	n.left--
	if n.left > 0 {
		n.w.sched.Schedule(&n.timer, now.Add(n.gap))
	}
}

// Receive counts (and records) a frame.
func (n *node) Receive(f []byte, note link.Note) {
	n.got++
	if n.record {
		n.seqs = append(n.seqs, binary.BigEndian.Uint64(f[14:22]))
		n.notes = append(n.notes, note)
	}
}
