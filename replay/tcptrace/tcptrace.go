// Package tcptrace turns the TCP segments of a capture into per-flow traces
// of the kind tcptrace and Wireshark's TCP stream graphs draw: every data
// segment at its time and sequence range (retransmissions marked), every
// ACK with its receive window and SACK blocks, RTT samples and bytes in
// flight, all in sequence numbers relative to the flow's first.
//
// A flow's data direction is the side that sent more payload bytes; the
// other side's segments are its ACKs. RTT samples follow Karn's rule
// (RFC 6298 section 3: no sample from a retransmitted segment) and are
// taken when an ACK first covers a segment's end, as tcptrace does.
// Sequence numbers are unwrapped (a flow may carry more than 4 GiB).
//
// Frames cut by the snapshot length count with their full length (from
// the IP header). Limits: IPv4 only; fragments are skipped; a flow reused after its close
// (same four-tuple, new ISN) is traced as one flow.
package tcptrace

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"time"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/input"
)

// Segment is one data-carrying segment (or SYN/FIN) of the data direction.
type Segment struct {
	// T is the time in seconds from the trace's origin.
	T float64
	// Seq and End are the relative sequence range [Seq, End).
	Seq, End uint64
	// Retransmit is set when the range starts below the highest sequence
	// number sent before.
	Retransmit bool
}

// Ack is one segment of the reverse direction.
type Ack struct {
	T float64
	// Ack is the relative acknowledgement number.
	Ack uint64
	// Window is the right edge of the receive window (Ack plus the
	// scaled window).
	Window uint64
	// SACK holds the relative SACK blocks the segment carried.
	SACK [][2]uint64
}

// Sample is one RTT measurement.
type Sample struct {
	T, RTT float64
}

// Flow is the trace of one TCP connection's data direction.
type Flow struct {
	// Src sends the data, Dst acknowledges it.
	Src, Dst netip.AddrPort
	// First and Last are the times of its first and last segment (either
	// direction), in seconds from the trace's origin.
	First, Last float64
	Segments    []Segment
	Acks        []Ack
	RTT         []Sample
	// Packets counts segments both ways; Bytes the payload bytes of the
	// data direction, retransmissions included; Retransmits the
	// retransmitted segments.
	Packets, Bytes, Retransmits int
	// Delivered is the highest relative sequence number acknowledged.
	Delivered uint64
}

// Name renders the flow as "SRC -> DST".
func (f *Flow) Name() string { return f.Src.String() + " -> " + f.Dst.String() }

// Goodput is the acknowledged bytes over the flow's lifetime, in bit/s.
func (f *Flow) Goodput() float64 {
	if d := f.Last - f.First; d > 0 {
		return float64(f.Delivered) * 8 / d
	}
	return 0
}

// key identifies a connection whatever the direction.
type key struct{ a, b netip.AddrPort }

func keyOf(src, dst netip.AddrPort) (key, bool) {
	if src.Addr().Less(dst.Addr()) || src.Addr() == dst.Addr() && src.Port() < dst.Port() {
		return key{src, dst}, true
	}
	return key{dst, src}, false
}

// side is one direction's state while reading.
type side struct {
	src, dst  netip.AddrPort
	isnSet    bool
	isn       uint32
	lastRel   uint64 // last unwrapped relative sequence, to unwrap the next
	wscale    uint8
	synScale  bool // sent a SYN with a window scale option
	maxEnd    uint64
	bytes     int
	segs      []Segment
	acks      []Ack
	firstData float64
	hasData   bool
}

// conn is one connection's two sides.
type conn struct {
	first, last float64
	packets     int
	s           [2]side // s[0]: from key.a, s[1]: from key.b
}

// Trace collects flows from frames. The zero value is not ready: use New.
type Trace struct {
	origin time.Time
	conns  map[key]*conn
	order  []key
	opts   tcp.Options
}

// New returns a trace whose times count from origin.
func New(origin time.Time) *Trace {
	return &Trace{origin: origin, conns: map[key]*conn{}}
}

// unwrap maps a 32-bit sequence number to the side's 64-bit relative space:
// the value nearest the last one seen.
func (s *side) unwrap(seq uint32) uint64 {
	v := s.relNear(seq, s.lastRel)
	s.lastRel = v
	return v
}

func absDiff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// Add feeds one normalised frame; frames that are not IPv4 TCP are
// ignored.
func (t *Trace) Add(f *input.Frame) {
	if f.Proto != ether.TypeIPv4 {
		return
	}
	// The IP and TCP headers are read by hand rather than with
	// ipv4.Parse, so that frames cut by the snapshot length still count:
	// payload sizes come from the IP total length, not the captured bytes.
	b := f.Network
	if len(b) < ipv4.MinHeaderLen || b[0]>>4 != 4 {
		return
	}
	ip := ipv4.Header(b)
	// An IP length claiming more than the wire carried is believed only
	// that far (the wire: the captured bytes plus those the snapshot
	// length cut), as tshark does.
	hl, tl := ip.HeaderLen(), min(ip.TotalLen(), len(b)+max(f.OrigLen-f.CapLen, 0))
	if hl < ipv4.MinHeaderLen || hl > len(b) || tl < hl || ip.Protocol() != 6 || ip.IsFragment() {
		return
	}
	h, err := tcp.ParseHeader(b[hl:min(tl, len(b))])
	if err != nil {
		return
	}
	payload := tl - hl - h.DataOffset()
	if payload < 0 {
		return
	}
	now := f.Time.Sub(t.origin).Seconds()
	src := netip.AddrPortFrom(ip.Src(), h.SrcPort())
	dst := netip.AddrPortFrom(ip.Dst(), h.DstPort())
	k, fromA := keyOf(src, dst)
	c := t.conns[k]
	if c == nil {
		c = &conn{first: now}
		c.s[0].src, c.s[0].dst = k.a, k.b
		c.s[1].src, c.s[1].dst = k.b, k.a
		t.conns[k] = c
		t.order = append(t.order, k)
	}
	c.last, c.packets = now, c.packets+1
	me, peer := &c.s[0], &c.s[1]
	if !fromA {
		me, peer = peer, me
	}
	flags := h.Flags()
	if tcp.ParseOptions(h.Options(), &t.opts) != nil {
		t.opts = tcp.Options{}
	}
	if flags&tcp.FlagSYN != 0 {
		me.isn, me.isnSet, me.lastRel = h.Seq(), true, 0
		me.synScale, me.wscale = t.opts.HasWScale, t.opts.WScale
	}
	if !me.isnSet {
		me.isn, me.isnSet = h.Seq(), true
	}
	n := uint64(payload)
	if flags&(tcp.FlagSYN|tcp.FlagFIN) != 0 {
		n++ // SYN and FIN take a sequence number (RFC 9293 3.4)
	}
	if n > 0 {
		seq := me.unwrap(h.Seq())
		end := seq + n
		me.segs = append(me.segs, Segment{T: now, Seq: seq, End: end, Retransmit: seq < me.maxEnd})
		me.maxEnd = max(me.maxEnd, end)
		me.bytes += payload
		if !me.hasData {
			me.firstData, me.hasData = now, true
		}
	}
	if flags&tcp.FlagACK != 0 && peer.isnSet {
		a := peer.unwrapAck(h.Ack())
		win := uint64(h.Window())
		// RFC 7323 2.2: the window of a SYN is never scaled; others are
		// scaled when both sides sent the option.
		if flags&tcp.FlagSYN == 0 && me.synScale && peer.synScale {
			win <<= me.wscale
		}
		ack := Ack{T: now, Ack: a, Window: a + win}
		for i := range t.opts.NumSACK {
			b := t.opts.SACK[i]
			ack.SACK = append(ack.SACK, [2]uint64{peer.relNear(b.Start, a), peer.relNear(b.End, a)})
		}
		me.acks = append(me.acks, ack)
	}
}

// unwrapAck maps an acknowledgement of this side's data to its relative
// space without moving the unwrap reference.
func (s *side) unwrapAck(ack uint32) uint64 { return s.relNear(ack, s.lastRel) }

// relNear maps seq to the relative value nearest ref.
func (s *side) relNear(seq uint32, ref uint64) uint64 {
	rel := uint64(seq - s.isn)
	base := ref &^ 0xffffffff
	best := base + rel
	if c := best + 1<<32; absDiff(c, ref) < absDiff(best, ref) {
		best = c
	}
	if base >= 1<<32 {
		if c := best - 1<<32; absDiff(c, ref) < absDiff(best, ref) {
			best = c
		}
	}
	return best
}

// Flows returns the traced flows in order of their first segment. Each
// flow's data direction is its side with more payload; connections that
// carried no payload either way are left out.
func (t *Trace) Flows() []*Flow {
	var out []*Flow
	for _, k := range t.order {
		c := t.conns[k]
		d, a := &c.s[0], &c.s[1]
		if a.bytes > d.bytes {
			d, a = a, d
		}
		if d.bytes == 0 {
			continue
		}
		f := &Flow{Src: d.src, Dst: d.dst, First: c.first, Last: c.last, Segments: d.segs, Acks: a.acks,
			Packets: c.packets, Bytes: d.bytes}
		for _, s := range f.Segments {
			if s.Retransmit {
				f.Retransmits++
			}
		}
		f.RTT = rttSamples(f.Segments, f.Acks)
		for _, ack := range f.Acks {
			f.Delivered = max(f.Delivered, ack.Ack)
		}
		out = append(out, f)
	}
	return out
}

// rttSamples takes one sample per ACK that newly covers the end of a
// segment: the time since the latest such segment was sent. Karn's rule
// (RFC 6298 section 3) is applied to the whole ACK: when any range it newly
// covers was retransmitted, the ACK is ambiguous (it may answer the
// retransmission, or have waited for it) and gives no sample. Segments and
// ACKs are in time order.
func rttSamples(segs []Segment, acks []Ack) []Sample {
	type pending struct {
		start, end uint64
		t          float64
		resent     bool
	}
	var q []pending
	var out []Sample
	i, head := 0, 0
	for _, a := range acks {
		for ; i < len(segs) && segs[i].T <= a.T; i++ {
			s := segs[i]
			if !s.Retransmit {
				q = append(q, pending{start: s.Seq, end: s.End, t: s.T})
				continue
			}
			for j := head; j < len(q); j++ {
				if q[j].end > s.Seq && q[j].start < s.End {
					q[j].resent = true
				}
			}
		}
		var last *pending
		ambiguous := false
		for head < len(q) && q[head].end <= a.Ack {
			ambiguous = ambiguous || q[head].resent
			last = &q[head]
			head++
		}
		if last != nil && !ambiguous && a.T >= last.t {
			out = append(out, Sample{T: a.T, RTT: a.T - last.t})
		}
	}
	return out
}

// Read traces every TCP flow in the capture at path, with times from
// origin (the zero time: from the capture's first frame). A capture that
// breaks off is traced up to the break and the error says so.
func Read(path string, origin time.Time) ([]*Flow, error) {
	r, err := input.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace %s: %w", path, err)
	}
	defer r.Close()
	var t *Trace
	var f input.Frame
	for {
		err := r.Next(&f)
		var fe *input.FrameError
		switch {
		case err == nil:
		case errors.As(err, &fe):
			continue
		case errors.Is(err, io.EOF):
			if t == nil {
				return nil, nil
			}
			return t.Flows(), nil
		default:
			if t == nil {
				return nil, fmt.Errorf("trace %s: %w", path, err)
			}
			return t.Flows(), fmt.Errorf("trace %s: %w", path, err)
		}
		if t == nil {
			o := origin
			if o.IsZero() {
				o = f.Time
			}
			t = New(o)
		}
		t.Add(&f)
	}
}

// Earliest returns the time of the first frame over the captures at paths
// (the zero time when none has a frame).
func Earliest(paths []string) (time.Time, error) {
	var first time.Time
	for _, p := range paths {
		r, err := input.Open(p)
		if err != nil {
			return time.Time{}, fmt.Errorf("trace %s: %w", p, err)
		}
		var f input.Frame
		err = r.Next(&f)
		r.Close()
		var fe *input.FrameError
		if err == nil || errors.As(err, &fe) {
			if first.IsZero() || f.Time.Before(first) {
				first = f.Time
			}
		}
	}
	return first, nil
}

// connName names a connection by its two endpoints in either order.
func connName(a, b netip.AddrPort) string {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	return a.String() + " " + b.String()
}

// Pick chooses, for each connection that appears in several captures (the
// sender's, the receiver's, a switch's), the copy seen nearest its sender:
// the one whose first data segment is earliest. The result is in order of
// first segment.
func Pick(perCapture [][]*Flow) []*Flow {
	best := map[string]*Flow{}
	firstData := func(f *Flow) float64 {
		if len(f.Segments) > 0 {
			return f.Segments[0].T
		}
		return f.First
	}
	for _, flows := range perCapture {
		for _, f := range flows {
			// The connection, not the direction: when both directions
			// carry about as much data (an echo), captures may disagree
			// on which is the data direction, and it is one flow.
			k := connName(f.Src, f.Dst)
			if b, ok := best[k]; !ok || firstData(f) < firstData(b) {
				best[k] = f
			}
		}
	}
	out := make([]*Flow, 0, len(best))
	for _, f := range best {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].First != out[j].First {
			return out[i].First < out[j].First
		}
		return out[i].Name() < out[j].Name()
	})
	return out
}
