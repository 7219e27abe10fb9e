package tests

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/replay/input"
)

// echoKey identifies an ICMP echo: its identifier and sequence number.
type echoKey struct{ id, seq uint16 }

// echoTimes reads the IPv4 ICMP echo requests from src to dst and the
// replies from dst to src in a capture, with their timestamps.
func echoTimes(t *testing.T, path string, src, dst netip.Addr) (requests, replies map[echoKey]time.Time) {
	t.Helper()
	r, err := input.Open(path)
	require.NoError(t, err)
	defer r.Close()
	requests, replies = map[echoKey]time.Time{}, map[echoKey]time.Time{}
	var f input.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) || (err != nil && isFrameErr(err)) {
			// A record still being written ends the reading.
			return requests, replies
		}
		require.NoError(t, err, path)
		if f.Proto != ether.TypeIPv4 {
			continue
		}
		h, err := ipv4.ParseUnchecked(f.Network)
		if err != nil || h.Protocol() != ipv4.ProtoICMP {
			continue
		}
		m, err := icmp.ParseUnchecked(h.Payload())
		if err != nil {
			continue
		}
		k := echoKey{m.ID(), m.Seq()}
		switch {
		case m.Type() == icmp.TypeEcho && h.Src() == src && h.Dst() == dst:
			requests[k] = f.Time
		case m.Type() == icmp.TypeEchoReply && h.Src() == dst && h.Dst() == src:
			replies[k] = f.Time
		}
	}
}

// echoRTTs returns the round-trip times, sorted, of the echoes in keys
// that have both a request and a reply in the capture.
func echoRTTs(t *testing.T, path string, src, dst netip.Addr, keys []echoKey) []time.Duration {
	t.Helper()
	req, rep := echoTimes(t, path, src, dst)
	var rtts []time.Duration
	for _, k := range keys {
		q, ok1 := req[k]
		p, ok2 := rep[k]
		if ok1 && ok2 {
			rtts = append(rtts, p.Sub(q))
		}
	}
	slices.Sort(rtts)
	return rtts
}

// answeredSince returns the echoes of a capture requested at or after
// since that were answered.
func answeredSince(t *testing.T, path string, src, dst netip.Addr, since time.Time) []echoKey {
	t.Helper()
	req, rep := echoTimes(t, path, src, dst)
	var keys []echoKey
	for k, at := range req {
		if _, ok := rep[k]; ok && !at.Before(since) {
			keys = append(keys, k)
		}
	}
	return keys
}

// starvation measures how late this process's timers fire while it runs:
// a machine so loaded that a 2 ms sleep ends much later also delays the
// emulator's frames, and such a measurement of wall-clock RTTs says
// nothing about the emulator.
type starvation struct {
	stop chan struct{}
	done chan time.Duration
	mu   sync.Mutex
	late []lateTimer // timers more than a millisecond late
}

// lateTimer is a timer that fired late.
type lateTimer struct {
	at   time.Time
	late time.Duration
}

// watchStarvation starts measuring.
func watchStarvation() *starvation {
	s := &starvation{stop: make(chan struct{}), done: make(chan time.Duration, 1)}
	go func() {
		var worst time.Duration
		for {
			select {
			case <-s.stop:
				s.done <- worst
				return
			default:
			}
			const nap = 2 * time.Millisecond
			t0 := time.Now()
			time.Sleep(nap)
			late := time.Since(t0) - nap
			worst = max(worst, late)
			if late > time.Millisecond {
				s.mu.Lock()
				s.late = append(s.late, lateTimer{t0, late})
				s.mu.Unlock()
			}
		}
	}()
	return s
}

// Stop ends the measurement and returns the worst timer lateness seen.
func (s *starvation) Stop() time.Duration {
	close(s.stop)
	return <-s.done
}

// WorstBetween returns the worst lateness of the timers started from
// from to to.
func (s *starvation) WorstBetween(from, to time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var worst time.Duration
	for _, l := range s.late {
		if !l.at.Before(from) && l.at.Before(to) {
			worst = max(worst, l.late)
		}
	}
	return worst
}

// emuStarved is the timer lateness above which a wall-clock RTT
// measurement is taken again: the RTT checks' own tolerance.
const emuStarved = 5 * time.Millisecond

// checkEmulatedRTT pings the web host across the 20 ms WAN from the
// kernel side of the tap and checks the round-trip times from the
// captures' timestamps (tcpdump's on the kernel side of the tap, not
// ping's own figure, which adds ping's scheduling; and the simulator's
// tap-port capture): no echo is faster than the WAN's 2 x 20 ms, and the
// fastest and the median on the kernel side are within 5 ms of it. The
// emulated world runs on the wall clock, so a machine so loaded that this
// process's own timers fire late (by more than 5 ms while pinging) delays
// the emulator's frames as well: the measurement is then taken once more,
// and if that one is starved too the median is not checked and the
// fastest echo may be late by the starvation seen.
func checkEmulatedRTT(t *testing.T, r *emuRun, dump string) {
	kernel, web := netip.MustParseAddr("198.18.1.100"), netip.MustParseAddr(emuWeb)
	const want, tolerance = 40 * time.Millisecond, 5 * time.Millisecond
	tapCapture := r.out + "/tap-tap0.pcapng"
	// The first echo also resolves the router's and the web host's
	// addresses (ARP across the WAN): leave it out.
	r.output(t, 10*time.Second, "ping", "-n", "-c", "1", "-W", "3", emuWeb)
	for attempt := 1; ; attempt++ {
		since := time.Now()
		watch := watchStarvation()
		r.output(t, 20*time.Second, "ping", "-n", "-c", "10", "-i", "0.1", "-W", "2", emuWeb)
		late := watch.Stop()
		var keys []echoKey
		waitCapture(t, dump, 5*time.Second, "the replies ping received", func(captureStats) bool {
			keys = answeredSince(t, dump, kernel, web, since)
			return len(keys) >= 8
		})
		// The tap-port capture reaches its file every second.
		var sim []time.Duration
		waitCapture(t, tapCapture, 5*time.Second, "the echoes tcpdump saw", func(captureStats) bool {
			sim = echoRTTs(t, tapCapture, kernel, web, keys)
			return len(sim) == len(keys)
		})
		wall := echoRTTs(t, dump, kernel, web, keys)
		t.Logf("attempt %d: RTTs on the tap %v, in the simulator's capture %v; timers up to %v late", attempt, wall, sim, late)
		require.GreaterOrEqual(t, len(wall), 8, "replies (0.5%% loss each way)")
		assert.GreaterOrEqual(t, sim[0], want, "no echo faster than the WAN's 2 x 20 ms (simulator's capture)")
		assert.GreaterOrEqual(t, wall[0], want, "no echo faster than the WAN's 2 x 20 ms (kernel side)")
		if late <= emuStarved {
			assert.InDelta(t, want, wall[0], float64(tolerance), "fastest RTT: 2 x 20 ms")
			assert.InDelta(t, want, wall[len(wall)/2], float64(tolerance), "median RTT: 2 x 20 ms")
			return
		}
		if attempt == 1 {
			t.Logf("timers %v late: the machine was starved, measuring again", late)
			continue
		}
		t.Logf("timers %v late again: median not checked, the fastest may be that much late", late)
		assert.InDelta(t, want, wall[0], float64(tolerance+late), "fastest RTT: 2 x 20 ms, starved by %v", late)
		return
	}
}
