package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
	"github.com/simnet-go/simnet/replay/diff"
)

// clientRoleOutput is what the test reads of `simnet replay --as-client
// --json`.
type clientRoleOutput struct {
	Differences      int          `json:"differences"`
	Causes           []diff.Cause `json:"causes"`
	Writes           int          `json:"writes"`
	Sent             int          `json:"sent"`
	Received         int          `json:"received"`
	RecordedReceived int          `json:"recorded_received"`
	ServerClosed     bool         `json:"server_closed"`
	Report           diff.Report  `json:"report"`
}

// TestClientRoleReplayLive is the must-show of issue 16 item 5: a capture
// of curl fetching a file from Python's http.server and of a client
// echoing 20000 bytes through an ncat echo server is replayed in the
// client's role, through our stack on a tap, against the same servers run
// live in another namespace. The live HTTP server sends the same body
// (only its Date header may differ); the live echo server's stream equals the
// recorded one.
//
// On a loaded machine the servers (Python above all) answer late: every
// wait polls for what it waits for (a listening socket, the server's
// bytes, with --step-timeout 20s instead of 3 s) under limits far above
// what a quiet machine needs, so only a server that never answers fails.
func TestClientRoleReplayLive(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "tcpdump", "python3", "curl", "ncat", "ss")
	srv, cli := vethPair(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	require.NoError(t, os.MkdirAll(root, 0o755))
	body := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	require.NoError(t, os.WriteFile(filepath.Join(root, "data.txt"), body, 0o644))
	capture := filepath.Join(dir, "client.pcap")
	td := startTcpdump(t, srv, "veth0", capture, "tcp or arp")
	web := srv.Start(t, "python3", "-u", "-m", "http.server", "80", "--bind", "192.0.2.1", "--directory", root)
	srv.Start(t, "ncat", "-l", "-k", "-e", "/bin/cat", "192.0.2.1", "7")
	web.WaitOutput(t, "Serving HTTP", time.Minute)
	waitListening(t, srv, 7)
	require.Equal(t, "200 16000", cli.Run(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://192.0.2.1/data.txt"))
	require.Contains(t, cli.Run(t, "python3", "-c", echoClient), "echoed 20000 True")
	waitCapture(t, capture, 30*time.Second, "the close of both connections", closedConns(2))
	stopTcpdump(t, td)

	// The live servers, behind a tap our stack sends and receives on.
	live := tapNS(t)
	lweb := live.Start(t, "python3", "-u", "-m", "http.server", "80", "--bind", "192.0.2.1", "--directory", root)
	live.Start(t, "ncat", "-l", "-k", "-e", "/bin/cat", "192.0.2.1", "7")
	lweb.WaitOutput(t, "Serving HTTP", time.Minute)
	waitListening(t, live, 7)

	replay := func(server string) clientRoleOutput {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := live.Output(ctx, simnetBinary(t), "replay", capture, "--as-client", "192.0.2.2", "--to-tap", "tap0",
			"--server", server, "--step-timeout", "20s", "--json")
		require.NoError(t, err, out)
		var res clientRoleOutput
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		t.Logf("%s: %d differences, causes %+v", server, res.Differences, res.Causes)
		require.Len(t, res.Report.Flows, 1)
		return res
	}
	t.Run("http", func(t *testing.T) {
		res := replay("192.0.2.1:80")
		assert.Equal(t, 1, res.Writes, "curl's request in one write")
		assert.True(t, res.ServerClosed, "HTTP/1.0: the server closes")
		f := res.Report.Flows[0]
		// The Date header has a one-second resolution: when recording
		// and replay fall in the same second the streams are identical,
		// otherwise only the header differs and the body is the same.
		if f.Stream == nil {
			assert.True(t, f.StreamsIdentical, "no stream difference reported, so the streams must be identical")
		} else {
			assert.Equal(t, f.Stream.RecordedLen, f.Stream.OursLen)
			assert.GreaterOrEqual(t, f.Stream.CommonSuffix, len(body), "the same body")
		}
		assert.Equal(t, res.RecordedReceived, res.Received)
		for _, c := range res.Causes {
			assert.NotEqual(t, diff.CauseContent, c.Kind, "%s", c.Reason)
		}
	})
	t.Run("echo", func(t *testing.T) {
		res := replay("192.0.2.1:7")
		assert.Equal(t, 20000, res.Sent)
		assert.Equal(t, 20000, res.Received)
		f := res.Report.Flows[0]
		assert.True(t, f.StreamsIdentical, "the echoed stream equals the recorded one")
		assert.Nil(t, f.Stream)
	})
}

// waitListening polls until a TCP socket listens on port in ns (ss(8)),
// and fails t after a minute.
func waitListening(t *testing.T, ns *netns.NS, port int) {
	t.Helper()
	filter := fmt.Sprintf("sport = :%d", port)
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := ns.Output(context.Background(), "ss", "-Hltn", filter)
		require.NoError(t, err, out)
		if strings.TrimSpace(out) != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("in %s: nothing listens on TCP port %d after a minute", ns.Name(), port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
