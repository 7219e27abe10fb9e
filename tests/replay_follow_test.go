package tests

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/replay/follow"
	"github.com/simnet-go/simnet/replay/input"
)

// TestReplayFollowMatchesTshark holds `simnet replay FILE --follow N` equal,
// byte for byte, to `tshark -q -z follow,tcp,ascii,N` on TCP streams with
// retransmissions, a repeated SYN, pipelined HTTP requests and DNS over
// TCP, and `--follow udp,N` to `-z follow,udp,ascii,N` on DHCP and on DNS
// beside ICMP errors that quote UDP headers.
func TestReplayFollowMatchesTshark(t *testing.T) {
	t.Parallel()
	tshark := testenv.Tool(t, "tshark")
	cases := []struct {
		file   string
		proto  string
		stream int
	}{
		{"pcapplusplus__TwoHttpRequests.pcap", "tcp", 0}, {"arkime__wireshark-retrans.pcap", "tcp", 0}, {"arkime__dns-tcp.pcap", "tcp", 0},
		{"chrissanders__tcp_retransmissions.pcapng", "tcp", 0}, {"chrissanders__http_dvwa_clearlogin.pcapng", "tcp", 1},
		{"pcapplusplus__dns_over_tcp.pcapng", "tcp", 0}, {"arkime__wireshark-dhcp.pcap", "udp", 1}, {"dpkt__dns_icmp.pcap", "udp", 3},
	}
	captureFiles(t) // fails under SIMNET_REQUIRE=all without the shared captures
	want := make([]string, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(tshark, "-r", filepath.Join(sharedCaptures, c.file), "-q", "-z", fmt.Sprintf("follow,%s,ascii,%d", c.proto, c.stream))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, io.Discard
			_ = cmd.Run()
			want[i] = out.String()
		}()
	}
	wg.Wait()
	for i, c := range cases {
		r, err := input.Open(filepath.Join(sharedCaptures, c.file))
		require.NoError(t, err)
		st, err := follow.Follow(r, follow.Selector{Proto: c.proto, Index: c.stream})
		require.NoError(t, r.Close())
		require.NoError(t, err, c.file)
		var got bytes.Buffer
		require.NoError(t, st.WriteASCII(&got))
		require.Greater(t, len(want[i]), 150, "%s: tshark printed the stream", c.file)
		assert.Equal(t, want[i], got.String(), "%s stream %d", c.file, c.stream)
	}
}
