package tcp

// ring is a fixed-capacity byte ring. n bytes starting at head are
// committed; bytes beyond them may be written at an offset (out-of-order
// data) before they are committed.
type ring struct {
	buf  []byte
	head int
	n    int
}

func (r *ring) free() int { return len(r.buf) - r.n }

// minRing is the first allocation of a buffer; it doubles on demand up to
// the configured size, so idle and light connections stay small.
const minRing = 16 << 10

// reserve makes room for size bytes (committed and beyond) without
// exceeding limit, growing the buffer by doubling. Contents keep their
// logical offsets.
func (r *ring) reserve(size, limit int) {
	size = min(size, limit)
	if size <= len(r.buf) {
		return
	}
	c := max(len(r.buf)*2, minRing)
	for c < size {
		c *= 2
	}
	c = min(c, limit)
	nb := make([]byte, c)
	k := copy(nb, r.buf[r.head:])
	copy(nb[k:], r.buf[:r.head])
	r.buf = nb
	r.head = 0
}

// writeAt copies p to offset off past the committed bytes; the caller
// ensures off+len(p) <= free().
func (r *ring) writeAt(off int, p []byte) {
	c := len(r.buf)
	pos := r.head + r.n + off
	if pos >= c {
		pos -= c
	}
	if pos >= c {
		pos -= c
	}
	k := copy(r.buf[pos:], p)
	copy(r.buf, p[k:])
}

// commit marks k more bytes as committed.
func (r *ring) commit(k int) { r.n += k }

// append writes and commits as much of p as fits and returns that count.
func (r *ring) append(p []byte) int {
	k := min(len(p), r.free())
	r.writeAt(0, p[:k])
	r.n += k
	return k
}

// readAt copies committed bytes from offset off into p without consuming
// them and returns the count.
func (r *ring) readAt(off int, p []byte) int {
	k := min(len(p), r.n-off)
	if k <= 0 {
		return 0
	}
	c := len(r.buf)
	pos := r.head + off
	if pos >= c {
		pos -= c
	}
	m := copy(p[:k], r.buf[pos:])
	copy(p[m:k], r.buf)
	return k
}

// discard drops k committed bytes from the front.
func (r *ring) discard(k int) {
	r.head += k
	if r.head >= len(r.buf) {
		r.head -= len(r.buf)
	}
	r.n -= k
}

// read consumes up to len(p) committed bytes into p.
func (r *ring) read(p []byte) int {
	k := r.readAt(0, p)
	r.discard(k)
	return k
}
