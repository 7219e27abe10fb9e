package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/clock"
)

func newWorld(t testing.TB, cfg Config) *World {
	t.Helper()
	w, err := New(cfg)
	require.NoError(t, err)
	return w
}

func TestWorldClockAndEvents(t *testing.T) {
	w := newWorld(t, Config{Seed: 7})
	assert.Equal(t, Epoch, w.Now())
	assert.Equal(t, "2026-01-01T00:00:00Z", w.Now().String())
	var order []string
	w.After(2*time.Second, func(now clock.Time) { order = append(order, "b@"+now.Sub(Epoch).String()) })
	w.At(Epoch.Add(time.Second), func(clock.Time) { order = append(order, "a") })
	w.At(Epoch.Add(2*time.Second), func(clock.Time) { order = append(order, "c") })
	assert.Equal(t, 1, w.RunFor(1500*time.Millisecond))
	assert.Equal(t, 1500*time.Millisecond, w.Elapsed())
	assert.True(t, w.Step())
	assert.True(t, w.Step())
	assert.False(t, w.Step())
	assert.Equal(t, []string{"a", "b@2s", "c"}, order, "same instant: scheduling order")
	assert.Equal(t, uint64(7), w.Seed())
	assert.Equal(t, w.Rand("x").Uint64(), w.Rand("x").Uint64())
	assert.NotEqual(t, w.Rand("x").Uint64(), w.Rand("y").Uint64())

	start := Epoch.Add(time.Hour)
	w2 := newWorld(t, Config{Start: start})
	assert.Equal(t, start, w2.Now())
	w2.Run(start.Add(time.Minute))
	assert.Equal(t, start.Add(time.Minute), w2.Now())
}

func TestPointToPointLink(t *testing.T) {
	w := newWorld(t, Config{Seed: 1})
	l, err := w.Connect("l1", Iface{"a", "eth0"}, Iface{"b", "eth0"}, LinkConfig{
		AtoB: impair.Config{Delay: 10 * time.Millisecond},
		BtoA: impair.Config{Delay: 20 * time.Millisecond},
	})
	require.NoError(t, err)
	assert.Equal(t, DefaultMTU, l.A().MTU())
	assert.Equal(t, DefaultMTU, l.Pipe(AtoB).MTU(), "the link MTU applies to each direction")
	a := newNode(w, l.A(), mac(1), mac(2), 100)
	b := newNode(w, l.B(), mac(2), mac(1), 100)
	a.record, b.record = true, true
	a.start(10, time.Millisecond)
	b.start(5, time.Millisecond)
	w.RunFor(15 * time.Millisecond)
	assert.Equal(t, 6, b.got, "frames sent at 0..5 ms arrived after 10 ms")
	assert.Zero(t, a.got)
	w.RunFor(time.Second)
	assert.Equal(t, 10, b.got)
	assert.Equal(t, 5, a.got)
	assert.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, b.seqs)

	// Oversized frames are dropped by the MTU.
	big := newNode(w, l.A(), mac(1), mac(2), 14+1501)
	assert.Equal(t, link.DropMTU, big.sendOne().Drop)

	st := w.Stats()
	require.Len(t, st.Links, 1)
	ls := st.Links[0]
	assert.Equal(t, "l1", ls.Name)
	assert.Equal(t, "a:eth0", ls.A)
	assert.Equal(t, "b:eth0", ls.B)
	assert.True(t, ls.Up)
	assert.Equal(t, uint64(11), ls.AtoB.Offered)
	assert.Equal(t, uint64(10), ls.AtoB.Delivered)
	assert.Equal(t, uint64(1), ls.AtoB.DroppedMTU)
	assert.Equal(t, uint64(5), ls.BtoA.Delivered)
	assert.Same(t, l, w.Link("l1"))
	assert.Nil(t, w.Link("nope"))
	assert.Len(t, w.Links(), 1)
	require.NoError(t, w.Close())
}

func TestScheduledLinkEvents(t *testing.T) {
	w := newWorld(t, Config{Seed: 1})
	l, err := w.Connect("l1", Iface{"a", "eth0"}, Iface{"b", "eth0"}, LinkConfig{AtoB: impair.Config{Delay: 5 * time.Millisecond}})
	require.NoError(t, err)
	a := newNode(w, l.A(), mac(1), mac(2), 64)
	b := newNode(w, l.B(), mac(2), mac(1), 64)
	b.record = true
	// Frames every 10 ms from 0 to 990 ms; down over [102 ms, 300 ms),
	// lossless until 500 ms, then every frame lost.
	l.ScheduleUp(Epoch.Add(102*time.Millisecond), false)
	l.ScheduleUp(Epoch.Add(300*time.Millisecond), true)
	require.NoError(t, l.ScheduleImpair(Epoch.Add(500*time.Millisecond), AtoB, impair.Config{Loss: 1}))
	assert.Error(t, l.ScheduleImpair(Epoch, AtoB, impair.Config{Loss: 3}), "validated when scheduled")
	a.start(100, 10*time.Millisecond)
	w.RunFor(2 * time.Second)
	// Sent at 0..90 ms arrive (the one sent at 100 ms is still in flight
	// at 102 ms and is lost); 110..290 ms are dropped; 300..490 ms arrive.
	var want []uint64
	for i := uint64(1); i <= 10; i++ {
		want = append(want, i)
	}
	for i := uint64(31); i <= 50; i++ {
		want = append(want, i)
	}
	assert.Equal(t, want, b.seqs)
	c := l.Stats().AtoB
	assert.Equal(t, uint64(20), c.DroppedLinkDown, "19 offered while down and 1 in flight")
	assert.Equal(t, uint64(50), c.DroppedLoss)
	assert.Equal(t, 1.0, l.Pipe(AtoB).Config().Loss)
	assert.Equal(t, DefaultMTU, l.Pipe(AtoB).Config().MTU, "changes keep the link MTU")
	require.NoError(t, l.SetImpair(BtoA, impair.Config{Delay: time.Second}))
	assert.Error(t, l.SetImpair(BtoA, impair.Config{Delay: -1}))
	l.SetUp(false)
	assert.False(t, l.Stats().Up)
	assert.Equal(t, link.DropLinkDown, a.sendOne().Drop)
}

// switched builds n nodes on one switch, each on its own link.
func switched(t testing.TB, w *World, n int, cfg LinkConfig) (*Switch, []*node) {
	t.Helper()
	sw, err := w.NewSwitch("sw", SwitchConfig{})
	require.NoError(t, err)
	nodes := make([]*node, n)
	for i := range nodes {
		name := "h" + itoa(i)
		l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, cfg)
		require.NoError(t, err)
		nodes[i] = newNode(w, l.A(), mac(i+1), broadcast, 64)
		nodes[i].record = true
	}
	return sw, nodes
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestSwitchLearning(t *testing.T) {
	w := newWorld(t, Config{Seed: 1})
	sw, n := switched(t, w, 3, LinkConfig{AtoB: impair.Config{Delay: time.Millisecond}, BtoA: impair.Config{Delay: time.Millisecond}})
	deliveries := func() [3]int { return [3]int{n[0].got, n[1].got, n[2].got} }

	// Unknown destination: flooded to every port but the ingress one.
	n[0].setDst(mac(2))
	n[0].sendOne()
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{0, 1, 1}, deliveries())
	port, ok := sw.Lookup(mac(1))
	require.True(t, ok)
	assert.Equal(t, 0, port)

	// The reply goes to the learned port only, and then so does traffic
	// to the learned host.
	n[1].setDst(mac(1))
	n[1].sendOne()
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{1, 1, 1}, deliveries())
	n[0].sendOne()
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{1, 2, 1}, deliveries())

	// Broadcast floods.
	n[2].setDst(broadcast)
	n[2].sendOne()
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{2, 3, 1}, deliveries())

	// A learned address ages out and is flooded again.
	w.RunFor(DefaultAging)
	n[2].setDst(mac(1))
	n[2].sendOne()
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{3, 4, 1}, deliveries())
	_, ok = sw.Lookup(mac(2))
	assert.False(t, ok)

	// Runts are counted and dropped.
	sw.forward(0, make([]byte, 10), link.Note{})
	st := sw.Stats()
	assert.Equal(t, SwitchStats{Name: "sw", Ports: 3, Forwarded: 2, Flooded: 3, Runts: 1, Learned: 3, Aged: 1, Table: 2}, st)
}

func TestSwitchNeverSendsBackOutOfIngress(t *testing.T) {
	// h1 and h2 on sw1; sw1 uplinked to sw2 with h3. Once sw2 has learned
	// that h1 and h2 are behind its uplink, a frame between them that sw1
	// floods is filtered by sw2, and h3 does not see it.
	w := newWorld(t, Config{Seed: 1})
	sw1, err := w.NewSwitch("sw1", SwitchConfig{Aging: time.Minute})
	require.NoError(t, err)
	sw2, err := w.NewSwitch("sw2", SwitchConfig{})
	require.NoError(t, err)
	var n []*node
	for i, sw := range []*Switch{sw1, sw1, sw2} {
		name := "h" + itoa(i+1)
		l, err := w.ConnectSwitch("l"+name, Iface{name, "eth0"}, sw, LinkConfig{})
		require.NoError(t, err)
		n = append(n, newNode(w, l.A(), mac(i+1), broadcast, 64))
	}
	_, err = w.ConnectSwitches("up", sw1, sw2, LinkConfig{})
	require.NoError(t, err)
	n[0].sendOne() // broadcast: everyone learns h1
	n[1].sendOne() // broadcast: everyone learns h2
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{1, 1, 2}, [3]int{n[0].got, n[1].got, n[2].got})
	// sw1 forgets h2 (aging 1 min) while sw2 keeps it.
	w.RunFor(2 * time.Minute)
	n[0].setDst(mac(2))
	n[0].sendOne()
	w.RunFor(time.Second)
	assert.Equal(t, [3]int{1, 2, 2}, [3]int{n[0].got, n[1].got, n[2].got})
	assert.Equal(t, uint64(1), sw2.Stats().Filtered)
	assert.Equal(t, 2, sw2.Stats().Ports)
}

func TestNamesAreChecked(t *testing.T) {
	w := newWorld(t, Config{CaptureDir: t.TempDir()})
	for _, bad := range []string{"", "../etc", "a/b", ".hidden", "x y", "a:b", strings.Repeat("x", 65), "a\x00b"} {
		_, err := w.Connect("l", Iface{bad, "eth0"}, Iface{"b", "eth0"}, LinkConfig{})
		assert.Error(t, err, "host %q", bad)
		_, err = w.Connect("l", Iface{"a", bad}, Iface{"b", "eth0"}, LinkConfig{})
		assert.Error(t, err, "iface %q", bad)
		_, err = w.NewLink(bad, LinkConfig{})
		assert.Error(t, err, "link %q", bad)
		_, err = w.NewSwitch(bad, SwitchConfig{})
		assert.Error(t, err, "switch %q", bad)
	}
	_, err := w.Connect("l", Iface{"a", "eth0"}, Iface{"b", "eth0"}, LinkConfig{})
	require.NoError(t, err)
	_, err = w.Connect("l", Iface{"c", "eth0"}, Iface{"d", "eth0"}, LinkConfig{})
	assert.ErrorContains(t, err, "name already used")
	_, err = w.Connect("l2", Iface{"a", "eth0"}, Iface{"d", "eth0"}, LinkConfig{})
	assert.ErrorContains(t, err, "already attached")
	_, err = w.Connect("l3", Iface{"e", "eth0"}, Iface{"e", "eth0"}, LinkConfig{})
	assert.ErrorContains(t, err, "both ends")
	_, err = w.NewSwitch("l", SwitchConfig{})
	assert.ErrorContains(t, err, "name already used")
	_, err = w.NewLink("neg", LinkConfig{MTU: -1})
	assert.Error(t, err)
	_, err = w.NewLink("badimpair", LinkConfig{BtoA: impair.Config{Loss: 2}})
	assert.ErrorContains(t, err, "b>a")
	_, err = w.NewLink("badimpair", LinkConfig{})
	assert.NoError(t, err, "a rejected link does not keep its name")
	require.NoError(t, w.Close())
	entries, err := os.ReadDir(w.cfg.CaptureDir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"a.pcapng", "b.pcapng"}, names)

	_, err = New(Config{CaptureFormat: pcap.Format(7)})
	assert.Error(t, err)
}

// buildImpaired is the determinism scenario: two hosts on a heavily
// impaired link, and three on a switch with lossy links, exchanging crafted
// frames for ten virtual seconds.
func buildImpaired(t testing.TB, w *World) []*node {
	t.Helper()
	imp := impair.Config{Loss: 0.05, Burst: impair.GilbertElliott{P: 0.01, R: 0.3, LossBad: 1},
		Delay: 5 * time.Millisecond, Jitter: 3 * time.Millisecond, Duplicate: 0.02, Corrupt: 0.02,
		Reorder: 0.02, ReorderDelay: 4 * time.Millisecond, Rate: 2_000_000, QueuePackets: 8}
	l, err := w.Connect("p2p", Iface{"alice", "eth0"}, Iface{"bob", "eth0"}, LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	a := newNode(w, l.A(), mac(1), mac(2), 200)
	b := newNode(w, l.B(), mac(2), mac(1), 120)
	a.start(2000, 500*time.Microsecond)
	b.start(1000, time.Millisecond)
	_, ns := switched(t, w, 3, LinkConfig{AtoB: impair.Config{Loss: 0.1, Delay: time.Millisecond}})
	for i, n := range ns {
		n.setDst(mac((i+1)%3 + 1))
		n.start(500, 3*time.Millisecond)
	}
	l.ScheduleUp(Epoch.Add(400*time.Millisecond), false)
	l.ScheduleUp(Epoch.Add(450*time.Millisecond), true)
	return append([]*node{a, b}, ns...)
}

// runCaptures runs the scenario with the given seed and GOMAXPROCS and
// returns the capture files' contents by name, and what bob received.
func runCaptures(t *testing.T, seed uint64, procs int) (map[string][]byte, []uint64) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	dir := t.TempDir()
	w := newWorld(t, Config{Seed: seed, CaptureDir: dir})
	nodes := buildImpaired(t, w)
	nodes[1].record = true
	w.RunFor(10 * time.Second)
	require.NoError(t, w.Close())
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
	}
	return files, nodes[1].seqs
}

func TestDeterministicCaptures(t *testing.T) {
	one, seqs1 := runCaptures(t, 42, 1)
	four, seqs4 := runCaptures(t, 42, 4)
	require.Len(t, one, 6)
	for _, h := range []string{"alice", "bob", "h0", "h1", "h2", "sw"} {
		require.Contains(t, one, h+".pcapng")
		assert.Greater(t, len(one[h+".pcapng"]), 1000)
	}
	assert.True(t, reflect.DeepEqual(one, four), "same seed: byte-identical captures at GOMAXPROCS 1 and 4")
	assert.Equal(t, seqs1, seqs4)

	other, seqsOther := runCaptures(t, 43, 1)
	assert.NotEqual(t, seqs1, seqsOther, "another seed loses other frames")
	assert.NotEqual(t, one["bob.pcapng"], other["bob.pcapng"])
}

// capRecord is a packet read back from a capture.
type capRecord struct {
	iface   string
	dir     pcapgo.NgEpbFlag
	comment string
}

func readCapture(t *testing.T, path string) []capRecord {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	var recs []capRecord
	var ifcs []int
	for {
		_, ci, opts, err := r.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		c := ""
		if len(opts.Comments) > 0 {
			c = opts.Comments[0]
		}
		recs = append(recs, capRecord{dir: opts.Flags.Direction, comment: c})
		ifcs = append(ifcs, ci.InterfaceIndex)
	}
	for i := range recs {
		intf, err := r.Interface(ifcs[i])
		require.NoError(t, err)
		recs[i].iface = intf.Name
	}
	return recs
}

func TestCapturesMatchCounters(t *testing.T) {
	dir := t.TempDir()
	w := newWorld(t, Config{Seed: 5, CaptureDir: dir})
	nodes := buildImpaired(t, w)
	w.RunFor(10 * time.Second)
	require.NoError(t, w.Close())
	ls := w.Link("p2p").Stats()

	alice := readCapture(t, w.CapturePath("alice"))
	var out, in, dropped, dupOut, corruptOut, dupIn, reorderIn int
	for _, r := range alice {
		assert.Equal(t, "alice:eth0", r.iface)
		switch r.dir {
		case pcapgo.NgEpbFlagDirectionOutbound:
			out++
			if strings.Contains(r.comment, "dropped by link") {
				dropped++
			}
			if strings.Contains(r.comment, "duplicated") {
				dupOut++
			}
			if strings.Contains(r.comment, "corrupted") {
				corruptOut++
			}
		case pcapgo.NgEpbFlagDirectionInbound:
			in++
			if strings.Contains(r.comment, "duplicated") {
				dupIn++
			}
			if strings.Contains(r.comment, "reordered") {
				reorderIn++
			}
		}
	}
	assert.Equal(t, nodes[0].sent, out)
	assert.Equal(t, int(ls.AtoB.Offered), out, "the sender's capture holds every frame offered")
	assert.Equal(t, nodes[0].dropped, dropped, "every drop decided at Send is commented")
	assert.GreaterOrEqual(t, int(ls.AtoB.Dropped), dropped, "frames lost in flight when the link went down come on top")
	assert.Equal(t, int(ls.AtoB.Duplicated), dupOut)
	assert.Equal(t, int(ls.AtoB.Corrupted), corruptOut)
	assert.Equal(t, int(ls.BtoA.Delivered), in, "the receiver's capture holds every frame delivered")
	assert.Equal(t, int(ls.BtoA.Duplicated), dupIn)
	assert.Positive(t, reorderIn)
	assert.Positive(t, ls.AtoB.DroppedBurst)
	assert.Positive(t, ls.AtoB.DroppedQueueFull, "alice offers 3.2 Mbit/s to a 2 Mbit/s link")
	assert.Zero(t, ls.BtoA.DroppedQueueFull, "bob offers 0.96 Mbit/s")

	js, err := json.Marshal(w.Stats())
	require.NoError(t, err)
	for _, key := range []string{`"links"`, `"switches"`, `"a_to_b"`, `"b_to_a"`, `"offered"`, `"delivered"`, `"dropped"`, `"duplicated"`, `"corrupted"`, `"name":"p2p"`, `"a":"alice:eth0"`} {
		assert.Contains(t, string(js), key)
	}

	if tshark, err := exec.LookPath("tshark"); err == nil {
		for _, h := range []string{"alice", "bob", "h0"} {
			var stderr bytes.Buffer
			cmd := exec.Command(tshark, "-n", "-r", w.CapturePath(h))
			cmd.Stderr = &stderr
			_, err := cmd.Output()
			assert.NoError(t, err, "tshark %s: %s", h, stderr.String())
		}
	}
}

// TestSwitchCarriesMarks: a frame that a link corrupted, duplicated and
// held back before two switches arrives with those marks, so the receiving
// host's capture comments on it (link.Carrier); clean links add nothing.
func TestSwitchCarriesMarks(t *testing.T) {
	w := newWorld(t, Config{Seed: 3})
	sw1, err := w.NewSwitch("sw1", SwitchConfig{})
	require.NoError(t, err)
	sw2, err := w.NewSwitch("sw2", SwitchConfig{})
	require.NoError(t, err)
	bad := impair.Config{Corrupt: 1, Duplicate: 1, Reorder: 1, ReorderDelay: time.Millisecond}
	l1, err := w.ConnectSwitch("l1", Iface{"h1", "eth0"}, sw1, LinkConfig{AtoB: bad})
	require.NoError(t, err)
	l2, err := w.ConnectSwitch("l2", Iface{"h2", "eth0"}, sw2, LinkConfig{})
	require.NoError(t, err)
	_, err = w.ConnectSwitches("up", sw1, sw2, LinkConfig{})
	require.NoError(t, err)
	n1 := newNode(w, l1.A(), mac(1), broadcast, 64)
	n2 := newNode(w, l2.A(), mac(2), broadcast, 64)
	n2.record = true

	sent := n1.sendOne()
	require.True(t, sent.Duplicated)
	require.Positive(t, sent.CorruptByte)
	w.RunFor(time.Second)
	require.Len(t, n2.notes, 2)
	var corrupted, dups int
	for _, note := range n2.notes {
		assert.False(t, note.Dropped())
		assert.True(t, note.Reordered || note.Duplicated, "%+v", note)
		if note.CorruptByte > 0 {
			corrupted++
			assert.Equal(t, sent.CorruptByte, note.CorruptByte)
			assert.Equal(t, time.Millisecond, note.HeldBack)
		}
		if note.Duplicated {
			dups++
		}
	}
	assert.Equal(t, 1, corrupted, "the corrupted original keeps its mark across both switches")
	assert.Equal(t, 1, dups, "the extra copy keeps its mark")

	// A frame from the clean side arrives unmarked.
	n1.record = true
	n2.sendOne()
	w.RunFor(time.Second)
	require.Len(t, n1.notes, 1)
	assert.True(t, n1.notes[0].IsZero())
}
