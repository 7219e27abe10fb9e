package analyze

import (
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// fragKey identifies the fragments of one datagram: source, destination,
// protocol and identification (RFC 791 section 3.2, RFC 8200 section 4.5).
type fragKey struct {
	ep    endpoints
	id    uint32
	proto uint8
}

// Reassembly limits: at most maxDatagrams incomplete datagrams are kept
// (the oldest is dropped to make room), none grows past maxDatagramLen, and
// one whose first fragment is older than fragTimeout on the capture's
// timeline is dropped (RFC 8200 section 4.5 gives 60 seconds; RFC 791's
// suggested 15 seconds would drop datagrams tshark still reassembles).
const (
	fragTimeout    = 60 * time.Second
	maxDatagrams   = 256
	maxDatagramLen = 65535
	maxFragRanges  = 64
)

type fragRange struct{ lo, hi int }

type datagram struct {
	first  clock.Time
	buf    []byte
	ranges []fragRange
	total  int // -1 until the last fragment arrives
}

// reassembler puts fragmented datagrams back together, as tshark does by
// default, so that the upper layers count in the completing frame.
type reassembler struct {
	m     map[fragKey]*datagram
	order []fragKey
}

func (r *reassembler) init() { r.m = make(map[fragKey]*datagram) }

// add stores one fragment that arrived at now. It returns the reassembled
// payload and true when the datagram is complete; the payload is valid
// until the next call.
func (r *reassembler) add(now clock.Time, k fragKey, off int, more bool, data []byte) ([]byte, bool) {
	end := off + len(data)
	if end > maxDatagramLen {
		return nil, false
	}
	for len(r.order) > 0 && now.Sub(r.m[r.order[0]].first) > fragTimeout {
		delete(r.m, r.order[0])
		r.order = r.order[1:]
	}
	d := r.m[k]
	if d == nil {
		if len(r.order) >= maxDatagrams {
			delete(r.m, r.order[0])
			r.order = r.order[1:]
		}
		d = &datagram{total: -1, first: now}
		r.m[k] = d
		r.order = append(r.order, k)
	}
	if len(d.ranges) >= maxFragRanges {
		return nil, false
	}
	if end > len(d.buf) {
		if end > cap(d.buf) {
			nb := make([]byte, end, max(end, 2*cap(d.buf)))
			copy(nb, d.buf)
			d.buf = nb
		}
		d.buf = d.buf[:end]
	}
	copy(d.buf[off:], data)
	d.ranges = append(d.ranges, fragRange{off, end})
	if !more {
		d.total = end
	}
	if d.total < 0 || !covered(d.ranges, d.total) {
		return nil, false
	}
	delete(r.m, k)
	for i, o := range r.order {
		if o == k {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	return d.buf[:d.total], true
}

// covered reports whether the ranges cover [0, total).
func covered(rs []fragRange, total int) bool {
	pos := 0
	for progress := true; progress && pos < total; {
		progress = false
		for _, r := range rs {
			if r.lo <= pos && r.hi > pos {
				pos = r.hi
				progress = true
			}
		}
	}
	return pos >= total
}
