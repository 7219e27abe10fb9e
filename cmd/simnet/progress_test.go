package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestProgressLine(t *testing.T) {
	t.Parallel()
	assert.Nil(t, newProgressLine(&bytes.Buffer{}, false), "not a terminal: no line")
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &progressLine{w: &b, now: func() time.Time { return now }}
	p.update(0, time.Minute, 0)
	now = now.Add(500 * time.Millisecond)
	p.update(5*time.Second, time.Minute, 50_000)
	assert.Empty(t, b.String(), "runs shorter than a second draw nothing")
	now = now.Add(time.Second)
	p.update(35*time.Second, time.Minute, 2_050_000)
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "\r\033[K"), "redrawn in place: %q", out)
	assert.Contains(t, out, "simulated 35s / 1m0s (58%), 1.37M events/s, 23.3x real time")
	now = now.Add(100 * time.Millisecond)
	p.update(36*time.Second, time.Minute, 2_100_000)
	assert.Equal(t, out, b.String(), "not redrawn more often than every 250 ms")
	p.done()
	assert.True(t, strings.HasSuffix(b.String(), "\r\033[K"), "cleared at the end")
}
