package dns

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrTCPFrame reports a zero-length TCP message frame.
var ErrTCPFrame = errors.New("dns: empty TCP frame")

// AppendTCPFrame appends msg prefixed with its two-octet length, the TCP
// framing of RFC 1035 section 4.2.2.
func AppendTCPFrame(dst, msg []byte) ([]byte, error) {
	if len(msg) > 0xFFFF {
		return dst, fmt.Errorf("frame of %d octets: %w", len(msg), ErrTooLarge)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(msg)))
	return append(dst, msg...), nil
}

// SplitTCPFrame takes the first framed message off the front of a TCP
// byte stream. It returns the message (aliasing stream), the rest of the
// stream and ok=false when more bytes are needed. A zero length prefix is
// an error: no DNS message is empty.
func SplitTCPFrame(stream []byte) (msg, rest []byte, ok bool, err error) {
	if len(stream) < 2 {
		return nil, stream, false, nil
	}
	n := int(binary.BigEndian.Uint16(stream))
	if n == 0 {
		return nil, stream, false, ErrTCPFrame
	}
	if len(stream) < 2+n {
		return nil, stream, false, nil
	}
	return stream[2 : 2+n], stream[2+n:], true, nil
}

// TCPReader reassembles framed messages from TCP segments. Its buffer never
// holds more than one incomplete frame (at most 65537 octets).
type TCPReader struct {
	buf []byte
}

// Write appends stream bytes and calls fn for every complete message, in
// order. The message passed to fn is valid only during the call.
func (r *TCPReader) Write(p []byte, fn func(msg []byte)) error {
	data := p
	if len(r.buf) > 0 {
		r.buf = append(r.buf, p...)
		data = r.buf
	}
	for {
		msg, rest, ok, err := SplitTCPFrame(data)
		if err != nil {
			r.buf = r.buf[:0]
			return err
		}
		if !ok {
			r.buf = append(r.buf[:0], rest...)
			return nil
		}
		fn(msg)
		data = rest
	}
}
