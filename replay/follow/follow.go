// Package follow prints the bytes of one TCP connection or UDP
// conversation of a capture, in the order they were sent, as Wireshark's
// "Follow Stream" and `tshark -z follow,tcp,ascii` do: each run of bytes
// one side sent is a chunk, retransmitted bytes are shown once, and bytes
// that arrived out of order are shown when the gap before them is filled.
package follow

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay/input"
)

// MaxBytes bounds the bytes followed per direction.
const MaxBytes = 64 << 20

// Selector names the flow to follow: a TCP stream index (the N-th TCP
// connection in order of first appearance, from 0, as tshark's tcp.stream),
// or a transport and two endpoints, in either order.
type Selector struct {
	Proto string // "tcp" or "udp"
	// Index is the stream index when A is not valid.
	Index int
	A, B  netip.AddrPort
}

// ParseSelector parses "N", "tcp,N", "udp,N", "ADDR:PORT,ADDR:PORT" (TCP)
// or "tcp,ADDR:PORT,ADDR:PORT" / "udp,ADDR:PORT,ADDR:PORT".
func ParseSelector(s string) (Selector, error) {
	parts := strings.Split(s, ",")
	sel := Selector{Proto: "tcp"}
	if len(parts) > 0 && (parts[0] == "tcp" || parts[0] == "udp") {
		sel.Proto, parts = parts[0], parts[1:]
	}
	switch len(parts) {
	case 1:
		n, err := strconv.Atoi(parts[0])
		if err == nil && n >= 0 {
			sel.Index = n
			return sel, nil
		}
	case 2:
		a, err1 := netip.ParseAddrPort(parts[0])
		b, err2 := netip.ParseAddrPort(parts[1])
		if err1 == nil && err2 == nil {
			sel.A, sel.B = netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), netip.AddrPortFrom(b.Addr().Unmap(), b.Port())
			return sel, nil
		}
	}
	return sel, fmt.Errorf("--follow %s: want N, tcp,N, udp,N or [tcp|udp,]ADDR:PORT,ADDR:PORT", s)
}

// Chunk is the new bytes of one segment (or one datagram).
type Chunk struct {
	// FromA is set when the flow's first sender (Stream.A) sent it.
	FromA bool
	// Frame is the frame that completed it (from 1).
	Frame int
	Data  []byte
}

// Stream is the followed flow.
type Stream struct {
	Proto string
	// A is the endpoint that sent the flow's first packet, B the other.
	A, B   netip.AddrPort
	Index  int
	Chunks []Chunk
	// BytesA and BytesB count what each side sent.
	BytesA, BytesB int
}

// dir is one direction of a TCP connection being reassembled.
type dir struct {
	next    uint32
	started bool
	pending map[uint32][]byte
}

type key struct{ lo, hi netip.AddrPort }

func keyOf(a, b netip.AddrPort) key {
	if b.Addr().Less(a.Addr()) || (a.Addr() == b.Addr() && b.Port() < a.Port()) {
		a, b = b, a
	}
	return key{a, b}
}

// Follow reads r and returns the selected flow.
func Follow(r *input.Reader, sel Selector) (*Stream, error) {
	var st *Stream
	var want key
	if sel.A.IsValid() {
		want = keyOf(sel.A, sel.B)
	}
	seen := map[key]int{}
	var dirs [2]dir
	var f input.Frame
	for {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		var fe *input.FrameError
		if errors.As(err, &fe) {
			continue
		}
		if err != nil {
			var te *input.TruncatedError
			if errors.As(err, &te) && st != nil {
				break
			}
			return st, fmt.Errorf("follow: %w", err)
		}
		var src, dst netip.Addr
		var proto uint8
		var payload []byte
		switch f.Proto {
		case ether.TypeIPv4:
			h, err := ipv4.ParseUnchecked(f.Network)
			if err != nil || h.IsFragment() {
				continue
			}
			src, dst, proto, payload = h.Src(), h.Dst(), h.Protocol(), h.Payload()
		case ether.TypeIPv6:
			if len(f.Network) < 40 {
				continue
			}
			src, dst = netip.AddrFrom16([16]byte(f.Network[8:24])), netip.AddrFrom16([16]byte(f.Network[24:40]))
			proto, payload = f.Network[6], f.Network[40:]
		default:
			continue
		}
		var sp, dp uint16
		var seg tcp.Header
		switch {
		case proto == tcp.ProtocolNumber && sel.Proto == "tcp":
			if seg, err = tcp.ParseHeader(payload); err != nil {
				continue
			}
			sp, dp, payload = seg.SrcPort(), seg.DstPort(), seg.Payload()
		case proto == 17 && sel.Proto == "udp":
			u, err := udp.Parse(payload)
			if err != nil {
				continue
			}
			sp, dp, payload = u.SrcPort(), u.DstPort(), u.Payload()
		default:
			continue
		}
		s, d := netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
		k := keyOf(s, d)
		idx, ok := seen[k]
		if !ok {
			idx = len(seen)
			seen[k] = idx
		}
		if sel.A.IsValid() && k != want || !sel.A.IsValid() && idx != sel.Index {
			continue
		}
		if st == nil {
			st = &Stream{Proto: sel.Proto, A: s, B: d, Index: idx}
		}
		fromA := s == st.A
		di := 1
		if fromA {
			di = 0
		}
		if seg == nil {
			st.add(fromA, f.Index+1, payload)
			continue
		}
		st.tcp(&dirs[di], fromA, f.Index+1, seg)
	}
	if st == nil {
		return nil, fmt.Errorf("follow: no %s flow %s in the capture", sel.Proto, sel.describe())
	}
	return st, nil
}

func (sel Selector) describe() string {
	if sel.A.IsValid() {
		return sel.A.String() + " <-> " + sel.B.String()
	}
	return "number " + strconv.Itoa(sel.Index)
}

// add appends a chunk to the flow.
func (st *Stream) add(fromA bool, frame int, b []byte) {
	if len(b) == 0 {
		return
	}
	if fromA {
		if st.BytesA+len(b) > MaxBytes {
			return
		}
		st.BytesA += len(b)
	} else {
		if st.BytesB+len(b) > MaxBytes {
			return
		}
		st.BytesB += len(b)
	}
	st.Chunks = append(st.Chunks, Chunk{FromA: fromA, Frame: frame, Data: append([]byte(nil), b...)})
}

// tcp places a segment in its direction's sequence space (RFC 9293
// section 3.4): new bytes in order go out at once, bytes after a gap wait.
func (st *Stream) tcp(d *dir, fromA bool, frame int, seg tcp.Header) {
	seq := seg.Seq()
	pl := seg.Payload()
	if seg.Flags()&tcp.FlagSYN != 0 {
		if !d.started {
			d.next, d.started = seq+1, true
		}
		return
	}
	if !d.started {
		d.next, d.started = seq, true
	}
	if len(pl) == 0 {
		return
	}
	if int32(seq-d.next) > 0 {
		if d.pending == nil {
			d.pending = map[uint32][]byte{}
		}
		if len(d.pending) < 4096 {
			d.pending[seq] = append([]byte(nil), pl...)
		}
		return
	}
	st.deliver(d, fromA, frame, seq, pl)
	for len(d.pending) > 0 {
		keys := make([]uint32, 0, len(d.pending))
		for s := range d.pending {
			keys = append(keys, s)
		}
		sort.Slice(keys, func(i, j int) bool { return int32(keys[i]-keys[j]) < 0 })
		s := keys[0]
		if int32(s-d.next) > 0 {
			return
		}
		b := d.pending[s]
		delete(d.pending, s)
		st.deliver(d, fromA, frame, s, b)
	}
}

// deliver adds the part of b (at seq) beyond d.next.
func (st *Stream) deliver(d *dir, fromA bool, frame int, seq uint32, b []byte) {
	skip := int(int32(d.next - seq))
	if skip >= len(b) {
		return
	}
	if skip > 0 {
		b = b[skip:]
	}
	st.add(fromA, frame, b)
	d.next += uint32(len(b))
}

// WriteASCII writes the flow as `tshark -z follow,tcp,ascii` does: a
// header naming the endpoints, then each chunk with its length, the B
// side's chunks indented by a tab, non-printable bytes as dots.
func (st *Stream) WriteASCII(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n===================================================================\n")
	fmt.Fprintf(&b, "Follow: %s,ascii\nFilter: %s.stream eq %d\nNode 0: %s\nNode 1: %s\n", st.Proto, st.Proto, st.Index, st.A, st.B)
	for _, c := range st.Chunks {
		if !c.FromA {
			b.WriteByte('\t')
		}
		fmt.Fprintf(&b, "%d\n", len(c.Data))
		for _, x := range c.Data {
			switch {
			case x == '\n' || x == '\r' || (x >= 0x20 && x < 0x7f):
				b.WriteByte(x)
			default:
				b.WriteByte('.')
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "===================================================================\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	return nil
}

// WriteRaw writes the bytes of the chunks as they are, without framing.
func (st *Stream) WriteRaw(w io.Writer) error {
	for _, c := range st.Chunks {
		if _, err := w.Write(c.Data); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
	}
	return nil
}
