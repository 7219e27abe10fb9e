package tcp

// seqnum is a TCP sequence number. Comparisons are modulo 2^32 (RFC 9293
// section 3.4, "sequence number arithmetic").
type seqnum uint32

func (a seqnum) lt(b seqnum) bool  { return int32(a-b) < 0 }
func (a seqnum) leq(b seqnum) bool { return int32(a-b) <= 0 }
func (a seqnum) gt(b seqnum) bool  { return int32(a-b) > 0 }
func (a seqnum) geq(b seqnum) bool { return int32(a-b) >= 0 }

// add returns a+n.
func (a seqnum) add(n int) seqnum { return a + seqnum(uint32(n)) }

// diff returns a-b as a signed distance.
func (a seqnum) diff(b seqnum) int { return int(int32(a - b)) }

func seqMax(a, b seqnum) seqnum {
	if a.gt(b) {
		return a
	}
	return b
}

func seqMin(a, b seqnum) seqnum {
	if a.lt(b) {
		return a
	}
	return b
}

// inWindow reports whether start <= s < start+size.
func inWindow(s, start seqnum, size uint32) bool {
	return uint32(s-start) < size
}

// seqRange is the half-open range [start, end).
type seqRange struct {
	start, end seqnum
}

func (r seqRange) len() int { return r.end.diff(r.start) }
