package analyze

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/udp"
)

// Well-known ports the analysis dispatches on.
const (
	portDNS        = 53
	portDHCPServer = 67
	portDHCPClient = 68
)

// udp decodes a UDP datagram with proto/udp (RFC 768) and hands DNS and
// DHCP payloads on.
func (a *Analyzer) udp(fr *frame, ep endpoints, b []byte, pseudo func(int) uint16, quoted, reassembled bool) {
	fr.seen |= pUDP
	if len(b) < udp.HeaderLen {
		if !quoted {
			a.reject(fr, fmt.Errorf("udp header of %d bytes: %w", len(b), udp.ErrTruncated))
		}
		return
	}
	sport := binary.BigEndian.Uint16(b[0:])
	dport := binary.BigEndian.Uint16(b[2:])
	if !quoted {
		a.udpConv(fr, ep, sport, dport)
	}
	isDNS := sport == portDNS || dport == portDNS
	isDHCP := !isDNS && (sport == portDHCPServer || sport == portDHCPClient || dport == portDHCPServer || dport == portDHCPClient)
	if isDNS {
		fr.seen |= pDNS
	}
	if isDHCP {
		fr.seen |= pDHCP
	}
	if quoted {
		return
	}
	var payload []byte
	h, err := udp.Parse(b)
	switch {
	case err == nil:
		payload = h.Payload()
		// RFC 768: a zero checksum means none was computed.
		if pseudo != nil && h.Checksum() != 0 && checksum.Sum(h, pseudo(len(h))) != 0xffff {
			a.res.BadChecksums.UDP++
		}
	case errors.Is(err, udp.ErrLength) && fr.snapped && !reassembled &&
		int(binary.BigEndian.Uint16(b[4:])) > len(b):
		// Cut by the snapshot length: decode what was captured.
		payload = b[udp.HeaderLen:]
	default:
		a.reject(fr, err)
		return
	}
	switch {
	case isDNS:
		a.dnsMessage(fr, ep, sport, dport, payload, "udp")
	case isDHCP:
		a.dhcpMessage(fr, payload)
	case sport == portL2TP || dport == portL2TP:
		a.l2tp(fr, payload)
	}
}

// L2TPv2 header bits (RFC 2661 section 3.1) and PPP protocol numbers.
const (
	portL2TP      = 1701
	l2tpType      = 0x8000 // control message
	l2tpLength    = 0x4000
	l2tpSequence  = 0x0800
	l2tpOffset    = 0x0200
	l2tpVersion   = 0x000f
	pppIPv4       = 0x0021 // RFC 1332
	pppIPv6       = 0x0057 // RFC 5072
	maxTunnelNest = 4
)

// l2tp follows an L2TPv2 data message (RFC 2661 section 3.1) to the PPP
// frame it carries (RFC 1661 section 2, address and control fields
// optional per RFC 1662 section 3.2) and decodes the IPv4 or IPv6 packet
// inside, as tshark does.
func (a *Analyzer) l2tp(fr *frame, b []byte) {
	if fr.nest >= maxTunnelNest || len(b) < 6 {
		return
	}
	flags := binary.BigEndian.Uint16(b)
	if flags&l2tpVersion != 2 || flags&l2tpType != 0 {
		return
	}
	off := 2
	if flags&l2tpLength != 0 {
		off += 2
	}
	off += 4 // tunnel and session IDs
	if flags&l2tpSequence != 0 {
		off += 4
	}
	if flags&l2tpOffset != 0 {
		if len(b) < off+2 {
			return
		}
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
	}
	if len(b) < off+2 {
		return
	}
	ppp := b[off:]
	if ppp[0] == 0xff && ppp[1] == 0x03 {
		ppp = ppp[2:]
	}
	var proto uint16
	switch {
	case len(ppp) >= 1 && ppp[0]&1 == 1: // compressed protocol field
		proto, ppp = uint16(ppp[0]), ppp[1:]
	case len(ppp) >= 2:
		proto, ppp = binary.BigEndian.Uint16(ppp), ppp[2:]
	default:
		return
	}
	fr.nest++
	defer func() { fr.nest-- }()
	switch proto {
	case pppIPv4:
		a.ipv4(fr, ppp, false)
	case pppIPv6:
		a.ipv6(fr, ppp, false)
	}
}

// DNSExchange pairs a DNS query with its response.
type DNSExchange struct {
	Transport string `json:"transport"`
	Client    string `json:"client"`
	Server    string `json:"server"`
	ID        uint16 `json:"id"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	// QueryFrame and ResponseFrame number frames from 1, as Wireshark
	// does; 0 (omitted) when the query or the response was not captured.
	QueryFrame    int    `json:"query_frame,omitempty"`
	ResponseFrame int    `json:"response_frame,omitempty"`
	Rcode         string `json:"rcode,omitempty"`
	Answers       int    `json:"answers"`
	// RTTMicros is the time from query to response on the capture's
	// timeline, in microseconds (0 unless both were captured).
	RTTMicros int64 `json:"rtt_us,omitempty"`
	queryAt   clock.Time
}

type dnsKey struct {
	client, server [16]byte
	cport, sport   uint16
	id             uint16
}

type dnsTable struct {
	pending map[dnsKey]int
	pairs   []*DNSExchange
	// sum is the message being looked at: dns.Summary.Scan checks a
	// message exactly as dns.Msg.Unpack does without building it.
	sum dns.Summary
	// names interns question names by their wire form: most queries ask
	// for names asked before.
	names map[string]string
	// slab is where new exchanges are taken from, a few at a time.
	slab []DNSExchange
}

// maxInternedNames bounds dnsTable.names.
const maxInternedNames = 1 << 12

func (t *dnsTable) init() {
	t.pending = make(map[dnsKey]int)
	t.names = make(map[string]string)
}

// newExchange returns a zeroed exchange from the slab.
func (t *dnsTable) newExchange() *DNSExchange {
	if len(t.slab) == 0 {
		t.slab = make([]DNSExchange, 64)
	}
	x := &t.slab[0]
	t.slab = t.slab[1:]
	return x
}

// questionName returns the presentation form of the scanned message's
// first question name.
func (t *dnsTable) questionName() string {
	w := t.sum.QuestionWire()
	if n, ok := t.names[string(w)]; ok {
		return n
	}
	n := t.sum.QuestionName()
	if len(t.names) < maxInternedNames {
		t.names[string(w)] = n
	}
	return n
}

func addrString(a [16]byte, v6 bool, port uint16) string {
	var ip netip.Addr
	if v6 {
		ip = netip.AddrFrom16(a)
	} else {
		ip = netip.AddrFrom4([4]byte(a[:4]))
	}
	return netip.AddrPortFrom(ip, port).String()
}

// dnsMessage decodes one DNS message with proto/dns and pairs queries with
// responses by (client, server, ID).
func (a *Analyzer) dnsMessage(fr *frame, ep endpoints, sport, dport uint16, b []byte, transport string) {
	t := &a.dns
	if err := t.sum.Scan(b); err != nil {
		if !fr.snapped {
			a.reject(fr, fmt.Errorf("dns: %w", err))
		}
		return
	}
	m := &t.sum
	k := dnsKey{client: ep.src, server: ep.dst, cport: sport, sport: dport, id: m.ID}
	if m.Response {
		k = dnsKey{client: ep.dst, server: ep.src, cport: dport, sport: sport, id: m.ID}
	}
	i, ok := t.pending[k]
	if !ok || (m.Response && t.pairs[i].ResponseFrame > 0) || (!m.Response && t.pairs[i].QueryFrame > 0) {
		if len(t.pairs) >= MaxDNSPairs {
			return
		}
		x := t.newExchange()
		x.Transport, x.ID = transport, m.ID
		x.Client, x.Server = addrString(k.client, ep.v6, k.cport), addrString(k.server, ep.v6, k.sport)
		if m.Questions > 0 {
			x.Name, x.Type = t.questionName(), m.QType.String()
		}
		i = len(t.pairs)
		t.pairs = append(t.pairs, x)
		t.pending[k] = i
	}
	x := t.pairs[i]
	if m.Response {
		x.ResponseFrame = fr.in.Index + 1
		x.Rcode = m.Rcode.String()
		x.Answers = m.Answers
		if x.QueryFrame > 0 {
			x.RTTMicros = a.now.Sub(x.queryAt).Microseconds()
		}
	} else {
		x.QueryFrame = fr.in.Index + 1
		x.queryAt = a.now
	}
}

// DHCPExchange summarises the DHCP messages of one transaction (same xid
// and client hardware address), in capture order.
type DHCPExchange struct {
	XID      uint32   `json:"xid"`
	Client   string   `json:"client"`
	Messages []string `json:"messages"`
	// Frames number the exchange's frames from 1, as Wireshark does.
	Frames []int  `json:"frames"`
	Yiaddr string `json:"yiaddr,omitempty"`
}

type dhcpKey struct {
	xid    uint32
	chaddr ether.Addr
}

type dhcpTable struct {
	index map[dhcpKey]int
	flows []*DHCPExchange
	msg   dhcp.Message
}

func (t *dhcpTable) init() { t.index = make(map[dhcpKey]int) }

// maxDHCPMessages bounds how many messages one exchange records.
const maxDHCPMessages = 64

// dhcpMessage decodes a DHCP message with proto/dhcp (RFC 2131 section 2)
// and files it under its exchange (xid and client hardware address).
func (a *Analyzer) dhcpMessage(fr *frame, b []byte) {
	t := &a.dhcp
	m := &t.msg
	if err := m.Unmarshal(b); err != nil {
		if !fr.snapped {
			a.reject(fr, fmt.Errorf("dhcp: %w", err))
		}
		return
	}
	k := dhcpKey{xid: m.Xid}
	copy(k.chaddr[:], m.CHAddr[:6])
	i, ok := t.index[k]
	if !ok {
		if len(t.flows) >= MaxDHCPFlows {
			return
		}
		i = len(t.flows)
		t.flows = append(t.flows, &DHCPExchange{XID: k.xid, Client: k.chaddr.String()})
		t.index[k] = i
	}
	x := t.flows[i]
	if len(x.Messages) < maxDHCPMessages {
		name := "BOOTREQUEST"
		if m.Op == dhcp.BootReply {
			name = "BOOTREPLY"
		}
		if typ := m.Type(); typ != 0 {
			name = typ.String()
		}
		x.Messages = append(x.Messages, name)
		x.Frames = append(x.Frames, fr.in.Index+1)
	}
	if m.YIAddr.IsValid() && !m.YIAddr.IsUnspecified() {
		x.Yiaddr = m.YIAddr.String()
	}
}
