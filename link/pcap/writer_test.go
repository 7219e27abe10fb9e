package pcap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

var epoch = clock.FromTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// udpFrame crafts an Ethernet/IPv4/UDP frame with n payload bytes.
func udpFrame(n int, id uint16) []byte {
	b := make([]byte, 14+20+8+n)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+8+n))
	binary.BigEndian.PutUint16(ip[4:6], id)
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:16], []byte{10, 0, 0, 1})
	copy(ip[16:20], []byte{10, 0, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:12], ^uint16(sum))
	udp := b[34:42]
	binary.BigEndian.PutUint16(udp[0:2], 40000)
	binary.BigEndian.PutUint16(udp[2:4], 7)
	binary.BigEndian.PutUint16(udp[4:6], uint16(8+n))
	for i := 42; i < len(b); i++ {
		b[i] = byte(i)
	}
	return b
}

// record is one packet to write and what must be read back.
type record struct {
	ifc   int
	at    clock.Time
	dir   Direction
	frame []byte
	note  link.Note
}

func sampleRecords() []record {
	return []record{
		{0, epoch, Outbound, udpFrame(18, 1), link.Note{}},
		{1, epoch.Add(1500 * time.Microsecond), Inbound, udpFrame(19, 1), link.Note{}},
		{0, epoch.Add(2 * time.Millisecond), Outbound, udpFrame(21, 2), link.Note{Drop: link.DropLoss}},
		{0, epoch.Add(3 * time.Millisecond), Outbound, udpFrame(22, 3), link.Note{Duplicated: true, CorruptByte: 40}},
		{1, epoch.Add(4*time.Millisecond + 7), Inbound, udpFrame(22, 3), link.Note{Duplicated: true}},
		{1, epoch.Add(5 * time.Millisecond), Inbound, udpFrame(100, 4), link.Note{Reordered: true, HeldBack: 5 * time.Millisecond}},
		{0, epoch.Add(6 * time.Millisecond), Outbound, udpFrame(1, 5), link.Note{Drop: link.DropQueueFull}},
	}
}

func writeSample(t *testing.T, path string, format Format) []record {
	t.Helper()
	w, err := Create(path, format)
	require.NoError(t, err)
	for _, name := range []string{"alice:eth0", "bob:eth1"} {
		_, err := w.AddInterface(name)
		require.NoError(t, err)
	}
	recs := sampleRecords()
	for _, r := range recs {
		require.NoError(t, w.WritePacket(r.ifc, r.at, r.dir, r.frame, r.note))
	}
	require.NoError(t, w.Close())
	return recs
}

func TestPcapNGRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcapng")
	recs := writeSample(t, path, PcapNG)

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	assert.Equal(t, layers.LinkTypeEthernet, r.LinkType())
	info := r.SectionInfo()
	assert.Equal(t, pcapgo.NgSectionInfo{Hardware: Application, OS: Application, Application: Application}, info)
	for i, want := range recs {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		require.NoError(t, err, "packet %d", i)
		assert.Equal(t, want.frame, data, "packet %d", i)
		assert.Equal(t, want.at.Std(), ci.Timestamp.UTC(), "packet %d", i)
		assert.Equal(t, want.ifc, ci.InterfaceIndex, "packet %d", i)
		assert.Equal(t, len(want.frame), ci.Length)
		require.NotNil(t, opts.Flags, "packet %d", i)
		wantDir := pcapgo.NgEpbFlagDirectionInbound
		if want.dir == Outbound {
			wantDir = pcapgo.NgEpbFlagDirectionOutbound
		}
		assert.Equal(t, wantDir, opts.Flags.Direction, "packet %d", i)
		if want.note.IsZero() {
			assert.Empty(t, opts.Comments, "packet %d", i)
		} else {
			assert.Equal(t, []string{want.note.String()}, opts.Comments, "packet %d", i)
		}
	}
	_, _, err = r.ReadPacketData()
	assert.ErrorIs(t, err, io.EOF)
	require.Equal(t, 2, r.NInterfaces())
	for i, name := range []string{"alice:eth0", "bob:eth1"} {
		intf, err := r.Interface(i)
		require.NoError(t, err)
		assert.Equal(t, name, intf.Name)
		assert.Equal(t, layers.LinkTypeEthernet, intf.LinkType)
		assert.Empty(t, intf.OS, "no host-specific options")
	}
}

func TestPlainPcapRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcap")
	recs := writeSample(t, path, Pcap)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	assert.Equal(t, layers.LinkTypeEthernet, r.LinkType())
	for i, want := range recs {
		data, ci, err := r.ReadPacketData()
		require.NoError(t, err, "packet %d", i)
		assert.Equal(t, want.frame, data)
		assert.Equal(t, want.at.Std(), ci.Timestamp.UTC(), "nanosecond timestamps")
	}
	_, _, err = r.ReadPacketData()
	assert.ErrorIs(t, err, io.EOF)
}

func TestIdenticalWritesIdenticalBytes(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []Format{PcapNG, Pcap} {
		a, b := filepath.Join(dir, "a"+format.Ext()), filepath.Join(dir, "b"+format.Ext())
		writeSample(t, a, format)
		time.Sleep(2 * time.Millisecond) // the wall clock must not matter
		writeSample(t, b, format)
		ba, err := os.ReadFile(a)
		require.NoError(t, err)
		bb, err := os.ReadFile(b)
		require.NoError(t, err)
		assert.Equal(t, ba, bb, "%v", format)
	}
}

func TestTsharkReadsCaptures(t *testing.T) {
	tshark := testenv.Tool(t, "tshark")
	dir := t.TempDir()
	ng := filepath.Join(dir, "c.pcapng")
	recs := writeSample(t, ng, PcapNG)
	cmd := exec.Command(tshark, "-n", "-r", ng, "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.comment",
		"-e", "frame.time_epoch", "-e", "udp.length")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark: %s", stderr.String())
	assert.Empty(t, filterTsharkNoise(stderr.String()))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, len(recs))
	names := []string{"alice:eth0", "bob:eth1"}
	for i, line := range lines {
		f := strings.Split(line, "|")
		require.Len(t, f, 5, line)
		want := recs[i]
		assert.Equal(t, names[want.ifc], f[0])
		dir := "0x00000001" // inbound
		if want.dir == Outbound {
			dir = "0x00000002"
		}
		assert.Equal(t, dir, f[1], line)
		assert.Equal(t, want.note.String(), f[2], line)
		assert.True(t, strings.HasPrefix(f[3], "1767225600."), line)
	}

	plain := filepath.Join(dir, "c.pcap")
	writeSample(t, plain, Pcap)
	cmd = exec.Command(tshark, "-n", "-r", plain)
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	require.NoError(t, err, "tshark: %s", stderr.String())
	assert.Len(t, strings.Split(strings.TrimSpace(string(out)), "\n"), len(recs))

	empty := filepath.Join(dir, "empty.pcapng")
	w, err := Create(empty, PcapNG)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	cmd = exec.Command(tshark, "-n", "-r", empty)
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	require.NoError(t, err, "tshark on a capture without interfaces: %s", stderr.String())
	assert.Empty(t, strings.TrimSpace(string(out)))
}

// filterTsharkNoise drops tshark's warning about running as root.
func filterTsharkNoise(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.Contains(l, "Running as user") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// failWriter fails every write after n bytes.
type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	w, err := NewWriter(&failWriter{n: 1000}, PcapNG)
	require.NoError(t, err)
	_, err = w.AddInterface("a:eth0") // fits
	require.NoError(t, err)
	assert.ErrorContains(t, w.WritePacket(3, epoch, Inbound, udpFrame(1, 1), link.Note{}), "no interface 3")
	assert.ErrorContains(t, w.WritePacket(-1, epoch, Inbound, udpFrame(1, 1), link.Note{}), "no interface -1")
	big := make([]byte, 70000)
	err = w.WritePacket(0, epoch, Inbound, big, link.Note{})
	require.Error(t, err)
	assert.ErrorContains(t, err, "disk full")
	assert.ErrorContains(t, err, "a:eth0")
	assert.Equal(t, err, w.Err())
	assert.Equal(t, err, w.WritePacket(0, epoch, Inbound, udpFrame(1, 1), link.Note{}), "errors are sticky")
	assert.Equal(t, err, w.Close())

	w, err = NewWriter(io.Discard, Pcap)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	assert.Error(t, w.WritePacket(0, epoch, Inbound, nil, link.Note{}))
	_, err = w.AddInterface("x")
	assert.Error(t, err)

	_, err = NewWriter(io.Discard, Format(9))
	assert.Error(t, err)
	_, err = Create(filepath.Join(t.TempDir(), "no", "such", "dir.pcapng"), PcapNG)
	assert.ErrorContains(t, err, "pcap: create capture")
}

func TestTruncatesAtSnapLen(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, PcapNG)
	require.NoError(t, err)
	_, err = w.AddInterface("a:eth0")
	require.NoError(t, err)
	big := make([]byte, SnapLen+10)
	require.NoError(t, w.WritePacket(0, epoch, Outbound, big, link.Note{}))
	require.NoError(t, w.Close())
	r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	data, ci, err := r.ReadPacketData()
	require.NoError(t, err)
	assert.Len(t, data, SnapLen)
	assert.Equal(t, SnapLen+10, ci.Length)
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		ext  string
		err  bool
	}{
		{"pcapng", PcapNG, ".pcapng", false},
		{"", PcapNG, ".pcapng", false},
		{"PCAP", Pcap, ".pcap", false},
		{"erf", 0, "", true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if tt.err {
			assert.Error(t, err, tt.in)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
		assert.Equal(t, tt.ext, got.Ext())
	}
}

func TestWritePacketAllocations(t *testing.T) {
	w, err := NewWriter(io.Discard, PcapNG)
	require.NoError(t, err)
	_, err = w.AddInterface("a:eth0")
	require.NoError(t, err)
	f := udpFrame(50, 1)
	notes := []link.Note{{}, {Drop: link.DropLoss}, {Duplicated: true}}
	for _, n := range notes {
		require.NoError(t, w.WritePacket(0, epoch, Outbound, f, n))
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		_ = w.WritePacket(0, epoch, Outbound, f, notes[i%len(notes)])
		i++
	})
	assert.Zero(t, allocs)
}

func BenchmarkWritePacket(b *testing.B) {
	for _, format := range []Format{PcapNG, Pcap} {
		b.Run(format.String(), func(b *testing.B) {
			w, err := NewWriter(io.Discard, format)
			require.NoError(b, err)
			_, err = w.AddInterface("a:eth0")
			require.NoError(b, err)
			f := udpFrame(100, 1)
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for i := 0; i < b.N; i++ {
				_ = w.WritePacket(0, epoch.Add(time.Duration(i)), Outbound, f, link.Note{})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// TestDropCommentsShared checks that drop-only notes use the comments
// rendered once for all writers, so a new host's capture writes its first
// dropped frame without allocating, and that they read as Note.String.
func TestDropCommentsShared(t *testing.T) {
	w, err := NewWriter(io.Discard, PcapNG)
	require.NoError(t, err)
	ifc, err := w.AddInterface("a:eth0")
	require.NoError(t, err)
	f := make([]byte, 60)
	for r := link.NotDropped + 1; r <= link.DropError; r++ {
		note := link.Note{Drop: r}
		assert.Equal(t, note.String(), w.comment(note))
		allocs := testing.AllocsPerRun(1, func() {
			require.NoError(t, w.WritePacket(ifc, 1, Outbound, f, note))
		})
		assert.Zero(t, allocs, "drop note %v", r)
	}
	assert.Empty(t, w.notes, "drop-only notes are not cached per writer")
	dup := link.Note{Drop: link.DropLoss, Duplicated: true}
	assert.Equal(t, dup.String(), w.comment(dup))
	assert.Len(t, w.notes, 1)
}
