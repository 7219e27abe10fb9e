package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simnet-go/simnet/replay/hostrole"
	"github.com/simnet-go/simnet/replay/input"
)

// replaySeeds are the seed captures of FuzzReplayBytes and
// TestReplayCommandSeeds: the shared seed capture when present, a pcap
// header with one record cut short, a pcapng file with one frame, and one
// cut in its second frame.
func replaySeeds(tb testing.TB) [][]byte {
	tb.Helper()
	two := pcapngOf(stamped{1, garp}, stamped{2, garp})
	seeds := [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0},
		pcapngOf(stamped{1, garp}),
		// The host seen, then the capture cut: a partial replay.
		two[:len(two)-8],
	}
	if b, err := os.ReadFile(seedCapture); err == nil {
		seeds = append(seeds, b)
	}
	return seeds
}

// maxFuzzCapture bounds FuzzReplayBytes's inputs, above the seed capture's
// size: each frame costs three passes (analysis, learning, replay).
const maxFuzzCapture = 8 << 10

// FuzzReplayBytes feeds arbitrary bytes as a capture to the two
// file-reading modes of simnet replay, analysis (--json) and host-role
// replay (--as), the entry points of finding 1 of issue 11, in memory (the
// same code as the command from the opened capture on, without files):
// whatever the bytes, each mode exits 0 or 2 (never panics), says at most
// one line on stderr, and a host-role replay that exits 2 after printing
// its result says that the result is partial.
// TestReplayCommandSeeds runs the seeds through the command with files.
func FuzzReplayBytes(f *testing.F) {
	for _, b := range replaySeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzCapture {
			data = data[:maxFuzzCapture] // a cut capture is an input too
		}
		c := capture{name: "in.cap", open: func() (*input.Reader, error) { return input.NewReader(bytes.NewReader(data)) }}
		var stdout, stderr bytes.Buffer
		if code := analyzeCapture(&stdout, &stderr, c, true); code != 0 && code != 2 {
			t.Fatalf("analysis exit %d: %s", code, stderr.String())
		}
		checkOneLine(t, "analysis", stderr.String())
		stdout.Reset()
		stderr.Reset()
		o := &replayOpts{as: "10.0.0.1", echo: 7}
		cfg := hostrole.Config{As: netip.MustParseAddr(o.as), EchoPort: o.echo}
		code := replayHostRole(&stdout, &stderr, c, o, cfg)
		if code != 0 && code != 2 {
			t.Fatalf("host-role exit %d: %s", code, stderr.String())
		}
		checkOneLine(t, "host-role", stderr.String())
		// The text output ends with the summary that summary.txt holds.
		if code == 2 && stdout.Len() > 0 && !strings.Contains(stdout.String(), "\npartial: ") {
			t.Fatalf("exit 2 with a summary that does not say it is partial: %q", stdout.String())
		}
	})
}

// checkOneLine fails t when msg holds more than one line.
func checkOneLine(t *testing.T, mode, msg string) {
	t.Helper()
	if n := strings.Count(msg, "\n"); n > 1 {
		t.Fatalf("%s: %d lines on stderr: %q", mode, n, msg)
	}
}

// TestReplayCommandSeeds runs FuzzReplayBytes's seeds through the command's
// file-reading entry points, as `simnet replay FILE --json` and `simnet
// replay FILE --as 10.0.0.1 --out DIR --echo 7` do: each exits 0 or 2, says
// at most one line on stderr, and leaves either no output or output that
// says it is partial.
func TestReplayCommandSeeds(t *testing.T) {
	t.Parallel()
	for i, data := range replaySeeds(t) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.cap")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := runReplay(&stdout, &stderr, in, true); code != 0 && code != 2 {
			t.Fatalf("seed %d: analysis exit %d: %s", i, code, stderr.String())
		}
		checkOneLine(t, "analysis", stderr.String())
		stdout.Reset()
		stderr.Reset()
		out := filepath.Join(dir, "out")
		code := runHostRole(&stdout, &stderr, in, &replayOpts{as: "10.0.0.1", out: out, echo: 7})
		if code != 0 && code != 2 {
			t.Fatalf("seed %d: host-role exit %d: %s", i, code, stderr.String())
		}
		checkOneLine(t, "host-role", stderr.String())
		if code == 2 {
			if sum, err := os.ReadFile(filepath.Join(out, "summary.txt")); err == nil && !strings.HasPrefix(string(sum), "partial: ") {
				t.Fatalf("seed %d: exit 2 with a summary that does not say it is partial: %q", i, sum)
			}
		}
	}
}
