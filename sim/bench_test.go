package sim

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
)

// discard is a capture output that keeps nothing, so the benchmark measures
// capture encoding rather than the disk.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// benchImpair is the impairment of every benchmark link direction.
var benchImpair = impair.Config{Loss: 0.01, Delay: time.Millisecond, Jitter: 200 * time.Microsecond}

// runFrames has every node send frames until total frames have been sent
// (after a warm-up that fills pools and tables), with one frame per
// microsecond in aggregate, and reports frames/s and allocs/frame.
func runFrames(b *testing.B, w *World, nodes []*node, total int) {
	gap := time.Duration(len(nodes)) * time.Microsecond
	per := (total + len(nodes) - 1) / len(nodes)
	warm := max(20000/len(nodes), 2)
	for _, n := range nodes {
		n.start(warm, gap)
	}
	w.RunFor(time.Duration(warm)*gap + time.Second)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime()
	b.ResetTimer()
	for _, n := range nodes {
		n.start(per, gap)
	}
	for w.Step() {
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	cpu := cpuTime() - cpu0
	frames := float64(per * len(nodes))
	b.ReportMetric(frames/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/frames, "allocs/frame")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/frames, "ns/frame")
	if cpu > 0 {
		b.ReportMetric(frames/cpu.Seconds(), "frames/cpu-s")
	}
}

// BenchmarkSimFrames measures frames forwarded through impaired links (1%
// loss, 1 ms delay, 200 µs jitter in every direction). The "stack"
// sub-benchmarks run real stack hosts: UDP datagrams between two hosts on
// one link, and pings between 2 to 1000 hosts on one learning switch, each
// with captures off and on (encoded into a discarding writer). The "raw"
// ones run frame generators, to show the simulator's own cost. A frame is
// one frame sent by a host; through a switch it crosses two links. The
// goal is a rate flat in the number of hosts.
func BenchmarkSimFrames(b *testing.B) {
	b.Run("stack", benchStack)
	b.Run("raw", benchRaw)
}

// benchRaw runs frame generators instead of hosts.
func benchRaw(b *testing.B) {
	for _, captures := range []bool{false, true} {
		name := "p2p/captures=off"
		if captures {
			name = "p2p/captures=on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Config{Seed: 1}
			if captures {
				cfg.CaptureOpen = func(string) (io.Writer, error) { return discard{}, nil }
			}
			w := newWorld(b, cfg)
			l, err := w.Connect("l", Iface{"a", "eth0"}, Iface{"b", "eth0"}, LinkConfig{AtoB: benchImpair, BtoA: benchImpair})
			require.NoError(b, err)
			a := newNode(w, l.A(), mac(1), mac(2), 128)
			z := newNode(w, l.B(), mac(2), mac(1), 128)
			runFrames(b, w, []*node{a, z}, b.N)
			require.NoError(b, w.Close())
		})
	}
	for _, n := range []int{2, 10, 100, 1000} {
		b.Run("switch/nodes="+itoa(n), func(b *testing.B) { benchRawSwitch(b, n, false) })
	}
	for _, n := range []int{2, 10, 100, 1000} {
		b.Run("switch/captures=on/nodes="+itoa(n), func(b *testing.B) { benchRawSwitch(b, n, true) })
	}
}

// benchRawSwitch runs n frame generators on one switch, each sending to the
// next, with or without captures.
func benchRawSwitch(b *testing.B, n int, captures bool) {
	cfg := Config{Seed: 1}
	if captures {
		cfg.CaptureOpen = func(string) (io.Writer, error) { return discard{}, nil }
	}
	w := newWorld(b, cfg)
	_, nodes := switched(b, w, n, LinkConfig{AtoB: benchImpair, BtoA: benchImpair})
	// Teach the switch every address without a flood per node: node 0
	// broadcasts, then every other node sends to node 0.
	nodes[0].sendOne()
	w.RunFor(time.Second)
	for i, nd := range nodes {
		nd.record = false
		nd.setDst(mac(1))
		if i > 0 {
			nd.sendOne()
		}
		nd.setDst(mac((i+1)%n + 1))
	}
	w.RunFor(time.Second)
	runFrames(b, w, nodes, b.N)
	require.NoError(b, w.Close())
}
