package gvisorinterop

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/stack"
)

// TestTCPGVisorInterop6 is the gVisor interop matrix over IPv6: TCP 20 MB
// both ways at 0/1/5% loss between simnet's TCP and gVisor's netstack,
// the two hosts finding each other by Neighbor Discovery. Transfers
// shrink to 1 MB under the race detector (and -short) unless
// SIMNET_FULL_INTEROP=1; `make test` reruns the matrix at 20 MB without
// the race detector. Every transfer must arrive byte-exact, both ends
// closing cleanly, and the MSS must come from the IPv6 MTU (1440 less
// the timestamp option).
func TestTCPGVisorInterop6(t *testing.T) {
	t.Parallel()
	size := 20 << 20
	if testing.Short() || (tcpRaceEnabled && os.Getenv("SIMNET_FULL_INTEROP") != "1") {
		size = 1 << 20
	}
	data := gvisorpeer.Pattern(size)
	const d = 5 * time.Millisecond
	for _, tc := range []struct {
		name string
		imp  impair.Config
	}{
		{"clean", impair.Config{Delay: d}},
		{"loss1", impair.Config{Delay: d, Loss: 0.01}},
		{"loss5", impair.Config{Delay: d, Loss: 0.05}},
	} {
		t.Run(tc.name+"/simnet-to-gvisor", func(t *testing.T) {
			t.Parallel()
			w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp, IPv6: true})
			require.NoError(t, err)
			defer w.Close()
			require.True(t, w.PeerAddr.Is6())
			st, err := w.SendToPeer(5001, data, 30*time.Minute)
			require.NoError(t, err)
			assert.Equal(t, 1440-12, st.MSS, "MSS from the IPv6 MTU")
			t.Logf("simnet sender over IPv6: %v sim, %d segs, %d rtx", st.Duration, st.SegmentsSent, st.Retransmits)
		})
		t.Run(tc.name+"/gvisor-to-simnet", func(t *testing.T) {
			t.Parallel()
			w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp, IPv6: true})
			require.NoError(t, err)
			defer w.Close()
			st, err := w.ReceiveFromPeer(5001, data, 30*time.Minute)
			require.NoError(t, err)
			assert.Equal(t, uint64(size), st.BytesReceived)
			t.Logf("simnet receiver over IPv6: %v sim, %d segs in, %d out-of-order", st.Duration, st.SegmentsReceived, st.OOOSegments)
		})
	}
}

// TestUDPGVisorInterop6 sends UDP over IPv6 from our stack to a gVisor
// socket, which answers; 100 and 3000 bytes (the latter fragmented).
func TestUDPGVisorInterop6(t *testing.T) {
	t.Parallel()
	w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 7, IPv6: true})
	require.NoError(t, err)
	defer w.Close()
	pc, err := w.Peer.ListenUDP(9)
	require.NoError(t, err)
	defer pc.Close()
	var got [][]byte
	s, err := w.Host.BindUDP(netip.AddrPortFrom(netip.IPv6Unspecified(), 0), stack.UDPHandlerFunc(
		func(_ *stack.UDPSocket, _, _ netip.AddrPort, data []byte) {
			got = append(got, append([]byte(nil), data...))
		}))
	require.NoError(t, err)
	echoed := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		for range 2 {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				echoed <- err
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				echoed <- err
				return
			}
		}
		echoed <- nil
	}()
	for k, size := range []int{100, 3000} {
		require.NoError(t, s.SendTo(netip.AddrPortFrom(w.PeerAddr, 9), gvisorpeer.Pattern(size)))
		w.Run(5*time.Second, func() bool { return len(got) > k })
		require.Len(t, got, k+1, "%d bytes: no answer from gVisor over IPv6", size)
		assert.Equal(t, gvisorpeer.Pattern(size), got[k])
	}
	select {
	case err := <-echoed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("gVisor's echo goroutine did not finish")
	}
}
