package simtest_test

import (
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/ping"
	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/simtest"
)

// A scenario file loaded into a world: its apps run on its hosts, and Go
// code runs beside them on the same hosts and clock.
func TestLoadScenario(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1})
		hosts := w.Load("../examples/three-hosts.yaml")
		require.Len(t, hosts, 3)
		b, c := w.HostNamed("b"), w.HostNamed("c")
		require.NotNil(t, c)
		assert.Equal(t, "192.0.2.3", c.Addr().String())
		_, err := w.AppResult("ping1")
		assert.ErrorIs(t, err, simtest.ErrNotStarted)

		ln, err := c.Listen("tcp", ":80")
		require.NoError(t, err)
		go func() { _ = http.Serve(ln, http.HandlerFunc(hello)) }()
		hc := &http.Client{Transport: &http.Transport{DialContext: b.DialContext}}
		resp, err := hc.Get("http://192.0.2.3/")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "hello", string(body))
		hc.CloseIdleConnections()

		time.Sleep(30 * time.Second)
		res, err := w.AppResult("ping1")
		require.NoError(t, err)
		pr := res.(ping.Result)
		assert.Equal(t, 20, pr.Sent)
		assert.GreaterOrEqual(t, pr.Received, 15)
		assert.Less(t, pr.Received, 20, "the link went down for 2 s: some pings must be lost")
		res, err = w.AppResult("sink")
		require.NoError(t, err)
		assert.GreaterOrEqual(t, res.(udpapp.SinkResult).Datagrams, 700)
		_, err = w.AppResult("nope")
		assert.Error(t, err)
	})
}
