package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/sim"
)

// intervalMeter reads an app's byte counter every interval of simulated
// time, as iperf prints its interval lines: from the app's start until it
// finishes (a TCP transfer) or the run ends.
type intervalMeter struct {
	w         *sim.World
	t0        clock.Time
	every     time.Duration
	progress  func() int64
	finished  func() bool
	last      clock.Time
	lastBytes int64
	stopped   bool
	out       []Interval
}

// meterFor returns a meter of x's goodput, or nil when x reports none.
func meterFor(w *sim.World, t0 clock.Time, every time.Duration, x app.App) *intervalMeter {
	m := &intervalMeter{w: w, t0: t0, every: every, finished: func() bool { return false }}
	switch a := x.(type) {
	case *app.TCPBulk:
		m.progress = a.Progress
		m.finished = func() bool {
			r, ok := a.Result().(tcpapps.BulkResult)
			return ok && r.End != 0
		}
	case *udpapp.Sink:
		m.progress = func() int64 {
			r, _ := a.Result().(udpapp.SinkResult)
			return r.Bytes
		}
	default:
		return nil
	}
	return m
}

// start begins the first interval at now.
func (m *intervalMeter) start(now clock.Time) {
	m.last, m.lastBytes = now, m.progress()
	m.w.At(now.Add(m.every), m.tick)
}

func (m *intervalMeter) tick(now clock.Time) {
	m.record(now)
	if m.finished() {
		m.stopped = true
		return
	}
	m.w.At(now.Add(m.every), m.tick)
}

// record closes the interval ending at now.
func (m *intervalMeter) record(now clock.Time) {
	b := m.progress()
	iv := Interval{StartNs: m.last.Sub(m.t0), EndNs: now.Sub(m.t0), Bytes: b - m.lastBytes}
	if d := now.Sub(m.last); d > 0 {
		iv.BitsPerSecond = float64(iv.Bytes) * 8 / d.Seconds()
	}
	m.out = append(m.out, iv)
	m.last, m.lastBytes = now, b
}

// close ends the meter at the end of the run: a partial last interval is
// reported when time passed since the previous one.
func (m *intervalMeter) close(now clock.Time) []Interval {
	if !m.stopped && now > m.last {
		m.record(now)
	}
	return m.out
}

// writeIntervals writes an app's interval lines for the summary, like
// iperf's.
func writeIntervals(b *strings.Builder, ivs []Interval) {
	for _, iv := range ivs {
		fmt.Fprintf(b, "      [%8.3f-%8.3f s] %12d bytes  %s\n", iv.StartNs.Seconds(), iv.EndNs.Seconds(), iv.Bytes, bitRate(iv.BitsPerSecond))
	}
}

// bitRate renders a rate in bit/s with an SI prefix, e.g. "12.34 Mbit/s".
func bitRate(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f kbit/s", v/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", v)
}
