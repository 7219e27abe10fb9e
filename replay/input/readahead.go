package input

import (
	"errors"
	"sync"
)

// errClosed is what Next returns after Close stopped the read-ahead.
var errClosed = errors.New("input: reader closed")

// Read-ahead batches: a batch holds up to aheadFrames frames or about
// aheadBytes of frame data, and aheadBatches of them circulate between the
// decoding goroutine and Next. A batch's array has room for aheadSlack
// more bytes, so that the frame that takes it past aheadBytes still fits
// unless it is longer than that.
const (
	aheadFrames  = 512
	aheadBytes   = 256 << 10
	aheadSlack   = 256 << 10
	aheadBatches = 4
)

// batch is a run of decoded frames whose bytes live in data.
type batch struct {
	frames []Frame
	errs   []error // the *FrameError of each frame, or nil
	data   []byte
	// end is the error that ended the stream after the frames (io.EOF or
	// a *TruncatedError), nil when more follow.
	end error
}

// readAhead is the state shared by the decoding goroutine and Next.
type readAhead struct {
	full, free chan *batch
	done       chan struct{}
	wg         sync.WaitGroup
	once       sync.Once
	// The rest belongs to the goroutine calling Next.
	cur       *batch
	i         int
	delivered int
}

// ReadAhead makes the reader decode frames (read them through pcapgo and
// normalise them) on a goroutine of its own, a few batches ahead of Next,
// so that decoding and whatever the caller does with the frames run on two
// cores. Next then delivers exactly the frames and errors it would have
// delivered without it, in the same order; a frame's slices stay valid
// until the next call to Next, as before. Close stops the goroutine; it
// also ends by itself after the last frame. Calling ReadAhead again, or
// after Next has returned an error, does nothing.
func (r *Reader) ReadAhead() {
	if r.ra != nil || r.err != nil {
		return
	}
	ra := &readAhead{
		full: make(chan *batch, aheadBatches),
		free: make(chan *batch, aheadBatches),
		done: make(chan struct{}),
	}
	ra.delivered = r.n
	// A capture of known size needs no more room than its own bytes
	// (frames that outgrow a batch's array get a new one; see add).
	frames, data := aheadFrames, aheadBytes+aheadSlack
	if r.size > 0 {
		frames, data = min(frames, r.size/64+1), min(data, r.size)
	}
	for range aheadBatches {
		ra.free <- &batch{frames: make([]Frame, 0, frames), errs: make([]error, 0, frames),
			data: make([]byte, 0, data)}
	}
	r.ra = ra
	ra.wg.Add(1)
	go ra.decode(r)
}

// decode fills batches until the stream ends or stop is called.
func (ra *readAhead) decode(r *Reader) {
	defer ra.wg.Done()
	var f Frame
	for {
		var b *batch
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		b.frames, b.errs, b.data, b.end = b.frames[:0], b.errs[:0], b.data[:0], nil
		for len(b.frames) < aheadFrames && len(b.data) < aheadBytes {
			err := r.read(&f)
			if err != nil {
				if _, ok := err.(*FrameError); !ok {
					b.end = err
					break
				}
			}
			b.add(&f, err)
		}
		select {
		case ra.full <- b:
		case <-ra.done:
			return
		}
		if b.end != nil {
			return
		}
	}
}

// add appends a copy of f, its bytes moved into b.data, and its error.
func (b *batch) add(f *Frame, err error) {
	if len(b.data)+len(f.Data) > cap(b.data) {
		// The old array stays with the frames already in the batch.
		b.data = make([]byte, 0, max(aheadBytes+aheadSlack, len(f.Data)))
	}
	start := len(b.data)
	b.data = append(b.data, f.Data...)
	data := b.data[start:len(b.data):len(b.data)]
	g := *f
	g.Data = data
	// Ether and Network are parts of Data: find them by how far before
	// the end of Data's array they start.
	g.Ether = rebase(f.Data, f.Ether, data)
	g.Network = rebase(f.Data, f.Network, data)
	b.frames = append(b.frames, g)
	b.errs = append(b.errs, err)
}

// rebase returns the slice of to that sub is of from (sub shares from's
// array and ends where from's capacity ends or earlier).
func rebase(from, sub, to []byte) []byte {
	if sub == nil {
		return nil
	}
	off := cap(from) - cap(sub)
	return to[off : off+len(sub)]
}

// next delivers the next frame of the current batch, fetching the next
// batch when it is used up.
func (ra *readAhead) next(r *Reader, f *Frame) error {
	for ra.cur == nil || ra.i == len(ra.cur.frames) {
		if ra.cur != nil {
			if ra.cur.end != nil {
				return ra.cur.end
			}
			ra.free <- ra.cur
			ra.cur = nil
		}
		select {
		case ra.cur = <-ra.full:
			ra.i = 0
		case <-ra.done:
			return errClosed
		}
	}
	*f = ra.cur.frames[ra.i]
	err := ra.cur.errs[ra.i]
	ra.i++
	ra.delivered++
	return err
}

// stop ends the decoding goroutine and waits for it.
func (ra *readAhead) stop() {
	ra.once.Do(func() { close(ra.done) })
	ra.wg.Wait()
}
