package link

// BufPool is a free list of frame buffers for endpoints that must hold frames
// (delay lines, queues). It is owned by one loop and is not safe for
// concurrent use; unlike sync.Pool its behaviour does not depend on the
// garbage collector, so a run's allocation pattern is reproducible.
type BufPool struct {
	size int
	free [][]byte
}

// NewBufPool returns a pool of buffers with capacity size.
func NewBufPool(size int) *BufPool { return &BufPool{size: size} }

// Get returns a buffer holding a copy of frame.
func (p *BufPool) Get(frame []byte) []byte {
	var b []byte
	if n := len(p.free); n > 0 && cap(p.free[n-1]) >= len(frame) {
		b = p.free[n-1][:len(frame)]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	} else {
		c := p.size
		if len(frame) > c {
			c = len(frame)
		}
		b = make([]byte, len(frame), c)
	}
	copy(b, frame)
	return b
}

// Put returns b to the pool.
func (p *BufPool) Put(b []byte) {
	if cap(b) < p.size {
		return
	}
	p.free = append(p.free, b[:0])
}
