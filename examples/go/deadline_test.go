package goexamples

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
)

// tcpDeadlines shows a user's TCP client giving up: first a read deadline
// on a connection whose server never answers, then a dial whose context
// times out while the server is cut off (SYNs retransmitted in vain).
func tcpDeadlines(t *testing.T, w *simtest.World) {
	srv := w.Host("server", "192.0.2.1/24")
	cli := w.Host("client", "192.0.2.2/24")
	w.Link(srv, cli, impair.Config{Delay: 25 * time.Millisecond})

	ln, err := srv.Listen("tcp", ":9000")
	require.NoError(t, err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = c.Read(make([]byte, 1)) }() // reads, never answers
		}
	}()

	c, err := cli.Dial("tcp", "192.0.2.1:9000")
	require.NoError(t, err)
	_, err = c.Write([]byte("request"))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(2*time.Second)))
	_, err = c.Read(make([]byte, 100))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "read error %v is not a timeout", err)
	assert.True(t, errors.Is(err, os.ErrDeadlineExceeded))
	// Virtual time: the deadline fires exactly when it is due.
	assert.Equal(t, 2*time.Second, time.Since(start))
	require.NoError(t, c.Close())

	w.Partition(srv, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start = time.Now()
	_, err = cli.DialContext(ctx, "tcp", "192.0.2.1:9000")
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "dial error %v", err)
	assert.Equal(t, 5*time.Second, time.Since(start))
}

func TestTCPClientDeadline(t *testing.T) {
	t.Parallel()
	_, simulated, wall := runExample(t, 1, tcpDeadlines)
	checkTimes(t, simulated, wall, 7*time.Second)
}
