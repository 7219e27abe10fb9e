package analyze

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/replay/input"
)

// syntheticFrames builds a traffic mix of n frames: bulk TCP transfers
// (data and ACKs), HTTP requests, DNS over UDP, ARP and ICMP echo.
func syntheticFrames(tb testing.TB, n int) [][]byte {
	tb.Helper()
	data := bytes.Repeat([]byte("simnet-bulk-data"), 1448/16)
	req := []byte("GET /object HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: simnet\r\n\r\n")
	q := dnsMsg(tb, 1, false, "bench.example.", 1)
	r := dnsMsg(tb, 1, true, "bench.example.", 1)
	arpb := make([]byte, ether.HeaderLen+arp.PacketLen)
	ether.Encode(arpb, ether.Broadcast, macA, ether.TypeARP)
	arp.Request(arpb[ether.HeaderLen:], macA, ipA, ipB)
	echo := make([]byte, icmp.HeaderLen+56)
	m, err := icmp.Echo(echo, icmp.TypeEcho, 1, 1, make([]byte, 56))
	require.NoError(tb, err)
	ping := ipFrame(tb, ipA, ipB, ipv4.ProtoICMP, m, nil)

	frames := make([][]byte, 0, n)
	seqs := map[uint16]uint32{}
	for i := 0; len(frames) < n; i++ {
		port := uint16(40000 + i%64)
		switch i % 20 {
		case 0:
			frames = append(frames, arpb)
		case 1:
			frames = append(frames, ping)
		case 2:
			frames = append(frames, udpFrame(tb, ipA, ipB, port, 53, q))
		case 3:
			frames = append(frames, udpFrame(tb, ipB, ipA, 53, port, r))
		case 4:
			s := seqs[port+1000]
			frames = append(frames, segment(tb, ipA, ipB, port, 80, s, 1, psh, req))
			seqs[port+1000] = s + uint32(len(req))
		default:
			s := seqs[port]
			if i%2 == 0 {
				frames = append(frames, segment(tb, ipA, ipB, port, 5001, s, 1, psh, data))
				seqs[port] = s + uint32(len(data))
			} else {
				frames = append(frames, segment(tb, ipB, ipA, 5001, port, 1, s, ack, nil))
			}
		}
	}
	return frames
}

// analyzeBytes runs the whole pipeline (pcap reader, normalisation,
// analysis) over an in-memory capture, with read-ahead or without, and
// returns the frame count.
func analyzeBytes(b *testing.B, raw []byte, ahead bool) int {
	r, err := input.NewReader(bytes.NewReader(raw))
	if err != nil {
		b.Fatal(err)
	}
	res, err := run(r, ahead)
	if err != nil {
		b.Fatal(err)
	}
	return res.Counts.Frames
}

// tsharkRate times `tshark -q -z io,phs` over path once and returns the
// frames per second it decoded, by wall time and by CPU time (user and
// system, so that a loaded machine distorts the ratio less), or zeros when
// tshark is not installed.
func tsharkRate(b *testing.B, path string, frames int) (wall, cpu float64) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		return 0, 0
	}
	cmd := exec.Command(tshark, "-q", "-z", "io,phs", "-r", path)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	el := time.Since(start)
	if err != nil || len(out) == 0 {
		return 0, 0
	}
	ps := cmd.ProcessState
	return float64(frames) / el.Seconds(), float64(frames) / (ps.UserTime() + ps.SystemTime()).Seconds()
}

// cpuTime returns the CPU time (user and system) this process has used so
// far, every thread included.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplayAnalyze measures frames decoded and analysed per second
// over a synthetic capture built in memory and over the shared captures,
// and compares with tshark's protocol hierarchy statistics on the same
// data (x_tshark: how many times faster than tshark).
func BenchmarkReplayAnalyze(b *testing.B) {
	b.Run("synthetic", func(b *testing.B) {
		benchAnalyze(b, pcapOf(b, syntheticFrames(b, 100000)...), 100000, "synthetic.pcap", true)
	})
	b.Run("shared", func(b *testing.B) {
		raw, n := mergedShared(b)
		benchAnalyze(b, raw, n, "shared.pcapng", true)
	})
}

// benchAnalyze times the whole pipeline over raw, a capture of n frames,
// and reports frames/s and ns/frame by wall time, the CPU time per frame
// (cpu-ns/frame, and frames/cpu-s: what one core does on a loaded
// machine), and, when tshark is installed, how many times faster than
// tshark's protocol hierarchy statistics over the same file (written as
// name), timed in the same run: x_tshark by wall time, x_tshark_cpu by
// CPU time. ahead turns on read-ahead (a second goroutine decoding).
func benchAnalyze(b *testing.B, raw []byte, n int, name string, ahead bool) {
	path := filepath.Join(b.TempDir(), name)
	require.NoError(b, os.WriteFile(path, raw, 0o600))
	tw, tc := tsharkRate(b, path, n)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	runtime.GC() // the fixture's garbage is not the analysis's cost
	b.ResetTimer()
	cpu0 := cpuTime(b)
	got := 0
	for b.Loop() {
		got += analyzeBytes(b, raw, ahead)
	}
	cpu := (cpuTime(b) - cpu0).Seconds()
	rate := float64(got) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "frames/s")
	b.ReportMetric(1e9/rate, "ns/frame")
	b.ReportMetric(cpu*1e9/float64(got), "cpu-ns/frame")
	b.ReportMetric(float64(got)/cpu, "frames/cpu-s")
	if tw > 0 {
		b.ReportMetric(rate/tw, "x_tshark")
		b.ReportMetric(float64(got)/cpu/tc, "x_tshark_cpu")
	}
}

// tcpHeavy are the eight shared captures with the most TCP frames.
var tcpHeavy = []string{
	"suricata__output-multi-eve__input.pcap", "zeek__iso-download.pcap.gz", "zeek__var-services-std-ports.pcap",
	"pcapplusplus__pcapng-example.pcapng", "chrissanders__sessionhijacking.pcapng", "zeek__reassembly.pcap",
	"arkime__wireshark-retrans.pcap", "pcapplusplus__raw_ip.pcap",
}

// BenchmarkReplayAnalyzeTCP measures the analysis on TCP-heavy traffic:
// the eight shared captures with the most TCP frames, merged and repeated
// (each pass a minute after the last) to 400,000 frames, against tshark's
// protocol hierarchy statistics on the same file.
//
// "serial" decodes and analyses on one goroutine (frames/cpu-s is then
// what one core does); "readahead" decodes on a second goroutine, as Run
// does when two CPUs are available (its frames/s is the wall figure).
func BenchmarkReplayAnalyzeTCP(b *testing.B) {
	raw, n := mergedFiles(b, tcpHeavy, 400000)
	for _, ra := range []bool{false, true} {
		name := "serial"
		if ra {
			name = "readahead"
		}
		b.Run(name, func(b *testing.B) { benchAnalyze(b, raw, n, "tcp.pcapng", ra) })
	}
}

// mergedFiles writes the frames of the named shared captures into one
// pcapng, again and again (each pass shifted a minute later) until it
// holds total frames.
func mergedFiles(b *testing.B, names []string, total int) ([]byte, int) {
	dir := filepath.Join("..", "..", "..", "shared", "captures")
	if d := os.Getenv("SIMNET_CAPTURES"); d != "" {
		dir = d
	}
	type rec struct {
		ci   gopacket.CaptureInfo
		lt   input.LinkType
		data []byte
	}
	var frames []rec
	for _, name := range names {
		r, err := input.Open(filepath.Join(dir, name))
		if err != nil {
			b.Skipf("shared capture %s: %v", name, err)
		}
		var f input.Frame
		for {
			err := r.Next(&f)
			var fe *input.FrameError
			if err != nil && !errors.As(err, &fe) {
				break
			}
			frames = append(frames, rec{gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: f.CapLen, Length: f.OrigLen},
				f.LinkType, append([]byte(nil), f.Data...)})
		}
		require.NoError(b, r.Close())
	}
	require.NotEmpty(b, frames)
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 262144},
		pcapgo.DefaultNgWriterOptions)
	require.NoError(b, err)
	ifaces := map[input.LinkType]int{input.LinkEthernet: 0}
	n := 0
	for pass := 0; n < total; pass++ {
		for _, fr := range frames {
			if n == total {
				break
			}
			id, ok := ifaces[fr.lt]
			if !ok {
				id, err = w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkType(fr.lt), SnapLength: 262144})
				require.NoError(b, err)
				ifaces[fr.lt] = id
			}
			ci := fr.ci
			ci.Timestamp = ci.Timestamp.Add(time.Duration(pass) * time.Minute)
			ci.InterfaceIndex = id
			require.NoError(b, w.WritePacket(ci, fr.data))
			n++
		}
	}
	require.NoError(b, w.Flush())
	return buf.Bytes(), n
}

// mergedShared reads every shared capture and writes all their frames into
// one pcapng, with an interface per link type, so that both our analysis
// and tshark pay their start-up cost once. It skips the benchmark when the
// captures are absent.
func mergedShared(b *testing.B) ([]byte, int) {
	dir := filepath.Join("..", "..", "..", "shared", "captures")
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Skipf("shared captures not found at %s: %v", dir, err)
	}
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 262144},
		pcapgo.DefaultNgWriterOptions)
	require.NoError(b, err)
	ifaces := map[input.LinkType]int{input.LinkEthernet: 0}
	n := 0
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".tsv") || strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		r, err := input.Open(filepath.Join(dir, e.Name()))
		require.NoError(b, err)
		var f input.Frame
		for {
			err := r.Next(&f)
			var fe *input.FrameError
			if err != nil && !errors.As(err, &fe) {
				break
			}
			id, ok := ifaces[f.LinkType]
			if !ok {
				id, err = w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkType(f.LinkType), SnapLength: 262144})
				require.NoError(b, err)
				ifaces[f.LinkType] = id
			}
			ci := gopacket.CaptureInfo{Timestamp: f.Time, CaptureLength: f.CapLen, Length: f.OrigLen, InterfaceIndex: id}
			require.NoError(b, w.WritePacket(ci, f.Data))
			n++
		}
		require.NoError(b, r.Close())
	}
	require.NoError(b, w.Flush())
	return buf.Bytes(), n
}
