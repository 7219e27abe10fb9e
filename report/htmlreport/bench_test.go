package htmlreport

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/simnet-go/simnet/replay/tcptrace"
)

// millionSegmentCapture writes a capture of one flow of 1,000,000 data
// segments of 1448 bytes (cut to their headers by a 54-byte snapshot
// length), one ACK per two segments, 1% of the segments resent.
func millionSegmentCapture(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "million.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(54, layers.LinkTypeEthernet); err != nil {
		b.Fatal(err)
	}
	frame := func(c2s bool, seq, ack uint32, payload int) []byte {
		fr := make([]byte, 54)
		binary.BigEndian.PutUint16(fr[12:], 0x0800)
		ip := fr[14:]
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], uint16(40+payload))
		src, dst := [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}
		sp, dp := uint16(40000), uint16(80)
		if !c2s {
			src, dst, sp, dp = dst, src, dp, sp
		}
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		tcp := ip[20:]
		binary.BigEndian.PutUint16(tcp[0:], sp)
		binary.BigEndian.PutUint16(tcp[2:], dp)
		binary.BigEndian.PutUint32(tcp[4:], seq)
		binary.BigEndian.PutUint32(tcp[8:], ack)
		tcp[12], tcp[13] = 5<<4, 0x10
		binary.BigEndian.PutUint16(tcp[14:], 65535)
		return fr
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(at time.Duration, fr []byte, wire int) {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(at), CaptureLength: len(fr), Length: wire}, fr); err != nil {
			b.Fatal(err)
		}
	}
	const mss = 1448
	seq := uint32(1)
	for i := range 1_000_000 {
		at := time.Duration(i) * 10 * time.Microsecond
		s := seq
		if i%100 == 99 {
			s = seq - 50*mss // a resend of an earlier segment
		} else {
			seq += mss
		}
		write(at, frame(true, s, 1, mss), 54+mss)
		if i%2 == 1 {
			write(at+5*time.Millisecond, frame(false, 1, seq-4*mss, 0), 54)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkReportMillionSegments reads a capture of one 1,000,000-segment
// flow, traces it and renders report.html with its four plots (the goal:
// under 5 s, with a page of bounded size).
func BenchmarkReportMillionSegments(b *testing.B) {
	path := millionSegmentCapture(b)
	var size int
	for b.Loop() {
		start := time.Now()
		flows, err := tcptrace.Read(path, time.Time{})
		if err != nil || len(flows) != 1 || len(flows[0].Segments) != 1_000_000 {
			b.Fatalf("trace: %v (%d flows)", err, len(flows))
		}
		traced := time.Since(start)
		page := Page{Title: "bench", Tables: []Table{flowTable(flows)}}
		secs, _, err := flowSections(flows)
		if err != nil {
			b.Fatal(err)
		}
		page.Flows = secs
		out, err := Render(page)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
		b.ReportMetric(traced.Seconds(), "s-trace")
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB-page")
}
