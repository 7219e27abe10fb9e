package sim

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
)

// hostsPerSwitch is how many hosts share one access switch in
// BenchmarkWorldHosts; the access switches hang off one core switch.
const hostsPerSwitch = 1000

// buildHosts builds a world of n idle stack hosts (captures off), each on
// a port of an access switch, and returns it with the hosts.
func buildHosts(b *testing.B, n int) (*World, []*stack.Host) {
	w, err := New(Config{Seed: 1})
	require.NoError(b, err)
	core, err := w.NewSwitch("core", SwitchConfig{})
	require.NoError(b, err)
	hosts := make([]*stack.Host, 0, n)
	var access *Switch
	for i := range n {
		if i%hostsPerSwitch == 0 {
			name := "sw" + itoa(i/hostsPerSwitch)
			access, err = w.NewSwitch(name, SwitchConfig{})
			require.NoError(b, err)
			_, err = w.ConnectSwitches(name+"-core", access, core, LinkConfig{})
			require.NoError(b, err)
		}
		name := "h" + itoa(i)
		l, err := w.ConnectSwitch(name, Iface{Host: name, Name: "eth0"}, access, LinkConfig{})
		require.NoError(b, err)
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).Next()
		h.AddInterface("eth0", ether.Addr{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}, l.A()).
			SetAddress(netip.PrefixFrom(a, 8))
		hosts = append(hosts, h)
	}
	return w, hosts
}

// BenchmarkWorldHosts builds worlds of idle hosts on switches (captures
// off) and reports the heap each host costs (bytes/host, live after a GC)
// and the time to build one (ns/host, and cpu-ns/host in CPU time, which
// a loaded machine changes less).
func BenchmarkWorldHosts(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run("hosts="+itoa(n), func(b *testing.B) {
			var perHost, nsHost, cpuHost float64
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				t0, cpu0 := time.Now(), cpuTime()
				w, hosts := buildHosts(b, n)
				d, cpu := time.Since(t0), cpuTime()-cpu0
				cpuHost = float64(cpu.Nanoseconds()) / float64(n)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perHost = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
				nsHost = float64(d.Nanoseconds()) / float64(n)
				runtime.KeepAlive(hosts)
				runtime.KeepAlive(w)
			}
			b.ReportMetric(perHost, "bytes/host")
			b.ReportMetric(nsHost, "ns/host")
			b.ReportMetric(cpuHost, "cpu-ns/host")
		})
	}
}

// BenchmarkFlood measures broadcast floods on one switch: n hosts on
// one switch (captures off) announce their addresses (RFC 5227: two
// gratuitous ARP requests each, with stack.Config.ARPNotify), every one of which the switch floods to
// the n-1 other hosts. It reports the cost of one delivery of a flooded
// frame to a host.
func BenchmarkFlood(b *testing.B) {
	for _, n := range []int{100, 1000, 3000} {
		b.Run("hosts="+itoa(n), func(b *testing.B) {
			var ns, cpuNs float64
			for range b.N {
				w, err := New(Config{Seed: 1})
				require.NoError(b, err)
				sw, err := w.NewSwitch("sw", SwitchConfig{})
				require.NoError(b, err)
				ifcs := make([]*stack.Interface, n)
				for i := range n {
					name := "h" + itoa(i)
					l, err := w.ConnectSwitch(name, Iface{Host: name, Name: "eth0"}, sw, LinkConfig{})
					require.NoError(b, err)
					h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name), ARPNotify: true})
					ifcs[i] = h.AddInterface("eth0", ether.Addr{2, 0, 0, 0, byte(i >> 8), byte(i)}, l.A())
				}
				t0, cpu0 := time.Now(), cpuTime()
				for i, ifc := range ifcs {
					ifc.SetAddress(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).Next(), 16))
				}
				w.RunFor(10 * time.Second)
				ns = float64(time.Since(t0).Nanoseconds()) / float64(2*n*(n-1))
				cpuNs = float64((cpuTime() - cpu0).Nanoseconds()) / float64(2*n*(n-1))
				require.Equal(b, uint64(2*n), sw.Stats().Flooded)
			}
			b.ReportMetric(ns, "ns/delivery")
			b.ReportMetric(cpuNs, "cpu-ns/delivery")
		})
	}
}
