package hostrole

import (
	"encoding/binary"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/tcp"
)

// FlowKey identifies a TCP or UDP flow from the replayed host's side.
type FlowKey struct {
	Host, Peer netip.AddrPort
}

// seqState is what the rewriter knows about one flow's sequence spaces.
type seqState struct {
	recISN, ourISN, peerISN     uint32
	haveRec, haveOurs, havePeer bool
	// sndMax is one past the highest sequence number our stack has sent
	// (SYN and FIN included).
	sndMax uint32
	// recTS and ourTS are the first timestamp values the recorded host and
	// our stack sent: their difference maps the peer's echoes.
	recTS, ourTS         uint32
	haveRecTS, haveOurTS bool
}

// Rewriter maps the peer's segments of a recorded capture onto our stack's
// sequence space, as tcpliveplay does: the peer's acknowledgements (and
// SACK blocks) refer to the recorded host's initial sequence number, our
// stack chose another one, so every peer acknowledgement becomes
// ack - recordedISN + ourISN. The peer's timestamp echoes are shifted by
// the difference between our timestamp clock and the recorded host's, so
// that our RTT measurement (RFC 7323 section 4) sees sane values. The TCP
// checksum is updated incrementally (RFC 1624). The peer's own sequence
// numbers are left alone: our stack learnt them from the peer's SYN.
//
// The rewriter also tracks how far our stack has sent, so the replayer can
// hold a peer segment that acknowledges data we have not sent yet
// (Covered) and, if our stack never sends it, lower the acknowledgement to
// what we did send (Clip).
type Rewriter struct {
	flows map[FlowKey]*seqState
}

// NewRewriter returns a Rewriter with no flows.
func NewRewriter() *Rewriter {
	return &Rewriter{flows: make(map[FlowKey]*seqState)}
}

// MaxRewriterFlows bounds the flows a Rewriter tracks; segments of further
// flows pass unchanged.
const MaxRewriterFlows = 1 << 16

func (r *Rewriter) state(k FlowKey) *seqState {
	s := r.flows[k]
	if s == nil {
		s = &seqState{}
		if len(r.flows) < MaxRewriterFlows {
			r.flows[k] = s
		}
	}
	return s
}

// ObserveRecorded notes a segment the recorded host sent on flow k: its SYN
// gives the recorded initial sequence number, its first timestamp the
// recorded timestamp clock.
func (r *Rewriter) ObserveRecorded(k FlowKey, h tcp.Header) {
	s := r.state(k)
	if h.Flags()&tcp.FlagSYN != 0 && !s.haveRec {
		s.recISN, s.haveRec = h.Seq(), true
	}
	if !s.haveRecTS {
		if off, ok := findOption(h, tcp.OptTimestamps, 10); ok {
			s.recTS, s.haveRecTS = binary.BigEndian.Uint32(h[off+2:]), true
		}
	}
}

// ObserveOurs notes a segment our stack sent on flow k.
func (r *Rewriter) ObserveOurs(k FlowKey, h tcp.Header) {
	s := r.state(k)
	fl := h.Flags()
	if fl&tcp.FlagSYN != 0 && !s.haveOurs {
		s.ourISN, s.haveOurs, s.sndMax = h.Seq(), true, h.Seq()
	}
	if !s.haveOurs || fl&tcp.FlagRST != 0 {
		return
	}
	end := h.Seq() + uint32(len(h.Payload()))
	if fl&(tcp.FlagSYN|tcp.FlagFIN) != 0 {
		end++
	}
	if seqGT(end, s.sndMax) {
		s.sndMax = end
	}
	if !s.haveOurTS {
		if off, ok := findOption(h, tcp.OptTimestamps, 10); ok {
			s.ourTS, s.haveOurTS = binary.BigEndian.Uint32(h[off+2:]), true
		}
	}
}

// ISNs returns the recorded host's, our stack's and the peer's initial
// sequence numbers of flow k, each with whether it is known.
func (r *Rewriter) ISNs(k FlowKey) (rec, ours, peer uint32, haveRec, haveOurs, havePeer bool) {
	s := r.flows[k]
	if s == nil {
		return 0, 0, 0, false, false, false
	}
	return s.recISN, s.ourISN, s.peerISN, s.haveRec, s.haveOurs, s.havePeer
}

// Inbound rewrites, in place, a segment the peer sent on flow k (from
// k.Peer to k.Host), and reports whether its acknowledgement is covered by
// what our stack has sent. Segments of a flow our stack has not answered
// yet pass unchanged. When the recorded host's SYN is not in the capture,
// the first acknowledgement of the peer is taken to acknowledge it
// (recorded ISN = ack - 1).
func (r *Rewriter) Inbound(k FlowKey, h tcp.Header) bool {
	s := r.state(k)
	fl := h.Flags()
	if fl&tcp.FlagSYN != 0 && !s.havePeer {
		s.peerISN, s.havePeer = h.Seq(), true
	}
	if !s.haveOurs {
		return true
	}
	if fl&tcp.FlagACK != 0 && !s.haveRec {
		s.recISN, s.haveRec = h.Ack()-1, true
	}
	if !s.haveRec {
		return true
	}
	delta := s.ourISN - s.recISN
	if fl&tcp.FlagACK != 0 {
		put32(h, 8, h.Ack()+delta)
	}
	if off, ok := findOption(h, tcp.OptSACK, 0); ok {
		n := int(h[off+1])
		for i := off + 2; i+4 <= off+n; i += 4 {
			put32(h, i, binary.BigEndian.Uint32(h[i:])+delta)
		}
	}
	if s.haveRecTS && s.haveOurTS {
		if off, ok := findOption(h, tcp.OptTimestamps, 10); ok {
			if ecr := binary.BigEndian.Uint32(h[off+6:]); ecr != 0 {
				put32(h, off+6, ecr+s.ourTS-s.recTS)
			}
		}
	}
	return r.Covered(k, h)
}

// Covered reports whether the (rewritten) acknowledgement of the peer's
// segment h on flow k is at most what our stack has sent.
func (r *Rewriter) Covered(k FlowKey, h tcp.Header) bool {
	s := r.flows[k]
	if s == nil || !s.haveOurs || h.Flags()&tcp.FlagACK == 0 {
		return true
	}
	return !seqGT(h.Ack(), s.sndMax)
}

// Clip lowers the (rewritten) acknowledgement of the peer's segment h on
// flow k to what our stack has sent, and reports whether it changed it.
func (r *Rewriter) Clip(k FlowKey, h tcp.Header) bool {
	if r.Covered(k, h) {
		return false
	}
	put32(h, 8, r.flows[k].sndMax)
	return true
}

// seqGT reports a > b in sequence space (RFC 9293 section 3.4).
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

// findOption returns the offset in h of the first option of kind (with
// length size, or any length when size is 0). A malformed options area
// ends the search.
func findOption(h tcp.Header, kind uint8, size int) (int, bool) {
	end := h.DataOffset()
	for i := tcp.HeaderLen; i < end; {
		switch h[i] {
		case tcp.OptEnd:
			return 0, false
		case tcp.OptNOP:
			i++
			continue
		}
		if i+1 >= end {
			return 0, false
		}
		n := int(h[i+1])
		if n < 2 || i+n > end {
			return 0, false
		}
		if h[i] == kind && (size == 0 || n == size) {
			return i, true
		}
		i += n
	}
	return 0, false
}

// put32 stores v at offset off of the segment and updates its checksum
// incrementally (RFC 1624 section 3). The checksum sums 16-bit words
// aligned to the segment start, so a field at an odd offset (possible
// inside options) is updated through the aligned words that cover it.
func put32(h tcp.Header, off int, v uint32) {
	start := off &^ 1
	end := (off + 4 + 1) &^ 1
	var old [6]byte
	copy(old[:], h[start:end])
	binary.BigEndian.PutUint32(h[off:], v)
	sum := binary.BigEndian.Uint16(h[16:])
	for i := start; i < end; i += 2 {
		o := binary.BigEndian.Uint16(old[i-start:])
		n := binary.BigEndian.Uint16(h[i:])
		if o != n {
			sum = checksum.Update(sum, o, n)
		}
	}
	binary.BigEndian.PutUint16(h[16:], sum)
}
