package scenario

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// pingGroupYAML returns a scenario in which a group of n clients on one
// switch each ping one server once, with captures off.
func pingGroupYAML(n int) string {
	return fmt.Sprintf(`name: ping-%d
seed: 1
duration: 10s
hosts:
  - {name: server, interfaces: [{name: eth0, address: 10.0.0.1/16}]}
  - {name: client, count: %d, interfaces: [{name: eth0, address: 10.0.1.1/16}]}
switches:
  - name: sw
links:
  - {name: server-sw, a: server:eth0, b: sw}
  - {name: client-sw, a: client:eth0, b: sw}
apps:
  - {name: ping, type: ping, host: client, target: 10.0.0.1, count: 1}
capture: {hosts: [], switches: []}
expect:
  - {app: ping, min_replies: 1}
`, n, n)
}

// BenchmarkPingGroup runs groups of 1,000 and 10,000 clients that each
// ping one server once (captures off), and reports the wall time and the
// heap in use at the end of the run per host.
func BenchmarkPingGroup(b *testing.B) {
	for _, n := range []int{1000, 3000, 10000} {
		b.Run(fmt.Sprintf("hosts=%d", n), func(b *testing.B) {
			s, err := Parse("ping.yaml", []byte(pingGroupYAML(n)))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				t0 := time.Now()
				rep, err := Run(s, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if !rep.Passed {
					b.Fatal("expectations failed")
				}
				b.ReportMetric(time.Since(t0).Seconds(), "s/run")
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			b.ReportMetric(float64(m.HeapSys)/(1<<20), "heap-sys-MiB")
		})
	}
}
