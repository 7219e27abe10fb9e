package stack

import (
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// Reassembly memory accounting: each partial datagram is charged its data
// buffer plus a fixed overhead and a per-fragment overhead, so many tiny
// partial datagrams are bounded too.
const (
	partialOverhead  = 256
	fragmentOverhead = 32
	// maxFreePartials bounds the recycled partial datagrams kept for reuse.
	maxFreePartials = 4
	// maxRecycledData is the largest data buffer a recycled partial keeps.
	maxRecycledData = 16 << 10
	// infinity is the open end of the initial hole (RFC 815 section 3).
	infinity = 1 << 30
)

// fragKey identifies the fragments of one datagram (RFC 791 section 3.2:
// source, destination, protocol and identification).
type fragKey struct {
	src, dst [4]byte
	proto    uint8
	id       uint16
}

// span is a byte range [first, last) of a datagram's data.
type span struct{ first, last int }

// partial is a datagram being reassembled.
type partial struct {
	r     *reassembler
	key   fragKey
	data  []byte
	hdr   [ipv4.MaxHeaderLen]byte
	hl    int
	first bool // the fragment at offset 0 has arrived
	total int  // data length, -1 until the last fragment arrives
	bcast bool
	// frags are the received ranges, sorted and disjoint; holes are the
	// missing ranges, as in RFC 815's hole descriptor list.
	frags []span
	holes []span
	mem   int
	timer clock.Timer
}

// reassembler holds a host's partial datagrams.
type reassembler struct {
	h     *Host
	m     map[fragKey]*partial
	order []*partial // oldest first, for eviction
	mem   int
	free  []*partial
}

func (r *reassembler) init(h *Host) {
	r.h = h
	r.m = make(map[fragKey]*partial)
}

// OnTimer frees a datagram whose reassembly timed out. If its first
// fragment had arrived, the source is told with ICMP time exceeded, code 1
// "fragment reassembly time exceeded" (RFC 792; RFC 1122 section 3.3.2).
func (p *partial) OnTimer(clock.Time) {
	r := p.r
	h := r.h
	h.stats.ReassemblyTimeout++
	if p.first {
		q := min(len(p.data), 8)
		h.sendICMPError(ipv4.Header(p.hdr[:p.hl]), p.data[:q], p.bcast, icmp.TypeTimeExceeded, icmp.CodeReassemblyExceeded, 0)
	}
	r.drop(p)
}

// get starts reassembling the datagram k, or returns nil when the memory
// limit cannot make room for it.
func (r *reassembler) get(k fragKey, bcast bool) *partial {
	var p *partial
	if n := len(r.free); n > 0 {
		p = r.free[n-1]
		r.free[n-1] = nil
		r.free = r.free[:n-1]
	} else {
		p = &partial{r: r}
		p.timer.Init(p)
	}
	p.key, p.bcast = k, bcast
	p.hl, p.first, p.total = 0, false, -1
	p.data = p.data[:0]
	p.frags = p.frags[:0]
	p.holes = append(p.holes[:0], span{0, infinity})
	r.m[k] = p
	r.order = append(r.order, p)
	if !r.charge(p, partialOverhead+cap(p.data)) {
		return nil
	}
	h := r.h
	h.clk.Schedule(&p.timer, h.clk.Now().Add(h.cfg.ReassemblyTimeout))
	return p
}

// drop forgets p and recycles it.
func (r *reassembler) drop(p *partial) {
	r.unlink(p)
	r.recycle(p)
}

// unlink forgets p and releases its accounted memory.
func (r *reassembler) unlink(p *partial) {
	r.h.clk.Cancel(&p.timer)
	delete(r.m, p.key)
	for k, q := range r.order {
		if q == p {
			copy(r.order[k:], r.order[k+1:])
			r.order[len(r.order)-1] = nil
			r.order = r.order[:len(r.order)-1]
			break
		}
	}
	r.mem -= p.mem
	p.mem = 0
}

// charge adds n bytes to p's accounted memory, evicting the oldest other
// partial datagrams to stay within the limit. It reports false when p
// alone would exceed the limit; p is then removed.
func (r *reassembler) charge(p *partial, n int) bool {
	limit := r.h.cfg.ReassemblyMemoryLimit
	if p.mem+n > limit {
		r.h.stats.ReassemblyMemory++
		r.drop(p)
		return false
	}
	for r.mem+n > limit {
		victim := r.order[0]
		if victim == p {
			victim = r.order[1] // p alone fits, so another exists
		}
		r.h.stats.ReassemblyMemory++
		r.drop(victim)
	}
	p.mem += n
	r.mem += n
	r.h.stats.ReassemblyBytesPeak = max(r.h.stats.ReassemblyBytesPeak, uint64(r.mem))
	return true
}

// add takes one fragment (RFC 791 section 3.2 reassembly, with RFC 815's
// hole list). Overlapping fragments drop the whole datagram, as RFC 5722
// requires for IPv6; exact duplicates are ignored.
func (r *reassembler) add(ip ipv4.Header, bcast bool) {
	h := r.h
	h.stats.FragmentsIn++
	off, pay, mf := ip.FragmentOffset(), ip.Payload(), ip.MF()
	end := off + len(pay)
	// RFC 791: every fragment but the last carries a multiple of 8 bytes.
	if mf && (len(pay) == 0 || len(pay)%8 != 0) {
		h.stats.ReassemblyMalformed++
		return
	}
	k := fragKey{src: ip.Src4(), dst: ip.Dst4(), proto: ip.Protocol(), id: ip.ID()}
	p := r.m[k]
	if p == nil {
		if p = r.get(k, bcast); p == nil {
			return
		}
	}
	for _, f := range p.frags {
		if f.first == off && f.last == end {
			if mf != (p.total != end) {
				break // same range but disagreeing about the end: overlap
			}
			h.stats.ReassemblyDuplicate++
			return
		}
	}
	if (p.total >= 0 && (end > p.total || (!mf && end != p.total))) || (!mf && len(p.frags) > 0 && p.frags[len(p.frags)-1].last > end) {
		h.stats.ReassemblyMalformed++
		r.drop(p)
		return
	}
	for _, f := range p.frags {
		if off < f.last && f.first < end || (off == end && f.first < off && off < f.last) {
			h.stats.ReassemblyOverlap++
			r.drop(p)
			return
		}
	}
	if end > cap(p.data) {
		c := 2 * cap(p.data)
		if p.total >= 0 {
			c = p.total
		}
		c = max(c, end, 512)
		c = min(c, ipv4.MaxTotalLen)
		if !r.charge(p, c-cap(p.data)+fragmentOverhead) {
			return
		}
		nd := make([]byte, len(p.data), c)
		copy(nd, p.data)
		p.data = nd
	} else if !r.charge(p, fragmentOverhead) {
		return
	}
	if end > len(p.data) {
		p.data = p.data[:end]
	}
	copy(p.data[off:end], pay)
	p.insert(span{off, end})
	p.fill(off, end, mf)
	if off == 0 {
		p.first = true
		p.hl = copy(p.hdr[:], ip[:ip.HeaderLen()])
	}
	if !mf {
		p.total = end
		p.trim(end)
	}
	if p.total < 0 || len(p.holes) > 0 {
		return
	}
	h.stats.Reassembled++
	// Remove before delivering: the handler may send, and a nested
	// reassembly must not see this datagram. The buffer stays valid until
	// the partial is reused, which only get does.
	r.unlink(p)
	hdr := ipv4.Header(p.hdr[:p.hl])
	h.deliver(hdr, p.data[:p.total], p.bcast)
	r.recycle(p)
}

// recycle offers an unlinked partial for reuse, keeping its buffers unless
// they are large.
func (r *reassembler) recycle(p *partial) {
	if cap(p.data) > maxRecycledData {
		p.data = nil
	}
	if len(r.free) < maxFreePartials {
		r.free = append(r.free, p)
	}
}

// insert adds s to the sorted list of received ranges.
func (p *partial) insert(s span) {
	k := len(p.frags)
	for k > 0 && p.frags[k-1].first > s.first {
		k--
	}
	p.frags = append(p.frags, span{})
	copy(p.frags[k+1:], p.frags[k:])
	p.frags[k] = s
}

// fill updates the hole list for data [first, last), per RFC 815 section 3
// steps 1-6: the hole the fragment falls in is deleted and up to two
// smaller holes take its place; no new hole is made past the last fragment.
func (p *partial) fill(first, last int, mf bool) {
	for k := 0; k < len(p.holes); k++ {
		hole := p.holes[k]
		if first >= hole.last || last <= hole.first {
			continue
		}
		p.holes = append(p.holes[:k], p.holes[k+1:]...)
		if first > hole.first {
			p.holes = append(p.holes, span{})
			copy(p.holes[k+1:], p.holes[k:])
			p.holes[k] = span{hole.first, first}
			k++
		}
		if last < hole.last && mf {
			p.holes = append(p.holes, span{})
			copy(p.holes[k+1:], p.holes[k:])
			p.holes[k] = span{last, hole.last}
			k++
		}
		k--
	}
}

// trim removes what lies past the end of the datagram from the hole list
// once the last fragment is known.
func (p *partial) trim(end int) {
	out := p.holes[:0]
	for _, hole := range p.holes {
		if hole.first >= end {
			continue
		}
		if hole.last > end {
			hole.last = end
		}
		out = append(out, hole)
	}
	p.holes = out
}
