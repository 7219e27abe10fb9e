package tests

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/input"
)

// captureStats is what waitCapture looks at in a capture being written.
type captureStats struct {
	frames int
	bytes  int64
	// fins counts TCP segments with FIN; afterLastFIN the frames after
	// the last of them (the final ACK of a close).
	fins, afterLastFIN int
}

// readCaptureStats reads the frames written so far; a record being written
// (cut short) ends the reading without an error.
func readCaptureStats(path string) captureStats {
	var st captureStats
	r, err := input.Open(path)
	if err != nil {
		return st
	}
	defer r.Close()
	var f input.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) || (err != nil && !isFrameErr(err)) {
			return st
		}
		st.frames++
		st.bytes += int64(len(f.Data))
		st.afterLastFIN++
		if err == nil && f.Proto == ether.TypeIPv4 {
			if h, err := ipv4.ParseUnchecked(f.Network); err == nil && h.Protocol() == tcp.ProtocolNumber {
				if s, err := tcp.ParseHeader(h.Payload()); err == nil && s.Flags()&tcp.FlagFIN != 0 {
					st.fins++
					st.afterLastFIN = 0
				}
			}
		}
	}
}

func isFrameErr(err error) bool {
	var fe *input.FrameError
	return errors.As(err, &fe)
}

// waitCapture polls the capture tcpdump is writing (with -U, a packet at a
// time) until done says it holds what the test waits for, instead of
// sleeping a guessed time; it fails t after timeout.
func waitCapture(t *testing.T, path string, timeout time.Duration, what string, done func(captureStats) bool) {
	t.Helper()
	if st, ok := pollCapture(path, timeout, done); !ok {
		t.Fatalf("%s: after %v the capture holds %+v, still waiting for %s", path, timeout, st, what)
	}
}

// pollCapture polls the capture at path until done says it holds what the
// caller waits for, or timeout passes; it returns what the capture held
// last and whether done was satisfied.
func pollCapture(path string, timeout time.Duration, done func(captureStats) bool) (captureStats, bool) {
	deadline := time.Now().Add(timeout)
	for {
		st := readCaptureStats(path)
		if done(st) {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// closedConns returns a condition: n TCP connections closed in the capture,
// each FIN seen and a segment (the last ACK) after the last one.
func closedConns(n int) func(captureStats) bool {
	return func(st captureStats) bool { return st.fins >= 2*n && st.afterLastFIN > 0 }
}
