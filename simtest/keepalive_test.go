package simtest_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/netconn"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/replay/tcpexpert"
	"github.com/simnet-go/simnet/simtest"
)

// keepAliveCounts runs the capture through the Wireshark-equivalent TCP
// analysis and returns how many keep-alive probes and probe ACKs it flags,
// and how many ARP requests were sent after the given offset from the first
// frame.
func keepAliveCounts(t *testing.T, pcapng []byte, after time.Duration) (probes, acks, arpRequests int) {
	t.Helper()
	r, err := input.NewReader(bytes.NewReader(pcapng))
	require.NoError(t, err)
	a := tcpexpert.New()
	var f input.Frame
	var first time.Time
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if first.IsZero() {
			first = f.Time
		}
		if d := f.Data; len(d) >= 22 && d[12] == 0x08 && d[13] == 0x06 && d[20] == 0 && d[21] == 1 &&
			f.Time.Sub(first) > after {
			arpRequests++
		}
		fl := a.Add(&f)
		if fl&tcpexpert.KeepAlive != 0 {
			probes++
		}
		if fl&tcpexpert.KeepAliveAck != 0 {
			acks++
		}
	}
	return probes, acks, arpRequests
}

// An idle connection with keep-alive on lives through 24 simulated hours
// (seconds of wall time): with Linux's defaults (RFC 1122 section 4.2.3.6:
// idle 2 h, then probes 75 s apart, 9 unanswered probes end it), a peer that
// answers gets one probe per 2 h of idleness; once the peer is cut off, the
// 9th unanswered probe ends the connection and the blocked Read is told
// (RFC 9293 section 3.8.3, R2 / RFC 1122 section 4.2.3.5).
func TestKeepAlive24Hours(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cutAfter  time.Duration // 0: the peer answers all day
		wantProbe int           // keep-alive probes on the wire
		wantAck   int           // their ACKs, as Wireshark flags them
		wantARP   int           // ARP requests after the cut
		wantErrAt time.Duration // 0: the connection survives
	}{
		// Probes at k*(2 h + ARP and probe round trips) for k = 1..11;
		// the 12th would fall just after the 24 h mark. Each probe is
		// preceded by ARP: the neighbour entry went stale in 2 h. The
		// first probe's ACK also opens the server's window (the SYN-ACK
		// advertised it unscaled), so Wireshark, and tcpexpert with it,
		// calls it a window update instead.
		{name: "peer answers", wantProbe: 11, wantAck: 10},
		// Cut at 3 h: one probe (2 h) went out and was answered; the
		// next idle period ends at 4 h, then 9 probes 75 s apart, each
		// stuck behind an ARP resolution that fails after 3 requests
		// (Linux's mcast_solicit), so only ARP reaches the wire; the
		// connection ends one interval after the 9th probe with a RST
		// (as Linux's tcp_keepalive_timer does), the 10th resolution.
		{name: "peer gone", cutAfter: 3 * time.Hour, wantProbe: 1, wantAck: 0, wantARP: 30,
			wantErrAt: 2*time.Hour + 2*time.Hour + 9*75*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := simtest.New(t, simtest.Options{Seed: 24})
				srv := w.Host("server", "192.0.2.1/24")
				cli := w.Host("client", "192.0.2.2/24")
				w.Link(srv, cli, impair.Config{Delay: 10 * time.Millisecond})

				ln, err := srv.Listen("tcp", ":7")
				require.NoError(t, err)
				go func() {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, c)
				}()
				c, err := cli.Dial("tcp", "192.0.2.1:7")
				require.NoError(t, err)
				require.NoError(t, c.(*netconn.Conn).SetKeepAlive(true))
				start := time.Now()

				readErr := make(chan error, 1)
				endedAt := make(chan time.Duration, 1)
				go func() {
					_, err := c.Read(make([]byte, 1))
					endedAt <- time.Since(start)
					readErr <- err
				}()
				if tc.cutAfter > 0 {
					time.Sleep(tc.cutAfter)
					w.Partition(srv, cli)
				}
				time.Sleep(24*time.Hour - tc.cutAfter)

				if tc.wantErrAt == 0 {
					select {
					case err := <-readErr:
						t.Fatalf("connection ended after %v: %v", <-endedAt, err)
					default:
					}
					require.NoError(t, c.Close())
				} else {
					at := <-endedAt
					err := <-readErr
					require.Error(t, err, "the blocked Read must learn the connection died")
					var opErr interface{ Timeout() bool }
					require.ErrorAs(t, err, &opErr)
					assert.InDelta(t, tc.wantErrAt.Seconds(), at.Seconds(), 1, "abort time")
				}
				w.Wait()
				var capture []byte
				for _, cp := range w.Captures() {
					if cp.Host == "client" {
						capture = cp.Data
					}
				}
				require.NotEmpty(t, capture)
				after := tc.cutAfter
				if after == 0 {
					after = 48 * time.Hour // nothing is cut
				}
				probes, acks, arps := keepAliveCounts(t, capture, after)
				assert.Equal(t, tc.wantARP, arps, "ARP requests after the cut")
				assert.Equal(t, tc.wantProbe, probes, "keep-alive probes")
				assert.Equal(t, tc.wantAck, acks, "keep-alive ACKs")
			})
		})
	}
}
