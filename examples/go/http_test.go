package goexamples

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
)

// httpUnderLoss serves 32 KiB pages with net/http across a link losing 5%
// of the frames each way, 20 ms each way, and fetches 20 of them on one
// keep-alive connection: TCP's retransmissions hide the loss from HTTP.
func httpUnderLoss(t *testing.T, w *simtest.World) {
	srv := w.Host("server", "192.0.2.1/24")
	cli := w.Host("client", "192.0.2.2/24")
	link := w.Link(srv, cli, impair.Config{Loss: 0.05, Delay: 20 * time.Millisecond})

	page := bytes.Repeat([]byte("simnet "), 32<<10/7)
	ln, err := srv.Listen("tcp", ":80")
	require.NoError(t, err)
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_, _ = rw.Write(page)
		}))
	}()

	hc := &http.Client{Transport: &http.Transport{DialContext: cli.DialContext}, Timeout: time.Minute}
	for i := range 20 {
		resp, err := hc.Get(fmt.Sprintf("http://192.0.2.1/page/%d", i))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, bytes.Equal(page, body), "page %d differs", i)
	}
	hc.CloseIdleConnections()

	st := link.Stats()
	assert.Positive(t, st.AtoB.Dropped+st.BtoA.Dropped, "the link dropped nothing: no loss to recover from")
	conns := cli.TCPStats()
	require.Len(t, conns, 1, "the requests should share one keep-alive connection")
	var retrans uint64
	for _, c := range srv.TCPStats() {
		retrans += c.Retransmits
	}
	assert.Positive(t, retrans, "the server retransmitted nothing")
}

func TestHTTPUnderLoss(t *testing.T) {
	t.Parallel()
	_, simulated, wall := runExample(t, 1, httpUnderLoss)
	checkTimes(t, simulated, wall, time.Second)
}
