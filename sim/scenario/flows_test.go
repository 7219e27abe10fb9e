package scenario

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/udpapp"
	"github.com/simnet-go/simnet/link/qdisc"
)

// TestFlowDelays checks that a flow's delays kept inline (the first
// fewDelays) and those past them, in a histogram of the flow's own, give
// the same distribution as one histogram recording them all.
func TestFlowDelays(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, fewDelays - 1, fewDelays, fewDelays + 1, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			var d delays
			var want qdisc.Histogram
			for k := range n {
				v := time.Duration(k*7919%1000+1) * time.Microsecond
				d.record(v)
				want.Record(v)
			}
			assert.Equal(t, n > fewDelays, d.hist != nil, "own histogram only past the inline delays")
			var scratch qdisc.Histogram
			scratch.Record(time.Hour) // left over from another flow
			got := d.histogram(&scratch)
			assert.Equal(t, want.Summary(), got.Summary())
			assert.Equal(t, want.Quantile(0.99), got.Quantile(0.99))
		})
	}
}

// TestFlowTable checks the per-flow table against what the links did: a
// UDP flow of 200 datagrams crosses a switch (two links, 5 ms and 3 ms),
// losing some on the first.
func TestFlowTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		impair string
		jitter bool
	}{
		{"lossy", "{delay: 5ms, a_to_b: {loss: 10%}}", false},
		{"jitter", "{delay: 5ms, jitter: 2ms}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, `name: flows
seed: 3
duration: 10s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
switches: [{name: sw}]
links:
  - {name: a-sw, a: a:eth0, b: sw, impair: `+tc.impair+`}
  - {name: sw-b, a: sw, b: b:eth0, impair: {delay: 3ms}}
apps:
  - {name: sink, type: udp_sink, host: b, port: 9}
  - {name: udp, type: udp_send, host: a, target: 10.0.0.2:9, port: 4000, count: 200, size: 100, interval: 10ms, start: 100ms}
`)
			rep, err := Run(s, Options{Flows: true})
			require.NoError(t, err)
			var f *FlowReport
			for i := range rep.Flows {
				if rep.Flows[i].Protocol == "udp" && rep.Flows[i].Src == "10.0.0.1:4000" {
					f = &rep.Flows[i]
				}
			}
			require.NotNil(t, f, "flows: %+v", rep.Flows)
			assert.Equal(t, "10.0.0.2:9", f.Dst)
			assert.Equal(t, uint64(200), f.TxPackets)
			assert.Equal(t, uint64(200*(100+28)), f.TxBytes)
			sink := rep.Apps[0].Result.(udpapp.SinkResult)
			assert.Equal(t, uint64(sink.Received), f.RxPackets)
			assert.Equal(t, f.TxPackets, f.RxPackets+f.LostPackets)
			assert.Equal(t, f.RxPackets*128, f.RxBytes)
			assert.GreaterOrEqual(t, f.FirstTxNs, 100*time.Millisecond, "the first datagram waits for ARP")
			assert.Less(t, f.FirstTxNs, 150*time.Millisecond)
			if !tc.jitter {
				assert.Positive(t, f.LostPackets)
				drops := rep.Links[0].AtoB.DroppedLoss
				assert.LessOrEqual(t, f.LostPackets, drops, "the datagrams lost are drops on a-sw")
				assert.GreaterOrEqual(t, f.LostPackets+2, drops, "besides at most an ARP request and reply")
				assert.Equal(t, 8*time.Millisecond, f.DelayMeanNs, "5 ms + 3 ms")
				assert.Equal(t, 8*time.Millisecond, f.DelayMaxNs)
				assert.Zero(t, f.JitterMeanNs)
			} else {
				assert.Zero(t, f.LostPackets)
				assert.InDelta(t, float64(8*time.Millisecond), float64(f.DelayMeanNs), float64(500*time.Microsecond))
				assert.Positive(t, f.JitterMeanNs)
				assert.LessOrEqual(t, f.DelayMaxNs, 10*time.Millisecond)
				assert.GreaterOrEqual(t, f.DelayP99Ns, 9*time.Millisecond)
			}
			// 128-byte packets every 10 ms: about 102 kbit/s.
			assert.InEpsilon(t, float64(f.RxBytes*8)/(f.LastRxNs-f.FirstTxNs).Seconds(), f.ThroughputBps, 1e-9)
			assert.InDelta(t, 102400*float64(f.RxPackets)/200, f.ThroughputBps, 3000)
		})
	}
}
