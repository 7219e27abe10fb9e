package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// emuBenchScenario is the emulated router of BenchmarkEmulatedRouter: the
// tap on switch lan, r1 forwarding between lan and a link to the host,
// no impairment, so that the frame rate is the emulation's own.
const emuBenchScenario = `name: emulated-router
duration: 1h
hosts:
  - name: r1
    forwarding: true
    interfaces:
      - {name: eth0, address: 198.18.1.1/24}
      - {name: eth1, address: 198.18.3.1/24}
  - name: web
    interfaces: [{name: eth0, address: 198.18.3.10/24}]
    gateway: 198.18.3.1
switches:
  - name: lan
links:
  - {name: r1-lan, a: r1:eth0, b: lan}
  - {name: r1-web, a: r1:eth1, b: web:eth0}
`

// floodPing sends count echo requests from ns to target with flows
// ping -f processes at once, each with preload echoes in flight, and
// returns the replies received and the wall time.
func floodPing(b *testing.B, ns *netns.NS, target string, count, flows, preload int) (int, time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	type result struct {
		n   int
		err error
	}
	results := make(chan result, flows)
	start := time.Now()
	for i := range flows {
		c := count / flows
		if i < count%flows {
			c++
		}
		go func() {
			if c == 0 {
				results <- result{}
				return
			}
			out, err := ns.Output(ctx, "ping", "-n", "-q", "-f", "-l", strconv.Itoa(preload), "-W", "1",
				"-c", strconv.Itoa(c), target)
			m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(out)
			if m == nil {
				results <- result{err: fmt.Errorf("ping: %v: %s", err, out)}
				return
			}
			n, _ := strconv.Atoi(m[1])
			results <- result{n: n}
		}()
	}
	total := 0
	for range flows {
		r := <-results
		require.NoError(b, r.err)
		total += r.n
	}
	return total, time.Since(start)
}

// kernelRouter builds the kernel reference: namespace a (198.18.1.100)
// and namespace h (198.18.3.10) joined through namespace r, which forwards
// between its two veths (198.18.1.1 and 198.18.3.1).
func kernelRouter(b *testing.B) (client *netns.NS, target string) {
	b.Helper()
	a, r, h := netns.New(b), netns.New(b), netns.New(b)
	a.Run(b, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", r.Name())
	h.Run(b, "ip", "link", "add", "wa", "type", "veth", "peer", "name", "wb", "netns", r.Name())
	for _, c := range []struct {
		ns        *netns.NS
		dev, cidr string
	}{{a, "va", "198.18.1.100/24"}, {r, "vb", "198.18.1.1/24"}, {r, "wb", "198.18.3.1/24"}, {h, "wa", "198.18.3.10/24"}} {
		c.ns.Run(b, "ip", "addr", "add", c.cidr, "dev", c.dev)
		c.ns.Run(b, "ip", "link", "set", c.dev, "up")
	}
	r.Run(b, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	a.Run(b, "ip", "route", "add", "198.18.3.0/24", "via", "198.18.1.1")
	h.Run(b, "ip", "route", "add", "default", "via", "198.18.3.1")
	return a, "198.18.3.10"
}

// procCPU returns the CPU time (user and system, every thread) process pid
// has used, from /proc/PID/stat.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(b, err)
	// The fields after the command name, which is in parentheses:
	// state is field 3, utime 14 and stime 15 (proc(5)).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, errors.Join(err1, err2))
	const ticks = 100 // USER_HZ, the unit of utime and stime
	return time.Duration(utime+stime) * time.Second / ticks
}

// BenchmarkEmulatedRouter (issue 17): frames per second through an
// emulated router, tap -> simulated switch -> router -> host and back
// (four flood pings from the namespace at once, 32 echoes in flight each; each echo is two
// frames on the tap and six inside the world), against the kernel
// forwarding between two veths in a namespace, measured in the same run
// with the same ping. An op is one echo through the emulated router;
// emu-frames/s and kernel-frames/s count the frames at the client's
// interface, kernel/emu is their ratio, and emu-cpu-µs/frame the CPU time
// simnet spent per frame on the tap.
//
// Both rates are bounded by the pingers: iputils ping -f sends about 17,000
// echoes a second per process on an idle core, and on the kernel path the
// whole round trip (two forwardings, the echo reply) runs in softirq context
// inside the pinger's own send call, so the kernel rate is the pingers' CPU
// share, while the emulated path hands the work to the simnet process. On a
// busy machine the kernel figure can therefore come out below the emulated
// one; emu-cpu-µs/frame is the figure the load skews least (the
// emulation's ceiling is about 1/emu-cpu-µs/frame million frames a second
// per core). Captures are off (--capture none):
// the rate is the loop's and the world's, not the disk's.
func BenchmarkEmulatedRouter(b *testing.B) {
	netns.RequireTools(b, "ping")
	const flows, preload = 4, 32
	dir := b.TempDir()
	file := filepath.Join(dir, "emulated-router.yaml")
	require.NoError(b, os.WriteFile(file, []byte(emuBenchScenario), 0o644))
	ns := netns.New(b)
	ns.Run(b, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	ns.Run(b, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
	ns.AddTap(b, "tap0", emuKernelCIDR)
	p := ns.Start(b, simnetBinary(b), "run", file, "--tap", "tap0:lan", "--capture", "none", "--out", filepath.Join(dir, "out"), "--quiet")
	p.WaitOutput(b, "bridged tap0 into switch lan", 15*time.Second)
	ns.Run(b, "ip", "route", "add", emuFarNet, "via", emuRouter)
	kclient, ktarget := kernelRouter(b)
	// Resolve the neighbours on both paths before timing.
	floodPing(b, ns, emuWeb, 10, 1, 1)
	floodPing(b, kclient, ktarget, 10, 1, 1)

	cpu0 := procCPU(b, p.Pid())
	b.ResetTimer()
	got, emu := floodPing(b, ns, emuWeb, b.N, flows, preload)
	b.StopTimer()
	cpu := procCPU(b, p.Pid()) - cpu0
	kgot, kern := floodPing(b, kclient, ktarget, b.N, flows, preload)
	require.GreaterOrEqual(b, got, b.N*99/100, "emulated replies")
	require.GreaterOrEqual(b, kgot, b.N*99/100, "kernel replies")
	emuRate := float64(2*got) / emu.Seconds()
	kernRate := float64(2*kgot) / kern.Seconds()
	b.ReportMetric(emuRate, "emu-frames/s")
	b.ReportMetric(kernRate, "kernel-frames/s")
	b.ReportMetric(kernRate/emuRate, "kernel/emu")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(2*got), "emu-cpu-µs/frame")
	if b.N >= 1000 {
		b.Logf("%d echoes: emulated %.0f frames/s, kernel %.0f frames/s (%.1fx)", b.N, emuRate, kernRate, kernRate/emuRate)
	}
}
