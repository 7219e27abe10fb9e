package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/udp"
)

// seedCapture is a small pcapng of the repository that holds host 10.0.0.1.
const seedCapture = "../../captures/seed-story-infra.pcapng"

// pcapngBlocks returns the offsets of the blocks of a pcapng file.
func pcapngBlocks(t *testing.T, b []byte) (offs []int, types []uint32) {
	t.Helper()
	for off := 0; off+8 <= len(b); {
		typ, n := binary.LittleEndian.Uint32(b[off:]), binary.LittleEndian.Uint32(b[off+4:])
		require.NotZero(t, n)
		offs, types = append(offs, off), append(types, typ)
		off += int(n)
	}
	return offs, types
}

// hostileCaptures returns broken captures derived from seedCapture: each
// case is a file the replay must refuse, or report as covering only what
// was read.
func hostileCaptures(t *testing.T) map[string][]byte {
	t.Helper()
	ng, err := os.ReadFile(seedCapture)
	require.NoError(t, err)
	offs, types := pcapngBlocks(t, ng)
	firstEPB, secondEPB := -1, -1
	for i, typ := range types {
		if typ == 6 {
			if firstEPB < 0 {
				firstEPB = offs[i]
			} else if secondEPB < 0 {
				secondEPB = offs[i]
			}
		}
	}
	require.Positive(t, secondEPB)
	patch := func(b []byte, off int, v uint32) []byte {
		c := bytes.Clone(b)
		binary.LittleEndian.PutUint32(c[off:], v)
		return c
	}
	// A plain pcap with one Ethernet frame from 10.0.0.1 (a gratuitous ARP).
	frame := make([]byte, 42)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1})
	copy(frame[38:], []byte{10, 0, 0, 1})
	hdr := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0}
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
	pcapFile := append(append(bytes.Clone(hdr), rec...), frame...)
	return map[string][]byte{
		"pcap header only":          hdr,
		"pcap cut in the header":    hdr[:13],
		"pcap record length huge":   patch(pcapFile, 24+8, 0xFFFFFFF0),
		"pcap cut inside a record":  pcapFile[:len(pcapFile)-5],
		"pcapng block length 3":     patch(ng, 4, 3),
		"pcapng EPB length 3":       patch(ng, firstEPB+4, 3),
		"pcapng EPB length corrupt": patch(ng, secondEPB+4, 0xFFFFFF00),
		"pcapng EPB caplen corrupt": patch(ng, firstEPB+20, 0xFFFFFF00),
		"pcapng cut mid-file":       ng[:secondEPB+30],
	}
}

// TestReplayHostRoleHostileInput is finding 1 of issue 11: a broken
// capture gives one line on stderr, exit 2, and either no output at all or
// output that says it covers only the frames read.
func TestReplayHostRoleHostileInput(t *testing.T) {
	t.Parallel()
	for name, data := range hostileCaptures(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			in := filepath.Join(dir, "in.cap")
			require.NoError(t, os.WriteFile(in, data, 0o644))
			for _, asJSON := range []bool{false, true} {
				out := filepath.Join(dir, fmt.Sprintf("out-json-%t", asJSON))
				var stdout, stderr bytes.Buffer
				code := runHostRole(&stdout, &stderr, in, &replayOpts{as: "10.0.0.1", out: out, asJSON: asJSON})
				assert.Equal(t, 2, code)
				msg := stderr.String()
				assert.Equal(t, 1, strings.Count(msg, "\n"), "one line on stderr: %q", msg)
				assert.True(t, strings.HasPrefix(msg, "simnet replay: "), msg)
				entries, err := os.ReadDir(out)
				if os.IsNotExist(err) {
					assert.Empty(t, stdout.String(), "no output without a replay")
					continue
				}
				require.NoError(t, err)
				assert.Len(t, entries, 3)
				summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
				require.NoError(t, err)
				assert.True(t, strings.HasPrefix(string(summary), "partial: covers only the first "), string(summary))
				diffJSON, err := os.ReadFile(filepath.Join(out, "diff.json"))
				require.NoError(t, err)
				assert.Contains(t, string(diffJSON), `"partial": "covers only the first `)
				assert.Contains(t, stdout.String(), "covers only the first ")
			}
		})
	}
}

// TestReplayFrameNumbersFromOne is finding 3 of issue 11: --json numbers
// frames from 1, as the text output, diff.json and Wireshark do. In
// seedCapture, tshark shows the first DNS query as frame 14, its response
// as 15 and the first DHCP exchange as frames 1 to 4.
func TestReplayFrameNumbersFromOne(t *testing.T) {
	t.Parallel()
	var text, js, stderr bytes.Buffer
	require.Equal(t, 0, runReplay(&text, &stderr, seedCapture, false), stderr.String())
	require.Equal(t, 0, runReplay(&js, &stderr, seedCapture, true), stderr.String())
	var res struct {
		Flows struct {
			DNS []struct {
				QueryFrame    int `json:"query_frame"`
				ResponseFrame int `json:"response_frame"`
			} `json:"dns"`
			DHCP []struct {
				Frames []int `json:"frames"`
			} `json:"dhcp"`
		} `json:"flows"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &res))
	require.NotEmpty(t, res.Flows.DNS)
	require.NotEmpty(t, res.Flows.DHCP)
	assert.Equal(t, 14, res.Flows.DNS[0].QueryFrame)
	assert.Equal(t, 15, res.Flows.DNS[0].ResponseFrame)
	assert.Equal(t, []int{1, 2, 3, 4}, res.Flows.DHCP[0].Frames)
	assert.Regexp(t, `\(udp\)\s+26227\s+www\.example\.test\. A\s+14\s+15\s`, text.String(), "the text output agrees")
}

// garp is a gratuitous ARP frame from 10.0.0.1.
var garp = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
	0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1}

// udpFrom1 returns a UDP datagram from 10.0.0.1:5353 to 10.0.0.2:9999.
func udpFrom1(t *testing.T, payload string) []byte {
	t.Helper()
	b := make([]byte, 14+20+8+len(payload))
	copy(b[42:], payload)
	_, err := udp.Encode(b[34:], 5353, 9999, len(payload))
	require.NoError(t, err)
	_, err = ipv4.Encode(b[14:], &ipv4.Fields{TTL: 64, Protocol: 17,
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2")}, 8+len(payload))
	require.NoError(t, err)
	ether.Encode(b, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	return b
}

// stamped is a frame and its timestamp in microseconds since 1970.
type stamped struct {
	micros uint64
	frame  []byte
}

// pcapngOf returns a pcapng file (microsecond timestamps, the default) of
// the frames.
func pcapngOf(frames ...stamped) []byte {
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) []byte {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		b := le.AppendUint32(le.AppendUint32(nil, typ), n)
		return le.AppendUint32(append(b, body...), n)
	}
	shb := le.AppendUint64(le.AppendUint16(le.AppendUint16(le.AppendUint32(nil, 0x1A2B3C4D), 1), 0), ^uint64(0))
	idb := le.AppendUint32(le.AppendUint16(le.AppendUint16(nil, 1), 0), 0)
	out := append(block(0x0A0D0D0A, shb), block(1, idb)...)
	for _, f := range frames {
		epb := le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(le.AppendUint32(nil, 0),
			uint32(f.micros>>32)), uint32(f.micros)), uint32(len(f.frame))), uint32(len(f.frame)))
		out = append(out, block(6, append(epb, f.frame...))...)
	}
	return out
}

// TestReplayTimestampsBeyondYear9999 is finding 5 of issue 11: a pcapng
// timestamp after year 9999 (tshark shows 10001-02-04) does not stop the
// JSON output of the analysis or of a host-role replay.
func TestReplayTimestampsBeyondYear9999(t *testing.T) {
	t.Parallel()
	const y10001 = (253402300800 + 86400*400) * 1000000 // 10001-02-04T00:00:00Z in µs
	dir := t.TempDir()
	in := filepath.Join(dir, "y10k.pcapng")
	require.NoError(t, os.WriteFile(in, pcapngOf(stamped{y10001, garp}, stamped{y10001 + 1000, udpFrom1(t, "x")}), 0o644))

	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, runReplay(&stdout, &stderr, in, true), stderr.String())
	var res struct {
		First, Last string
		Counts      struct{ Frames int }
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
	assert.Equal(t, "10001-02-04T00:00:00Z", res.First)
	assert.Equal(t, "10001-02-04T00:00:00.001Z", res.Last)
	assert.Equal(t, 2, res.Counts.Frames)

	stdout.Reset()
	code := runHostRole(&stdout, &stderr, in, &replayOpts{as: "10.0.0.1", out: filepath.Join(dir, "o"), asJSON: true})
	require.Equal(t, 0, code, stderr.String())
	assert.Empty(t, stderr.String())
	var hr struct {
		Report struct {
			Flows []struct {
				Differences []struct {
					Recorded struct{ Time string }
				}
			}
		}
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &hr), stdout.String())
	require.Len(t, hr.Report.Flows, 1)
	require.NotEmpty(t, hr.Report.Flows[0].Differences, "our stack does not send the recorded datagram")
	assert.Equal(t, "10001-02-04T00:00:00.001Z", hr.Report.Flows[0].Differences[0].Recorded.Time)
}
