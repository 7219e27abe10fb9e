package simtest_test

import (
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/simtest"
	"github.com/stretchr/testify/require"
)

func TestSmokeHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := simtest.New(t, simtest.Options{Seed: 1})
		srv := w.Host("server", "192.0.2.1/24")
		cli := w.Host("client", "192.0.2.2/24")
		w.Link(srv, cli, impair.Config{Loss: 0.05, Delay: 20 * time.Millisecond})
		ln, err := srv.Listen("tcp", ":80")
		require.NoError(t, err)
		go func() { _ = http.Serve(ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(rw, "hello") })) }()
		hc := &http.Client{Transport: &http.Transport{DialContext: cli.DialContext}}
		start := time.Now()
		for range 10 {
			resp, err := hc.Get("http://192.0.2.1/")
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, "hello", string(b))
		}
		t.Logf("virtual %v", time.Since(start))
		hc.CloseIdleConnections()
	})
}
