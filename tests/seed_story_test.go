package tests

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// scnSeedStory is the seed's story with 5% loss on every host link.
const scnSeedStory = "../examples/seed-story-lossy.yaml"

// TestSeedStoryLossy runs the lossy seed story with several seeds: every
// expectation passes (DHCP leases on both DHCP hosts, the DNS answer, three
// HTTP 200 responses with the page's SHA-256, a verified echo), the links
// really lost frames, and the capture of the client shows the whole story.
func TestSeedStoryLossy(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			dir := t.TempDir()
			rep := scnRun(t, scnSeedStory, seed, dir, pcap.PcapNG)
			require.True(t, rep.Passed, "%v", rep.Failed())
			conds := make([]string, len(rep.Expectations))
			for i, e := range rep.Expectations {
				assert.True(t, e.Passed, "%s", e)
				conds[i] = e.App + " " + strings.SplitN(e.Condition, ":", 2)[0]
			}
			assert.Equal(t, []string{"web dhcp_bound", "client dhcp_bound", "lookup dns_answer", "fetch dns_answer",
				"fetch http_status", "fetch body_sha256", "fetch min_requests", "echo-check bytes_verified", "echo-check min_bytes"}, conds)
			var dropped uint64
			for _, l := range rep.Links {
				dropped += l.AtoB.Dropped + l.BtoA.Dropped
			}
			assert.Positive(t, dropped, "5%% loss dropped nothing")
			leases := map[string]string{}
			for _, h := range rep.Hosts {
				for _, l := range h.DHCP {
					leases[h.Name] = l.Address
				}
			}
			assert.Equal(t, map[string]string{"web": "10.0.0.200/24", "client": "10.0.0.100/24"}, leases)
			var story []string
			for _, e := range rep.Timeline {
				story = append(story, e.Host+": "+strings.SplitN(e.What, ":", 2)[0])
			}
			for _, want := range []string{"web: DHCP lease bound", "client: DHCP lease bound", "client: DNS answer for web.example.test",
				"client: HTTP 200 from http", "client: echo-check"} {
				assert.Contains(t, story, want)
			}
		})
	}
}

// TestSeedStoryDeterministic runs the lossy seed story twice per seed and
// requires byte-identical captures and reports, and different captures for
// different seeds.
func TestSeedStoryDeterministic(t *testing.T) {
	t.Parallel()
	outs := map[uint64][]map[string][]byte{}
	for _, seed := range []uint64{3, 11} {
		for range 2 {
			dir := t.TempDir()
			scnRun(t, scnSeedStory, seed, dir, pcap.PcapNG)
			outs[seed] = append(outs[seed], scnReadDir(t, dir))
		}
	}
	for seed, runs := range outs {
		require.Contains(t, runs[0], scenario.ReportFile)
		require.Contains(t, runs[0], "client.pcapng")
		require.Equal(t, len(runs[0]), len(runs[1]))
		for name, b := range runs[0] {
			assert.True(t, bytes.Equal(b, runs[1][name]), "seed %d: %s differs between two runs", seed, name)
		}
	}
	assert.NotEqual(t, outs[3][0]["client.pcapng"], outs[11][0]["client.pcapng"], "two seeds gave the same client capture")
}

// TestSeedStoryTshark decodes the lossy story's client capture with tshark
// and checks that it shows the DHCP exchange, the DNS query and answer and
// the HTTP response, on the standard ports.
func TestSeedStoryTshark(t *testing.T) {
	t.Parallel()
	tshark := scnTsharkPath(t)
	dir := t.TempDir()
	scnRun(t, scnSeedStory, 5, dir, pcap.PcapNG)
	out := scnTsharkFields(t, tshark, filepath.Join(dir, "client.pcapng"), "dhcp.option.dhcp || dns.a || http.response.code")
	for _, want := range []string{"DHCP Discover", "DHCP Offer", "DHCP Request", "DHCP ACK", "Standard query response", "HTTP/1.1 200 OK"} {
		assert.Contains(t, out, want)
	}
}

// scnTsharkPath returns tshark's path, or skips the test.
func scnTsharkPath(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "tshark")
}

// scnTsharkFields returns tshark's one-line summaries of the frames of
// path that match filter.
func scnTsharkFields(t *testing.T, tshark, path, filter string) string {
	t.Helper()
	// The lossy story's client link has jitter, which reorders frames as
	// netem's does: an HTTP response's body may arrive before its header.
	// Wireshark dissects such a response only with out-of-order TCP
	// reassembly on, the preference a user would turn on for it.
	out, err := exec.Command(tshark, "-n", "-o", "tcp.reassemble_out_of_order:TRUE", "-r", path, "-Y", filter).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}
