package main

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		stdout, stderr, code := execute(t, t.TempDir(), args...)
		require.Equal(t, 0, code, "%v: %s", args, stderr)
		assert.Regexp(t, `^simnet \S+ .*`+runtime.Version()+`\n$`, stdout, "%v", args)
	}
}
