package scenario

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/sim"
)

// heapDriver runs a built world on its virtual clock like Run does, and
// records the live heap (after a full collection) once the world is built
// and again once it has run.
type heapDriver struct {
	built, ran uint64
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func (d *heapDriver) Start() clock.Time { return 0 }

func (d *heapDriver) Drive(w *sim.World, _ map[string]*sim.Switch, end clock.Time, _ <-chan struct{}) (bool, error) {
	d.built = liveHeap()
	w.Run(end)
	d.ran = liveHeap()
	return false, nil
}

func (d *heapDriver) Captures() []string { return nil }

// TestGroupHeapPerHost bounds the memory a host of a large group costs:
// a 300-member group that pings one server (examples/scale/ping-10k.yaml
// with fewer clients, so that the floods of ARP requests stay cheap under
// the race detector; captures off, with the per-flow table simnet run
// keeps) is parsed, built and run, and the live heap per host, scenario
// and the world's fixed costs included, must stay under a bound once the
// world is built and once it has run (every client then has an ARP entry,
// the server 300, and the flow table 600 flows). A host costs about
// 8 KiB built and 11 KiB run; it used to cost 14 KiB and 24 KiB, when
// each host held a 256-entry protocol table, each flow a 2.7 KiB
// histogram and each queued echo request a full-sized buffer, and the
// bounds sit between the two. It is not parallel: it measures the whole
// process's heap.
func TestGroupHeapPerHost(t *testing.T) {
	const n = 300
	base := liveHeap()
	s, err := Parse("ping-1k.yaml", []byte(pingGroupYAML(n)))
	require.NoError(t, err)
	d := &heapDriver{}
	rep, err := Run(s, Options{Driver: d, Flows: true})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Failed())
	require.Len(t, rep.Flows, 2*n)
	built := float64(d.built-base) / n
	ran := float64(d.ran-base) / n
	t.Logf("live heap per host: %.0f B built, %.0f B run", built, ran)
	assert.Less(t, built, 11.0*1024, "live heap per host once the world is built")
	assert.Less(t, ran, 16.0*1024, "live heap per host once the world has run")
	runtime.KeepAlive(s)
}
