package gvisorpeer_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newWorld(t *testing.T, cfg gvisorpeer.WorldConfig) *gvisorpeer.World {
	t.Helper()
	w, err := gvisorpeer.NewWorld(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// TestPeerSmoke checks the harness on its own: a clean and a lossy 1 MB
// transfer in each direction. The full matrix lives in
// tests/gvisorinterop/tcp_interop_test.go.
func TestPeerSmoke(t *testing.T) {
	for _, tc := range []struct {
		name string
		imp  impair.Config
	}{
		{"clean", impair.Config{Delay: 2 * time.Millisecond}},
		{"loss2", impair.Config{Delay: 2 * time.Millisecond, Loss: 0.02}},
	} {
		data := gvisorpeer.Pattern(1 << 20)
		t.Run(tc.name+"/simnet-to-gvisor", func(t *testing.T) {
			w := newWorld(t, gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp})
			st, err := w.SendToPeer(5001, data, 10*time.Minute)
			require.NoError(t, err)
			assert.Equal(t, uint64(len(data)), st.BytesSent)
			if tc.imp.Loss > 0 {
				assert.Positive(t, st.Retransmits)
			}
			assert.Positive(t, w.Peer.FramesIn)
			assert.Positive(t, w.Peer.FramesOut)
		})
		t.Run(tc.name+"/gvisor-to-simnet", func(t *testing.T) {
			w := newWorld(t, gvisorpeer.WorldConfig{Seed: 42, Link: tc.imp})
			st, err := w.ReceiveFromPeer(5001, data, 10*time.Minute)
			require.NoError(t, err)
			assert.Equal(t, uint64(len(data)), st.BytesReceived)
		})
	}
}

// TestPeerUDPGate sends UDP datagrams from simnet's host to an echo
// application on the gVisor peer. Every datagram to the echo port is owed
// a reply (Config.Owes), so World.Run holds simulated time until the echo
// is written: each answer arrives exactly one round trip (2 x 3 ms) after
// its request was sent, however slowly the Go scheduler ran the gVisor
// goroutine.
func TestPeerUDPGate(t *testing.T) {
	const port = 7
	owes := func(f []byte) bool {
		// Ethernet + IPv4 without options + UDP to the echo port.
		return len(f) >= 14+20+8 && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[14] == 0x45 &&
			f[14+9] == 17 && binary.BigEndian.Uint16(f[14+20+2:]) == port
	}
	const delay = 3 * time.Millisecond
	w := newWorld(t, gvisorpeer.WorldConfig{Seed: 1, Link: impair.Config{Delay: delay}, Peer: gvisorpeer.Config{Owes: owes}})
	pc, err := w.Peer.ListenUDP(port)
	require.NoError(t, err)
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// Slow application: the simulator must wait for it.
			time.Sleep(2 * time.Millisecond)
			_, _ = pc.WriteTo(buf[:n], from)
			w.Peer.Replied()
		}
	}()
	type echo struct {
		payload string
		at      clock.Time
	}
	var got []echo
	s, err := w.Host.BindUDP(netip.AddrPort{}, stack.UDPHandlerFunc(func(_ *stack.UDPSocket, src, _ netip.AddrPort, p []byte) {
		assert.Equal(t, netip.AddrPortFrom(w.PeerAddr, port), src)
		got = append(got, echo{string(p), w.W.Now()})
	}))
	require.NoError(t, err)
	// A first echo resolves simnet's ARP entry for the peer, so that the
	// timed round trips are not stretched by address resolution.
	const n = 6
	var sentAt []clock.Time
	for i := range n {
		sentAt = append(sentAt, w.W.Now())
		require.NoError(t, s.SendTo(netip.AddrPortFrom(w.PeerAddr, port), []byte{'a' + byte(i)}))
		w.Run(time.Second, func() bool { return len(got) > i })
	}
	require.Len(t, got, n)
	for i, e := range got {
		assert.Equal(t, string(rune('a'+i)), e.payload)
		if i > 0 {
			assert.Equal(t, 2*delay, e.at.Sub(sentAt[i]), "echo %d took one round trip of simulated time", i)
		}
	}
	assert.Zero(t, w.Peer.GateSlips())
}

// TestPeerUDPDial checks the peer's connected UDP sockets: a gVisor client
// queries a simnet UDP echo service.
func TestPeerUDPDial(t *testing.T) {
	w := newWorld(t, gvisorpeer.WorldConfig{Seed: 2, Link: impair.Config{Delay: time.Millisecond}})
	_, err := w.Host.BindUDP(netip.AddrPortFrom(w.OurAddr, 9), stack.UDPHandlerFunc(func(s *stack.UDPSocket, src, _ netip.AddrPort, p []byte) {
		assert.NoError(t, s.SendTo(src, append([]byte("echo:"), p...)))
	}))
	require.NoError(t, err)
	res := make(chan string, 1)
	go func() {
		c, err := w.Peer.DialUDP(netip.AddrPortFrom(w.OurAddr, 9))
		if err != nil {
			res <- err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			res <- err.Error()
			return
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			res <- err.Error()
			return
		}
		res <- string(buf[:n])
	}()
	var got string
	w.Run(time.Minute, func() bool {
		select {
		case got = <-res:
			return true
		default:
			return false
		}
	})
	assert.Equal(t, "echo:ping", got)
}
