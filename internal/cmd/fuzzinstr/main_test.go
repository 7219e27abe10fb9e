package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFilterArgs(t *testing.T) {
	t.Parallel()
	mod := []string{"github.com/simnet-go/simnet"}
	tests := []struct {
		name string
		pkg  string
		keep bool
	}{
		{"module package", "github.com/simnet-go/simnet/proto/arp", true},
		{"module root", "github.com/simnet-go/simnet", true},
		{"external test package", "github.com/simnet-go/simnet/sim_test", true},
		{"standard library", "strconv", false},
		{"dependency", "github.com/gopacket/gopacket/layers", false},
		{"name sharing the prefix", "github.com/simnet-go/simnetx/a", false},
		{"test main", "main", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-o", "x.a", "-p", tc.pkg, "-d=libfuzzer", "-complete", "a.go"}
			got := filterArgs(args, mod)
			if tc.keep {
				assert.Equal(t, args, got)
			} else {
				assert.Equal(t, []string{"-o", "x.a", "-p", tc.pkg, "-complete", "a.go"}, got)
			}
		})
	}
}

func TestSplitPrefixes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{defaultPrefixes}, splitPrefixes(""))
	assert.Equal(t, []string{"a/b", "gopkg.in/yaml.v3"}, splitPrefixes(" a/b, ,gopkg.in/yaml.v3"))
}

func TestVersionLine(t *testing.T) {
	t.Parallel()
	p := []string{"m"}
	assert.Equal(t, "compile version go1.26.8 fuzzinstr=m", versionLine("compile version go1.26.8\n", p))
	// A development toolchain's line must still end in its buildID field.
	assert.Equal(t, "compile version devel x buildID=a/b+fuzzinstr=m",
		versionLine("compile version devel x buildID=a/b\n", p))
}

func TestResponseFileRoundTrip(t *testing.T) {
	t.Parallel()
	args := []string{"-p", "strconv", "-d=libfuzzer", `C:\dir`, "two\nlines"}
	rf, err := responseFile(args, true)
	require.NoError(t, err)
	require.Len(t, rf, 1)
	t.Cleanup(func() { _ = os.Remove(rf[0][1:]) })
	got, err := expandResponseFiles(append([]string{"-x"}, rf...))
	require.NoError(t, err)
	assert.Equal(t, append([]string{"-x"}, args...), got)

	_, err = expandResponseFiles([]string{"@" + filepath.Join(t.TempDir(), "missing")})
	assert.ErrorContains(t, err, "response file")
}
