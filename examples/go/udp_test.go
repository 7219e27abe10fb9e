package goexamples

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
)

// udpServer answers every datagram "ping N" with "pong N" until pc is
// closed.
func udpServer(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var seq int
		if _, err := fmt.Sscanf(string(buf[:n]), "ping %d", &seq); err != nil {
			continue
		}
		_, _ = pc.WriteTo(fmt.Appendf(nil, "pong %d", seq), from)
	}
}

// request sends "ping seq" on c until the matching pong arrives, waiting
// timeout for each answer, at most tries times; it returns the attempts
// made.
func request(c net.Conn, seq, tries int, timeout time.Duration) (int, error) {
	want := fmt.Sprintf("pong %d", seq)
	buf := make([]byte, 512)
	for attempt := 1; attempt <= tries; attempt++ {
		if _, err := fmt.Fprintf(c, "ping %d", seq); err != nil {
			return attempt, err
		}
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return attempt, err
		}
		for {
			n, err := c.Read(buf)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break // retry
			}
			if err != nil {
				return attempt, err
			}
			if string(buf[:n]) == want {
				return attempt, nil
			}
			// A late answer to an earlier attempt: keep waiting.
		}
	}
	return tries, fmt.Errorf("no answer to ping %d after %d tries", seq, tries)
}

// udpRetries runs a request/response protocol over UDP with a 1 s retry
// timeout while the network is partitioned for 30 s: the requests sent
// during the partition are retried until it heals, and every request is
// answered in the end.
func udpRetries(t *testing.T, w *simtest.World) {
	srv := w.Host("server", "192.0.2.1/24")
	cli := w.Host("client", "192.0.2.2/24")
	w.Link(srv, cli, impair.Config{Delay: 10 * time.Millisecond})

	pc, err := srv.ListenPacket("udp", ":7000")
	require.NoError(t, err)
	go udpServer(pc)

	// The partition: from 2 s to 32 s.
	healed := make(chan struct{})
	go func() {
		defer close(healed)
		time.Sleep(2 * time.Second)
		w.Partition(srv, cli)
		time.Sleep(30 * time.Second)
		w.Heal(srv, cli)
	}()

	c, err := cli.Dial("udp", "192.0.2.1:7000")
	require.NoError(t, err)
	start := time.Now()
	var retried int
	for seq := range 10 {
		tries, err := request(c, seq, 60, time.Second)
		require.NoError(t, err)
		retried += tries - 1
		time.Sleep(500 * time.Millisecond)
	}
	<-healed
	// The fifth request was sent at about 2 s, into the partition, and
	// retried every second until it healed at 32 s.
	assert.GreaterOrEqual(t, retried, 29)
	assert.GreaterOrEqual(t, time.Since(start), 32*time.Second)
	require.NoError(t, c.Close())
}

func TestUDPRetriesAcrossPartition(t *testing.T) {
	t.Parallel()
	_, simulated, wall := runExample(t, 1, udpRetries)
	checkTimes(t, simulated, wall, 32*time.Second)
}
