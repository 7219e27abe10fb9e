package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/replay/analyze"
)

// tsharkConv is one row of a tshark conversation table.
type tsharkConv struct {
	framesBA, framesAB, frames int
	// bytes as tshark prints them: exact below 10000, else in kB or MB.
	bytesBA, bytesAB, bytes string
	relStart, duration      string
}

// runTsharkConv returns tshark's IPv4 and UDP conversation tables of
// path, keyed by "A <-> B".
func runTsharkConv(t *testing.T, tshark, path string) (ip, udp map[string]tsharkConv) {
	t.Helper()
	cmd := exec.Command(tshark, "-r", path, "-q", "-z", "conv,ip", "-z", "conv,udp")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	_ = cmd.Run() // non-zero after a read error; the tables are still printed
	ip, udp = map[string]tsharkConv{}, map[string]tsharkConv{}
	var cur map[string]tsharkConv
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "IPv4 Conversations"):
			cur = ip
		case strings.HasPrefix(line, "UDP Conversations"):
			cur = udp
		case strings.HasPrefix(line, "IPv6 Conversations"):
			cur = nil
		}
		f := strings.Fields(line)
		if cur == nil || len(f) != 14 || f[1] != "<->" {
			continue
		}
		atoi := func(s string) int {
			n, err := strconv.Atoi(s)
			assert.NoError(t, err, line) // not require: runs off the test goroutine
			return n
		}
		cur[f[0]+" <-> "+f[2]] = tsharkConv{framesBA: atoi(f[3]), bytesBA: f[4] + " " + f[5], framesAB: atoi(f[6]),
			bytesAB: f[7] + " " + f[8], frames: atoi(f[9]), bytes: f[10] + " " + f[11], relStart: f[12], duration: f[13]}
	}
	return ip, udp
}

// tsharkSize renders a byte count as tshark 4.0's conversation tables do
// (format_size with SI prefixes: exact below 10000).
func tsharkSize(n int) string {
	switch {
	case n < 10000:
		return fmt.Sprintf("%d bytes", n)
	case n < 10000000:
		return fmt.Sprintf("%d kB", n/1000)
	}
	return fmt.Sprintf("%d MB", n/1000000)
}

// convCaptures are the shared captures the conversation test compares by
// default (tshark takes about a second each on a loaded machine): DHCP
// broadcasts, DNS with ICMP errors quoting UDP, IPv4 fragments, IPv6 UDP,
// L2TP tunnels and sizes printed in kB. SIMNET_CONV_ALL=1 compares every
// shared capture (done for this table: only convTimeDiffs differ).
var convCaptures = []string{
	"arkime__wireshark-dhcp.pcap", "dpkt__dns_icmp.pcap", "pcapplusplus__IPv4Frag.pcap", "chrissanders__ip_frag_source.pcapng",
	"arkime__v6.pcap", "pcapplusplus__DnsPackets.pcap", "chrissanders__http_dvwa_clearlogin.pcapng", "chrissanders__dns.pcap",
}

// convTimeDiffs are the captures whose conversation start times differ
// from tshark's, and why; their frames and bytes must still agree.
var convTimeDiffs = map[string]string{
	"gopacket__le__test202.pcapng": "tshark 4.0 takes 3 pcapng custom blocks for frames at time 0 and measures from them",
	"pcapplusplus__many_interfaces-1.pcapng": "frames of several interfaces out of time order: tshark measures from another " +
		"reference than the first frame in file order",
}

// TestReplayConversationsMatchTshark holds our IPv4 and UDP conversation
// tables equal to tshark's (`-z conv,ip`, `-z conv,udp`) over shared
// captures: endpoints, direction, frames and bytes each way, start and
// duration.
func TestReplayConversationsMatchTshark(t *testing.T) {
	t.Parallel()
	tshark := testenv.Tool(t, "tshark")
	files := captureFiles(t)
	if os.Getenv("SIMNET_CONV_ALL") == "" {
		files = convCaptures
	}
	// tshark runs for several captures at once: it waits on I/O and
	// start-up as much as on the CPU.
	type tables struct{ ip, udp map[string]tsharkConv }
	got := make([]tables, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, name := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			got[i].ip, got[i].udp = runTsharkConv(t, tshark, filepath.Join(sharedCaptures, name))
		}()
	}
	wg.Wait()
	var compared, rows int
	for i, name := range files {
		path := filepath.Join(sharedCaptures, name)
		res, _ := analyze.RunFile(path)
		if res == nil {
			continue
		}
		tip, tudp := got[i].ip, got[i].udp
		for _, tc := range []struct {
			what   string
			ours   []*analyze.Conversation
			tshark map[string]tsharkConv
		}{{"ip", res.Conversations.IP, tip}, {"udp", res.Conversations.UDP, tudp}} {
			ours := map[string]tsharkConv{}
			for _, c := range tc.ours {
				ours[c.A+" <-> "+c.B] = tsharkConv{framesBA: c.FramesBtoA, bytesBA: tsharkSize(c.BytesBtoA), framesAB: c.FramesAtoB,
					bytesAB: tsharkSize(c.BytesAtoB), frames: c.Frames, bytes: tsharkSize(c.Bytes),
					relStart: fmt.Sprintf("%.9f", c.RelStart), duration: fmt.Sprintf("%.4f", c.Duration)}
			}
			if convTimeDiffs[name] != "" {
				for _, m := range []map[string]tsharkConv{ours, tc.tshark} {
					for k, c := range m {
						c.relStart, c.duration = "", ""
						m[k] = c
					}
				}
			}
			assert.Equal(t, tc.tshark, ours, "%s: conv,%s", name, tc.what)
			compared++
			rows += len(ours)
		}
	}
	t.Logf("compared %d tables, %d conversations", compared, rows)
	assert.Greater(t, rows, 50)
}
