package analyze

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/capturetest"
)

// TestTCPAnalysisCounts: the analysis carries Wireshark's SEQ/ACK flags;
// for Wireshark's own retransmission sample, the counts tshark 4.0's
// `-z expert` gives (47 retransmissions of which 14 fast and 5 spurious,
// one out-of-order segment, 12+8+7 duplicate ACKs, one keep-alive).
func TestTCPAnalysisCounts(t *testing.T) {
	t.Parallel()
	res, err := RunFile(filepath.Join(capturetest.Dir(t), "arkime__wireshark-retrans.pcap"))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{
		"retransmission": 47, "fast_retransmission": 14, "spurious_retransmission": 5,
		"out_of_order": 1, "duplicate_ack": 27, "keep_alive": 1,
	}, res.TCPAnalysis)
}
