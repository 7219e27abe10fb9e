package tests

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/hostrole"
	"github.com/simnet-go/simnet/sim"
	"github.com/simnet-go/simnet/tests/gvisorpeer"
)

// Addresses of the simulated host-role tests (RFC 2544 benchmarking range).
var (
	hrOurAddr  = netip.MustParseAddr("198.18.0.1")
	hrPeerAddr = netip.MustParseAddr("198.18.0.2")
	hrOurMAC   = [6]byte{0x02, 0, 0, 0, 0x10, 1}
	hrPeerMAC  = [6]byte{0x02, 0, 0, 0, 0x10, 2}
)

// recordSimEcho runs a simulated echo exchange between our stack (echo
// server on port 7 at hrOurAddr) and a gVisor client over a lossy link,
// with captures on, and returns the path of our host's capture.
func recordSimEcho(t *testing.T, imp impair.Config, size int) string {
	t.Helper()
	dir := t.TempDir()
	w, err := sim.New(sim.Config{Seed: 7, CaptureDir: dir})
	require.NoError(t, err)
	l, err := w.Connect("wire", sim.Iface{Host: "simnet", Name: "eth0"}, sim.Iface{Host: "gvisor", Name: "eth0"},
		sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	h := stack.New(stack.Config{Name: "simnet", Clock: w.Clock(), Rand: w.Rand("host/simnet")})
	h.AddInterface("eth0", ether.Addr(hrOurMAC), l.A()).SetAddress(netip.PrefixFrom(hrOurAddr, 24))
	ts := tcp.New(h, w.Clock(), w.Rand("host/simnet/tcp"), tcp.Config{})
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	_, err = tcpapps.StartEcho(ts, netip.AddrPortFrom(netip.IPv4Unspecified(), 7), 16)
	require.NoError(t, err)
	peer, err := gvisorpeer.New(gvisorpeer.Config{Addr: hrPeerAddr, PrefixLen: 24, MAC: hrPeerMAC, Start: w.Now()})
	require.NoError(t, err)
	peer.Attach(l.B())
	peer.Drive(w.Clock(), time.Millisecond)
	t.Cleanup(peer.Close)

	data := gvisorpeer.Pattern(size)
	res := make(chan error, 1)
	got := make(chan []byte, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c, err := peer.Dial(ctx, netip.AddrPortFrom(hrOurAddr, 7))
		if err != nil {
			res <- err
			return
		}
		go func() {
			b, _ := io.ReadAll(c)
			got <- b
		}()
		if _, err := c.Write(data); err != nil {
			res <- err
			return
		}
		res <- c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	var echoed []byte
	end := w.Now().Add(10 * time.Minute)
	for echoed == nil && w.Now() < end && w.Step() {
		select {
		case echoed = <-got:
		default:
		}
	}
	require.NoError(t, <-res)
	require.True(t, bytes.Equal(data, echoed), "echo byte-exact (%d of %d bytes)", len(echoed), size)
	w.RunFor(5 * time.Second) // let both sides finish closing
	require.NoError(t, w.Close())
	return filepath.Join(dir, "simnet.pcapng")
}

// TestHostRoleReplayReproducesSimulatedHost records our echo server against
// a gVisor client over a lossy simulated link, then replays the capture
// with our stack in the server's role: what our stack sends must be what the
// recorded stack sent, segment for segment (an empty diff).
func TestHostRoleReplayReproducesSimulatedHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		imp  impair.Config
	}{
		{"clean", impair.Config{Delay: 5 * time.Millisecond}},
		{"loss3", impair.Config{Delay: 5 * time.Millisecond, Loss: 0.03}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capture := recordSimEcho(t, tc.imp, 200<<10)
			out := t.TempDir()
			res, err := hostrole.Run(capture, hostrole.Config{As: hrOurAddr, OutDir: out, EchoPort: 7})
			require.NoError(t, err)
			assert.Equal(t, ether.Addr(hrOurMAC).String(), res.Profile.MAC)
			assert.Equal(t, netip.MustParsePrefix("198.18.0.0/24"), res.Profile.Prefix)
			assert.Equal(t, []uint16{7}, res.Profile.TCPPorts)
			require.NotEmpty(t, res.Report.Flows)
			var tcpFlows int
			for _, f := range res.Report.Flows {
				if f.Proto == diff.TCP {
					tcpFlows++
					assert.Greater(t, f.Matched, 100, f.Flow)
				}
			}
			assert.Equal(t, 1, tcpFlows)
			var sum bytes.Buffer
			require.NoError(t, res.Report.WriteSummary(&sum, 10))
			assert.True(t, res.Report.Empty(), "diff not empty:\n%s", sum.String())
			t.Logf("stats %+v\n%s", res.Stats, sum.String())
			assert.FileExists(t, filepath.Join(out, hostrole.CaptureFile))
			assert.FileExists(t, filepath.Join(out, hostrole.DiffFile))
		})
	}
}
