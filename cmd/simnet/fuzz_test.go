package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReplayCommand feeds arbitrary bytes as a capture file to the two
// file-reading modes of simnet replay, analysis (--json) and host-role
// replay (--as), the entry points of finding 1 of issue 11: whatever the
// bytes, the command exits 0 or 2 (never panics), says at most one line on
// stderr, and leaves either no output or output that says it is partial.
func FuzzReplayCommand(f *testing.F) {
	if b, err := os.ReadFile(seedCapture); err == nil {
		f.Add(b)
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0})
	f.Add(pcapngOf(stamped{1, garp}))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.cap")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if code := runReplay(&stdout, &stderr, in, true); code != 0 && code != 2 {
			t.Fatalf("analysis exit %d: %s", code, stderr.String())
		}
		if n := strings.Count(stderr.String(), "\n"); n > 1 {
			t.Fatalf("analysis: %d lines on stderr: %q", n, stderr.String())
		}
		stdout.Reset()
		stderr.Reset()
		out := filepath.Join(dir, "out")
		code := runHostRole(&stdout, &stderr, in, &replayOpts{as: "10.0.0.1", out: out, echo: 7})
		if code != 0 && code != 2 {
			t.Fatalf("host-role exit %d: %s", code, stderr.String())
		}
		if n := strings.Count(stderr.String(), "\n"); n > 1 {
			t.Fatalf("host-role: %d lines on stderr: %q", n, stderr.String())
		}
		if code == 2 {
			if sum, err := os.ReadFile(filepath.Join(out, "summary.txt")); err == nil && !strings.HasPrefix(string(sum), "partial: ") {
				t.Fatalf("exit 2 with a summary that does not say it is partial: %q", sum)
			}
		}
	})
}
