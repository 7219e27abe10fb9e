package testenv

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that records whether it was skipped or failed.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(...any)           { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestMissingSkipsOrFails(t *testing.T) {
	tests := []struct {
		env           string
		skip, failure bool
	}{
		{"", true, false},
		{"all", false, true},
		{"some", true, false},
	}
	for _, tt := range tests {
		t.Run("SIMNET_REQUIRE="+tt.env, func(t *testing.T) {
			t.Setenv(RequireEnv, tt.env)
			r := &recorder{TB: t}
			Missing(r, "tshark is not installed")
			assert.Equal(t, tt.skip, r.skipped)
			assert.Equal(t, tt.failure, r.failed)
			r = &recorder{TB: t}
			Tool(r, "no-such-tool-simnet-test")
			assert.Equal(t, tt.skip, r.skipped)
			assert.Equal(t, tt.failure, r.failed)
		})
	}
	t.Run("present tool", func(t *testing.T) {
		t.Setenv(RequireEnv, "all")
		r := &recorder{TB: t}
		assert.NotEmpty(t, Tool(r, "sh"))
		assert.False(t, r.skipped || r.failed)
	})
}

// logRecorder also records Logf.
type logRecorder struct {
	recorder
	logged bool
}

func (r *logRecorder) Logf(string, ...any) { r.logged = true }

func TestOptional(t *testing.T) {
	t.Run("missing, not required", func(t *testing.T) {
		t.Setenv(RequireEnv, "")
		r := &logRecorder{recorder: recorder{TB: t}}
		_, ok := Optional(r, "no-such-tool-simnet-test", "a check")
		assert.False(t, ok)
		assert.True(t, r.logged)
		assert.False(t, r.failed)
	})
	t.Run("missing, required", func(t *testing.T) {
		t.Setenv(RequireEnv, RequireAll)
		r := &logRecorder{recorder: recorder{TB: t}}
		_, ok := Optional(r, "no-such-tool-simnet-test", "a check")
		assert.False(t, ok)
		assert.True(t, r.failed)
	})
	t.Run("present", func(t *testing.T) {
		p, ok := Optional(t, "sh", "a check")
		assert.True(t, ok)
		assert.NotEmpty(t, p)
	})
}
