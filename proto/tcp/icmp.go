package tcp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// DFSender is implemented by a Network that can send an IPv4 datagram with
// Don't Fragment set (proto/stack's Host does). TCP sends every segment
// through it, as Linux does, so that routers answer a segment too big for
// the path with ICMP "fragmentation needed" (path MTU discovery, RFC 1191)
// instead of fragmenting it. For IPv6 it sends as SendIPTOS: IPv6 routers
// never fragment.
type DFSender interface {
	SendIPDF(proto uint8, src, dst netip.Addr, payload []byte, tos uint8) error
}

// ICMP and ICMPv6 types and codes TCP acts on (RFC 792, RFC 1191, RFC 4443).
const (
	icmp4DestUnreach  = 3
	icmp4TimeExceeded = 11
	icmp4ParamProblem = 12
	icmp4ProtoUnreach = 2 // Destination Unreachable codes
	icmp4PortUnreach  = 3
	icmp4FragNeeded   = 4

	icmp6DestUnreach   = 1
	icmp6PacketTooBig  = 2
	icmp6TimeExceeded  = 3
	icmp6ParamProblem  = 4
	icmp6AdminProhibit = 1 // Destination Unreachable codes
	icmp6PortUnreach   = 4
)

// HandleICMPError processes an ICMP or ICMPv6 error quoting one of our
// segments (proto/stack's ICMPErrorHandler): quoted is the IPv4 header and
// at least 8 bytes of the segment, or the fixed IPv6 header and at least 8
// bytes of the segment.
//
// The quoted sequence number must lie in SND.UNA..SND.NXT (RFC 5927
// section 4.1, as Linux), or the message is ignored: a blind attacker
// must guess it. Then:
//
//   - "fragmentation needed" (RFC 1191) and Packet Too Big (RFC 8201): the
//     host has recorded the new path MTU; the connection lowers its MSS to
//     it and resends what is in flight at the new size at once, without
//     treating the loss as congestion (RFC 1191 section 6.5, RFC 8201
//     section 4; Linux's tcp_mtu_reduced and tcp_simple_retransmit).
//   - hard errors (Destination Unreachable protocol or port unreachable,
//     RFC 1122 section 4.2.3.9; ICMPv6 port unreachable and
//     administratively prohibited) abort a connection that is not yet
//     synchronized; in synchronized states they count as soft errors
//     (RFC 5927 section 5.2, as Linux).
//   - soft errors (other unreachable codes, time exceeded, parameter
//     problem) never abort (RFC 1122 section 4.2.3.9): the latest is
//     reported if the connection later times out.
//
// Source Quench is ignored (RFC 6633).
func (s *Stack) HandleICMPError(from netip.Addr, typ, code uint8, info uint32, quoted []byte) {
	s.stats.ICMPErrorsIn++
	k, seg, v6, ok := quotedConnKey(quoted)
	if !ok {
		return
	}
	c := s.conns[k]
	if c == nil || c.state == StateClosed || c.state == StateTimeWait {
		s.stats.ICMPIgnored++
		return
	}
	seq := seqnum(binary.BigEndian.Uint32(seg[4:]))
	if seq.lt(c.sndUna) || !seq.lt(c.sndMax) {
		// RFC 5927 section 4.1: SND.UNA =< SEG.SEQ < SND.NXT.
		s.stats.ICMPIgnored++
		return
	}
	if !v6 && typ == icmp4DestUnreach && code == icmp4FragNeeded || v6 && typ == icmp6PacketTooBig {
		c.mtuReduced()
		c.flush()
		return
	}
	hard, ok, err := icmpConnError(from, typ, code, v6)
	if !ok {
		return
	}
	if hard && !c.synchronized() {
		s.stats.ICMPAborts++
		c.destroy(err, c.listener == nil)
		c.flush()
		return
	}
	c.softErr = err
}

// quotedConnKey reads the connection an ICMP error's quoted IPv4 or IPv6
// header and first eight TCP bytes belong to; seg starts at the TCP header.
func quotedConnKey(quoted []byte) (k connKey, seg []byte, v6, ok bool) {
	switch {
	case len(quoted) >= 20 && quoted[0]>>4 == 4:
		hl := int(quoted[0]&0xf) * 4
		if quoted[9] != ProtocolNumber || hl < 20 || len(quoted) < hl+8 {
			return k, nil, false, false
		}
		k.laddr = netip.AddrFrom4([4]byte(quoted[12:16]))
		k.raddr = netip.AddrFrom4([4]byte(quoted[16:20]))
		seg = quoted[hl:]
	case len(quoted) >= 48 && quoted[0]>>4 == 6:
		if quoted[6] != ProtocolNumber {
			return k, nil, false, false
		}
		k.laddr = netip.AddrFrom16([16]byte(quoted[8:24]))
		k.raddr = netip.AddrFrom16([16]byte(quoted[24:40]))
		seg = quoted[40:]
		v6 = true
	default:
		return k, nil, false, false
	}
	k.lport = binary.BigEndian.Uint16(seg)
	k.rport = binary.BigEndian.Uint16(seg[2:])
	return k, seg, v6, true
}

// icmpConnError classifies an ICMP error other than "too big" (RFC 1122
// section 4.2.3.9, RFC 5927): hard errors (port or protocol unreachable,
// administratively prohibited for ICMPv6) abort a connection still opening;
// soft ones are kept to name beside a later timeout. ok is false for the
// types TCP ignores, Source Quench among them (RFC 6633).
func icmpConnError(from netip.Addr, typ, code uint8, v6 bool) (hard, ok bool, err error) {
	switch {
	case !v6 && typ == icmp4DestUnreach:
		hard = code == icmp4ProtoUnreach || code == icmp4PortUnreach
	case v6 && typ == icmp6DestUnreach:
		hard = code == icmp6PortUnreach || code == icmp6AdminProhibit
	case !v6 && (typ == icmp4TimeExceeded || typ == icmp4ParamProblem),
		v6 && (typ == icmp6TimeExceeded || typ == icmp6ParamProblem):
	default:
		return false, false, nil
	}
	base := ErrNoRoute
	if hard && (!v6 && code == icmp4PortUnreach || v6 && code == icmp6PortUnreach) {
		base = ErrConnRefused
	}
	family := "ICMP"
	if v6 {
		family = "ICMPv6"
	}
	return hard, true, fmt.Errorf("%w (%s type %d code %d from %v)", base, family, typ, code, from)
}

// mtuReduced lowers the connection's segment size to the path MTU the host
// now reports and resends the flight at the new size at once (RFC 1191
// section 6.5; Linux's tcp_v4_mtu_reduced and tcp_simple_retransmit). The
// congestion window and the backoff are left alone, as Linux does: the
// segments were lost to the MTU, not to congestion.
func (c *Conn) mtuReduced() {
	ipHdr := 20
	if !c.key.raddr.Is4() {
		ipHdr = 40
	}
	// Linux's tcp_min_snd_mss floor of 48 bytes, raised to the 64 the
	// handshake already enforces.
	seg := max(c.s.net.PathMTU(c.key.raddr)-ipHdr-HeaderLen, 64)
	if seg < c.rmss {
		c.rmss = seg // a SYN or SYN-ACK yet to be resent carries it
	}
	if c.maxSeg == 0 || seg >= c.maxSeg {
		return
	}
	c.s.stats.PMTUReductions++
	c.maxSeg = seg
	c.mss = seg
	if c.tsOK {
		c.mss -= 12
	}
	c.ccs.MSS = c.mss
	if !c.synchronized() || c.sndUna == c.sndMax {
		return
	}
	// Go back to SND.UNA as a timeout does (output skips what was SACKed),
	// but keep cwnd, ssthresh and the RTO.
	c.inRecovery = false
	c.inLoss = true
	c.dupAcks = 0
	c.recover = c.sndMax
	c.rttTiming = false
	c.highRxt = c.sndUna
	c.rtxMarkSet = false
	c.sndNxt = c.sndUna
	c.output()
}

// timeoutErr is the error a connection that timed out reports: ErrTimeout,
// with the latest soft ICMP error beside it (RFC 1122 section 4.2.3.9).
func (c *Conn) timeoutErr() error {
	if c.softErr != nil {
		return fmt.Errorf("%w: %w", ErrTimeout, c.softErr)
	}
	return ErrTimeout
}
