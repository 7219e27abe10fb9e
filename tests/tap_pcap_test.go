package tests

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// readFrames returns every frame of a pcap or pcapng file, hex-encoded.
func readFrames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var frames []string
	var next func() ([]byte, error)
	if ng, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions); err == nil {
		next = func() ([]byte, error) { d, _, err := ng.ReadPacketData(); return d, err }
	} else {
		_, err := f.Seek(0, io.SeekStart)
		require.NoError(t, err)
		r, err := pcapgo.NewReader(f)
		require.NoError(t, err, "%s is neither pcapng nor pcap", path)
		next = func() ([]byte, error) { d, _, err := r.ReadPacketData(); return d, err }
	}
	for {
		d, err := next()
		if errors.Is(err, io.EOF) {
			return frames
		}
		require.NoError(t, err, "reading %s", path)
		frames = append(frames, hex.EncodeToString(d))
	}
}

// tsharkClean checks that tshark decodes every frame of path without a
// malformed packet and returns the number of frames it read.
func tsharkClean(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.number", "-e", "_ws.malformed", "-e", "_ws.expert.severity").CombinedOutput()
	require.NoError(t, err, string(out))
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || strings.HasPrefix(line, "Running as") {
			continue
		}
		n++
		fields := strings.Split(line, "\t")
		if len(fields) > 1 && fields[1] != "" {
			t.Errorf("%s: frame %s is malformed", path, fields[0])
		}
	}
	return n
}

// TestTapPcap: the pcapng taprun writes and a tcpdump capture of the same
// tap both decode cleanly in tshark and hold the same frames.
func TestTapPcap(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "tcpdump", "tshark", "ping", "curl")
	ns := tapNS(t)
	// Keep the kernel's IPv6 chatter (router solicitations, MLD) out of the
	// comparison: the stack does not speak IPv6.
	ns.Run(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	ns.Run(t, "sysctl", "-qw", "net.ipv6.conf.tap0.disable_ipv6=1")
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "taprun.pcapng"), filepath.Join(dir, "tcpdump.pcap")

	td := ns.Start(t, "tcpdump", "-n", "--immediate-mode", "-U", "-i", "tap0", "-w", theirs)
	td.WaitOutput(t, "listening on tap0", 10*time.Second)
	p := startTaprun(t, ns, "--ip", tapStackCIDR, "--http", "80", "--pcap", ours)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Output(ctx, "ping", "-n", "-c", "5", "-i", "0.05", "-s", "3000", tapStackIP)
	require.NoError(t, err, out)
	for i := 0; i < 3; i++ {
		out, err = ns.Output(ctx, "curl", "-sS", "--fail", "http://"+tapStackIP+"/")
		require.NoError(t, err, out)
	}
	// The last ACKs cross both vantage points: tcpdump has seen the three
	// connections closed.
	waitCapture(t, theirs, 10*time.Second, "three closed connections", closedConns(3))
	p.Stop()
	assert.Contains(t, p.Output(), "capture "+ours+" closed")
	require.NoError(t, td.Signal(os.Interrupt))
	require.NoError(t, td.Wait(10*time.Second), td.Output())

	nOurs, nTheirs := tsharkClean(t, ours), tsharkClean(t, theirs)
	a, b := readFrames(t, ours), readFrames(t, theirs)
	assert.Equal(t, len(a), nOurs, "tshark and gopacket disagree on %s", ours)
	assert.Equal(t, len(b), nTheirs, "tshark and gopacket disagree on %s", theirs)
	require.Greater(t, len(a), 30, "too few frames captured")
	// The two vantage points may interleave the directions differently:
	// compare the frames as multisets.
	slices.Sort(a)
	slices.Sort(b)
	if !assert.Equal(t, len(b), len(a), "frame counts") || !slices.Equal(a, b) {
		t.Logf("only in taprun's: %v", diffFrames(a, b))
		t.Logf("only in tcpdump's: %v", diffFrames(b, a))
		t.Fail()
	}
}

// diffFrames returns the first few frames of a (sorted) missing from b.
func diffFrames(a, b []string) []string {
	var out []string
	for _, f := range a {
		if _, found := slices.BinarySearch(b, f); !found {
			out = append(out, fmt.Sprintf("%.80s", f))
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}
