// Package tcpexpert flags TCP segments the way Wireshark's "SEQ/ACK
// analysis" does (the tcp.analysis.* fields and expert information):
// retransmissions (fast, spurious), out-of-order segments, segments after a
// gap that was not captured, ACKs of segments that were not captured,
// duplicate ACKs, zero windows and their probes, keep-alives, window
// updates and full windows.
//
// The rules are those of the Wireshark User's Guide, section 7.5 "TCP
// Analysis", evaluated per frame in capture order with the same state per
// direction (next expected sequence number, last acknowledgement and
// window, duplicate-ACK count, the time of the last ACK and of the highest
// segment, the handshake's RTT), so that the counts can be compared with
// `tshark -z expert` or `tshark -Y tcp.analysis.FLAG` on the same file; the
// test suite does so frame by frame on real captures. As in Wireshark, a
// fast or spurious retransmission is also a retransmission.
//
// Limits: IP fragments are not reassembled (a TCP segment split by IP
// fragmentation is not analysed); IPv6 extension headers other than
// hop-by-hop, routing and destination options stop the walk.
package tcpexpert

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/input"
)

// Flags is a set of analysis results for one frame.
type Flags uint32

// The flags, named after Wireshark's tcp.analysis.* fields.
const (
	Retransmission         Flags = 1 << iota // tcp.analysis.retransmission (also set with the next two)
	FastRetransmission                       // tcp.analysis.fast_retransmission
	SpuriousRetransmission                   // tcp.analysis.spurious_retransmission
	OutOfOrder                               // tcp.analysis.out_of_order
	LostSegment                              // tcp.analysis.lost_segment: previous segment not captured
	AckLostSegment                           // tcp.analysis.ack_lost_segment: ACKed unseen segment
	DuplicateAck                             // tcp.analysis.duplicate_ack
	ZeroWindow                               // tcp.analysis.zero_window
	ZeroWindowProbe                          // tcp.analysis.zero_window_probe
	ZeroWindowProbeAck                       // tcp.analysis.zero_window_probe_ack
	KeepAlive                                // tcp.analysis.keep_alive
	KeepAliveAck                             // tcp.analysis.keep_alive_ack
	WindowUpdate                             // tcp.analysis.window_update
	WindowFull                               // tcp.analysis.window_full
	numFlags               = iota
)

// Names lists the flags' tshark field names, in bit order.
var Names = [numFlags]string{
	"retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
	"lost_segment", "ack_lost_segment", "duplicate_ack", "zero_window", "zero_window_probe",
	"zero_window_probe_ack", "keep_alive", "keep_alive_ack", "window_update", "window_full",
}

// Counts counts frames per flag, indexed like Names.
type Counts [numFlags]int

// Add counts the flags of one frame.
func (c *Counts) Add(f Flags) {
	if f == 0 {
		return
	}
	for i := range numFlags {
		if f&(1<<i) != 0 {
			c[i]++
		}
	}
}

// Map returns the non-zero counts keyed by tshark field name (without the
// tcp.analysis. prefix).
func (c *Counts) Map() map[string]int {
	m := map[string]int{}
	for i, n := range c {
		if n > 0 {
			m[Names[i]] = n
		}
	}
	return m
}

// Winscale states of a direction (Wireshark's win_scale).
const (
	scaleUnknown = -1 // no SYN seen: the scale is unknown
	scaleNone    = -2 // SYN seen without the option (or the peer's lacked it)
)

// unacked is a segment waiting for its ACK.
type unacked struct{ seq, next uint32 }

// flow is one direction's analysis state.
type flow struct {
	baseSet      bool
	baseSeq      uint32
	nextSeq      uint32 // next expected sequence number; 0: unknown
	nextSeqTime  time.Time
	maxToBeAcked uint32
	lastAck      uint32
	lastAckTime  time.Time
	window       uint32 // last window, scaled
	winScale     int
	dupAcks      int
	lastFlags    Flags
	segments     []unacked
}

// conv is one TCP conversation.
type conv struct {
	flows    [2]flow // [0]: from the lower endpoint
	mruSYN   time.Time
	firstRTT time.Duration
}

// endpoint is an address (IPv4 in the first four bytes) and a port.
type endpoint struct {
	addr [16]byte
	port uint16
}

// less orders endpoints by address, then port (both of one family).
func (e *endpoint) less(o *endpoint) bool {
	if c := bytes.Compare(e.addr[:], o.addr[:]); c != 0 {
		return c < 0
	}
	return e.port < o.port
}

// convKey identifies a conversation: the lower endpoint first.
type convKey struct {
	a, b endpoint
	v6   bool
}

// Analyzer carries the analysis state across the frames of one capture.
type Analyzer struct {
	convs map[convKey]*conv
	opts  tcp.Options
	// lastKey and last are the previous frame's conversation: the frames
	// of one flow mostly come in runs, which then skip the map.
	lastKey convKey
	last    *conv
}

// New returns an empty analyzer.
func New() *Analyzer { return &Analyzer{convs: map[convKey]*conv{}} }

// maxUnacked bounds the segments remembered per direction, as Wireshark
// does when it sees no ACKs.
const maxUnacked = 10000

func gtSeq(a, b uint32) bool { return int32(b-a) < 0 }
func ltSeq(a, b uint32) bool { return int32(a-b) < 0 }
func leSeq(a, b uint32) bool { return int32(b-a) >= 0 }

// segment is the part of a frame the analysis reads.
type segment struct {
	src, dst endpoint
	v6       bool
	seq, ack uint32
	flags    uint8
	window   uint32
	seglen   uint32
	wscale   int // the SYN's window scale option, or -1
	ok       bool
}

// parse extracts the TCP segment of an IPv4 or IPv6 frame. Payload sizes
// come from the IP length fields, so frames cut by the snapshot length
// count in full, as in tshark.
func (a *Analyzer) parse(f *input.Frame) (segment, tcp.Header) {
	var s segment
	b := f.Network
	// The bytes the network layer had on the wire: those captured plus
	// those the snapshot length cut. An IP length field claiming more is
	// believed only that far, as tshark does.
	wire := len(b) + max(f.OrigLen-f.CapLen, 0)
	var l4 []byte
	var l4len int
	switch f.Proto {
	case ether.TypeIPv4:
		if len(b) < 20 || b[0]>>4 != 4 {
			return s, nil
		}
		hl := int(b[0]&0xf) * 4
		tl := min(int(binary.BigEndian.Uint16(b[2:])), wire)
		if hl < 20 || hl > len(b) || tl < hl || b[9] != 6 || binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			return s, nil
		}
		copy(s.src.addr[:4], b[12:16])
		copy(s.dst.addr[:4], b[16:20])
		l4, l4len = b[hl:min(tl, len(b))], tl-hl
	case ether.TypeIPv6:
		if len(b) < 40 || b[0]>>4 != 6 {
			return s, nil
		}
		next, off := b[6], 40
		plen := min(int(binary.BigEndian.Uint16(b[4:])), wire-40)
		for next == 0 || next == 43 || next == 60 { // hop-by-hop, routing, destination options
			if off+8 > len(b) {
				return s, nil
			}
			next, off = b[off], off+8*(int(b[off+1])+1)
		}
		if next != 6 || off > len(b) || off-40 > plen {
			return s, nil
		}
		s.src.addr, s.dst.addr, s.v6 = [16]byte(b[8:24]), [16]byte(b[24:40]), true
		l4, l4len = b[off:min(40+plen, len(b))], plen-(off-40)
	default:
		return s, nil
	}
	h, err := tcp.ParseHeader(l4)
	if err != nil || l4len < h.DataOffset() {
		return s, nil
	}
	s.src.port, s.dst.port = h.SrcPort(), h.DstPort()
	s.seq, s.ack, s.flags = h.Seq(), h.Ack(), h.Flags()
	s.window = uint32(h.Window())
	s.seglen = uint32(l4len - h.DataOffset())
	s.wscale = -1
	// Only a SYN's window scale option is used (RFC 7323 section 2.2).
	if s.flags&tcp.FlagSYN != 0 && tcp.ParseOptions(h.Options(), &a.opts) == nil && a.opts.HasWScale {
		s.wscale = int(min(a.opts.WScale, 14))
	}
	s.ok = true
	return s, h
}

// Add analyses the next frame of the capture and returns its flags (0 for
// frames that are not TCP).
func (a *Analyzer) Add(f *input.Frame) Flags {
	s, _ := a.parse(f)
	if !s.ok {
		return 0
	}
	k, fromA := convKey{a: s.src, b: s.dst, v6: s.v6}, true
	if s.dst.less(&s.src) {
		k.a, k.b, fromA = s.dst, s.src, false
	}
	c := a.last
	if c == nil || k != a.lastKey {
		c = a.convs[k]
	}
	syn := s.flags&tcp.FlagSYN != 0
	ack := s.flags&tcp.FlagACK != 0
	if c != nil && syn && !ack {
		// A new SYN with another ISN starts a new conversation on the
		// same ports (Wireshark: "TCP Port numbers reused").
		fwd := &c.flows[0]
		if !fromA {
			fwd = &c.flows[1]
		}
		if fwd.baseSet && fwd.baseSeq != s.seq {
			c = nil
		}
	}
	if c == nil {
		c = &conv{}
		c.flows[0].winScale, c.flows[1].winScale = scaleUnknown, scaleUnknown
		a.convs[k] = c
	}
	a.lastKey, a.last = k, c
	fwd, rev := &c.flows[0], &c.flows[1]
	if !fromA {
		fwd, rev = rev, fwd
	}
	now := f.Time
	// Window scaling (RFC 7323 2.2): learnt from the SYNs, used only when
	// both sides sent the option, never applied to a SYN's window.
	if syn {
		if s.wscale >= 0 {
			fwd.winScale = s.wscale
		} else {
			fwd.winScale = scaleNone
		}
		if ack && rev.winScale == scaleNone {
			fwd.winScale = scaleNone
		}
		if ack && fwd.winScale == scaleNone && rev.winScale >= 0 {
			rev.winScale = scaleNone
		}
		if !ack {
			c.mruSYN = now
		}
	} else if fwd.winScale >= 0 {
		s.window <<= uint(fwd.winScale)
	}
	if ack && !syn && c.firstRTT == 0 && !c.mruSYN.IsZero() {
		c.firstRTT = now.Sub(c.mruSYN)
	}
	return a.analyze(c, fwd, rev, s, now)
}

// analyze applies the rules of Wireshark's SEQ/ACK analysis to one segment.
func (a *Analyzer) analyze(c *conv, fwd, rev *flow, s segment, now time.Time) Flags {
	var fl Flags
	seq, ack, seglen, window := s.seq, s.ack, s.seglen, s.window
	syn, fin, rst := s.flags&tcp.FlagSYN != 0, s.flags&tcp.FlagFIN != 0, s.flags&tcp.FlagRST != 0
	synFinRst := syn || fin || rst
	if !fwd.baseSet {
		fwd.baseSeq, fwd.baseSet = seq, true
		if !syn {
			fwd.baseSeq = seq - 1
		}
	}
	if !rev.baseSet && s.flags&tcp.FlagACK != 0 {
		rev.baseSeq, rev.baseSet = ack-1, true
	}
	finished := false
	// Zero window probe: one byte at the next expected sequence number
	// into a zero window.
	if seglen == 1 && seq == fwd.nextSeq && rev.window == 0 {
		fl |= ZeroWindowProbe
		finished = true
	}
	if !finished {
		if window == 0 && !synFinRst {
			fl |= ZeroWindow
		}
		if fwd.nextSeq != 0 && gtSeq(seq, fwd.nextSeq) && !rst {
			fl |= LostSegment
		}
		if (seglen == 0 || seglen == 1) && seq == fwd.nextSeq-1 && !synFinRst {
			fl |= KeepAlive
		}
		if seglen == 0 && window != 0 && window != fwd.window && seq == fwd.nextSeq && ack == fwd.lastAck && !synFinRst {
			fl |= WindowUpdate
		}
		if seglen > 0 && rev.winScale != scaleUnknown && seq+seglen == rev.lastAck+rev.window && !synFinRst {
			fl |= WindowFull
		}
		switch {
		case seglen == 0 && window != 0 && window == fwd.window && seq == fwd.nextSeq && ack == fwd.lastAck &&
			rev.lastFlags&KeepAlive != 0 && !synFinRst:
			fl |= KeepAliveAck
		case seglen == 0 && window == 0 && window == fwd.window && seq == fwd.nextSeq && ack == fwd.lastAck &&
			rev.lastFlags&ZeroWindowProbe != 0 && !synFinRst:
			fl |= ZeroWindowProbeAck
		case seglen == 0 && window != 0 && window == fwd.window && seq == fwd.nextSeq && ack == fwd.lastAck && !synFinRst:
			fwd.dupAcks++
			fl |= DuplicateAck
		}
	}
	if ack != fwd.lastAck {
		fwd.dupAcks = 0
	}
	// ACKed unseen segment: this ACK covers data never seen going the
	// other way.
	if rev.maxToBeAcked != 0 && gtSeq(ack, rev.maxToBeAcked) && s.flags&tcp.FlagACK != 0 {
		fl |= AckLostSegment
		rev.maxToBeAcked = rev.nextSeq
	}
	if seglen > 0 || syn || fin {
		fl |= a.retransmission(c, fwd, rev, seq, seglen, syn || fin, fl, now)
	}
	next := seq + seglen
	if syn || fin {
		next++
	}
	if (seglen > 0 || syn || fin) && len(fwd.segments) < maxUnacked {
		fwd.segments = append(fwd.segments, unacked{seq: seq, next: next})
	}
	if gtSeq(next, fwd.nextSeq) || fwd.nextSeq == 0 {
		if fl&ZeroWindowProbe == 0 {
			fwd.nextSeq, fwd.nextSeqTime = next, now
		}
	}
	if seq == fwd.maxToBeAcked || fwd.maxToBeAcked == 0 {
		if fl&ZeroWindowProbe == 0 {
			fwd.maxToBeAcked = fwd.nextSeq
		}
	}
	fwd.window, fwd.lastAck, fwd.lastAckTime, fwd.lastFlags = window, ack, now, fl
	// Forget the other direction's segments this ACK covers.
	kept := rev.segments[:0]
	for _, u := range rev.segments {
		switch {
		case ack == u.next || !gtSeq(u.next, ack):
			// acknowledged: drop
		case gtSeq(ack, u.seq):
			u.seq = ack
			kept = append(kept, u)
		default:
			kept = append(kept, u)
		}
	}
	rev.segments = kept
	return fl
}

// retransmission classifies a segment that does not advance the sequence
// space: spurious (already acknowledged), fast (after two or more
// duplicate ACKs asking for it, within 20 ms), out of order (within the
// handshake RTT, default 3 ms, of the highest segment) or plain.
func (a *Analyzer) retransmission(c *conv, fwd, rev *flow, seq, seglen uint32, synFin bool, fl Flags, now time.Time) Flags {
	if fl&KeepAlive != 0 {
		return 0
	}
	notAdvanced := fwd.nextSeq != 0 && ltSeq(seq, fwd.nextSeq)
	// A segment that starts one byte before the next expected sequence
	// number after a zero window probe really adds new data.
	if seglen > 1 && fwd.nextSeq-1 == seq {
		notAdvanced = false
	}
	if seglen > 0 && rev.lastAck != 0 && leSeq(seq+seglen, rev.lastAck) {
		return SpuriousRetransmission | Retransmission
	}
	if notAdvanced && rev.dupAcks >= 2 && rev.lastAck == seq && now.Sub(rev.lastAckTime) < 20*time.Millisecond {
		return FastRetransmission | Retransmission
	}
	threshold := 3 * time.Millisecond
	if c.firstRTT != 0 {
		threshold = c.firstRTT
	}
	end := seq + seglen
	if synFin {
		end++
	}
	if notAdvanced && now.Sub(fwd.nextSeqTime) < threshold && fwd.nextSeq != end {
		return OutOfOrder
	}
	if notAdvanced {
		return Retransmission
	}
	return 0
}
