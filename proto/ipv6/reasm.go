package ipv6

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// Reassembly defaults.
const (
	// ReassemblyTimeout is how long the fragments of a packet wait for the
	// rest (RFC 8200 section 4.5: 60 seconds from the first-arriving one).
	ReassemblyTimeout = 60 * time.Second
	// DefaultReassemblyMemory bounds the bytes all partial packets hold.
	DefaultReassemblyMemory = 1 << 20
	// MaxFragments bounds the fragments of one packet; more drop it.
	MaxFragments = 1024
	// fragOverhead is what each fragment and each partial packet is
	// charged beyond its data, so that many tiny fragments are bounded too.
	fragOverhead = 32
	// maxQuote is the most of a first fragment an ICMPv6 error can quote
	// (RFC 4443 section 2.4 (c): the error must fit in the minimum MTU).
	maxQuote = MinMTU - HeaderLen - 8
)

// Errors from Reassembler.Add that carry no ICMPv6 message.
var (
	ErrOverlap      = errors.New("ipv6: overlapping fragments")
	ErrInconsistent = errors.New("ipv6: fragments disagree on the packet length")
	ErrMemory       = errors.New("ipv6: reassembly memory exhausted")
	ErrDropped      = errors.New("ipv6: fragment of a discarded packet")
	ErrTooLarge     = errors.New("ipv6: reassembled packet exceeds 65535 bytes")
	ErrNotFragment  = errors.New("ipv6: not a fragment")
)

// ReassemblyConfig sets a Reassembler's limits. Zero fields take the
// defaults.
type ReassemblyConfig struct {
	// Timeout defaults to ReassemblyTimeout.
	Timeout time.Duration
	// MaxMemory defaults to DefaultReassemblyMemory. When a new fragment
	// would exceed it, the oldest partial packets are discarded first.
	MaxMemory int
	// OnTimeout, if set, is called when a packet times out after its
	// first fragment (offset 0) arrived, with that fragment (its first
	// 1232 bytes at most), so the host can send an ICMPv6 Time Exceeded
	// code 1 to its source (RFC 8200 section 4.5). The slice is only valid
	// during the call.
	OnTimeout func(first Header)
}

type reasmKey struct {
	src, dst [16]byte
	id       uint32
}

type span struct{ first, last int }

// partial is a packet being reassembled.
type partial struct {
	key      reasmKey
	deadline clock.Time
	// dead is set when the packet was discarded (overlap, inconsistent
	// lengths): later fragments are dropped until the timeout (RFC 5722
	// section 4: the fragments not yet received are discarded too).
	dead bool
	// first is the fragment with offset 0 (up to maxQuote bytes) and
	// unfrag its unfragmentable part; nil until it arrives.
	first, unfrag []byte
	// nextOff is the Next Header byte of unfrag that named the Fragment
	// header, firstNext the Fragment header's Next Header.
	nextOff   int
	firstNext uint8
	data      []byte
	spans     []span // received, sorted by first; not merged
	total     int    // fragmentable part's length, -1 until the last fragment
	mem       int
}

// Reassembler puts fragmented IPv6 packets back together (RFC 8200 section
// 4.5) in bounded memory. Fragments are matched by source, destination and
// identification. Overlapping fragments discard the whole packet (RFC
// 5722), exact duplicates are ignored (allowed by RFC 8200 section 4.5),
// and atomic fragments are returned at once without touching any other
// packet's state (RFC 6946). It runs on the driver's loop; it is not safe
// for concurrent use.
type Reassembler struct {
	clk   clock.Clock
	cfg   ReassemblyConfig
	m     map[reasmKey]*partial
	order []*partial // arrival order, which is deadline order
	mem   int
	timer clock.Timer
	out   []byte
}

// NewReassembler returns a Reassembler on clk.
func NewReassembler(clk clock.Clock, cfg ReassemblyConfig) *Reassembler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = ReassemblyTimeout
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = DefaultReassemblyMemory
	}
	r := &Reassembler{clk: clk, cfg: cfg, m: map[reasmKey]*partial{}}
	r.timer.Init(clock.HandlerFunc(r.expire))
	return r
}

// Pending returns the number of partial packets held (discarded ones
// waiting for their timeout included).
func (r *Reassembler) Pending() int { return len(r.order) }

// Memory returns the bytes charged to partial packets.
func (r *Reassembler) Memory() int { return r.mem }

// Add takes a fragment: pkt, whose Walk ended at the Fragment header
// (c.Proto == ProtoFragment). It returns the reassembled packet when pkt
// completes one, nil while more fragments are needed. The packet is in a
// buffer the Reassembler reuses: it is valid until the next call to Add.
// A *ProblemError asks for an ICMPv6 Parameter Problem; other errors mean a
// silent drop.
func (r *Reassembler) Add(pkt Header, c Chain) (Header, error) {
	if c.Proto != ProtoFragment {
		return nil, ErrNotFragment
	}
	fh := FragmentHeader(pkt[c.Offset : c.Offset+FragmentHeaderLen])
	data := pkt[c.Offset+FragmentHeaderLen:]
	off, more := fh.Offset(), fh.More()
	if fh.IsAtomic() {
		// RFC 6946 section 4: process in isolation from any other fragment.
		return r.build(pkt[:c.Offset], c.NextOff, fh.NextHeader(), data), nil
	}
	// RFC 8200 section 4.5: a fragment that is not the last must be a
	// multiple of 8 bytes long (pointer: the Payload Length field), and
	// none may extend past 65535 bytes (pointer: the Fragment Offset).
	if more && len(data)%8 != 0 {
		return nil, &ProblemError{Code: ProblemHeaderField, Pointer: 4, Err: fmt.Errorf("fragment of %d bytes: %w", len(data), ErrPayloadLen)}
	}
	if off+len(data) > MaxPayloadLen {
		return nil, &ProblemError{Code: ProblemHeaderField, Pointer: uint32(c.Offset + 2), Err: ErrTooLarge}
	}
	if off == 0 && !chainComplete(fh.NextHeader(), data) {
		// RFC 7112 section 5: pointer zero.
		return nil, &ProblemError{Code: ProblemIncompleteChain, Err: ErrIncompleteChain}
	}
	k := reasmKey{src: pkt.Src16(), dst: pkt.Dst16(), id: fh.ID()}
	p := r.m[k]
	if p == nil {
		p = &partial{key: k, total: -1, deadline: r.clk.Now().Add(r.cfg.Timeout), mem: fragOverhead}
		if !r.reserve(p, fragOverhead) {
			return nil, ErrMemory
		}
		r.m[k] = p
		r.order = append(r.order, p)
		r.mem += p.mem
		if !r.timer.Pending() {
			r.clk.Schedule(&r.timer, p.deadline)
		}
	}
	if p.dead {
		return nil, ErrDropped
	}
	end := off + len(data)
	for _, s := range p.spans {
		if off < s.last && s.first < end {
			if off == s.first && end == s.last && bytes.Equal(p.data[off:end], data) {
				return nil, nil // exact duplicate
			}
			r.kill(p)
			return nil, fmt.Errorf("fragment [%d,%d) over [%d,%d): %w", off, end, s.first, s.last, ErrOverlap)
		}
	}
	switch {
	case !more && p.total >= 0 && p.total != end,
		!more && len(p.spans) > 0 && p.spans[len(p.spans)-1].last > end,
		more && p.total >= 0 && end > p.total:
		r.kill(p)
		return nil, ErrInconsistent
	case len(p.spans) >= MaxFragments:
		r.kill(p)
		return nil, fmt.Errorf("more than %d fragments: %w", MaxFragments, ErrMemory)
	}
	need := fragOverhead
	if end > cap(p.data) {
		need += max(end, min(2*cap(p.data), MaxPayloadLen)) - cap(p.data)
	}
	if off == 0 {
		need += min(len(pkt), maxQuote)
	}
	if !r.reserve(p, need) {
		r.kill(p)
		return nil, ErrMemory
	}
	if end > cap(p.data) {
		nd := make([]byte, max(end, min(2*cap(p.data), MaxPayloadLen)))
		copy(nd, p.data)
		p.data = nd
	}
	p.data = p.data[:cap(p.data)]
	copy(p.data[off:end], data)
	p.mem += need
	r.mem += need
	i := len(p.spans)
	for i > 0 && p.spans[i-1].first > off {
		i--
	}
	p.spans = append(p.spans, span{})
	copy(p.spans[i+1:], p.spans[i:])
	p.spans[i] = span{off, end}
	if !more {
		p.total = end
	}
	if off == 0 {
		p.first = append([]byte(nil), pkt[:min(len(pkt), maxQuote)]...)
		p.unfrag = p.first[:c.Offset]
		p.nextOff, p.firstNext = c.NextOff, fh.NextHeader()
	}
	if p.first == nil || p.total < 0 {
		return nil, nil
	}
	at := 0
	for _, s := range p.spans {
		if s.first != at {
			return nil, nil
		}
		at = s.last
	}
	if at != p.total {
		return nil, nil
	}
	if len(p.unfrag)-HeaderLen+p.total > MaxPayloadLen {
		r.remove(p)
		return nil, ErrTooLarge
	}
	out := r.build(p.unfrag, p.nextOff, p.firstNext, p.data[:p.total])
	r.remove(p)
	return out, nil
}

// build writes unfrag followed by data into r.out, with the Next Header
// byte at nextOff set to next and the Payload Length fixed.
func (r *Reassembler) build(unfrag []byte, nextOff int, next uint8, data []byte) Header {
	r.out = append(append(r.out[:0], unfrag...), data...)
	h := Header(r.out)
	h[nextOff] = next
	h.SetPayloadLen(len(h) - HeaderLen)
	return h
}

// reserve makes room for need more bytes, discarding the oldest partial
// packets other than p. It reports whether the room was found.
func (r *Reassembler) reserve(p *partial, need int) bool {
	for r.mem+need > r.cfg.MaxMemory {
		var victim *partial
		for _, q := range r.order {
			if q != p {
				victim = q
				break
			}
		}
		if victim == nil {
			return false
		}
		r.remove(victim)
	}
	return true
}

// kill discards p's data but keeps it until its timeout, so that its
// remaining fragments are dropped too (RFC 5722 section 4).
func (r *Reassembler) kill(p *partial) {
	p.dead = true
	r.mem -= p.mem - fragOverhead
	p.mem = fragOverhead
	p.data, p.spans, p.first, p.unfrag = nil, nil, nil, nil
}

// remove forgets p entirely.
func (r *Reassembler) remove(p *partial) {
	delete(r.m, p.key)
	r.mem -= p.mem
	for i, q := range r.order {
		if q == p {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	if len(r.order) == 0 {
		r.clk.Cancel(&r.timer)
	}
}

// expire discards the partial packets whose time is up.
func (r *Reassembler) expire(now clock.Time) {
	for len(r.order) > 0 && !r.order[0].deadline.After(now) {
		p := r.order[0]
		first := p.first
		dead := p.dead
		r.remove(p)
		if !dead && first != nil && r.cfg.OnTimeout != nil {
			r.cfg.OnTimeout(Header(first))
		}
	}
	if len(r.order) > 0 {
		r.clk.Schedule(&r.timer, r.order[0].deadline)
	}
}

// chainComplete reports whether b, the fragmentable part of a first
// fragment starting with a header of type next, holds every extension
// header and the upper-layer header (RFC 7112 section 5; the upper-layer
// header sizes are those of TCP, UDP and ICMPv6).
func chainComplete(next uint8, b []byte) bool {
	for range MaxExtHeaders {
		switch next {
		case ProtoHopByHop, ProtoRouting, ProtoDestOpts:
			if len(b) < 8 || len(b) < 8+int(b[1])*8 {
				return false
			}
			next, b = b[0], b[8+int(b[1])*8:]
			continue
		case ProtoFragment:
			return false
		case ProtoTCP:
			return len(b) >= 20
		case ProtoUDP:
			return len(b) >= 8
		case ProtoICMPv6:
			return len(b) >= 4
		}
		return true
	}
	return false
}
