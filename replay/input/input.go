// Package input reads packet captures for replay and analysis: classic pcap
// (microsecond or nanosecond timestamps, either byte order) and pcapng (every
// section and interface, each interface with its own link type), optionally
// gzip-compressed. The format is detected from the file's magic number, never
// from its name. Files are read through github.com/gopacket/gopacket/pcapgo
// and streamed: memory stays bounded by the largest frame, whatever the file
// size.
//
// Every frame is normalised to its timestamp, interface, network-layer
// protocol (an EtherType) and network-layer bytes, plus the Ethernet header
// when the link type has one. Supported link types: Ethernet (1), Linux
// cooked capture SLL (113) and SLL2 (276), raw IP (101, and the historical
// DLT values 12 and 14), raw IPv4 (228) and IPv6 (229), and BSD loopback NULL
// (0) and LOOP (108), which some pcapng captures put on a second interface.
// Other link types are rejected with an error naming them. IEEE 802.1Q and
// 802.1ad VLAN tags are skipped, and so are PPPoE session headers and MPLS
// label stacks.
//
// A file that stops in the middle of a record still yields every frame read
// before the break; the reader then returns a *TruncatedError.
package input

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/simnet-go/simnet/proto/ether"
)

// LinkType is a LINKTYPE_ value from the pcap and pcapng headers.
type LinkType uint32

// Link types this package normalises.
const (
	LinkNull     LinkType = 0   // BSD loopback, address family in host byte order
	LinkEthernet LinkType = 1   // IEEE 802.3 Ethernet
	LinkRawDLT12 LinkType = 12  // raw IP (DLT_RAW on most BSDs)
	LinkRawDLT14 LinkType = 14  // raw IP (DLT_RAW on OpenBSD)
	LinkRaw      LinkType = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkLoop     LinkType = 108 // OpenBSD loopback, address family in network byte order
	LinkSLL      LinkType = 113 // Linux cooked capture v1
	LinkIPv4     LinkType = 228 // raw IPv4
	LinkIPv6     LinkType = 229 // raw IPv6
	LinkSLL2     LinkType = 276 // Linux cooked capture v2
)

// String names the link type as libpcap's pcap_datalink_val_to_name does,
// with the number.
func (t LinkType) String() string {
	name := layers.LinkType(t).String()
	switch t {
	case LinkRawDLT12, LinkRawDLT14:
		name = "Raw"
	case LinkLoop:
		name = "Loop"
	case LinkIPv4:
		name = "IPv4"
	case LinkIPv6:
		name = "IPv6"
	case LinkSLL2:
		name = "LinuxSLL2"
	}
	return fmt.Sprintf("%s (%d)", name, uint32(t))
}

// Supported reports whether the package can normalise frames of link type t.
func (t LinkType) Supported() bool {
	switch t {
	case LinkNull, LinkEthernet, LinkRawDLT12, LinkRawDLT14, LinkRaw, LinkLoop,
		LinkSLL, LinkIPv4, LinkIPv6, LinkSLL2:
		return true
	}
	return false
}

// Format is the container format of a capture file.
type Format uint8

// The container formats.
const (
	FormatPcap Format = iota + 1
	FormatPcapNg
)

// String returns "pcap" or "pcapng".
func (f Format) String() string {
	if f == FormatPcapNg {
		return "pcapng"
	}
	return "pcap"
}

// Errors returned by the reader; match them with errors.Is / errors.As.
var (
	// ErrNotCapture means the input is neither pcap nor pcapng (after gzip
	// decompression when it starts with the gzip magic).
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrFrameTooLarge means a record claims more bytes than MaxFrame.
	ErrFrameTooLarge = errors.New("record larger than the frame limit")
	// ErrShortLinkHeader means a frame is shorter than its link-layer header.
	ErrShortLinkHeader = errors.New("frame shorter than its link-layer header")
)

// MaxFrame bounds how many file bytes one record may take (headers, options,
// data), give or take the read-ahead buffer (readBuffer). Larger records end
// the stream with ErrFrameTooLarge, so a hostile length field cannot make
// the reader buffer the whole file.
const MaxFrame = 16 << 20

// readBuffer is the size of the buffer the pcapgo readers read from: they
// use it directly (bufio.NewReader returns a *bufio.Reader that is big
// enough as it is), so every byte of the file is copied once on its way in
// and once into the frame buffer.
const readBuffer = 256 << 10

// UnsupportedLinkTypeError reports a link type the package does not
// normalise.
type UnsupportedLinkTypeError struct {
	LinkType  LinkType
	Interface int
}

// Error names the link type and the interface.
func (e *UnsupportedLinkTypeError) Error() string {
	return fmt.Sprintf("interface %d: unsupported link type %s", e.Interface, e.LinkType)
}

// TruncatedError is returned by Reader.Next when the file breaks off (or is
// corrupt) after Frames complete frames. Those frames were delivered.
type TruncatedError struct {
	Frames int
	Err    error
}

// Error says after how many frames the file broke off and why.
func (e *TruncatedError) Error() string {
	return fmt.Sprintf("truncated after %d frames: %v", e.Frames, e.Err)
}

// Unwrap returns the underlying read error.
func (e *TruncatedError) Unwrap() error { return e.Err }

// FrameError is returned by Reader.Next for a frame whose link-layer framing
// could not be normalised (unsupported link type on a pcapng interface, a
// frame shorter than its link header). The Frame is filled as far as
// possible; the stream stays usable and the next call reads the next frame.
type FrameError struct {
	// Index counts frames from 0 in file order, as Frame.Index does.
	Index int
	Err   error
}

// Error names the frame by its number from 1 (as Wireshark shows it) and
// the reason.
func (e *FrameError) Error() string {
	return fmt.Sprintf("frame %d: %v", e.Index+1, e.Err)
}

// Unwrap returns the reason.
func (e *FrameError) Unwrap() error { return e.Err }

// Frame is one normalised frame. Its slices point into the reader's buffer
// and are valid until the next call to Next.
type Frame struct {
	// Index counts frames from 0 in file order.
	Index int
	// Time is the capture timestamp.
	Time time.Time
	// Interface is the pcapng interface index (0 for pcap).
	Interface int
	// LinkType is the link type of the frame's interface.
	LinkType LinkType
	// CapLen and OrigLen are the captured and on-the-wire lengths.
	CapLen, OrigLen int
	// Data is the whole captured frame, link header included.
	Data []byte
	// Ether is the 14-byte Ethernet header when the link type has one, nil
	// otherwise.
	Ether ether.Frame
	// VLANs holds the VLAN IDs of the first skipped 802.1Q/802.1ad tags,
	// outermost first; NVLAN of them are valid.
	VLANs [ether.MaxTags]uint16
	NVLAN int
	// Proto is the network-layer protocol as an EtherType (IPv4, ARP, IPv6,
	// or whatever the link header says). It is 0 when unknown.
	Proto ether.EtherType
	// Network is the network-layer bytes (after every link header and tag).
	Network []byte
}

// Reader streams normalised frames from a capture.
type Reader struct {
	format  Format
	closer  io.Closer
	lim     *limitReader
	pcap    *pcapgo.Reader
	ng      *pcapgo.NgReader
	link    LinkType // pcap only
	gzipped bool
	n       int
	err     error
	// size is the input's size when known (0 otherwise), which bounds
	// the buffers.
	size int
	// ra is set once ReadAhead has started decoding on a goroutine; n
	// and err then belong to that goroutine until it has finished.
	ra *readAhead
}

// Open opens the capture file at path. Close releases it.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	r, err := NewReader(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open capture %s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

const (
	magicGzip      = 0x1f8b
	magicPcapUs    = 0xa1b2c3d4
	magicPcapNs    = 0xa1b23c4d
	magicPcapUsBE  = 0xd4c3b2a1
	magicPcapNsBE  = 0x4d3cb2a1
	magicPcapNgSHB = 0x0a0d0d0a
)

// NewReader reads the capture header from r and returns a reader positioned
// at the first frame. It decompresses gzip input transparently.
func NewReader(r io.Reader) (*Reader, error) {
	size := sizeOf(r)
	br := bufio.NewReaderSize(r, bufferSize(64<<10, size))
	rd := &Reader{size: size}
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("read magic: %w", notCapture(err))
	}
	var src io.Reader = br
	if binary.BigEndian.Uint16(magic) == magicGzip {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open gzip stream: %w", err)
		}
		zr.Multistream(true)
		src = zr
		rd.gzipped = true
		rd.size = 0 // the decompressed size is not known
	}
	// The limit counts the bytes the buffer takes in while one frame is
	// read, so it bounds what a record can make the reader buffer.
	rd.lim = &limitReader{r: src, left: MaxFrame}
	buf := bufio.NewReaderSize(rd.lim, bufferSize(readBuffer, rd.size))
	hdr, err := buf.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("read magic: %w", notCapture(err))
	}
	// The SHB block type is a palindrome, so it reads the same in both
	// byte orders (pcapng draft section 4.1).
	switch m := binary.LittleEndian.Uint32(hdr); m {
	case magicPcapNgSHB:
		rd.format = FormatPcapNg
		ng, err := pcapgo.NewNgReader(buf, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("read pcapng section header: %w", err)
		}
		rd.ng = ng
	case magicPcapUs, magicPcapNs, magicPcapUsBE, magicPcapNsBE:
		rd.format = FormatPcap
		p, err := pcapgo.NewReader(buf)
		if err != nil {
			return nil, fmt.Errorf("read pcap header: %w", err)
		}
		rd.pcap = p
		rd.link = LinkType(p.LinkType())
		if !rd.link.Supported() {
			return nil, &UnsupportedLinkTypeError{LinkType: rd.link}
		}
	default:
		return nil, fmt.Errorf("magic %08x: %w", m, ErrNotCapture)
	}
	return rd, nil
}

// sizeOf returns how many bytes r holds when it can tell (an in-memory
// reader, or a regular file: then at most that many are left), or 0.
func sizeOf(r io.Reader) int {
	switch v := r.(type) {
	case interface{ Len() int }:
		return v.Len()
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() && st.Size() < 1<<30 {
			return int(st.Size())
		}
	}
	return 0
}

// bufferSize is the size of a buffer of at most limit bytes for an input of
// size bytes (0: not known), so that a small capture does not cost large
// buffers. It is at least 4096, the size from which bufio.NewReader (as
// pcapgo calls it) uses a *bufio.Reader as it is.
func bufferSize(limit, size int) int {
	if size <= 0 {
		return limit
	}
	return max(4096, min(limit, size))
}

func notCapture(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: file too short", ErrNotCapture)
	}
	return err
}

// Format returns the container format.
func (r *Reader) Format() Format { return r.format }

// Gzipped reports whether the file was gzip-compressed.
func (r *Reader) Gzipped() bool { return r.gzipped }

// Frames returns how many frames Next has delivered.
func (r *Reader) Frames() int {
	if r.ra != nil {
		return r.ra.delivered
	}
	return r.n
}

// Close stops the read-ahead goroutine, if any, and closes the file opened
// by Open; the file part is a no-op for NewReader.
func (r *Reader) Close() error {
	if r.ra != nil {
		r.ra.stop()
	}
	if r.closer == nil {
		return nil
	}
	err := r.closer.Close()
	r.closer = nil
	if err != nil {
		return fmt.Errorf("close capture: %w", err)
	}
	return nil
}

// Next fills f with the next frame. It returns io.EOF after the last frame,
// a *TruncatedError when the file breaks off or is corrupt (every frame
// before the break has been delivered; later calls return the same error),
// and a *FrameError for a frame whose link layer cannot be normalised (f is
// still filled with the raw frame; reading may continue).
func (r *Reader) Next(f *Frame) error {
	if r.ra != nil {
		return r.ra.next(r, f)
	}
	return r.read(f)
}

// read is Next without read-ahead: it decodes the next frame from the file.
func (r *Reader) read(f *Frame) error {
	if r.err != nil {
		return r.err
	}
	r.lim.left = MaxFrame
	var (
		data  []byte
		err   error
		link  LinkType
		iface int
	)
	var capLen, origLen int
	var ts time.Time
	if r.ng != nil {
		d, ci, e := r.ng.ZeroCopyReadPacketData()
		data, err, ts, capLen, origLen, iface = d, e, ci.Timestamp, ci.CaptureLength, ci.Length, ci.InterfaceIndex
		if err == nil && len(ci.AncillaryData) > 0 {
			if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				link = LinkType(lt)
			}
		}
	} else {
		d, ci, e := r.pcap.ZeroCopyReadPacketData()
		data, err, ts, capLen, origLen = d, e, ci.Timestamp, ci.CaptureLength, ci.Length
		link = r.link
	}
	if err != nil {
		if err == io.EOF {
			r.err = io.EOF
		} else {
			r.err = &TruncatedError{Frames: r.n, Err: err}
		}
		return r.err
	}
	// Field by field: the VLAN array need not be cleared (NVLAN says
	// how much of it is valid).
	f.Index, f.Time, f.Interface, f.LinkType = r.n, ts, iface, link
	f.CapLen, f.OrigLen, f.Data = capLen, origLen, data
	f.Ether, f.NVLAN, f.Proto, f.Network = nil, 0, 0, nil
	r.n++
	if err := Normalise(f); err != nil {
		return &FrameError{Index: f.Index, Err: err}
	}
	return nil
}

// Normalise fills f.Ether, f.VLANs, f.NVLAN, f.Proto and f.Network from
// f.Data according to f.LinkType.
func Normalise(f *Frame) error {
	b := f.Data
	switch f.LinkType {
	case LinkEthernet:
		eth, err := ether.Parse(b)
		if err != nil {
			return fmt.Errorf("ethernet: %w", ErrShortLinkHeader)
		}
		f.Ether = eth[:ether.HeaderLen]
		f.Proto, f.Network = eth.EtherType(), eth.Payload()
		return skipTags(f)
	case LinkSLL:
		// https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
		if len(b) < 16 {
			return fmt.Errorf("linux SLL: %w", ErrShortLinkHeader)
		}
		f.Proto = ether.EtherType(binary.BigEndian.Uint16(b[14:]))
		f.Network = b[16:]
		return skipTags(f)
	case LinkSLL2:
		// https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html
		if len(b) < 20 {
			return fmt.Errorf("linux SLL2: %w", ErrShortLinkHeader)
		}
		f.Proto = ether.EtherType(binary.BigEndian.Uint16(b[0:]))
		f.Network = b[20:]
		return skipTags(f)
	case LinkRaw, LinkRawDLT12, LinkRawDLT14:
		f.Network = b
		if len(b) > 0 {
			switch b[0] >> 4 {
			case 4:
				f.Proto = ether.TypeIPv4
			case 6:
				f.Proto = ether.TypeIPv6
			}
		}
	case LinkIPv4:
		f.Proto, f.Network = ether.TypeIPv4, b
	case LinkIPv6:
		f.Proto, f.Network = ether.TypeIPv6, b
	case LinkNull, LinkLoop:
		// https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html: a 4-byte
		// address family, in the capturing host's byte order for NULL and
		// in network byte order for LOOP.
		if len(b) < 4 {
			return fmt.Errorf("loopback: %w", ErrShortLinkHeader)
		}
		fam := binary.BigEndian.Uint32(b)
		if f.LinkType == LinkNull && fam > 0xffff {
			fam = binary.LittleEndian.Uint32(b)
		}
		switch fam {
		case 2:
			f.Proto = ether.TypeIPv4
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
			f.Proto = ether.TypeIPv6
		}
		f.Network = b[4:]
	default:
		return &UnsupportedLinkTypeError{LinkType: f.LinkType, Interface: f.Interface}
	}
	return nil
}

// EtherTypes of encapsulations the reader looks through to reach IP.
const (
	typePPPoESession ether.EtherType = 0x8864 // RFC 2516 section 4
	typeMPLS         ether.EtherType = 0x8847 // RFC 3032
	typeMPLSMulti    ether.EtherType = 0x8848
	pppIPv4                          = 0x0021 // RFC 1332
	pppIPv6                          = 0x0057 // RFC 5072
	maxMPLSLabels                    = 16
)

// skipShims looks through a PPPoE session header with its PPP protocol
// field (RFC 2516 section 4, RFC 1661 section 2), and through an MPLS label
// stack (RFC 3032 section 2.1) whose payload is then typed by its IP version
// nibble, as Wireshark does.
func skipShims(f *Frame) error {
	switch f.Proto {
	case typePPPoESession:
		if len(f.Network) < 8 {
			return fmt.Errorf("pppoe session header: %w", ether.ErrTruncated)
		}
		switch binary.BigEndian.Uint16(f.Network[6:]) {
		case pppIPv4:
			f.Proto = ether.TypeIPv4
		case pppIPv6:
			f.Proto = ether.TypeIPv6
		default:
			f.Proto = 0
		}
		f.Network = f.Network[8:]
	case typeMPLS, typeMPLSMulti:
		for i := 0; ; i++ {
			if i == maxMPLSLabels {
				return fmt.Errorf("mpls: more than %d labels: %w", maxMPLSLabels, ether.ErrTooManyTags)
			}
			if len(f.Network) < 4 {
				return fmt.Errorf("mpls label: %w", ether.ErrTruncated)
			}
			bottom := f.Network[2]&1 != 0
			f.Network = f.Network[4:]
			if bottom {
				break
			}
		}
		f.Proto = 0
		if len(f.Network) > 0 {
			switch f.Network[0] >> 4 {
			case 4:
				f.Proto = ether.TypeIPv4
			case 6:
				f.Proto = ether.TypeIPv6
			}
		}
	}
	return nil
}

// MaxVLANTags is how many stacked 802.1Q/802.1ad tags the reader skips
// before it gives up on a frame (Wireshark decodes any depth; real networks
// stack two, test captures sometimes three).
const MaxVLANTags = 8

// skipTags skips the VLAN tags at the start of f.Network (IEEE 802.1Q
// section 9.5: TPID already read as f.Proto, then a 2-byte TCI), recording
// the first ether.MaxTags VLAN IDs.
func skipTags(f *Frame) error {
	for depth := 0; f.Proto.IsVLAN(); depth++ {
		if depth == MaxVLANTags {
			return fmt.Errorf("vlan tags: more than %d: %w", MaxVLANTags, ether.ErrTooManyTags)
		}
		if len(f.Network) < ether.TagLen {
			return fmt.Errorf("vlan tag %d: %w", depth, ether.ErrTruncated)
		}
		if f.NVLAN < ether.MaxTags {
			f.VLANs[f.NVLAN] = binary.BigEndian.Uint16(f.Network) & 0x0fff
			f.NVLAN++
		}
		f.Proto = ether.EtherType(binary.BigEndian.Uint16(f.Network[2:]))
		f.Network = f.Network[ether.TagLen:]
	}
	return skipShims(f)
}

// limitReader fails reads once more than left bytes were taken since the
// last reset, bounding what one record can make the pcapgo readers buffer.
type limitReader struct {
	r    io.Reader
	left int
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, ErrFrameTooLarge
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}
