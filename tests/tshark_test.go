package tests

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// scnExpertError is the value of _ws.expert.severity for errors
// (PI_ERROR in Wireshark's epan/proto.h).
const scnExpertError = 0x00800000

// scnTsharkFilter selects the frames tshark finds wrong: malformed, with an
// expert error, or with a bad IP, ICMP, UDP or TCP checksum (status 0 is
// "Bad"; 1 is good, 2 unverified).
var scnTsharkFilter = fmt.Sprintf("_ws.malformed || _ws.expert.severity >= %d || ip.checksum.status == 0 || icmp.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0", scnExpertError)

// TestTsharkDecodesCaptures runs every example and the demo, in both
// capture formats, and decodes every capture with tshark with IP, ICMP, UDP
// and TCP checksum validation on. Any malformed frame, expert error or bad
// checksum fails the test unless the frame is one the links corrupted on
// purpose: in pcapng it must carry the link's "corrupted by link" comment
// (switches carry it on, link.Carrier); plain pcap has no comments, so there
// it must differ in exactly one byte from a frame captured elsewhere in the
// run (the intact copy the sender offered). No capture (hosts' and
// switches') may hold more such frames than the links report corrupting.
func TestTsharkDecodesCaptures(t *testing.T) {
	if testing.Short() {
		t.Skip("decoding every capture with tshark takes a minute: skipped in -short mode")
	}
	t.Parallel()
	tshark := testenv.Tool(t, "tshark")
	for _, file := range append(scnExamples(t), scnDemo) {
		for _, format := range []pcap.Format{pcap.PcapNG, pcap.Pcap} {
			t.Run(filepath.Base(file)+"/"+format.String(), func(t *testing.T) {
				t.Parallel()
				s, err := scenario.Load(file)
				require.NoError(t, err)
				dir := t.TempDir()
				rep := scnRun(t, file, s.Seed, dir, format)
				require.NotEmpty(t, rep.Captures)
				var corrupted uint64
				for _, l := range rep.Links {
					corrupted += l.AtoB.Corrupted + l.BtoA.Corrupted
				}
				frames := map[string][][]byte{}
				captures := append(append([]string(nil), rep.Captures...), rep.SwitchCaptures...)
				for _, c := range captures {
					frames[c] = scnReadFrames(t, filepath.Join(dir, c), format)
				}
				for _, c := range captures {
					excused := 0
					total, flagged := scnTshark(t, tshark, filepath.Join(dir, c))
					assert.Equal(t, len(frames[c]), total, "%s: tshark and pcapgo disagree on the frame count", c)
					for _, f := range flagged {
						n, err := strconv.Atoi(f.number)
						require.NoError(t, err)
						require.LessOrEqual(t, n, len(frames[c]))
						if format == pcap.PcapNG {
							// pcapng: the frame must carry the link's
							// comment, carried across switches too.
							if strings.Contains(f.comment, "corrupted by link") {
								excused++
								continue
							}
						} else if scnOneByteFromAnother(frames, c, n-1) {
							// Plain pcap has no comments: the frame must
							// be the intact copy with one byte changed.
							excused++
							continue
						}
						t.Errorf("%s: frame %d: tshark reports a problem (%s) on a frame no link corrupted (comment %q)", c, n, f.why, f.comment)
					}
					bound := corrupted
					if slices.Contains(rep.SwitchCaptures, c) {
						// A switch records a damaged frame as it arrives
						// and again on each port it leaves by.
						bound *= uint64(len(rep.Links))
					}
					assert.LessOrEqual(t, uint64(excused), bound, "%s: more damaged frames than the links corrupted", c)
				}
			})
		}
	}
}

// scnReadFrames returns the frames of a capture with gopacket's readers.
func scnReadFrames(t *testing.T, path string, format pcap.Format) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var r interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	if format == pcap.PcapNG {
		r, err = pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(f)
	}
	require.NoError(t, err, path)
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err, path)
		out = append(out, append([]byte(nil), data...))
	}
}

// scnOneByteFromAnother reports whether frame i of capture c differs in
// exactly one byte from some frame of another capture, or of the same one.
func scnOneByteFromAnother(frames map[string][][]byte, c string, i int) bool {
	x := frames[c][i]
	for name, fs := range frames {
		for j, y := range fs {
			if (name == c && j == i) || len(y) != len(x) {
				continue
			}
			diff := 0
			for k := range x {
				if x[k] != y[k] {
					diff++
					if diff > 1 {
						break
					}
				}
			}
			if diff == 1 {
				return true
			}
		}
	}
	return false
}

type scnFlagged struct {
	number, comment, why string
}

// scnTshark decodes path once and returns the number of frames and the
// frames that match scnTsharkFilter. The filter is applied here to the
// fields of every frame (one tshark run instead of one to count and one to
// filter): a field given several times matches when any of its values
// does, as in a display filter.
func scnTshark(t *testing.T, tshark, path string) (int, []scnFlagged) {
	t.Helper()
	cmd := exec.Command(tshark, "-n", "-r", path,
		"-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=\t", "-E", "aggregator=|",
		"-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
		"-e", "ip.checksum.status", "-e", "icmp.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status",
		"-e", "frame.comment", "-e", "_ws.expert.message")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark on %s: %s", path, stderr.String())
	assert.NotContains(t, stderr.String(), "appears to be damaged or corrupt", path)
	text := strings.TrimRight(string(out), "\n")
	if text == "" {
		return 0, nil
	}
	lines := strings.Split(text, "\n")
	var flagged []scnFlagged
	for _, line := range lines {
		f := strings.SplitN(line, "\t", 9)
		require.Len(t, f, 9, "tshark line %q", line)
		if !scnTsharkMatches(f[1], f[2], f[3:7]) {
			continue
		}
		why := strings.Join(append([]string{f[8]}, f[3:7]...), "\t")
		flagged = append(flagged, scnFlagged{number: f[0], comment: f[7], why: why})
	}
	return len(lines), flagged
}

// scnTsharkMatches evaluates scnTsharkFilter on one frame's fields: the
// _ws.malformed field, the expert severities and the IP, ICMP, UDP and TCP
// checksum statuses (values joined by "|").
func scnTsharkMatches(malformed, severities string, checksums []string) bool {
	if malformed != "" {
		return true
	}
	for _, v := range strings.Split(severities, "|") {
		if sev, err := strconv.ParseUint(v, 0, 32); err == nil && sev >= scnExpertError {
			return true
		}
	}
	for _, c := range checksums {
		if slices.Contains(strings.Split(c, "|"), "0") {
			return true
		}
	}
	return false
}
