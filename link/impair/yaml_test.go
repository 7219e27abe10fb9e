package impair

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestConfigFromYAML(t *testing.T) {
	src := `
loss: 0.01
burst: {p: 0.02, r: 0.25, loss_good: 0, loss_bad: 1}
delay: 10ms
jitter: 2ms
jitter_dist: normal
keep_order: true
reorder: 0.05
reorder_delay: 3ms
duplicate: 0.001
corrupt: 0.002
rate: 10000000
queue_packets: 50
mtu: 1400
`
	var c Config
	require.NoError(t, yaml.Unmarshal([]byte(src), &c))
	assert.Equal(t, Config{
		Loss: 0.01, Burst: GilbertElliott{P: 0.02, R: 0.25, LossBad: 1},
		Delay: 10 * time.Millisecond, Jitter: 2 * time.Millisecond, JitterDist: JitterNormal, KeepOrder: true,
		Reorder: 0.05, ReorderDelay: 3 * time.Millisecond, Duplicate: 0.001, Corrupt: 0.002,
		Rate: 10_000_000, QueuePackets: 50, MTU: 1400,
	}, c)
	assert.NoError(t, c.Validate())
	assert.InDelta(t, 0.02/0.27, c.Burst.LossRate(), 1e-12)
	assert.Equal(t, 4.0, c.Burst.MeanBurst())
	assert.Zero(t, GilbertElliott{}.LossRate())
}
