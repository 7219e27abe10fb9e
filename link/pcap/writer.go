// Package pcap records frames into pcapng (default) or plain pcap files, and
// provides Tap, a link.Endpoint middleware that records every frame a host
// interface sends and receives, as gVisor's sniffer endpoint does.
//
// A pcapng capture has one Interface Description Block per interface, named
// "host:iface", with link type Ethernet and nanosecond timestamps. Each
// Enhanced Packet Block carries the direction (inbound or outbound) in its
// epb_flags option and, when the link did something to the frame, the
// link.Note as an opt_comment (RFC draft-ietf-opsawg-pcapng, sections 4.3
// and 4.2), so Wireshark shows what the network did to each packet.
//
// Output depends only on what is written: timestamps come from the caller's
// clock and the section header carries fixed strings, never the host's OS,
// hardware or the wall clock, so identical runs give byte-identical files.
//
// The section header and interface blocks are written by gopacket's pcapgo;
// packet blocks are encoded here, because pcapgo's WritePacketWithOptions
// allocates on every packet (its options slice and boxed values), and a
// capture must not cost an allocation per frame.
package pcap

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/clock"
)

// Format is a capture file format.
type Format uint8

// The capture formats.
const (
	// PcapNG is pcapng with interface names, directions and comments.
	PcapNG Format = iota
	// Pcap is classic libpcap format with nanosecond timestamps: no
	// interface names, directions or comments.
	Pcap
)

// ParseFormat returns the format named s: "pcapng" or "pcap".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "pcapng", "":
		return PcapNG, nil
	case "pcap":
		return Pcap, nil
	}
	return 0, fmt.Errorf("pcap: unknown capture format %q (want pcapng or pcap)", s)
}

// String names the format.
func (f Format) String() string {
	if f == Pcap {
		return "pcap"
	}
	return "pcapng"
}

// Ext returns the file name extension of the format, with its dot.
func (f Format) Ext() string { return "." + f.String() }

// Direction says whether a frame left or reached the interface.
type Direction uint8

// The directions, with the values of the pcapng epb_flags direction bits.
const (
	// Inbound frames were received by the interface.
	Inbound Direction = 1
	// Outbound frames were sent by the interface.
	Outbound Direction = 2
)

// SnapLen is the largest frame recorded whole by default; longer frames
// are truncated (the original length is still recorded).
const SnapLen = 262144

// MinSnapLen is the smallest snapshot length Options accepts: an
// Ethernet, IPv4 and TCP header.
const MinSnapLen = 54

// Options tunes a Writer. The zero Options is the default.
type Options struct {
	// SnapLen is the largest frame recorded whole (0: SnapLen); it goes
	// into the file header (pcap) or each interface block (pcapng).
	SnapLen int
}

// Application is the fixed string written as the pcapng section's
// application, hardware and OS, so files do not depend on the machine.
const Application = "simnet"

// maxComments bounds the cache of rendered notes.
const maxComments = 4096

// pcapng block and option codes (draft-ietf-opsawg-pcapng section 4).
const (
	blockEPB        = 0x00000006
	optEndOfOpt     = 0
	optComment      = 1
	optEPBFlags     = 2
	epbFixedLen     = 28 // block type, length, interface, ts high/low, caplen, origlen
	epbTrailerLen   = 4
	optHeaderLen    = 4
	epbFlagsOptSize = optHeaderLen + 4
)

// Writer writes one capture file. It is not safe for concurrent use; a
// simulation writes from its one loop. The first write error is kept and
// returned by every later call, and by Flush and Close.
type Writer struct {
	format  Format
	closer  io.Closer
	bw      *bufio.Writer
	ng      *pcapgo.NgWriter
	pw      *pcapgo.Writer
	names   []string
	scratch [epbFixedLen]byte
	zero    [4]byte // padding, never written to
	notes   map[link.Note]string
	err     error
	closed  bool
	// snap is the snapshot length; pendingNames are names to write once
	// the pcapng section header is.
	snap         int
	pendingNames []Name
	// namer names addresses as frames carry them (SetNamer); named holds
	// the addresses already named.
	namer func([4]byte) (string, bool)
	named map[[4]byte]bool

	// While a frame whose fate is pending is held (WritePending), every
	// later record waits behind it in held, so the file stays in time
	// order; records are written once the head's fate is known.
	held     []heldRecord
	heldHead int
	heldFree [][]byte
	// override replaces the record's comment while set.
	override string
}

// StillQueuedComment is the comment of a frame whose fate was still
// pending (it waited in a queue discipline) when the capture was closed.
const StillQueuedComment = "simnet: still in the link's queue when the capture ended"

// heldRecord is a packet record waiting to be written.
type heldRecord struct {
	ifc     int
	t       clock.Time
	dir     Direction
	data    []byte
	origLen int
	note    link.Note
	pending bool
}

// Create creates (or truncates) the file at path and returns a Writer that
// owns it.
func Create(path string, format Format) (*Writer, error) {
	return CreateWith(path, format, Options{})
}

// CreateWith is Create with options.
func CreateWith(path string, format Format, o Options) (*Writer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("pcap: create capture: %w", err)
	}
	w, err := NewWriterWith(f, format, o)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	w.closer = f
	return w, nil
}

// NewWriter returns a Writer on out. Close flushes it but does not close out
// unless out is an io.Closer handed over through Create.
func NewWriter(out io.Writer, format Format) (*Writer, error) {
	return NewWriterWith(out, format, Options{})
}

// check reports bad options.
func (o Options) check() error {
	if o.SnapLen != 0 && (o.SnapLen < MinSnapLen || o.SnapLen > SnapLen) {
		return fmt.Errorf("pcap: snapshot length %d out of range [%d, %d]", o.SnapLen, MinSnapLen, SnapLen)
	}
	return nil
}

// NewWriterWith is NewWriter with options.
func NewWriterWith(out io.Writer, format Format, o Options) (*Writer, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	w := &Writer{
		format: format,
		bw:     bufio.NewWriterSize(out, 64<<10),
		notes:  make(map[link.Note]string),
		snap:   cmp.Or(o.SnapLen, SnapLen),
	}
	switch format {
	case PcapNG:
		// The section header is written with the first interface.
	case Pcap:
		w.pw = pcapgo.NewWriterNanos(w.bw)
		if err := w.pw.WriteFileHeader(uint32(w.snap), layers.LinkTypeEthernet); err != nil {
			return nil, fmt.Errorf("pcap: write file header: %w", err)
		}
	default:
		return nil, fmt.Errorf("pcap: unknown format %d", format)
	}
	return w, nil
}

// Format returns the writer's format.
func (w *Writer) Format() Format { return w.format }

// AddInterface declares an interface (by convention "host:iface") and
// returns its index for WritePacket. In pcapng it writes an Interface
// Description Block; plain pcap has no interfaces, so every index writes to
// the one packet stream.
func (w *Writer) AddInterface(name string) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("pcap: add interface: writer closed")
	}
	id := len(w.names)
	w.names = append(w.names, name)
	if w.format != PcapNG {
		return id, nil
	}
	intf := pcapgo.NgInterface{Name: name, LinkType: layers.LinkTypeEthernet, SnapLength: uint32(w.snap)}
	var err error
	if w.ng == nil {
		w.ng, err = pcapgo.NewNgWriterInterface(w.bw, intf, pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Hardware: Application, OS: Application, Application: Application},
		})
		if err == nil && len(w.pendingNames) > 0 {
			// Names given before the section header existed follow it.
			err = w.ng.Flush()
			if err == nil {
				err = w.writeNRB(w.pendingNames)
				w.pendingNames = nil
			}
		}
	} else {
		_, err = w.ng.AddInterface(intf)
	}
	if err == nil {
		// pcapgo shares our bufio.Writer when it is large enough; flush in
		// case it buffered on its own, so its blocks precede ours.
		err = w.ng.Flush()
	}
	if err != nil {
		w.err = fmt.Errorf("pcap: add interface %q: %w", name, err)
		return 0, w.err
	}
	return id, nil
}

// Interfaces returns the names of the declared interfaces, by index.
func (w *Writer) Interfaces() []string { return append([]string(nil), w.names...) }

// WritePacket records frame on interface ifc at instant t. In pcapng the
// direction goes into epb_flags and a non-zero note into a comment; plain
// pcap records neither.
func (w *Writer) WritePacket(ifc int, t clock.Time, dir Direction, frame []byte, note link.Note) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("pcap: write packet: writer closed")
	}
	if ifc < 0 || ifc >= len(w.names) {
		return fmt.Errorf("pcap: write packet: no interface %d (have %d)", ifc, len(w.names))
	}
	if w.heldHead < len(w.held) {
		w.hold(ifc, t, dir, frame, note, false)
		return nil
	}
	return w.write(ifc, t, dir, frame, len(frame), note)
}

// WritePending records frame like WritePacket, but holds the record, and
// every later one, until Resolve gives the frame's final note (its fate was
// pending: note.Ticket is not zero). Close writes the records still held.
func (w *Writer) WritePending(ifc int, t clock.Time, dir Direction, frame []byte, note link.Note) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("pcap: write packet: writer closed")
	}
	if ifc < 0 || ifc >= len(w.names) {
		return fmt.Errorf("pcap: write packet: no interface %d (have %d)", ifc, len(w.names))
	}
	w.hold(ifc, t, dir, frame, note, note.Ticket != 0)
	return w.drain()
}

// Resolve sets the final note of the pending record on interface ifc with
// note's Ticket, and writes the records no longer waiting for a fate.
func (w *Writer) Resolve(ifc int, note link.Note) error {
	for i := w.heldHead; i < len(w.held); i++ {
		r := &w.held[i]
		if r.pending && r.ifc == ifc && r.note.Ticket == note.Ticket {
			note.Ticket = 0
			r.note, r.pending = note, false
			break
		}
	}
	return w.drain()
}

// hold queues a copy of a record.
func (w *Writer) hold(ifc int, t clock.Time, dir Direction, frame []byte, note link.Note, pending bool) {
	var buf []byte
	if n := len(w.heldFree); n > 0 {
		buf = w.heldFree[n-1][:0]
		w.heldFree = w.heldFree[:n-1]
	}
	data := frame
	if len(data) > SnapLen {
		data = data[:SnapLen]
	}
	buf = append(buf, data...)
	if !pending {
		note.Ticket = 0
	}
	w.held = append(w.held, heldRecord{ifc: ifc, t: t, dir: dir, data: buf, origLen: len(frame), note: note, pending: pending})
}

// drain writes the held records up to the first still pending.
func (w *Writer) drain() error {
	for w.heldHead < len(w.held) && !w.held[w.heldHead].pending {
		w.flushHead()
	}
	if w.heldHead == len(w.held) {
		w.held, w.heldHead = w.held[:0], 0
	}
	return w.err
}

// flushHead writes the first held record, whatever its state.
func (w *Writer) flushHead() {
	r := &w.held[w.heldHead]
	r.note.Ticket = 0
	if w.err == nil {
		if r.pending {
			w.override = StillQueuedComment
		}
		_ = w.write(r.ifc, r.t, r.dir, r.data, r.origLen, r.note)
		w.override = ""
	}
	w.heldFree = append(w.heldFree, r.data)
	*r = heldRecord{}
	w.heldHead++
}

// write encodes one record now.
func (w *Writer) write(ifc int, t clock.Time, dir Direction, frame []byte, origLen int, note link.Note) error {
	data := frame
	if len(data) > w.snap {
		data = data[:w.snap]
	}
	var err error
	if w.format == Pcap {
		ci := gopacket.CaptureInfo{Timestamp: t.Std(), CaptureLength: len(data), Length: origLen}
		err = w.pw.WritePacket(ci, data)
	} else {
		err = w.writeEPB(ifc, t, dir, data, origLen, note)
	}
	if err != nil {
		w.err = fmt.Errorf("pcap: write packet on %s: %w", w.names[ifc], err)
	}
	return w.err
}

// dropComments are the comments of notes that record only a drop, rendered
// once for every writer: a world of many hosts would otherwise render them
// again in each host's capture.
var dropComments = func() [link.DropAQM + 1]string {
	var c [link.DropAQM + 1]string
	for r := range c {
		c[r] = link.Note{Drop: link.DropReason(r)}.String()
	}
	return c
}()

// comment returns note rendered as a capture comment, cached so that a
// recurring note costs no allocation.
func (w *Writer) comment(note link.Note) string {
	if note == (link.Note{Drop: note.Drop}) && int(note.Drop) < len(dropComments) {
		return dropComments[note.Drop]
	}
	if s, ok := w.notes[note]; ok {
		return s
	}
	s := note.String()
	if len(w.notes) < maxComments {
		w.notes[note] = s
	}
	return s
}

func pad4(n int) int { return (4 - n&3) & 3 }

// writeEPB encodes one Enhanced Packet Block (draft-ietf-opsawg-pcapng
// section 4.3) with an opt_comment when note is not zero and epb_flags.
func (w *Writer) writeEPB(ifc int, t clock.Time, dir Direction, data []byte, origLen int, note link.Note) error {
	if w.namer != nil {
		if err := w.nameFrame(data); err != nil {
			return err
		}
	}
	comment := w.override
	if comment == "" && !note.IsZero() {
		comment = w.comment(note)
		if len(comment) > 0xffff {
			comment = comment[:0xffff]
		}
	}
	optLen := epbFlagsOptSize + optHeaderLen // flags, end of options
	if comment != "" {
		optLen += optHeaderLen + len(comment) + pad4(len(comment))
	}
	total := epbFixedLen + len(data) + pad4(len(data)) + optLen + epbTrailerLen
	b := w.scratch[:]
	le := binary.LittleEndian
	le.PutUint32(b[0:4], blockEPB)
	le.PutUint32(b[4:8], uint32(total))
	le.PutUint32(b[8:12], uint32(ifc))
	ts := uint64(t) // if_tsresol is 9: nanoseconds
	le.PutUint32(b[12:16], uint32(ts>>32))
	le.PutUint32(b[16:20], uint32(ts))
	le.PutUint32(b[20:24], uint32(len(data)))
	le.PutUint32(b[24:28], uint32(origLen))
	if _, err := w.bw.Write(b); err != nil {
		return err
	}
	if _, err := w.bw.Write(data); err != nil {
		return err
	}
	if _, err := w.bw.Write(w.zero[:pad4(len(data))]); err != nil {
		return err
	}
	if comment != "" {
		le.PutUint16(b[0:2], optComment)
		le.PutUint16(b[2:4], uint16(len(comment)))
		if _, err := w.bw.Write(b[:4]); err != nil {
			return err
		}
		if _, err := w.bw.WriteString(comment); err != nil {
			return err
		}
		if _, err := w.bw.Write(w.zero[:pad4(len(comment))]); err != nil {
			return err
		}
	}
	le.PutUint16(b[0:2], optEPBFlags)
	le.PutUint16(b[2:4], 4)
	le.PutUint32(b[4:8], uint32(dir)&3)
	le.PutUint16(b[8:10], optEndOfOpt)
	le.PutUint16(b[10:12], 0)
	le.PutUint32(b[12:16], uint32(total))
	_, err := w.bw.Write(b[:16])
	return err
}

// Flush writes buffered data to the output.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("pcap: flush: %w", err)
	}
	return w.err
}

// Close flushes the capture and closes the file it owns. A pcapng capture
// to which no interface was added holds only a section header with no
// interface, written here.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	for w.heldHead < len(w.held) {
		w.flushHead()
	}
	if w.format == PcapNG && w.ng == nil && w.err == nil {
		w.writeBareSection()
	}
	err := w.Flush()
	w.closed = true
	if w.closer != nil {
		if cerr := w.closer.Close(); cerr != nil && err == nil {
			w.err = fmt.Errorf("pcap: close: %w", cerr)
			err = w.err
		}
	}
	return err
}

// writeBareSection writes a Section Header Block without options
// (draft-ietf-opsawg-pcapng section 4.1), so that a capture with no
// interfaces is still a valid pcapng file.
func (w *Writer) writeBareSection() {
	le := binary.LittleEndian
	var b [28]byte
	le.PutUint32(b[0:4], 0x0A0D0D0A)
	le.PutUint32(b[4:8], 28)
	le.PutUint32(b[8:12], 0x1A2B3C4D)
	le.PutUint16(b[12:14], 1)
	le.PutUint16(b[14:16], 0)
	le.PutUint64(b[16:24], ^uint64(0)) // section length unspecified
	le.PutUint32(b[24:28], 28)
	if _, err := w.bw.Write(b[:]); err != nil {
		w.err = fmt.Errorf("pcap: write section header: %w", err)
	}
}

// Err returns the first error the writer met, or nil.
func (w *Writer) Err() error { return w.err }
