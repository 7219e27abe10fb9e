package scenario

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const pingPair = `name: t
seed: 2
duration: 10s
hosts:
  - {name: a, interfaces: [{name: e, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: e, address: 10.0.0.2/24}]}
links: [{name: ab, a: a:e, b: b:e, impair: {delay: 1ms}}]
apps: [{name: p, type: ping, host: a, target: 10.0.0.2, count: 5, interval: 1s}]
`

// TestRunStop checks Options.Stop (finding 8 of issue 11): a stop channel
// that never fires changes nothing in the report; a closed one stops the
// run at once, and the report says so with the simulated time reached.
func TestRunStop(t *testing.T) {
	t.Parallel()
	s := mustParse(t, pingPair)
	plain, err := Run(s, Options{})
	require.NoError(t, err)
	assert.False(t, plain.Interrupted)
	assert.Equal(t, 10*time.Second, plain.Simulated)

	never := make(chan struct{})
	withStop, err := Run(s, Options{Stop: never})
	require.NoError(t, err)
	var a, b bytes.Buffer
	require.NoError(t, plain.WriteJSON(&a))
	require.NoError(t, withStop.WriteJSON(&b))
	assert.Equal(t, a.String(), b.String(), "an unused stop channel changes nothing")

	closed := make(chan struct{})
	close(closed)
	stopped, err := Run(s, Options{Stop: closed})
	require.NoError(t, err)
	assert.True(t, stopped.Interrupted)
	assert.Less(t, stopped.Simulated, 10*time.Second)
	var sum bytes.Buffer
	require.NoError(t, stopped.WriteSummary(&sum))
	assert.Contains(t, sum.String(), "INTERRUPTED after ")
}
