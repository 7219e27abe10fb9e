// Package tsharkcheck decodes captures simnet wrote with tshark, checksum
// validation on, and reports the frames Wireshark would flag.
package tsharkcheck

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Problems decodes path once with checksum validation and returns
// its frame count and the lines of the frames tshark finds malformed, in
// error or with a bad checksum. One error is expected and excused: a
// sender's capture keeps the segments its link dropped (with a comment),
// so the retransmission of a dropped segment overlaps data Wireshark has
// already reassembled ("New fragment overlaps old data"); such a frame
// must resend exactly a dropped segment (same port, sequence number and
// length).
func Problems(t testing.TB, bin, path string) (int, []string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-o", "tcp.check_checksum:TRUE", "-T", "fields", "-E", "separator=;", "-E", "aggregator=|",
		"-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity",
		"-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "tcp.checksum.status",
		"-e", "tcp.srcport", "-e", "tcp.seq_raw", "-e", "tcp.len", "-e", "frame.comment")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark %s: %s", path, stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	dropped := map[string]bool{} // "port seq len" of segments a link dropped
	var bad []string
	for _, line := range lines {
		f := strings.Split(line, ";")
		require.Len(t, f, 10, "tshark line %q", line)
		seg := f[6] + " " + f[7] + " " + f[8]
		if strings.Contains(f[9], "dropped by link") {
			dropped[seg] = true
		}
		if f[3] == "0" || f[4] == "0" || f[5] == "0" {
			bad = append(bad, line)
			continue
		}
		if strings.Contains(f[1], "New fragment overlaps old data") && dropped[seg] {
			continue
		}
		// Expert severity 0x00800000 is an error (Wireshark's
		// epan/proto.h); checksum status 0 is "Bad".
		var sev uint64
		for _, v := range strings.Split(f[2], "|") {
			if x, err := strconv.ParseUint(v, 0, 32); err == nil && x > sev {
				sev = x
			}
		}
		if f[1] != "" || sev >= 0x00800000 {
			bad = append(bad, line)
		}
	}
	return len(lines), bad
}
