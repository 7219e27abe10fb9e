package ipv6

import (
	"errors"
	"fmt"
)

// ErrMTU is returned by Fragment when the MTU leaves no room for data.
var ErrMTU = errors.New("ipv6: MTU too small to fragment")

// Fragment splits pkt into fragments of at most mtu bytes (RFC 8200
// section 4.5) with identification id. Each fragment is the unfragmentable
// part with its Payload Length and last Next Header rewritten, a Fragment
// header, and a multiple of 8 bytes of the fragmentable part (the last
// fragment takes the rest). It is built in buf, which must hold mtu bytes
// and is reused for every fragment, and handed to emit, which must not keep
// it. A packet that fits in mtu is still fragmented: callers send it whole
// instead (RFC 8021 deprecates atomic fragments).
func Fragment(buf []byte, pkt Header, mtu int, id uint32, emit func(Header) error) error {
	c, err := Walk(pkt)
	if err != nil {
		return fmt.Errorf("fragment ipv6 packet: %w", err)
	}
	if c.Proto == ProtoFragment {
		return fmt.Errorf("fragment ipv6 packet: %w", ErrFragmented)
	}
	unfrag := c.UnfragLen
	per := (mtu - unfrag - FragmentHeaderLen) &^ 7
	if per <= 0 {
		return fmt.Errorf("fragment ipv6 packet (MTU %d, unfragmentable part %d bytes): %w", mtu, unfrag, ErrMTU)
	}
	if len(buf) < mtu {
		return fmt.Errorf("fragment ipv6 packet (buffer %d bytes, MTU %d): %w", len(buf), mtu, ErrShortBuffer)
	}
	firstNext := pkt[c.UnfragNext]
	rest := pkt[unfrag:]
	for off := 0; off < len(rest); off += per {
		n := min(per, len(rest)-off)
		f := Header(buf[:unfrag+FragmentHeaderLen+n])
		copy(f, pkt[:unfrag])
		f[c.UnfragNext] = ProtoFragment
		f.SetPayloadLen(len(f) - HeaderLen)
		PutFragmentHeader(f[unfrag:], firstNext, off, off+n < len(rest), id)
		copy(f[unfrag+FragmentHeaderLen:], rest[off:off+n])
		if err := emit(f); err != nil {
			return err
		}
	}
	return nil
}
