package gvisorinterop

import (
	"os"
	"testing"
	"time"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/require"
)

// tcpInteropCases are the link conditions of the gVisor interop matrix.
func tcpInteropCases() []struct {
	name string
	imp  impair.Config
} {
	const d = 5 * time.Millisecond
	return []struct {
		name string
		imp  impair.Config
	}{
		{"clean", impair.Config{Delay: d}},
		{"loss1", impair.Config{Delay: d, Loss: 0.01}},
		{"loss5", impair.Config{Delay: d, Loss: 0.05}},
		{"loss10", impair.Config{Delay: d, Loss: 0.10}},
		{"gilbert-elliott", impair.Config{Delay: d, Burst: impair.GilbertElliott{P: 0.005, R: 0.3, LossBad: 1}}},
		{"reorder", impair.Config{Delay: d, Reorder: 0.05, ReorderDelay: 2 * time.Millisecond}},
		{"duplicate", impair.Config{Delay: d, Duplicate: 0.05}},
		{"bottleneck-10mbit", impair.Config{Delay: d, Rate: 10e6, QueuePackets: 16}},
		{"corrupt", impair.Config{Delay: d, Corrupt: 0.02}},
		{"mixed", impair.Config{Delay: d, Jitter: time.Millisecond, Loss: 0.02, Duplicate: 0.02, Reorder: 0.02, ReorderDelay: 3 * time.Millisecond, Rate: 50e6, QueuePackets: 64}},
	}
}

// bbrInteropCases are the link conditions the matrix also runs with BBR
// as simnet's sender.
var bbrInteropCases = map[string]bool{"clean": true, "loss5": true, "bottleneck-10mbit": true, "mixed": true}

// tcpInteropMatrix transfers size bytes each way between simnet's TCP (on a
// proto/stack host) and gVisor's netstack under every link condition of
// tcpInteropCases: every transfer must arrive byte-exact and both ends
// must close cleanly.
func tcpInteropMatrix(t *testing.T, size int) {
	data := gvisorpeer.Pattern(size)
	for _, tc := range tcpInteropCases() {
		t.Run(tc.name+"/simnet-to-gvisor", func(t *testing.T) {
			t.Parallel()
			w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp})
			require.NoError(t, err)
			defer w.Close()
			st, err := w.SendToPeer(5001, data, 30*time.Minute)
			require.NoError(t, err)
			t.Logf("simnet sender: %v sim, goodput %.1f Mbit/s, %d segs, %d rtx (%d timeouts, %d fast), sacked %d, srtt %v",
				st.Duration, float64(size)*8/st.Duration.Seconds()/1e6, st.SegmentsSent, st.Retransmits, st.TimeoutRetransmits, st.FastRetransmits, st.SACKedBytes, st.SRTT)
		})
		if bbrInteropCases[tc.name] {
			t.Run(tc.name+"/simnet-bbr-to-gvisor", func(t *testing.T) {
				// BBR as simnet's sender (paced on the simulated clock), on a
				// smaller transfer and the conditions that stress it most, to
				// keep the matrix's wall time down.
				bdata := data[:min(len(data), 512<<10)]
				w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp, TCP: tcp.Config{CongestionControl: "bbr"}})
				require.NoError(t, err)
				defer w.Close()
				st, err := w.SendToPeer(5001, bdata, 30*time.Minute)
				require.NoError(t, err)
				require.Equal(t, "bbr", st.CongestionControl)
				t.Logf("simnet bbr sender: %v sim, goodput %.1f Mbit/s, %d segs, %d rtx (%d timeouts, %d fast)",
					st.Duration, float64(len(bdata))*8/st.Duration.Seconds()/1e6, st.SegmentsSent, st.Retransmits, st.TimeoutRetransmits, st.FastRetransmits)
			})
		}
		t.Run(tc.name+"/gvisor-to-simnet", func(t *testing.T) {
			t.Parallel()
			w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp})
			require.NoError(t, err)
			defer w.Close()
			st, err := w.ReceiveFromPeer(5001, data, 30*time.Minute)
			require.NoError(t, err)
			t.Logf("simnet receiver: %v sim, %d bytes, %d segs in, %d out-of-order", st.Duration, st.BytesReceived, st.SegmentsReceived, st.OOOSegments)
		})
	}
}

// TestTCPGVisorInterop runs the interop matrix with 20 MB transfers. They
// shrink to 1 MB under the race detector (and -short) unless
// SIMNET_FULL_INTEROP=1 is set: the race detector checks the same code
// paths on 1 MB (every impairment still hits it hundreds of times), and
// `make test` runs the full 20 MB matrix without it
// (`go test -count=1 ./tests/gvisorinterop`).
func TestTCPGVisorInterop(t *testing.T) {
	t.Parallel()
	size := 20 << 20
	if testing.Short() || (tcpRaceEnabled && os.Getenv("SIMNET_FULL_INTEROP") != "1") {
		size = 1 << 20
	}
	tcpInteropMatrix(t, size)
}
