package analyze

import (
	"encoding/binary"
	"fmt"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/tcp"
)

// TCPConn summarises one TCP connection, keyed by its 4-tuple. The client
// is the side that sent the first SYN, or the first segment seen when the
// capture starts mid-connection.
type TCPConn struct {
	Client string `json:"client"`
	Server string `json:"server"`
	// FirstFrame and LastFrame number frames from 1, as Wireshark does.
	FirstFrame int `json:"first_frame"`
	LastFrame  int `json:"last_frame"`
	// Handshake steps seen (RFC 9293 section 3.5).
	SYN    bool `json:"syn"`
	SYNACK bool `json:"syn_ack"`
	ACK    bool `json:"ack"`
	// Close: FIN from each side, and whether a RST was seen.
	FINClient bool `json:"fin_client"`
	FINServer bool `json:"fin_server"`
	RST       bool `json:"rst"`
	// State is one of "syn_sent", "refused", "established", "half_closed",
	// "closed", "reset", "midstream".
	State           string `json:"state"`
	Segments        int    `json:"segments"`
	Retransmissions int    `json:"retransmissions"`
	// Payload bytes sent each way, retransmissions included.
	BytesClientToServer uint64 `json:"bytes_client_to_server"`
	BytesServerToClient uint64 `json:"bytes_server_to_client"`
}

type connKey struct {
	a, b   [16]byte
	ap, bp uint16
}

// direction is the per-direction state of a connection.
type direction struct {
	started bool
	next    uint32 // highest sequence number sent + 1 (SYN and FIN count)
	expect  uint32 // next in-order byte for the application stream
	app     appStream
}

type conn struct {
	pub     *TCPConn
	clientA bool // client is key side a
	dir     [2]direction
	dns     bool
	http    bool
}

type tcpTable struct {
	m     map[connKey]*conn
	conns []*TCPConn
	// lastKey and last are the previous segment's connection: segments
	// of one connection mostly come in runs, which then skip the map.
	lastKey connKey
	last    *conn
}

func (t *tcpTable) init() { t.m = make(map[connKey]*conn) }

// seqLT reports a < b in sequence space (RFC 9293 section 3.4).
func seqLT(a, b uint32) bool { return int32(a-b) < 0 }

// tcpSegment decodes a TCP segment with proto/tcp and updates its
// connection.
func (a *Analyzer) tcpSegment(fr *frame, ep endpoints, b []byte, pseudo func(int) uint16, quoted bool) {
	fr.seen |= pTCP
	if quoted {
		if len(b) >= 4 {
			sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
			if sp == portDNS || dp == portDNS {
				fr.seen |= pDNS
			}
		}
		return
	}
	h, err := tcp.ParseHeader(b)
	if err != nil {
		a.reject(fr, fmt.Errorf("tcp: %w", err))
		return
	}
	if pseudo != nil && !fr.snapped && checksum.Sum(b, pseudo(len(b))) != 0xffff {
		a.res.BadChecksums.TCP++
	}
	sp, dp := h.SrcPort(), h.DstPort()
	k := connKey{a: ep.src, b: ep.dst, ap: sp, bp: dp}
	fromA := true
	if string(ep.dst[:]) < string(ep.src[:]) || (ep.dst == ep.src && dp < sp) {
		k = connKey{a: ep.dst, b: ep.src, ap: dp, bp: sp}
		fromA = false
	}
	c := a.tcp.last
	if c == nil || k != a.tcp.lastKey {
		c = a.tcp.m[k]
	}
	flags := h.Flags()
	if c == nil {
		if len(a.tcp.conns) >= MaxFlows {
			// Past the flow limit: recognise DNS by its port only.
			if (sp == portDNS || dp == portDNS) && len(h.Payload()) > 0 {
				fr.seen |= pDNS
			}
			return
		}
		c = &conn{
			pub: &TCPConn{
				Client:     addrString(ep.src, ep.v6, sp),
				Server:     addrString(ep.dst, ep.v6, dp),
				FirstFrame: fr.in.Index + 1,
			},
			clientA: fromA,
			dns:     sp == portDNS || dp == portDNS,
			http:    httpPort(sp) || httpPort(dp),
		}
		if flags&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK || flags&(tcp.FlagRST|tcp.FlagSYN) == tcp.FlagRST {
			// First segment seen is the SYN-ACK, or a reset answering a
			// segment the capture does not hold (a closed port's answer
			// to a SYN, RFC 9293 section 3.10.7.1): the sender is the
			// server.
			c.pub.Client, c.pub.Server = c.pub.Server, c.pub.Client
			c.clientA = !fromA
		}
		a.tcp.m[k] = c
		a.tcp.conns = append(a.tcp.conns, c.pub)
	}
	a.tcp.lastKey, a.tcp.last = k, c
	p := c.pub
	p.LastFrame = fr.in.Index + 1
	p.Segments++
	fromClient := fromA == c.clientA
	di := 0
	if !fromClient {
		di = 1
	}
	d := &c.dir[di]
	seq := h.Seq()
	payload := h.Payload()
	if fr.snapped {
		// The rest of the payload was not captured; sequence tracking
		// still uses what the header says was sent.
		payload = payload[:min(len(payload), len(b)-h.DataOffset())]
	}
	seglen := uint32(len(payload))
	if flags&tcp.FlagSYN != 0 {
		seglen++
	}
	if flags&tcp.FlagFIN != 0 {
		seglen++
	}
	switch {
	case flags&tcp.FlagRST != 0:
		p.RST = true
	case flags&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN:
		p.SYN = true
	case flags&(tcp.FlagSYN|tcp.FlagACK) == tcp.FlagSYN|tcp.FlagACK:
		p.SYNACK = true
	case flags&tcp.FlagACK != 0 && p.SYN && p.SYNACK && fromClient:
		p.ACK = true
	}
	if flags&tcp.FlagFIN != 0 {
		if fromClient {
			p.FINClient = true
		} else {
			p.FINServer = true
		}
	}
	// A segment that carries sequence space entirely below what this side
	// already sent is a retransmission (as Wireshark's tcp.analysis).
	if d.started && seglen > 0 && seqLT(seq, d.next) && !seqLT(d.next, seq+seglen) {
		p.Retransmissions++
	}
	if !d.started {
		d.started = true
		d.next = seq + seglen
		d.expect = seq
		if flags&tcp.FlagSYN != 0 {
			d.expect = seq + 1
		}
	} else if seqLT(d.next, seq+seglen) {
		d.next = seq + seglen
	}
	if fromClient {
		p.BytesClientToServer += uint64(len(payload))
	} else {
		p.BytesServerToClient += uint64(len(payload))
	}
	p.State = connState(p)
	if len(payload) == 0 || flags&tcp.FlagRST != 0 {
		// Data on a RST is a diagnostic text (RFC 9293 section 3.5.3),
		// not stream data; tshark does not hand it on either.
		return
	}
	// Deliver only new, in-order bytes to the application stream. Data on
	// a SYN starts after the SYN's own sequence number (RFC 9293 section
	// 3.4).
	dataSeq := seq
	if flags&tcp.FlagSYN != 0 {
		dataSeq++
	}
	switch {
	case dataSeq == d.expect:
	case seqLT(dataSeq, d.expect):
		skip := d.expect - dataSeq
		if skip >= uint32(len(payload)) {
			// A full retransmission: nothing new for the stream.
			return
		}
		payload = payload[skip:]
	default:
		// A gap: bytes were not captured. Resynchronise on this segment.
		d.app.reset()
	}
	d.expect = dataSeq + uint32(len(h.Payload()))
	if fr.snapped {
		// The segment was cut by the snapshot length: nothing can be
		// reassembled; tshark then dissects what is there.
		d.app.reset()
		if looksHTTP(payload) {
			fr.seen |= pHTTP
		}
		return
	}
	if c.dns {
		a.dnsStream(fr, ep, &d.app, payload, sp, dp)
	} else if c.http || d.app.http || looksHTTP(payload) {
		if a.httpStream(&d.app, &c.dir[1-di].app, payload) {
			fr.seen |= pHTTP
		}
		return
	}
}

func connState(p *TCPConn) string {
	switch {
	case p.RST && p.SYN && !p.SYNACK:
		return "refused"
	case p.RST:
		return "reset"
	case p.FINClient && p.FINServer:
		return "closed"
	case p.FINClient || p.FINServer:
		return "half_closed"
	case p.SYN && p.SYNACK:
		return "established"
	case p.SYN:
		return "syn_sent"
	}
	return "midstream"
}

// maxStreamBuffer bounds the bytes buffered per direction while a DNS
// message or HTTP header is incomplete, and maxBuffered the bytes buffered
// by all streams together.
const (
	maxStreamBuffer = 1<<16 + 2
	maxBuffered     = 32 << 20
)

// appendBuf appends b to the stream's buffer unless that would take the
// analysis past maxBuffered.
func (a *Analyzer) appendBuf(s *appStream, b []byte) bool {
	old := cap(s.buf)
	if len(s.buf)+len(b) > old && a.buffered-old+len(s.buf)+len(b) > maxBuffered {
		return false
	}
	s.buf = append(s.buf, b...)
	a.buffered += cap(s.buf) - old
	return true
}

// dropBuf gives up on the message being assembled and releases its buffer.
func (a *Analyzer) dropBuf(s *appStream) {
	a.buffered -= cap(s.buf)
	s.reset()
	s.buf = nil
}

// dnsStream reassembles DNS messages over TCP, each preceded by a two-byte
// length (RFC 1035 section 4.2.2), and counts DNS in the frame that
// completes a message.
func (a *Analyzer) dnsStream(fr *frame, ep endpoints, s *appStream, b []byte, sp, dp uint16) {
	for len(b) > 0 || len(s.buf) >= 2 {
		if len(s.buf) < 2 || len(s.buf) < 2+int(binary.BigEndian.Uint16(s.buf)) {
			if len(b) == 0 {
				return
			}
			need := 2 - len(s.buf)
			if len(s.buf) >= 2 {
				need = 2 + int(binary.BigEndian.Uint16(s.buf)) - len(s.buf)
			}
			n := min(need, len(b))
			if !a.appendBuf(s, b[:n]) {
				a.dropBuf(s)
				return
			}
			b = b[n:]
			continue
		}
		n := int(binary.BigEndian.Uint16(s.buf))
		fr.seen |= pDNS
		a.dnsMessage(fr, ep, sp, dp, s.buf[2:2+n], "tcp")
		s.buf = s.buf[:0]
	}
}
