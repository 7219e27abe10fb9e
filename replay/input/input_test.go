package input

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 123456000, time.UTC)

// ethFrame returns an Ethernet frame with EtherType t and a payload of n
// bytes whose first byte is 0x45 (an IPv4 version/IHL byte).
func ethFrame(t ether.EtherType, n int) []byte {
	b := make([]byte, ether.HeaderLen+n)
	ether.Encode(b, ether.Addr{2, 0, 0, 0, 0, 2}, ether.Addr{2, 0, 0, 0, 0, 1}, t)
	if n > 0 {
		b[ether.HeaderLen] = 0x45
	}
	return b
}

// pcapBytes writes frames as a classic pcap of link type lt.
func pcapBytes(t testing.TB, lt layers.LinkType, frames ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	require.NoError(t, w.WriteFileHeader(65535, lt))
	for i, f := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}
		require.NoError(t, w.WritePacket(ci, f))
	}
	return buf.Bytes()
}

// readAll reads every frame, copying the fields the tests look at.
func readAll(t testing.TB, r *Reader) (frames []Frame, datas [][]byte, err error) {
	t.Helper()
	var f Frame
	for {
		err = r.Next(&f)
		if err == io.EOF {
			return frames, datas, nil
		}
		var fe *FrameError
		if err != nil && !errors.As(err, &fe) {
			return frames, datas, err
		}
		c := f
		c.Data, c.Network, c.Ether = nil, nil, nil
		frames = append(frames, c)
		datas = append(datas, append([]byte(nil), f.Network...))
	}
}

func TestReaderPcapEthernet(t *testing.T) {
	raw := pcapBytes(t, layers.LinkTypeEthernet, ethFrame(ether.TypeIPv4, 20), ethFrame(ether.TypeARP, 28))
	r, err := NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	assert.Equal(t, FormatPcap, r.Format())
	assert.False(t, r.Gzipped())
	frames, nets, err := readAll(t, r)
	require.NoError(t, err)
	require.Len(t, frames, 2)
	assert.Equal(t, 0, frames[0].Index)
	assert.Equal(t, 1, frames[1].Index)
	assert.Equal(t, ether.TypeIPv4, frames[0].Proto)
	assert.Equal(t, ether.TypeARP, frames[1].Proto)
	assert.Equal(t, LinkEthernet, frames[0].LinkType)
	assert.True(t, frames[0].Time.Equal(t0), "timestamp %v", frames[0].Time)
	assert.Equal(t, 34, frames[0].CapLen)
	assert.Len(t, nets[0], 20)
	assert.Len(t, nets[1], 28)
	assert.Equal(t, 2, r.Frames())
	assert.NoError(t, r.Close())
}

func TestReaderNotCapture(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":    {},
		"one byte": {0xd4},
		"text":     []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
		"gzip of text": func() []byte {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			_, _ = zw.Write([]byte("hello, this is not a capture"))
			_ = zw.Close()
			return b.Bytes()
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(in))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotCapture)
		})
	}
}

func TestReaderTruncated(t *testing.T) {
	raw := pcapBytes(t, layers.LinkTypeEthernet, ethFrame(ether.TypeIPv4, 40), ethFrame(ether.TypeIPv4, 40), ethFrame(ether.TypeIPv4, 40))
	for _, cut := range []int{len(raw) - 1, len(raw) - 54 + 8, len(raw) - 54 - 3} {
		r, err := NewReader(bytes.NewReader(raw[:cut]))
		require.NoError(t, err)
		frames, _, err := readAll(t, r)
		var te *TruncatedError
		require.ErrorAs(t, err, &te, "cut at %d", cut)
		assert.Equal(t, 2, te.Frames)
		assert.Len(t, frames, 2)
		assert.Contains(t, err.Error(), "truncated after 2 frames")
		// The error sticks.
		var f Frame
		assert.Equal(t, err, r.Next(&f))
	}
}

func TestReaderGzipByMagic(t *testing.T) {
	raw := pcapBytes(t, layers.LinkTypeEthernet, ethFrame(ether.TypeIPv4, 20), ethFrame(ether.TypeIPv4, 30))
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, err := zw.Write(raw)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	// The name says nothing: the magic decides.
	path := filepath.Join(t.TempDir(), "capture.pcap")
	require.NoError(t, os.WriteFile(path, z.Bytes(), 0o600))
	r, err := Open(path)
	require.NoError(t, err)
	defer func() { assert.NoError(t, r.Close()) }()
	assert.True(t, r.Gzipped())
	frames, nets, err := readAll(t, r)
	require.NoError(t, err)
	require.Len(t, frames, 2)
	assert.Len(t, nets[1], 30)

	// A gzip stream cut short is a truncation, not a crash.
	r2, err := NewReader(bytes.NewReader(z.Bytes()[:len(z.Bytes())-12]))
	require.NoError(t, err)
	_, _, err = readAll(t, r2)
	var te *TruncatedError
	assert.ErrorAs(t, err, &te)
}

// rawPcapHeader builds a classic pcap file header by hand.
func rawPcapHeader(order binary.ByteOrder, magic uint32, snap, link uint32) []byte {
	h := make([]byte, 24)
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], snap)
	order.PutUint32(h[20:], link)
	return h
}

func rawRecord(order binary.ByteOrder, sec, frac uint32, data []byte) []byte {
	h := make([]byte, 16, 16+len(data))
	order.PutUint32(h[0:], sec)
	order.PutUint32(h[4:], frac)
	order.PutUint32(h[8:], uint32(len(data)))
	order.PutUint32(h[12:], uint32(len(data)))
	return append(h, data...)
}

func TestReaderNanosecondBigEndian(t *testing.T) {
	tests := []struct {
		name  string
		order binary.ByteOrder
		magic uint32
		frac  uint32
		want  time.Duration
	}{
		{"micro little-endian", binary.LittleEndian, 0xa1b2c3d4, 250, 250 * time.Microsecond},
		{"micro big-endian", binary.BigEndian, 0xa1b2c3d4, 250, 250 * time.Microsecond},
		{"nano little-endian", binary.LittleEndian, 0xa1b23c4d, 250, 250},
		{"nano big-endian", binary.BigEndian, 0xa1b23c4d, 250, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := append(rawPcapHeader(tt.order, tt.magic, 65535, 1), rawRecord(tt.order, 1000, tt.frac, ethFrame(ether.TypeIPv4, 20))...)
			r, err := NewReader(bytes.NewReader(raw))
			require.NoError(t, err)
			frames, _, err := readAll(t, r)
			require.NoError(t, err)
			require.Len(t, frames, 1)
			assert.Equal(t, time.Unix(1000, 0).Add(tt.want).UTC(), frames[0].Time)
			assert.Equal(t, ether.TypeIPv4, frames[0].Proto)
		})
	}
}

func TestReaderUnsupportedLinkType(t *testing.T) {
	raw := pcapBytes(t, layers.LinkTypeIEEE802_11, make([]byte, 30))
	_, err := NewReader(bytes.NewReader(raw))
	var ue *UnsupportedLinkTypeError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, LinkType(105), ue.LinkType)
	assert.Contains(t, err.Error(), "(105)")
}

// TestReaderPcapNgInterfaces writes a pcapng with three interfaces of
// different link types, one unsupported, and checks each frame carries
// its interface and is normalised by that interface's link type.
func TestReaderPcapNgInterfaces(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535},
		pcapgo.DefaultNgWriterOptions)
	require.NoError(t, err)
	sll2, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 65535})
	require.NoError(t, err)
	wifi, err := w.AddInterface(pcapgo.NgInterface{Name: "wlan0", LinkType: layers.LinkTypeIEEE802_11, SnapLength: 65535})
	require.NoError(t, err)
	sllFrame := make([]byte, 20+20)
	binary.BigEndian.PutUint16(sllFrame, uint16(ether.TypeIPv4))
	sllFrame[20] = 0x45
	write := func(iface int, data []byte) {
		ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
		require.NoError(t, w.WritePacket(ci, data))
	}
	write(0, ethFrame(ether.TypeARP, 28))
	write(sll2, sllFrame)
	write(wifi, make([]byte, 24))
	write(0, ethFrame(ether.TypeIPv4, 20))
	require.NoError(t, w.Flush())

	r, err := NewReader(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, FormatPcapNg, r.Format())
	var f Frame
	require.NoError(t, r.Next(&f))
	assert.Equal(t, 0, f.Interface)
	assert.Equal(t, ether.TypeARP, f.Proto)
	require.NoError(t, r.Next(&f))
	assert.Equal(t, sll2, f.Interface)
	assert.Equal(t, LinkSLL2, f.LinkType)
	assert.Nil(t, f.Ether)
	assert.Equal(t, ether.TypeIPv4, f.Proto)
	assert.Len(t, f.Network, 20)
	err = r.Next(&f)
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, 2, fe.Index)
	var ue *UnsupportedLinkTypeError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, wifi, ue.Interface)
	assert.Contains(t, err.Error(), "(105)")
	require.NoError(t, r.Next(&f), "the stream goes on after an unsupported interface")
	assert.Equal(t, 3, f.Index)
	assert.Equal(t, ether.TypeIPv4, f.Proto)
	assert.Equal(t, io.EOF, r.Next(&f))
}

// TestNormalise covers every supported link type and the encapsulations
// skipped on the way to the network layer, with crafted frames.
func TestNormalise(t *testing.T) {
	ip := []byte{0x45, 0, 0, 20}
	ip6 := []byte{0x60, 0, 0, 0}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ethHdr := func(t ether.EtherType) []byte { return ethFrame(t, 0) }
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	tests := []struct {
		name    string
		link    LinkType
		data    []byte
		proto   ether.EtherType
		network []byte
		vlans   []uint16
		eth     bool
		err     error
	}{
		{"ethernet", LinkEthernet, cat(ethHdr(ether.TypeIPv4), ip), ether.TypeIPv4, ip, nil, true, nil},
		{"802.1Q", LinkEthernet, cat(ethHdr(ether.TypeVLAN), be16(0x2064), be16(0x0800), ip), ether.TypeIPv4, ip, []uint16{100}, true, nil},
		{"QinQ", LinkEthernet, cat(ethHdr(ether.TypeQinQ), be16(10), be16(0x8100), be16(20), be16(0x0806), ip), ether.TypeARP, ip, []uint16{10, 20}, true, nil},
		{"three tags", LinkEthernet, cat(ethHdr(ether.TypeVLAN), be16(1), be16(0x8100), be16(2), be16(0x8100), be16(3), be16(0x0800), ip), ether.TypeIPv4, ip, []uint16{1, 2}, true, nil},
		{"tag cut", LinkEthernet, cat(ethHdr(ether.TypeVLAN), be16(1)), ether.TypeVLAN, nil, nil, true, ether.ErrTruncated},
		{"short ethernet", LinkEthernet, make([]byte, 10), 0, nil, nil, false, ErrShortLinkHeader},
		{"pppoe ipv4", LinkEthernet, cat(ethHdr(0x8864), []byte{0x11, 0, 0, 1, 0, 6}, be16(0x0021), ip), ether.TypeIPv4, ip, nil, true, nil},
		{"pppoe lcp", LinkEthernet, cat(ethHdr(0x8864), []byte{0x11, 0, 0, 1, 0, 6}, be16(0xc021), ip), 0, ip, nil, true, nil},
		{"mpls two labels", LinkEthernet, cat(ethHdr(0x8847), []byte{0, 1, 0, 64, 0, 2, 1, 64}, ip), ether.TypeIPv4, ip, nil, true, nil},
		{"mpls cut", LinkEthernet, cat(ethHdr(0x8847), []byte{0, 1, 0, 64}), 0, nil, nil, true, ether.ErrTruncated},
		{"sll", LinkSLL, cat(make([]byte, 14), be16(0x0800), ip), ether.TypeIPv4, ip, nil, false, nil},
		{"sll vlan", LinkSLL, cat(make([]byte, 14), be16(0x8100), be16(7), be16(0x0800), ip), ether.TypeIPv4, ip, []uint16{7}, false, nil},
		{"sll short", LinkSLL, make([]byte, 15), 0, nil, nil, false, ErrShortLinkHeader},
		{"sll2", LinkSLL2, cat(be16(0x0806), make([]byte, 18), ip), ether.TypeARP, ip, nil, false, nil},
		{"sll2 short", LinkSLL2, make([]byte, 19), 0, nil, nil, false, ErrShortLinkHeader},
		{"raw ipv4", LinkRaw, ip, ether.TypeIPv4, ip, nil, false, nil},
		{"raw ipv6", LinkRaw, ip6, ether.TypeIPv6, ip6, nil, false, nil},
		{"raw dlt 12", LinkRawDLT12, ip, ether.TypeIPv4, ip, nil, false, nil},
		{"raw dlt 14", LinkRawDLT14, ip, ether.TypeIPv4, ip, nil, false, nil},
		{"raw empty", LinkRaw, []byte{}, 0, []byte{}, nil, false, nil},
		{"ipv4 linktype", LinkIPv4, ip, ether.TypeIPv4, ip, nil, false, nil},
		{"ipv6 linktype", LinkIPv6, ip6, ether.TypeIPv6, ip6, nil, false, nil},
		{"null little-endian", LinkNull, cat([]byte{2, 0, 0, 0}, ip), ether.TypeIPv4, ip, nil, false, nil},
		{"null big-endian", LinkNull, cat([]byte{0, 0, 0, 2}, ip), ether.TypeIPv4, ip, nil, false, nil},
		{"null inet6 freebsd", LinkNull, cat([]byte{28, 0, 0, 0}, ip6), ether.TypeIPv6, ip6, nil, false, nil},
		{"loop", LinkLoop, cat([]byte{0, 0, 0, 2}, ip), ether.TypeIPv4, ip, nil, false, nil},
		{"null short", LinkNull, []byte{2, 0}, 0, nil, nil, false, ErrShortLinkHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Frame{LinkType: tt.link, Data: tt.data}
			err := Normalise(&f)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.proto, f.Proto)
			assert.Equal(t, tt.network, []byte(f.Network))
			assert.Equal(t, tt.eth, f.Ether != nil)
			if tt.vlans == nil {
				assert.Zero(t, f.NVLAN)
			} else {
				assert.Equal(t, tt.vlans, f.VLANs[:f.NVLAN])
			}
		})
	}
	f := Frame{LinkType: 105, Data: make([]byte, 40), Interface: 3}
	var ue *UnsupportedLinkTypeError
	require.ErrorAs(t, Normalise(&f), &ue)
	assert.Equal(t, "interface 3: unsupported link type 802.11 (105)", ue.Error())
}

func TestLinkTypeString(t *testing.T) {
	assert.Equal(t, "Ethernet (1)", LinkEthernet.String())
	assert.Equal(t, "LinuxSLL2 (276)", LinkSLL2.String())
	assert.Equal(t, "Raw (12)", LinkRawDLT12.String())
	assert.True(t, LinkLoop.Supported())
	assert.False(t, LinkType(105).Supported())
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestReaderHostileLength feeds a record that claims 64 MiB, followed by
// more data than MaxFrame: the reader must stop at its limit instead of
// buffering everything.
func TestReaderHostileLength(t *testing.T) {
	hdr := rawPcapHeader(binary.LittleEndian, 0xa1b2c3d4, 1<<30, 1)
	rec := make([]byte, 16)
	binary.LittleEndian.PutUint32(rec[8:], 64<<20)
	binary.LittleEndian.PutUint32(rec[12:], 64<<20)
	in := io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(rec), io.LimitReader(zeros{}, 100<<20))
	r, err := NewReader(in)
	require.NoError(t, err)
	var f Frame
	err = r.Next(&f)
	var te *TruncatedError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Zero(t, te.Frames)
}

// TestReaderStreamsLargeFile writes a capture of more than 100 MB to a
// temporary directory and reads it through, checking that the heap stays
// bounded: the reader never holds more than a frame.
func TestReaderStreamsLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	path := filepath.Join(t.TempDir(), "large.pcap")
	fh, err := os.Create(path)
	require.NoError(t, err)
	w := pcapgo.NewWriter(fh)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	frame := ethFrame(ether.TypeIPv4, 1486)
	const n = 70000 // 70000 * (16 + 1500) bytes = 106 MB
	for i := range n {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i)), CaptureLength: len(frame), Length: len(frame)}
		require.NoError(t, w.WritePacket(ci, frame))
	}
	require.NoError(t, fh.Close())
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(100<<20)-1)

	runtime.GC()
	r, err := Open(path)
	require.NoError(t, err)
	defer func() { assert.NoError(t, r.Close()) }()
	var f Frame
	var ms runtime.MemStats
	var peak uint64
	count := 0
	for {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		count++
		if count%5000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	assert.Equal(t, n, count)
	t.Logf("peak heap while streaming %d MB: %d KiB", st.Size()>>20, peak>>10)
	assert.Less(t, peak, uint64(64<<20))
}
