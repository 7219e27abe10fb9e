package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/link/qdisc"
	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/clock"
)

// timedRecord is a capture record with its timestamp.
type timedRecord struct {
	capRecord
	at time.Time
}

func readTimed(t *testing.T, path string) []timedRecord {
	t.Helper()
	recs := readCapture(t, path)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	out := make([]timedRecord, 0, len(recs))
	for i := 0; ; i++ {
		_, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		out = append(out, timedRecord{capRecord: recs[i], at: ci.Timestamp})
	}
	return out
}

// count returns the records on iface in direction dir whose comment
// contains substr ("" counts them all).
func count(recs []timedRecord, iface string, dir pcapgo.NgEpbFlag, substr string) int {
	n := 0
	for _, r := range recs {
		if r.iface == iface && r.dir == dir && strings.Contains(r.comment, substr) {
			n++
		}
	}
	return n
}

// TestSwitchPortCaptures: a switch's ports are captured, one file per
// switch, so that a frame dropped or reordered by jitter on the direction
// from the switch to a host is commented in the switch's capture (and the
// jittered frames that overtook others also in the host's), matching the
// link's counters.
func TestSwitchPortCaptures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t, Config{Seed: 9, CaptureDir: dir})
	sw, err := w.NewSwitch("sw", SwitchConfig{})
	require.NoError(t, err)
	l1, err := w.ConnectSwitch("l1", Iface{"h1", "eth0"}, sw, LinkConfig{})
	require.NoError(t, err)
	toH2 := impair.Config{Loss: 0.3, Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond}
	l2, err := w.ConnectSwitch("l2", Iface{"h2", "eth0"}, sw, LinkConfig{BtoA: toH2})
	require.NoError(t, err)
	n1 := newNode(w, l1.A(), mac(1), mac(2), 100)
	n2 := newNode(w, l2.A(), mac(2), mac(1), 100)
	n2.start(1, 0) // so the switch learns h2
	w.RunFor(time.Second)
	n1.start(400, time.Millisecond)
	w.RunFor(2 * time.Second)
	require.NoError(t, w.Close())

	st := l2.Stats().BtoA
	require.Positive(t, st.Dropped)
	require.Positive(t, st.Reordered, "4 ms of jitter on frames 1 ms apart reorders some")
	recs := readTimed(t, dir+"/sw.pcapng")
	out := pcapgo.NgEpbFlagDirectionOutbound
	in := pcapgo.NgEpbFlagDirectionInbound
	assert.Equal(t, 400, count(recs, "sw:l1", in, ""), "the switch's capture holds every frame it received")
	assert.Equal(t, int(st.Offered), count(recs, "sw:l2", out, ""))
	assert.Equal(t, int(st.Dropped), count(recs, "sw:l2", out, "dropped by link: random loss"),
		"every frame dropped on the way from the switch to h2 is commented in the switch's capture")
	assert.Equal(t, int(st.Reordered), count(recs, "sw:l2", out, "jitter: overtook"))
	h2 := readTimed(t, w.CapturePath("h2"))
	assert.Equal(t, int(st.Reordered), count(h2, "h2:eth0", in, "jitter: overtook"),
		"the receiver sees which frames jitter made overtake others")
	assert.Equal(t, n2.got, count(h2, "h2:eth0", in, ""))
}

// TestSwitchCaptureOff: CaptureSwitch chooses the switches captured.
func TestSwitchCaptureOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWorld(t, Config{Seed: 1, CaptureDir: dir, CaptureSwitch: func(name string) bool { return name == "keep" }})
	for _, name := range []string{"keep", "skip"} {
		sw, err := w.NewSwitch(name, SwitchConfig{})
		require.NoError(t, err)
		_, err = w.ConnectSwitch("l-"+name, Iface{"h-" + name, "eth0"}, sw, LinkConfig{})
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	_, err := os.Stat(dir + "/keep.pcapng")
	assert.NoError(t, err)
	_, err = os.Stat(dir + "/skip.pcapng")
	assert.True(t, os.IsNotExist(err))
}

// ipSender sends IPv4 frames with ECN codepoint ecn, one every gap.
type ipSender struct {
	w     *World
	ep    link.Endpoint
	frame []byte
	timer clock.Timer
	gap   time.Duration
	left  int
	id    uint16
}

func newIPSender(w *World, ep link.Endpoint, src, dst [6]byte, size int, ecn uint8) *ipSender {
	s := &ipSender{w: w, ep: ep, frame: make([]byte, size)}
	f := s.frame
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:14], 0x0800)
	ip := f[14:]
	ip[0], ip[1], ip[8], ip[9] = 0x45, ecn, 64, 17
	binary.BigEndian.PutUint16(ip[2:4], uint16(size-14))
	copy(ip[12:16], []byte{192, 0, 2, 1})
	copy(ip[16:20], []byte{192, 0, 2, 2})
	binary.BigEndian.PutUint16(ip[20:22], 5000)
	binary.BigEndian.PutUint16(ip[22:24], 9)
	binary.BigEndian.PutUint16(ip[24:26], uint16(size-34))
	s.timer.Init(s)
	ep.SetReceiver(link.ReceiverFunc(func([]byte, link.Note) {}))
	return s
}

func (s *ipSender) start(count int, gap time.Duration) {
	s.left, s.gap = count, gap
	s.w.sched.Schedule(&s.timer, s.w.Now())
}

func (s *ipSender) OnTimer(now clock.Time) {
	s.id++
	ip := s.frame[14:]
	binary.BigEndian.PutUint16(ip[4:6], s.id)
	binary.BigEndian.PutUint16(ip[10:12], 0)
	binary.BigEndian.PutUint16(ip[10:12], checksum.Checksum(ip[:20]))
	s.ep.Send(s.frame)
	if s.left--; s.left > 0 {
		s.w.sched.Schedule(&s.timer, now.Add(s.gap))
	}
}

// TestQdiscFatesInCaptures: frames a queue discipline drops or marks when
// they leave its queue are commented in the capture of the port that sent
// them (recorded when sent, written once their fate is known, the file
// staying in time order), and marked frames in the receiver's capture; the
// comments agree with the link's counters.
func TestQdiscFatesInCaptures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		kind string
		ecn  bool
	}{
		{"codel drops", qdisc.CoDel, false},
		{"codel marks", qdisc.CoDel, true},
		{"fq_codel drops", qdisc.FQCoDel, false},
		{"red marks", qdisc.RED, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w := newWorld(t, Config{Seed: 4, CaptureDir: dir})
			sw, err := w.NewSwitch("sw", SwitchConfig{})
			require.NoError(t, err)
			l1, err := w.ConnectSwitch("l1", Iface{"h1", "eth0"}, sw, LinkConfig{})
			require.NoError(t, err)
			bottleneck := impair.Config{Rate: 1_000_000, Delay: time.Millisecond,
				Params: qdisc.Params{Kind: tc.kind, ECN: tc.ecn}}
			if tc.kind == qdisc.RED {
				bottleneck.Params.Limit, bottleneck.Params.Min, bottleneck.Params.Max = 200, 5, 50
			}
			l2, err := w.ConnectSwitch("l2", Iface{"h2", "eth0"}, sw, LinkConfig{BtoA: bottleneck})
			require.NoError(t, err)
			ecn := uint8(qdisc.NotECT)
			if tc.ecn {
				ecn = qdisc.ECT0
			}
			// 1000-byte frames every 6 ms: 1.33 Mbit/s into 1 Mbit/s,
			// broadcast so the switch floods them to h2.
			s := newIPSender(w, l1.A(), mac(1), broadcast, 1000, ecn)
			h2 := newNode(w, l2.A(), mac(2), mac(1), 64)
			h2.record = true
			s.start(500, 6*time.Millisecond)
			w.RunFor(10 * time.Second) // sent for 3 s, drained by 10 s
			require.NoError(t, w.Close())

			st := l2.Stats().BtoA
			require.NotNil(t, st.Qdisc)
			assert.Equal(t, tc.kind, st.Qdisc.Kind)
			recs := readTimed(t, dir+"/sw.pcapng")
			for i := 1; i < len(recs); i++ {
				require.False(t, recs[i].at.Before(recs[i-1].at), "record %d out of time order", i)
			}
			out := pcapgo.NgEpbFlagDirectionOutbound
			in := pcapgo.NgEpbFlagDirectionInbound
			assert.Equal(t, int(st.Offered), count(recs, "sw:l2", out, ""))
			assert.Equal(t, int(st.DroppedAQM), count(recs, "sw:l2", out, "dropped by link: AQM congestion signal ("+tc.kind+")"))
			assert.Equal(t, int(st.Marked), count(recs, "sw:l2", out, "ecn CE marked by "+tc.kind))
			assert.Equal(t, st.Qdisc.Marks, st.Marked)
			assert.Equal(t, st.Qdisc.Drops, st.DroppedAQM+st.DroppedQueueFull)
			h2recs := readTimed(t, w.CapturePath("h2"))
			assert.Equal(t, int(st.Marked), count(h2recs, "h2:eth0", in, "ecn CE marked by "+tc.kind))
			assert.Equal(t, int(st.Delivered), count(h2recs, "h2:eth0", in, ""))
			if tc.ecn {
				assert.Positive(t, st.Marked)
				assert.Zero(t, st.DroppedAQM)
				for _, n := range h2.notes {
					assert.Equal(t, n.CE != "", n.CE == tc.kind)
				}
			} else {
				assert.Positive(t, st.DroppedAQM)
				assert.Zero(t, st.Marked)
			}
			assert.Positive(t, st.Qdisc.Sojourn.Count)
			assert.Greater(t, st.Qdisc.Sojourn.Max, st.Qdisc.Sojourn.P50)
		})
	}
}

// TestQdiscDeterministic: a world with RED (random draws), CoDel and
// FQ-CoDel (a random hash perturbation) bottlenecks writes byte-identical
// captures for the same seed, and different ones for another seed.
func TestQdiscDeterministic(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) map[string][]byte {
		dir := t.TempDir()
		w := newWorld(t, Config{Seed: seed, CaptureDir: dir})
		sw, err := w.NewSwitch("sw", SwitchConfig{})
		require.NoError(t, err)
		var senders []*ipSender
		for i, kind := range []string{qdisc.RED, qdisc.CoDel, qdisc.FQCoDel} {
			name := "h" + itoa(i)
			cfg := impair.Config{Rate: 1_000_000, Jitter: time.Millisecond, Params: qdisc.Params{Kind: kind}}
			if kind == qdisc.RED {
				cfg.Params.Limit, cfg.Params.Min, cfg.Params.Max = 100, 3, 20
			}
			l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, LinkConfig{BtoA: cfg})
			require.NoError(t, err)
			senders = append(senders, newIPSender(w, l.A(), mac(10+i), broadcast, 800, qdisc.NotECT))
		}
		for i, s := range senders {
			s.start(300, time.Duration(4+i)*time.Millisecond)
		}
		w.RunFor(5 * time.Second)
		require.NoError(t, w.Close())
		files := map[string][]byte{}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			b, err := os.ReadFile(dir + "/" + e.Name())
			require.NoError(t, err)
			files[e.Name()] = b
		}
		return files
	}
	a, b, c := run(5), run(5), run(6)
	require.Len(t, a, 4)
	for name := range a {
		assert.True(t, bytes.Equal(a[name], b[name]), "%s differs between two runs with seed 5", name)
	}
	assert.False(t, bytes.Equal(a["sw.pcapng"], c["sw.pcapng"]), "another seed draws differently")
}
