package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
)

// memCaptures keeps a world's captures in memory, by file name.
type memCaptures map[string]*bytes.Buffer

func (m memCaptures) open(name string) (io.Writer, error) {
	b := &bytes.Buffer{}
	m[name] = b
	return b, nil
}

// floodRun runs a world of stack hosts on two switches whose links mix
// plain delays with loss, jitter, a small MTU and a link that goes down
// while frames are in flight, so that floods take both the shared path
// (impair.Flood) and the port-by-port one. With perPort, every switch
// floods port by port, as before impair.Flood. It returns the hosts'
// captures (switch ports are not captured: a captured port is always
// served port by port) and the world's counters as JSON.
func floodRun(t *testing.T, perPort bool) (memCaptures, string, *World) {
	caps := memCaptures{}
	w := newWorld(t, Config{Seed: 3, CaptureOpen: caps.open, CaptureSwitch: func(string) bool { return false }})
	// Addresses age out fast, so that big unicast frames are flooded too.
	sw1, err := w.NewSwitch("sw1", SwitchConfig{Aging: 15 * time.Millisecond})
	require.NoError(t, err)
	sw2, err := w.NewSwitch("sw2", SwitchConfig{Aging: 15 * time.Millisecond})
	require.NoError(t, err)
	ms := func(d int) impair.Config { return impair.Config{Delay: time.Duration(d) * time.Millisecond} }
	cfgs := []LinkConfig{
		{AtoB: ms(1), BtoA: ms(1)},
		{AtoB: ms(1), BtoA: ms(1)},
		{AtoB: ms(1), BtoA: ms(2)}, // another instant: a run ends
		{AtoB: ms(1), BtoA: ms(1)},
		{AtoB: ms(1), BtoA: impair.Config{Delay: time.Millisecond, Loss: 0.3}},
		{AtoB: ms(1), BtoA: ms(1)},
		{AtoB: ms(1), BtoA: impair.Config{Delay: time.Millisecond, Jitter: 500 * time.Microsecond}},
		{AtoB: ms(1), BtoA: ms(1), MTU: 68},
		{AtoB: ms(1), BtoA: ms(1)},
		{AtoB: ms(1), BtoA: ms(1)},
	}
	_, err = w.ConnectSwitches("trunk", sw1, sw2, LinkConfig{AtoB: ms(1), BtoA: ms(1)})
	require.NoError(t, err)
	var links []*Link
	var ifcs []*stack.Interface
	for i, cfg := range cfgs {
		name := "h" + itoa(i)
		sw := sw1
		if i >= 6 {
			sw = sw2
		}
		l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, cfg)
		require.NoError(t, err)
		links = append(links, l)
		// The hosts announce their addresses (RFC 5227), so that floods
		// overlap the pings' traffic.
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name), ARPNotify: true})
		ifcs = append(ifcs, h.AddInterface("eth0", ether.Addr(mac(i+1)), l.A()))
	}
	if perPort {
		for _, sw := range []*Switch{sw1, sw2} {
			clear(sw.pipes)
		}
	}
	for i, ifc := range ifcs {
		w.At(w.Now().Add(time.Duration(i)*300*time.Microsecond), func(clock.Time) {
			ifc.SetAddress(netip.PrefixFrom(hostAddr(i+1), 24))
		})
	}
	// Every host pings every other one a few times; h3's link goes down
	// while floods are on it, then up again.
	for i, ifc := range ifcs {
		for j := range ifcs {
			if i == j {
				continue
			}
			at := w.Now().Add(10*time.Millisecond + time.Duration(i*len(ifcs)+j)*700*time.Microsecond)
			for k := range 3 {
				w.At(at.Add(time.Duration(k)*20*time.Millisecond), func(clock.Time) {
					_ = ifc.Host().Ping(hostAddr(j+1), 1, uint16(k), make([]byte, 64))
				})
			}
		}
	}
	links[3].ScheduleUp(w.Now().Add(30*time.Millisecond+500*time.Microsecond), false)
	links[3].ScheduleUp(w.Now().Add(60*time.Millisecond), true)
	w.RunFor(5 * time.Second)
	require.NoError(t, w.Close())
	stats, err := json.Marshal(w.Stats())
	require.NoError(t, err)
	return caps, string(stats), w
}

// TestFloodSharedMatchesPerPort checks that flooding through impair.Flood
// changes nothing a run shows: every host's capture (frames, instants,
// comments) and every link and switch counter are the same as when each
// port gets its own copy, with runs of ports broken by other delays, loss,
// jitter, an MTU and a link going down in flight, and floods crossing two
// switches.
func TestFloodSharedMatchesPerPort(t *testing.T) {
	t.Parallel()
	shared, sharedStats, w := floodRun(t, false)
	perPort, perPortStats, _ := floodRun(t, true)
	require.Positive(t, w.line.FanOuts(), "floods took the shared path")
	names := make([]string, 0, len(shared))
	for n := range shared {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Len(t, names, 10)
	for _, n := range names {
		require.Contains(t, perPort, n)
		assert.True(t, bytes.Equal(shared[n].Bytes(), perPort[n].Bytes()), "capture %s differs", n)
	}
	assert.Equal(t, perPortStats, sharedStats)
	var st Stats
	require.NoError(t, json.Unmarshal([]byte(sharedStats), &st))
	assert.Positive(t, st.Switches[0].Flooded)
	assert.Positive(t, st.Switches[0].Aged)
	assert.Positive(t, st.Links[4].BtoA.DroppedLinkDown, "h3's link dropped frames in flight")
	assert.Positive(t, st.Links[8].BtoA.DroppedMTU)
}
