package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TCP flag bits (RFC 9293 section 3.1).
const (
	tcpFIN uint8 = 1 << 0
	tcpSYN uint8 = 1 << 1
	tcpRST uint8 = 1 << 2
	tcpACK uint8 = 1 << 4
)

const tcpHeaderLen = 20

var (
	errTCPTruncated = errors.New("tcp: truncated segment")
	errTCPOffset    = errors.New("tcp: bad data offset")
)

// tcpHeader is a zero-copy view of a TCP segment. It stands in for
// proto/tcp's header view until that package builds on its own.
type tcpHeader []byte

// parseTCP checks the fixed header and the data offset (RFC 9293 section
// 3.1).
func parseTCP(b []byte) (tcpHeader, error) {
	if len(b) < tcpHeaderLen {
		return nil, fmt.Errorf("parse header of %d bytes: %w", len(b), errTCPTruncated)
	}
	off := int(b[12]>>4) * 4
	if off < tcpHeaderLen || off > len(b) {
		return nil, fmt.Errorf("parse header: offset %d with %d bytes: %w", off, len(b), errTCPOffset)
	}
	return tcpHeader(b), nil
}

func (h tcpHeader) SrcPort() uint16 { return binary.BigEndian.Uint16(h[0:]) }
func (h tcpHeader) DstPort() uint16 { return binary.BigEndian.Uint16(h[2:]) }
func (h tcpHeader) Seq() uint32     { return binary.BigEndian.Uint32(h[4:]) }
func (h tcpHeader) DataOffset() int { return int(h[12]>>4) * 4 }
func (h tcpHeader) Flags() uint8    { return h[13] }
func (h tcpHeader) Payload() []byte { return h[h.DataOffset():] }
