package tests

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/simnet-go/simnet/replay/input"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTCPECNGVisorFallback runs simnet's TCP with ECN on (RFC 3168)
// against gVisor's netstack, which does not negotiate ECN: simnet's
// ECN-setup SYN gets a plain SYN-ACK, and gVisor's plain SYN a plain
// SYN-ACK, so ECN stays off (section 6.1.1) and transfers both ways over a
// lossy link arrive byte-exact.
func TestTCPECNGVisorFallback(t *testing.T) {
	t.Parallel()
	data := gvisorpeer.Pattern(256 << 10)
	imp := impair.Config{Delay: 5 * time.Millisecond, Loss: 0.02}
	cfg := tcp.Config{ECN: true, KeepStats: true}
	t.Run("simnet-to-gvisor", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 3, Link: imp, TCP: cfg, CaptureDir: dir})
		require.NoError(t, err)
		st, err := w.SendToPeer(5001, data, 10*time.Minute)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		assert.False(t, st.ECN, "ECN must fall back against a peer without it")
		assert.Zero(t, st.ECNReductions)
		syn, synAck, ect := ecnHandshake(t, filepath.Join(dir, "simnet.pcapng"))
		assert.Equal(t, tcp.FlagECE|tcp.FlagCWR, syn&(tcp.FlagECE|tcp.FlagCWR), "simnet's SYN is ECN-setup")
		assert.Zero(t, synAck&tcp.FlagECE, "gVisor's SYN-ACK declines")
		assert.Zero(t, ect, "no ECT packets without ECN")
	})
	t.Run("gvisor-to-simnet", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		w, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{Seed: 3, Link: imp, TCP: cfg, CaptureDir: dir})
		require.NoError(t, err)
		st, err := w.ReceiveFromPeer(5001, data, 10*time.Minute)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		assert.False(t, st.ECN, "a plain SYN leaves ECN off")
		assert.Zero(t, st.CEReceived)
		syn, synAck, ect := ecnHandshake(t, filepath.Join(dir, "simnet.pcapng"))
		assert.Zero(t, syn&(tcp.FlagECE|tcp.FlagCWR), "gVisor's SYN is not ECN-setup")
		assert.Zero(t, synAck&tcp.FlagECE, "so simnet's SYN-ACK has no ECE")
		assert.Zero(t, ect, "no ECT packets without ECN")
	})
}

// ecnHandshake reads a capture and returns the TCP flags of the first SYN
// and SYN-ACK and the number of IPv4 packets with an ECN codepoint set.
func ecnHandshake(t *testing.T, path string) (syn, synAck uint8, ect int) {
	t.Helper()
	r, err := input.Open(path)
	require.NoError(t, err)
	defer r.Close()
	seenSyn, seenSynAck := false, false
	var f input.Frame
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		ip := f.Network
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != tcp.ProtocolNumber {
			continue
		}
		if ip[1]&3 != 0 {
			ect++
		}
		th := ip[int(ip[0]&15)*4:]
		if len(th) < 20 {
			continue
		}
		fl := th[13]
		switch {
		case fl&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN && !seenSyn:
			syn, seenSyn = fl, true
		case fl&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK && !seenSynAck:
			synAck, seenSynAck = fl, true
		}
	}
	require.True(t, seenSyn && seenSynAck, "handshake in the capture")
	return syn, synAck, ect
}
