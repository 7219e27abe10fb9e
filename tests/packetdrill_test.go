package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/pktdrill"
)

// scriptsReadme lists every script that does not pass, with its result and
// reason; TestPacketdrillScripts keeps it honest.
const scriptsReadme = "scripts/README.md"

// scriptResult is one line of `simnet script --json`.
type scriptResult struct {
	File   string `json:"file"`
	Result string `json:"result"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// requireOrSkip skips t for a missing prerequisite, or fails it when
// SIMNET_REQUIRE=all asks for every test to run.
func requireOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("SIMNET_REQUIRE") == "all" {
		t.Fatalf("SIMNET_REQUIRE=all: "+format, args...)
	}
	t.Skipf(format, args...)
}

// scriptBinary builds cmd/simnet into the test's own directory (the shared
// build in commandBinary may be replaced by another checkout's build on a
// shared machine).
func scriptBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "simnet")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/simnet-go/simnet/cmd/simnet").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// runScriptCmd runs `simnet script --json --out out [flags] files...` in
// dir and returns the results by file and the exit status.
func runScriptCmd(t *testing.T, bin, dir, out string, flags, files []string) (map[string]scriptResult, int) {
	t.Helper()
	args := append([]string{"script", "--json", "--out", out}, flags...)
	cmd := exec.Command(bin, append(args, files...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	require.Empty(t, stderr.String())
	res := map[string]scriptResult{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r scriptResult
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		res[r.File] = r
	}
	require.Len(t, res, len(files))
	return res, code
}

// knownFailures parses the README's tables: rows `| script | result |
// reason |` whose first cell names a .pkt file.
func knownFailures(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(scriptsReadme)
	require.NoError(t, err)
	known := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) < 3 {
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		if !strings.HasSuffix(name, ".pkt") {
			continue
		}
		_, dup := known[name]
		require.False(t, dup, "%s listed twice in %s", name, scriptsReadme)
		known[name] = strings.TrimSpace(cells[1])
		require.NotEmpty(t, strings.TrimSpace(cells[2]), "%s has no reason in %s", name, scriptsReadme)
	}
	return known
}

// checkAgainstReadme fails for every script whose outcome the README does
// not state: a failing one it does not list, or a listed one whose result
// changed (it now passes, or fails where it was unsupported).
func checkAgainstReadme(t *testing.T, res map[string]scriptResult, known map[string]string) {
	t.Helper()
	names := make([]string, 0, len(res))
	for n := range res {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := res[n]
		want, listed := known[n]
		switch {
		case r.Result == "pass" && listed:
			t.Errorf("%s now passes: remove it from %s", n, scriptsReadme)
		case r.Result != "pass" && !listed:
			t.Errorf("%s does not pass and is not listed in %s: %s line %d: %s", n, scriptsReadme, r.Result, r.Line, r.Reason)
		case r.Result != "pass" && want != r.Result:
			t.Errorf("%s is listed as %s in %s but is now %s (line %d: %s)", n, want, scriptsReadme, r.Result, r.Line, r.Reason)
		}
	}
}

// tsharkCheck merges the captures in dir and has tshark decode them with
// checksum validation: no malformed frame or bad checksum.
func tsharkCheck(t *testing.T, dir string) {
	t.Helper()
	tshark, err1 := exec.LookPath("tshark")
	mergecap, err2 := exec.LookPath("mergecap")
	if err1 != nil || err2 != nil {
		requireOrSkip(t, "tshark and mergecap are needed to decode the script captures (apt-get install tshark)")
	}
	caps, err := filepath.Glob(filepath.Join(dir, "*.pcapng"))
	require.NoError(t, err)
	require.NotEmpty(t, caps)
	all := filepath.Join(t.TempDir(), "all.pcapng")
	out, err := exec.Command(mergecap, append([]string{"-w", all}, caps...)...).CombinedOutput()
	require.NoError(t, err, string(out))
	// The runs reuse one four-tuple, so TCP sequence analysis across the
	// merged file would invent errors: check decoding and checksums
	// segment by segment.
	lines := tsharkLines(t, tshark, all, "-o", "tcp.analyze_sequence_numbers:FALSE", "-o", "tcp.desegment_tcp_streams:FALSE", "-Y", scnTsharkFilter, "-T", "fields", "-e", "frame.number")
	assert.Empty(t, lines, "frames tshark finds malformed or with bad checksums")
}

// TestPacketdrillScripts runs the 40 shared packetdrill scripts (GPL-2.0
// test data read from ../shared/packetdrill, never copied into the tree)
// through `simnet script --packetdrill-tolerance` (the timing slack
// packetdrill itself grants them) and checks each outcome against
// tests/scripts/README.md; then our own scripts in tests/scripts, with exact
// timing, which all pass except those the README lists as open bugs. Every
// capture must decode cleanly in tshark.
func TestPacketdrillScripts(t *testing.T) {
	t.Parallel()
	bin := scriptBinary(t)
	known := knownFailures(t)

	t.Run("shared", func(t *testing.T) {
		t.Parallel()
		dir, files, err := pktdrill.FindShared(".")
		if err != nil {
			requireOrSkip(t, "shared packetdrill scripts: %v", err)
		}
		require.Len(t, files, 40)
		rel := make([]string, len(files))
		for i, f := range files {
			rel[i], err = filepath.Rel(dir, f)
			require.NoError(t, err)
		}
		out := t.TempDir()
		res, code := runScriptCmd(t, bin, dir, out, []string{"--packetdrill-tolerance"}, rel)
		pass := 0
		fails := false
		for _, r := range res {
			if r.Result == "pass" {
				pass++
			}
			fails = fails || r.Result == "fail"
		}
		t.Logf("%d of %d shared packetdrill scripts pass", pass, len(rel))
		if fails {
			assert.Equal(t, 1, code, "exit status with a failing script")
		}
		checkAgainstReadme(t, res, known)
		tsharkCheck(t, out)
	})

	t.Run("ours", func(t *testing.T) {
		t.Parallel()
		files, err := filepath.Glob(filepath.Join("scripts", "*.pkt"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(files), 10)
		for i := range files {
			files[i] = filepath.Base(files[i])
		}
		out := t.TempDir()
		res, _ := runScriptCmd(t, bin, "scripts", out, nil, files)
		checkAgainstReadme(t, res, known)
		tsharkCheck(t, out)
	})
}
