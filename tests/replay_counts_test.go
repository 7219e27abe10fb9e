package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/replay/analyze"
	"github.com/simnet-go/simnet/replay/input"
)

// sharedCaptures is ../shared/captures seen from the repository root (tests
// run in tests/, one level down), or the directory SIMNET_CAPTURES names.
var sharedCaptures = func() string {
	if d := os.Getenv("SIMNET_CAPTURES"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "captures")
}()

// captureFiles lists every capture in the shared directory, skipping the
// test when the directory is absent (failing it under SIMNET_REQUIRE=all).
func captureFiles(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(sharedCaptures); err != nil {
		testenv.Missing(t, "shared captures not found at %s (expected ../shared/captures beside the repository, or set SIMNET_CAPTURES): %v", sharedCaptures, err)
	}
	ents, err := os.ReadDir(sharedCaptures)
	require.NoError(t, err)
	var files []string
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || strings.HasSuffix(n, ".tsv") || strings.HasSuffix(n, ".md") {
			continue
		}
		files = append(files, n)
	}
	require.NotEmpty(t, files)
	return files
}

// countKeys maps our count names to COUNTS.tsv column names.
var countKeys = []struct{ ours, tshark string }{
	{"frames", "frames"}, {"ethernet", "eth"}, {"arp", "arp"}, {"ipv4", "ip"},
	{"ipv4_fragments", "ip_fragments"}, {"icmp", "icmp"}, {"udp", "udp"},
	{"tcp", "tcp"}, {"dns", "dns"}, {"dhcp", "dhcp"}, {"http", "http"},
}

// knownDiff is a difference between our counts and tshark's that is
// understood. Delta is ours minus tshark's.
type knownDiff struct {
	file, proto string
	delta       int
	reason      string
}

// knownDiffs lists every place where our counts differ from tshark's. The
// test fails when a difference is missing from this table or when an entry
// no longer matches, so it stays exact.
var knownDiffs = []knownDiff{
	{"gopacket__le__test202.pcapng", "frames", -3,
		"tshark 4.0 lists 3 pcapng custom blocks as frames; they hold no packet (capinfos agrees with us)"},
	{"arkime__wireshark-retrans.pcap", "http", -2,
		"tshark dissects again two fast retransmissions of a complete 200 OK (frames 42 and 86); " +
			"we do not feed retransmitted bytes to the stream twice"},
}

// tsharkFrame is the set of protocols tshark found in one frame.
type tsharkFrame map[string]bool

// runTshark decodes path with tshark in one pass and returns, per frame,
// the protocols found (our names), as COUNTS.tsv's header describes.
func runTshark(t *testing.T, tshark, path string) []tsharkFrame {
	t.Helper()
	cmd := exec.Command(tshark, "-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
		"-E", "aggregator=,", "-E", "quote=n",
		"-e", "eth", "-e", "arp", "-e", "ip", "-e", "icmp", "-e", "udp", "-e", "tcp", "-e", "dns",
		"-e", "dhcp", "-e", "http", "-e", "ip.flags.mf", "-e", "ip.frag_offset")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	// tshark exits non-zero after a read error; the frames before it are
	// still printed, which is what we compare with.
	_ = cmd.Run()
	names := []string{"ethernet", "arp", "ipv4", "icmp", "udp", "tcp", "dns", "dhcp", "http"}
	var frames []tsharkFrame
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		require.GreaterOrEqual(t, len(cols), 11, "tshark line %q", sc.Text())
		f := tsharkFrame{}
		for i, n := range names {
			f[n] = cols[i] != ""
		}
		for _, v := range strings.Split(cols[9], ",") {
			if v == "1" || v == "True" {
				f["ipv4_fragments"] = true
			}
		}
		for _, v := range strings.Split(cols[10], ",") {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				f["ipv4_fragments"] = true
			}
		}
		frames = append(frames, f)
	}
	require.NoError(t, sc.Err())
	return frames
}

// ourFrames analyses path and returns the result and the protocols of
// every frame.
func ourFrames(t *testing.T, path string) (*analyze.Result, []analyze.Protocols) {
	t.Helper()
	r, err := input.Open(path)
	require.NoError(t, err)
	defer func() { _ = r.Close() }()
	a := analyze.New()
	var protos []analyze.Protocols
	var f input.Frame
	for {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		var fe *input.FrameError
		if err != nil && !errors.As(err, &fe) {
			var te *input.TruncatedError
			require.ErrorAs(t, err, &te, "only truncation may end a shared capture early")
			a.Warn(te.Error())
			break
		}
		protos = append(protos, a.Frame(&f, err))
	}
	return a.Result(), protos
}

// readCountsTSV parses COUNTS.tsv into file -> column -> count.
func readCountsTSV(t *testing.T) map[string]map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedCaptures, "COUNTS.tsv"))
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
		require.Len(t, cols, len(header), "COUNTS.tsv line %q", line)
		m := map[string]int{}
		for i := 1; i < len(cols); i++ {
			n, err := strconv.Atoi(cols[i])
			require.NoError(t, err, "COUNTS.tsv line %q", line)
			m[header[i]] = n
		}
		res[cols[0]] = m
	}
	return res
}

// TestReplayCountsMatchTshark analyses every shared capture and checks our
// per-protocol counts against tshark run on the same file and against
// COUNTS.tsv, allowing exactly the differences in knownDiffs. Where the
// frame counts agree it also compares frame by frame, so two errors cannot
// cancel out.
func TestReplayCountsMatchTshark(t *testing.T) {
	t.Parallel()
	files := captureFiles(t)
	tshark, haveTshark := testenv.Optional(t, "tshark", "the comparison with tshark (COUNTS.tsv only)")
	want := readCountsTSV(t)
	known := map[[2]string]knownDiff{}
	for _, k := range knownDiffs {
		known[[2]string{k.file, k.proto}] = k
	}
	var mu sync.Mutex
	used := map[[2]string]bool{}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(sharedCaptures, name)
			res, ours := ourFrames(t, path)
			require.Len(t, ours, res.Counts.Frames)
			tsv, ok := want[name]
			require.True(t, ok, "%s missing from COUNTS.tsv", name)
			var theirs []tsharkFrame
			if haveTshark {
				theirs = runTshark(t, tshark, path)
			}
			for _, k := range countKeys {
				delta := 0
				kd, isKnown := known[[2]string{name, k.ours}]
				if isKnown {
					delta = kd.delta
					mu.Lock()
					used[[2]string{name, k.ours}] = true
					mu.Unlock()
				}
				got := res.Counts.Get(k.ours)
				assert.Equal(t, tsv[k.tshark]+delta, got,
					"%s: %s: ours %d, COUNTS.tsv %d, known delta %d", name, k.ours, got, tsv[k.tshark], delta)
				if theirs == nil {
					continue
				}
				tn := 0
				for _, f := range theirs {
					if k.ours == "frames" || f[k.ours] {
						tn++
					}
				}
				assert.Equal(t, tsv[k.tshark], tn, "%s: %s: tshark now says %d, COUNTS.tsv %d", name, k.ours, tn, tsv[k.tshark])
				if len(theirs) != len(ours) || isKnown || k.ours == "frames" {
					continue
				}
				var diff []string
				for i, f := range theirs {
					if f[k.ours] != ours[i].Has(k.ours) {
						diff = append(diff, fmt.Sprintf("%d(tshark=%v)", i+1, f[k.ours]))
					}
				}
				assert.Empty(t, diff, "%s: %s differs from tshark in frames %s", name, k.ours, strings.Join(diff, " "))
			}
		})
	}
	t.Cleanup(func() {
		var stale []string
		for _, k := range knownDiffs {
			if !used[[2]string{k.file, k.proto}] {
				stale = append(stale, k.file+"/"+k.proto)
			}
		}
		sort.Strings(stale)
		assert.Empty(t, stale, "knownDiffs entries for captures that are no longer present")
	})
}

// TestReplayCLI runs `simnet replay` on a capture, a file that is not a
// capture and a cut-off capture, checking the JSON report, the table and
// the exit statuses.
func TestReplayCLI(t *testing.T) {
	t.Parallel()
	captureFiles(t)
	dir := t.TempDir()
	bin := simnetBinary(t)

	run := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return o.String(), e.String(), code
	}
	type report struct {
		Counts   map[string]int             `json:"counts"`
		Flows    map[string]json.RawMessage `json:"flows"`
		Rejected []struct {
			Frame  int    `json:"frame"`
			Reason string `json:"reason"`
		} `json:"rejected"`
		Warnings []string `json:"warnings"`
	}

	t.Run("json", func(t *testing.T) {
		stdout, stderr, code := run("replay", "--json", filepath.Join(sharedCaptures, "zeek__dhcp.pcap"))
		require.Equal(t, 0, code, stderr)
		assert.Empty(t, stderr)
		var rep report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		for _, k := range analyze.CountNames {
			assert.Contains(t, rep.Counts, k)
		}
		assert.Equal(t, 9, rep.Counts["frames"])
		assert.Equal(t, 9, rep.Counts["dhcp"])
		assert.Contains(t, rep.Flows, "tcp")
		assert.Contains(t, rep.Flows, "dns")
		var dhcp []map[string]any
		require.NoError(t, json.Unmarshal(rep.Flows["dhcp"], &dhcp))
		assert.Len(t, dhcp, 3)
		assert.NotNil(t, rep.Rejected)
		assert.Empty(t, rep.Warnings)
	})
	t.Run("rejected frames in json", func(t *testing.T) {
		stdout, stderr, code := run("replay", "--json", filepath.Join(sharedCaptures, "zeek__arp-leak.pcap"))
		require.Equal(t, 0, code, stderr)
		var rep report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
		require.NotEmpty(t, rep.Rejected)
		assert.Contains(t, rep.Rejected[0].Reason, "arp")
	})
	t.Run("table", func(t *testing.T) {
		stdout, _, code := run("replay", filepath.Join(sharedCaptures, "chrissanders__tcp_handshake.pcapng"))
		require.Equal(t, 0, code)
		assert.Contains(t, stdout, "PROTOCOL")
		assert.Regexp(t, `(?m)^tcp\s+3$`, stdout)
		assert.Contains(t, stdout, "established")
	})
	t.Run("not a capture", func(t *testing.T) {
		p := filepath.Join(dir, "notes.pcap")
		require.NoError(t, os.WriteFile(p, []byte("these are notes, not packets\n"), 0o600))
		stdout, stderr, code := run("replay", "--json", p)
		assert.Equal(t, 2, code)
		assert.Empty(t, stdout)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		assert.Contains(t, stderr, "not a pcap or pcapng file")
	})
	t.Run("cut off", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(sharedCaptures, "zeek__wikipedia.pcap"))
		require.NoError(t, err)
		p := filepath.Join(dir, "cut.pcap")
		require.NoError(t, os.WriteFile(p, raw[:3000], 0o600))
		stdout, stderr, code := run("replay", "--json", p)
		assert.Equal(t, 2, code)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		assert.Contains(t, stderr, "truncated after 13 frames")
		var rep report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep), "what was read is still reported")
		assert.Equal(t, 13, rep.Counts["frames"])
		require.Len(t, rep.Warnings, 1)
		assert.Contains(t, rep.Warnings[0], "truncated after 13 frames")
	})
}
