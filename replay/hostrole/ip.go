package hostrole

import (
	"errors"
	"net/netip"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/ipv6"
)

// ipPkt is an IPv4 or IPv6 packet as the replay reads it: addresses, the
// upper-layer protocol and payload, and whether it is a fragment (whose
// payload is not an upper-layer header).
type ipPkt struct {
	b        []byte // the packet, header included
	v6       bool
	src, dst netip.Addr
	proto    uint8
	off, end int // the upper-layer payload is b[off:end]
	frag     bool
}

var errNotIP = errors.New("hostrole: not an IP packet")

// parseIP reads the network layer b of a frame of EtherType et.
func parseIP(et ether.EtherType, b []byte) (ipPkt, error) {
	switch et {
	case ether.TypeIPv4:
		h, err := ipv4.ParseUnchecked(b)
		if err != nil {
			return ipPkt{}, err
		}
		end := min(h.TotalLen(), len(b))
		return ipPkt{b: b[:end], src: h.Src(), dst: h.Dst(), proto: h.Protocol(), off: h.HeaderLen(), end: end, frag: h.IsFragment()}, nil
	case ether.TypeIPv6:
		h, err := ipv6.Parse(b)
		if err != nil {
			return ipPkt{}, err
		}
		c, err := ipv6.Walk(h)
		if err != nil {
			return ipPkt{}, err
		}
		end := ipv6.HeaderLen + h.PayloadLen()
		return ipPkt{b: b[:end], v6: true, src: h.Src(), dst: h.Dst(), proto: c.Proto, off: c.Offset, end: end, frag: c.Proto == ipv6.ProtoFragment}, nil
	}
	return ipPkt{}, errNotIP
}

// Payload returns the upper-layer bytes.
func (p ipPkt) Payload() []byte { return p.b[p.off:p.end] }

// Src returns the source address.
func (p ipPkt) Src() netip.Addr { return p.src }

// Dst returns the destination address.
func (p ipPkt) Dst() netip.Addr { return p.dst }

// Protocol returns the upper-layer protocol (IPv6: after the extension
// headers).
func (p ipPkt) Protocol() uint8 { return p.proto }

// IsFragment reports whether the packet is a fragment.
func (p ipPkt) IsFragment() bool { return p.frag }

// frameIP parses the IP packet of an Ethernet frame built by the replay.
func frameIP(frame []byte) (ipPkt, error) {
	e, err := ether.Parse(frame)
	if err != nil {
		return ipPkt{}, err
	}
	return parseIP(e.EtherType(), e.Payload())
}
