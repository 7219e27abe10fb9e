package httpapp

import "errors"

// maxChunkLine bounds a chunk-size line's extension and a trailer line,
// and maxTrailer the whole trailer section, so a hostile peer cannot make
// the decoder wait forever on an endless line.
const (
	maxChunkLine = 4 << 10
	maxTrailer   = 8 << 10
)

// Errors of the chunked decoder.
var (
	errChunkSize    = errors.New("httpapp: malformed chunk size")
	errChunkTooBig  = errors.New("httpapp: chunk size overflows")
	errChunkCRLF    = errors.New("httpapp: missing CRLF after chunk data")
	errChunkLineLen = errors.New("httpapp: chunk extension or trailer too long")
)

type chunkState uint8

const (
	csSize      chunkState = iota // reading hex digits
	csExt                         // after the size: extension up to LF
	csData                        // chunk data
	csDataCR                      // after the data: CR or LF
	csDataLF                      // after the data's CR: LF
	csTrailer                     // at the start of a trailer line
	csTrailerLn                   // inside a trailer line
	csDone
)

// chunkDecoder decodes the chunked transfer coding (RFC 9112 section 7.1)
// as a byte-driven state machine: it keeps no input, so arbitrary splits
// of the stream decode alike, and it bounds every line it skips.
type chunkDecoder struct {
	state   chunkState
	size    int64 // remaining bytes of the current chunk
	digits  int
	lineLen int
	trailer int
	cr      bool // a CR was just seen in a line
}

func (d *chunkDecoder) reset() { *d = chunkDecoder{} }

// done reports that the last chunk and the trailer section were read.
func (d *chunkDecoder) done() bool { return d.state == csDone }

// next decodes from the start of p. It returns how many bytes it consumed
// and the chunk data among them (a subslice of p, possibly empty); it stops
// after one run of data so the caller handles it. It consumes nothing once
// done.
func (d *chunkDecoder) next(p []byte) (int, []byte, error) {
	i := 0
	for i < len(p) && d.state != csDone {
		c := p[i]
		switch d.state {
		case csSize:
			v, ok := hexVal(c)
			switch {
			case ok:
				if d.digits >= 15 {
					return i, nil, errChunkTooBig
				}
				d.size = d.size<<4 | int64(v)
				d.digits++
			case d.digits == 0:
				return i, nil, errChunkSize
			case c == ';' || c == ' ' || c == '\t' || c == '\r' || c == '\n':
				d.state, d.lineLen, d.cr = csExt, 0, false
				continue // the extension state handles c
			default:
				return i, nil, errChunkSize
			}
		case csExt:
			// chunk-ext is skipped (RFC 9112 section 7.1.1); only its
			// length and line ending are checked.
			end, err := d.lineByte(c, maxChunkLine)
			if err != nil {
				return i, nil, err
			}
			if end {
				if d.size == 0 {
					d.state = csTrailer
				} else {
					d.state = csData
				}
			}
		case csData:
			n := int64(len(p) - i)
			if n > d.size {
				n = d.size
			}
			data := p[i : i+int(n)]
			d.size -= n
			if d.size == 0 {
				d.state = csDataCR
			}
			return i + int(n), data, nil
		case csDataCR:
			switch c {
			case '\r':
				d.state = csDataLF
			case '\n':
				d.state, d.digits = csSize, 0
			default:
				return i, nil, errChunkCRLF
			}
		case csDataLF:
			if c != '\n' {
				return i, nil, errChunkCRLF
			}
			d.state, d.digits = csSize, 0
		case csTrailer:
			d.lineLen, d.cr = 0, false
			d.state = csTrailerLn
			continue
		case csTrailerLn:
			// trailer-section (RFC 9112 section 7.1.2): fields are
			// discarded; an empty line ends the message.
			d.trailer++
			if d.trailer > maxTrailer {
				return i, nil, errChunkLineLen
			}
			end, err := d.lineByte(c, maxChunkLine)
			if err != nil {
				return i, nil, err
			}
			if end {
				if d.lineLen == 0 {
					d.state = csDone
				} else {
					d.state = csTrailer
				}
			}
		}
		i++
	}
	return i, nil, nil
}

// lineByte feeds one byte of a skipped line and reports whether it ended
// the line. The line length excludes the terminator.
func (d *chunkDecoder) lineByte(c byte, max int) (bool, error) {
	switch {
	case c == '\n':
		return true, nil
	case d.cr:
		return false, errBareCRChunk
	case c == '\r':
		d.cr = true
		return false, nil
	}
	d.lineLen++
	if d.lineLen > max {
		return false, errChunkLineLen
	}
	return false, nil
}

var errBareCRChunk = errors.New("httpapp: bare CR in chunk line")

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
