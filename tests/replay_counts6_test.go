package tests

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counts6Keys maps our IPv6 count names to COUNTS6.tsv column names and to
// the tshark field whose presence in a frame makes it count.
var counts6Keys = []struct{ ours, column, field string }{
	{"ipv6", "ipv6", "ipv6"},
	{"icmpv6", "icmpv6", "icmpv6"},
	{"ipv6_fragments", "ipv6_fragments", "ipv6.fraghdr"},
}

// knownDiffs6 lists every place where our IPv6 counts differ from
// tshark's, as knownDiffs does for COUNTS.tsv. Delta is ours minus
// tshark's.
var knownDiffs6 = []knownDiff{}

// requireTool returns the path of an external tool. When it is missing the
// test is skipped, or fails when SIMNET_REQUIRE=all asks for every tool.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("SIMNET_REQUIRE") == "all" {
		t.Fatalf("%s is required (SIMNET_REQUIRE=all) but not installed: %v", name, err)
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}

// readTSV parses a COUNTS*.tsv file in the shared captures into file ->
// column -> count.
func readTSV(t *testing.T, name string) map[string]map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedCaptures, name))
	require.NoError(t, err)
	res := map[string]map[string]int{}
	var header []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if header == nil {
			header = cols
			continue
		}
		require.Len(t, cols, len(header), "%s line %q", name, line)
		m := map[string]int{}
		for i := 1; i < len(cols); i++ {
			n, err := strconv.Atoi(cols[i])
			require.NoError(t, err, "%s line %q", name, line)
			m[header[i]] = n
		}
		res[cols[0]] = m
	}
	return res
}

// runTshark6 decodes path with tshark in one pass and returns, per frame,
// which of counts6Keys tshark found.
func runTshark6(t *testing.T, tshark, path string) [][]bool {
	t.Helper()
	args := []string{"-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f", "-E", "quote=n"}
	for _, k := range counts6Keys {
		args = append(args, "-e", k.field)
	}
	cmd := exec.Command(tshark, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	// As in runTshark: frames before a read error are still printed.
	_ = cmd.Run()
	var frames [][]bool
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		require.Len(t, cols, len(counts6Keys), "tshark line %q", sc.Text())
		f := make([]bool, len(cols))
		for i, c := range cols {
			f[i] = c != ""
		}
		frames = append(frames, f)
	}
	require.NoError(t, sc.Err())
	return frames
}

// TestReplayCounts6MatchTshark checks our ipv6, icmpv6 and ipv6_fragments
// counts over every shared capture against COUNTS6.tsv and, frame by
// frame, against tshark run on the same file, allowing exactly the
// differences in knownDiffs6. The existing protocols over IPv6 (udp, tcp,
// dns, http) are covered by TestReplayCountsMatchTshark against COUNTS.tsv.
func TestReplayCounts6MatchTshark(t *testing.T) {
	t.Parallel()
	files := captureFiles(t)
	tshark := requireTool(t, "tshark")
	want := readTSV(t, "COUNTS6.tsv")
	known := map[[2]string]knownDiff{}
	for _, k := range knownDiffs6 {
		known[[2]string{k.file, k.proto}] = k
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tsv, ok := want[name]
			require.True(t, ok, "%s missing from COUNTS6.tsv", name)
			path := filepath.Join(sharedCaptures, name)
			res, ours := ourFrames(t, path)
			hasV6 := false
			for _, k := range counts6Keys {
				hasV6 = hasV6 || tsv[k.column] != 0 || res.Counts.Get(k.ours) != 0
			}
			var theirs [][]bool
			if hasV6 {
				theirs = runTshark6(t, tshark, path)
			} else {
				// Nothing of IPv6 on either side: the per-frame comparison
				// holds trivially, and tshark's 0 is in COUNTS6.tsv.
				theirs = make([][]bool, len(ours))
				for j := range theirs {
					theirs[j] = make([]bool, len(counts6Keys))
				}
			}
			for i, k := range counts6Keys {
				kd, isKnown := known[[2]string{name, k.ours}]
				got := res.Counts.Get(k.ours)
				require.GreaterOrEqual(t, got, 0, "%s is not a count name", k.ours)
				assert.Equal(t, tsv[k.column]+kd.delta, got,
					"%s: %s: ours %d, COUNTS6.tsv %d, known delta %d", name, k.ours, got, tsv[k.column], kd.delta)
				tn := 0
				for _, f := range theirs {
					if f[i] {
						tn++
					}
				}
				assert.Equal(t, tsv[k.column], tn, "%s: %s: tshark now says %d, COUNTS6.tsv %d", name, k.ours, tn, tsv[k.column])
				if len(theirs) != len(ours) || isKnown {
					continue
				}
				var diff []string
				for j, f := range theirs {
					if f[i] != ours[j].Has(k.ours) {
						diff = append(diff, strconv.Itoa(j+1)+"(tshark="+strconv.FormatBool(f[i])+")")
					}
				}
				assert.Empty(t, diff, "%s: %s differs from tshark in frames %s", name, k.ours, strings.Join(diff, " "))
			}
		})
	}
}
