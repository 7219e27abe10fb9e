package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestObserverSeesTransfer checks that the observer hears every change a
// lossy transfer makes to the sender: SND.UNA and delivered bytes only
// grow and end at the transfer's size, retransmissions appear, and cwnd
// shrinks after a loss.
func TestObserverSeesTransfer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		loss float64
	}{{"clean", 0}, {"lossy", 0.03}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(3, Config{})
			p.na.Loss = tc.loss
			var infos []Info
			calls := 0
			p.a.SetObserver(func(c *Conn) {
				calls++
				infos = append(infos, c.Info())
			})
			const size = 200 << 10
			got, cli, _ := p.transfer(t, size, 10*time.Minute)
			require.Len(t, got, size)
			require.NotEmpty(t, infos)
			var drops int
			for i := 1; i < len(infos); i++ {
				prev, cur := infos[i-1], infos[i]
				assert.GreaterOrEqual(t, cur.DeliveredBytes, prev.DeliveredBytes)
				assert.GreaterOrEqual(t, cur.Retransmits, prev.Retransmits)
				if cur.Cwnd < prev.Cwnd {
					drops++
				}
			}
			last := infos[len(infos)-1]
			assert.Equal(t, uint64(size), last.DeliveredBytes)
			assert.Equal(t, cli.Stats().Retransmits, last.Retransmits)
			assert.Positive(t, last.SRTT)
			assert.Positive(t, last.RTO)
			if tc.loss > 0 {
				assert.Positive(t, last.Retransmits)
				assert.Positive(t, drops, "cwnd never dropped")
			} else {
				assert.Zero(t, last.Retransmits)
				assert.Zero(t, drops)
			}
			p.a.SetObserver(nil)
			n := calls
			_ = cli.Info()
			assert.Equal(t, n, calls)
		})
	}
}
