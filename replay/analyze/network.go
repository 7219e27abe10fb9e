package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// Errors for frames the analysis cannot decode.
var (
	errIPv6Truncated = errors.New("ipv6: truncated packet")
	errIPv6ExtHeader = errors.New("ipv6: truncated extension header")
)

// arp counts the frame as ARP (tshark counts every frame with EtherType
// 0x0806) and rejects it when proto/arp does not accept it.
func (a *Analyzer) arp(fr *frame, b []byte) {
	fr.seen |= pARP
	if _, err := arp.Parse(b); err != nil {
		a.reject(fr, err)
	}
}

// endpoints identifies a datagram's addresses; IPv4 addresses use the first
// four bytes.
type endpoints struct {
	src, dst [16]byte
	v6       bool
}

// ipv4 decodes an IPv4 packet. quoted is set for the header quoted inside
// an ICMP error: it is counted but neither reassembled nor followed into
// flows, and its errors are not rejections.
func (a *Analyzer) ipv4(fr *frame, b []byte, quoted bool) {
	fr.seen |= pIPv4
	// ipv4.Parse in two steps: captures taken with checksum offload carry
	// a bad header checksum on every frame the capturing host sent, and
	// the error text (with both addresses) is only built for the
	// rejections the result records.
	h, err := parseIPv4(b)
	if err != nil {
		h = a.ipv4Lenient(fr, b, err, quoted)
		if h == nil {
			return
		}
	} else if checksum.Sum(h[:h.HeaderLen()], 0) != 0xffff && !quoted {
		// A bad header checksum is a rejection but decoding goes on, as
		// tshark's does.
		a.res.BadChecksums.IPv4++
		a.rejectWith(fr, func() error {
			_, err := ipv4.Parse(b)
			return err
		})
	}
	if len(h.Options()) > 0 {
		if err := checkIPv4Options(h.Options()); err != nil {
			// Like tshark, stop at a malformed option.
			if h.IsFragment() {
				fr.seen |= pFrag
			}
			if !quoted {
				a.reject(fr, err)
			}
			return
		}
	}
	if !quoted {
		var ep endpoints
		copy(ep.src[:], h[12:16])
		copy(ep.dst[:], h[16:20])
		a.ipConv(fr, &ep)
	}
	if h.IsFragment() {
		fr.seen |= pFrag
		if quoted {
			return
		}
		var ep endpoints
		copy(ep.src[:], h[12:16])
		copy(ep.dst[:], h[16:20])
		payload, done := a.reasm.add(a.now, fragKey{ep: ep, id: uint32(h.ID()), proto: h.Protocol()},
			h.FragmentOffset(), h.MF(), h.Payload())
		if !done {
			return
		}
		a.transport(fr, h.Protocol(), ep, payload, h.PseudoHeaderSum, false, true)
		return
	}
	var ep endpoints
	copy(ep.src[:], h[12:16])
	copy(ep.dst[:], h[16:20])
	a.transport(fr, h.Protocol(), ep, h.Payload(), h.PseudoHeaderSum, quoted, false)
}

// errTotalLen stands for the error ipv4.ParseUnchecked returns for a total
// length that does not fit (what snapping and segmentation offload produce,
// so common enough that its text is built only when a rejection needs it:
// see ipv4Err).
var errTotalLen = fmt.Errorf("%w (not formatted)", ipv4.ErrTotalLen)

// parseIPv4 is ipv4.ParseUnchecked, except that a total length outside
// [header length, len(b)] in an otherwise sound header gives errTotalLen.
func parseIPv4(b []byte) (ipv4.Header, error) {
	if len(b) >= ipv4.MinHeaderLen && b[0]>>4 == ipv4.Version {
		hl := int(b[0]&0xf) * 4
		tl := int(binary.BigEndian.Uint16(b[2:]))
		if hl >= ipv4.MinHeaderLen && hl <= len(b) && (tl < hl || tl > len(b)) {
			return nil, errTotalLen
		}
	}
	return ipv4.ParseUnchecked(b)
}

// ipv4Err returns the error ipv4.ParseUnchecked gives for b, err being
// what parseIPv4 gave.
func ipv4Err(b []byte, err error) error {
	if err == errTotalLen {
		_, err = ipv4.ParseUnchecked(b)
	}
	return err
}

// ipv4Lenient handles a header proto/ipv4 refused. A bad header checksum is
// a rejection but decoding goes on, as tshark's does. A total length that
// exceeds the captured bytes is what snapping (caplen < len) produces; a
// total length of 0 is what TCP segmentation offload produces (Wireshark
// then uses the captured length). In both cases the captured bytes are
// decoded. It returns nil when the packet cannot be decoded at all.
func (a *Analyzer) ipv4Lenient(fr *frame, b []byte, err error, quoted bool) ipv4.Header {
	if errors.Is(err, ipv4.ErrChecksum) {
		if !quoted {
			a.res.BadChecksums.IPv4++
			a.reject(fr, err)
		}
		h, _ := ipv4.ParseUnchecked(b)
		return h
	}
	var tl, hl int
	if len(b) >= 8 && b[0]>>4 == ipv4.Version {
		tl = int(binary.BigEndian.Uint16(b[2:]))
		hl = int(b[0]&0xf) * 4
		// Like tshark, read the fragment fields of a header that is cut
		// short, but not of one whose lengths are bogus.
		if hl >= ipv4.MinHeaderLen && (tl == 0 || tl >= hl) &&
			binary.BigEndian.Uint16(b[6:])&0x3fff != 0 {
			fr.seen |= pFrag
		}
	}
	lazy := func() error { return ipv4Err(b, err) }
	if !errors.Is(err, ipv4.ErrTotalLen) || len(b) < ipv4.MinHeaderLen {
		if !quoted {
			a.rejectWith(fr, lazy)
		}
		return nil
	}
	if tl != 0 && tl < hl {
		if !quoted {
			a.rejectWith(fr, lazy)
		}
		return nil
	}
	if tl != 0 && !fr.snapped && !quoted {
		// Real truncation inside a complete frame: reject, decode on.
		a.rejectWith(fr, lazy)
	}
	// The quoted header of an ICMP error lives inside the outer packet,
	// which may itself sit in a.scratch: use a second buffer for it.
	buf := &a.scratch
	if quoted {
		buf = &a.scratchQuoted
	}
	n := min(len(b), ipv4.MaxTotalLen)
	*buf = append((*buf)[:0], b[:n]...)
	binary.BigEndian.PutUint16((*buf)[2:], uint16(n))
	h, perr := ipv4.ParseUnchecked(*buf)
	if perr != nil {
		if !quoted {
			a.reject(fr, perr)
		}
		return nil
	}
	return h
}

var errIPv4Option = errors.New("ipv4: malformed option")

// ipv4OptionMin gives the smallest length of the options whose format is
// fixed by their RFCs: Security (RFC 1108 section 2), loose and strict
// source route and record route (RFC 791 section 3.1: type, length,
// pointer), timestamp (RFC 791: type, length, pointer, overflow/flags),
// stream identifier (RFC 791, exactly 4) and router alert (RFC 2113,
// exactly 4).
func ipv4OptionMin(t byte) (minLen, maxLen int) {
	switch t {
	case 130, 131, 137, 7:
		return 3, 40
	case 68:
		return 4, 40
	case 136, 148:
		return 4, 4
	}
	return 2, 40
}

// checkIPv4Options walks the option list (RFC 791 section 3.1): single
// octet End and No-Operation, every other option a type, a length that
// counts both and lies within the header, and the bounds above. proto/ipv4
// carries options uninterpreted; this is the check tshark applies before
// it dissects what follows.
func checkIPv4Options(b []byte) error {
	for i := 0; i < len(b); {
		t := b[i]
		switch t {
		case 0:
			return nil
		case 1:
			i++
			continue
		}
		if i+1 >= len(b) {
			return fmt.Errorf("option %d without length: %w", t, errIPv4Option)
		}
		n := int(b[i+1])
		lo, hi := ipv4OptionMin(t)
		if n < lo || n > hi || i+n > len(b) {
			return fmt.Errorf("option %d of length %d: %w", t, n, errIPv4Option)
		}
		i += n
	}
	return nil
}

// IPv6 next-header values this package follows (RFC 8200 section 4).
const (
	v6HopByHop = 0
	v6Routing  = 43
	v6Fragment = 44
	v6DestOpts = 60
	v6ICMP     = 58
	v6NoNext   = 59
)

// ipv6 decodes an IPv6 header and its extension headers (RFC 8200 sections
// 3 and 4) far enough to reach UDP and TCP. simnet has no IPv6 stack; this
// exists so that counts of transports over IPv6 match tshark's.
func (a *Analyzer) ipv6(fr *frame, b []byte, quoted bool) {
	fr.seen |= pIPv6
	if len(b) < 40 || b[0]>>4 != 6 {
		if !quoted {
			a.reject(fr, fmt.Errorf("ipv6 header (%d bytes): %w", len(b), errIPv6Truncated))
		}
		return
	}
	plen := int(binary.BigEndian.Uint16(b[4:]))
	payload := b[40:]
	if plen < len(payload) {
		payload = payload[:plen]
	}
	var ep endpoints
	ep.v6 = true
	copy(ep.src[:], b[8:24])
	copy(ep.dst[:], b[24:40])
	next := b[6]
	for {
		switch next {
		case v6HopByHop, v6Routing, v6DestOpts:
			if len(payload) < 8 || len(payload) < 8+int(payload[1])*8 {
				if !quoted {
					a.reject(fr, errIPv6ExtHeader)
				}
				return
			}
			next, payload = payload[0], payload[8+int(payload[1])*8:]
			continue
		case v6Fragment:
			// RFC 8200 section 4.5.
			fr.seen |= pFrag6
			if len(payload) < 8 {
				if !quoted {
					a.reject(fr, errIPv6ExtHeader)
				}
				return
			}
			off := int(binary.BigEndian.Uint16(payload[2:]) &^ 7)
			mf := payload[3]&1 != 0
			id := binary.BigEndian.Uint32(payload[4:])
			proto := payload[0]
			if quoted {
				return
			}
			data, done := a.reasm.add(a.now, fragKey{ep: ep, id: id, proto: proto}, off, mf, payload[8:])
			if !done {
				return
			}
			a.transport(fr, proto, ep, data, nil, false, true)
			return
		}
		break
	}
	a.transport(fr, next, ep, payload, nil, quoted, false)
}

// transport dispatches on the IP protocol number. pseudo returns the
// IPv4 pseudo-header sum for checksum verification (nil for IPv6, where
// checksums are not verified). reassembled is set for a datagram put
// together from fragments.
func (a *Analyzer) transport(fr *frame, proto uint8, ep endpoints, b []byte, pseudo func(int) uint16, quoted, reassembled bool) {
	switch proto {
	case ipv4.ProtoICMP:
		if !ep.v6 {
			a.icmp(fr, b, quoted)
		}
	case v6ICMP:
		fr.seen |= pICMPv6
		// ICMPv6 error messages (types below 128) quote the offending
		// packet after an 8-byte header (RFC 4443 section 2.1).
		if ep.v6 && !quoted && len(b) > icmp.HeaderLen && b[0] < 128 {
			a.ipv6(fr, b[icmp.HeaderLen:], true)
		}
	case ipv4.ProtoTCP, ipv4.ProtoUDP:
		if len(b) == 0 && !fr.snapped {
			// The header names the protocol but carries none of it:
			// tshark calls no dissector for zero bytes, so neither the
			// protocol nor what its ports would imply is counted.
			return
		}
		if proto == ipv4.ProtoTCP {
			a.tcpSegment(fr, ep, b, pseudo, quoted)
		} else {
			a.udp(fr, ep, b, pseudo, quoted, reassembled)
		}
	}
}

// icmp decodes an ICMP message with proto/icmp (RFC 792) and, for error
// messages, the IP header and transport header they quote.
func (a *Analyzer) icmp(fr *frame, b []byte, quoted bool) {
	fr.seen |= pICMP
	m, err := icmp.ParseUnchecked(b)
	if err != nil {
		if !quoted {
			a.reject(fr, err)
		}
		return
	}
	if quoted {
		return
	}
	if !fr.snapped && !m.VerifyChecksum() {
		a.res.BadChecksums.ICMP++
	}
	if m.Type().IsError() && len(m.Payload()) > 0 {
		a.ipv4(fr, m.Payload(), true)
	}
}
