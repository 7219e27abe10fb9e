// Package analyze decodes every frame of a capture with simnet's own
// protocol parsers (proto/ether, proto/arp, proto/ipv4, proto/icmp,
// proto/udp, proto/tcp, proto/dns, proto/dhcp) and summarises it:
// per-protocol frame counts, TCP connections, DNS query/response pairs,
// DHCP exchanges, and every frame a parser rejected with the parser's
// error. IPv6 is walked here, leniently, over its header chain (RFC 8200
// section 4) and counted as tshark counts ipv6, icmpv6 and ipv6.fraghdr.
//
// Counts follow tshark's convention: a protocol counts once for each frame
// in which it is present, as `tshark -r FILE -Y PROTO` would count, and a
// protocol whose header is malformed still counts (the frame is also listed
// as rejected). To come close to tshark the analysis:
//   - reassembles IPv4 (and IPv6) fragments, so the transport and
//     application protocols of a fragmented datagram count in the frame that
//     completes it;
//   - follows TCP streams in sequence order, so a DNS message over TCP and
//     an HTTP/1.x message (header, then a Content-Length or chunked body)
//     count in the frame that completes them;
//   - decodes the captured bytes of frames cut by the snapshot length or
//     sent with TCP segmentation offload (IPv4 total length 0), without
//     reassembly;
//   - counts the IP header and transport header quoted in ICMP errors;
//   - stops at a malformed IPv4 option, as tshark does.
//
// Known differences from tshark (tests/replay_counts_test.go keeps the
// exact list for the shared captures):
//   - tshark sometimes dissects a retransmitted segment again and counts
//     HTTP in it; retransmitted bytes are never fed to a stream twice here.
//   - HTTP bodies delimited by the connection close count at the header;
//     segments outside any message ("continuation") do not count.
//   - Of the tunnels, only L2TPv2 data messages are followed (not GRE,
//     IP-in-IP or others).
//   - IPv6 is walked only far enough to find its fragment header, ICMPv6,
//     UDP, TCP and DNS; ICMPv6 and IPv6 checksums are not verified.
//   - tshark's heuristic dissectors are imitated only for HTTP ("payload
//     starts with a request or status line" on any port); DNS is port 53,
//     DHCP ports 67 and 68.
//
// TCP retransmissions are segments whose sequence space was all sent
// before, close to (not the same as) tshark's tcp.analysis flags.
package analyze

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/replay"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/replay/jsontime"
	"github.com/simnet-go/simnet/replay/tcpexpert"
)

// Counts holds, for each protocol, the number of frames in which it is
// present.
type Counts struct {
	Frames        int `json:"frames"`
	Ethernet      int `json:"ethernet"`
	ARP           int `json:"arp"`
	IPv4          int `json:"ipv4"`
	IPv4Fragments int `json:"ipv4_fragments"`
	ICMP          int `json:"icmp"`
	UDP           int `json:"udp"`
	TCP           int `json:"tcp"`
	DHCP          int `json:"dhcp"`
	DNS           int `json:"dns"`
	HTTP          int `json:"http"`
	IPv6          int `json:"ipv6"`
	ICMPv6        int `json:"icmpv6"`
	// IPv6Fragments counts frames with an IPv6 Fragment header, as
	// tshark's ipv6.fraghdr does.
	IPv6Fragments int `json:"ipv6_fragments"`
}

// CountNames lists the keys of Counts in output order.
var CountNames = []string{"frames", "ethernet", "arp", "ipv4", "ipv4_fragments", "icmp", "udp", "tcp", "dhcp", "dns", "http", "ipv6", "icmpv6", "ipv6_fragments"}

// Get returns the count named name (one of CountNames), or -1.
func (c *Counts) Get(name string) int {
	switch name {
	case "frames":
		return c.Frames
	case "ethernet":
		return c.Ethernet
	case "arp":
		return c.ARP
	case "ipv4":
		return c.IPv4
	case "ipv4_fragments":
		return c.IPv4Fragments
	case "icmp":
		return c.ICMP
	case "udp":
		return c.UDP
	case "tcp":
		return c.TCP
	case "dhcp":
		return c.DHCP
	case "dns":
		return c.DNS
	case "http":
		return c.HTTP
	case "ipv6":
		return c.IPv6
	case "icmpv6":
		return c.ICMPv6
	case "ipv6_fragments":
		return c.IPv6Fragments
	}
	return -1
}

// Rejected is a frame one of our parsers refused, with the parser's error.
type Rejected struct {
	// Frame is the frame's number, counted from 1 as Wireshark does.
	Frame  int    `json:"frame"`
	Reason string `json:"reason"`
}

// Checksums counts transport and network checksums that did not verify.
// Captures taken on a host with checksum offload have many; they are not
// rejections.
type Checksums struct {
	IPv4 int `json:"ipv4"`
	ICMP int `json:"icmp"`
	UDP  int `json:"udp"`
	TCP  int `json:"tcp"`
}

// Flows gathers the per-flow summaries.
type Flows struct {
	TCP  []*TCPConn      `json:"tcp"`
	DNS  []*DNSExchange  `json:"dns"`
	DHCP []*DHCPExchange `json:"dhcp"`
}

// Result is the outcome of an analysis.
type Result struct {
	Counts Counts `json:"counts"`
	Flows  Flows  `json:"flows"`
	// Rejected lists the first MaxRejected rejected frames; RejectedTotal
	// counts them all.
	Rejected      []Rejected `json:"rejected"`
	RejectedTotal int        `json:"rejected_total"`
	// Snapped counts frames captured shorter than they were on the wire.
	Snapped      int       `json:"snapped"`
	BadChecksums Checksums `json:"bad_checksums"`
	// TCPAnalysis counts the frames Wireshark's SEQ/ACK analysis would
	// flag, by tcp.analysis field name (retransmission, duplicate_ack,
	// ...): see replay/tcpexpert.
	TCPAnalysis map[string]int `json:"tcp_analysis"`
	// Conversations are tshark's IPv4 and UDP conversation tables.
	Conversations Conversations `json:"conversations"`
	// First and Last are the timestamps of the first and last frames.
	// They are written in RFC 3339 form for any year (jsontime).
	First jsontime.Time `json:"first"`
	Last  jsontime.Time `json:"last"`
	// Warnings holds non-fatal problems with the file itself (truncation).
	Warnings []string `json:"warnings"`
}

// Limits on the state an analysis keeps, so that hostile or huge captures
// stay within bounded memory.
const (
	MaxRejected  = 10000 // entries in Result.Rejected
	MaxFlows     = 1 << 16
	MaxDNSPairs  = 1 << 16
	MaxDHCPFlows = 1 << 12
)

// protocol bits set while decoding one frame.
const (
	pEther uint16 = 1 << iota
	pARP
	pIPv4
	pFrag
	pICMP
	pUDP
	pTCP
	pDHCP
	pDNS
	pHTTP
	pIPv6
	pICMPv6
	pFrag6
)

// typeRARP is the EtherType of Reverse ARP (RFC 903), which tshark counts
// as arp.
const typeRARP ether.EtherType = 0x8035

// frame is the per-frame decoding context.
type frame struct {
	in       *input.Frame
	seen     uint16
	rejected bool
	snapped  bool
	nest     int // tunnels entered (L2TP)
	// rel is the frame's time since the capture's first frame, once
	// haveRel is set.
	rel     relTime
	haveRel bool
}

// Analyzer accumulates the analysis of a capture frame by frame. The zero
// value is not ready; use New.
type Analyzer struct {
	res   Result
	reasm reassembler
	tcp   tcpTable
	dns   dnsTable
	dhcp  dhcpTable
	// clk is the capture's timeline when driven by Run; without it the
	// analysis follows the frame timestamps itself (never backwards).
	clk clock.Clock
	now clock.Time
	// buffered is the capacity of all stream buffers (see appendBuf).
	buffered int
	// scratch and scratchQuoted hold IPv4 packets whose total length had
	// to be fixed up (see ipv4Lenient).
	scratch, scratchQuoted []byte
	// expert flags TCP segments as Wireshark's SEQ/ACK analysis does.
	expert       *tcpexpert.Analyzer
	expertCounts tcpexpert.Counts
	// convIP and convUDP are the conversation tables.
	convIP, convUDP convTable
}

// New returns an empty Analyzer.
func New() *Analyzer {
	a := &Analyzer{expert: tcpexpert.New()}
	a.res.Rejected = []Rejected{}
	a.res.Warnings = []string{}
	a.reasm.init()
	a.tcp.init()
	a.dns.init()
	a.dhcp.init()
	return a
}

// Protocols is the set of protocols found in one frame.
type Protocols uint16

// Has reports whether the protocol named name (one of CountNames other
// than "frames") is in the set.
func (p Protocols) Has(name string) bool {
	for i, n := range CountNames[1:] {
		if n == name {
			return p&(1<<i) != 0
		}
	}
	return false
}

// Frame analyses one normalised frame and returns the protocols found in
// it. linkErr is the error Reader.Next returned with it (a
// *input.FrameError) or nil.
func (a *Analyzer) Frame(f *input.Frame, linkErr error) Protocols {
	fr := frame{in: f, snapped: f.CapLen < f.OrigLen}
	if a.clk != nil {
		a.now = a.clk.Now()
	} else if t := clock.FromTime(f.Time); t > a.now {
		a.now = t
	}
	if fr.snapped {
		a.res.Snapped++
	}
	if a.res.Counts.Frames == 0 {
		a.res.First = jsontime.Of(f.Time)
	}
	a.res.Last = jsontime.Of(f.Time)
	if f.Ether != nil {
		fr.seen |= pEther
	}
	if linkErr != nil {
		var fe *input.FrameError
		if errors.As(linkErr, &fe) {
			linkErr = fe.Err
		}
		a.reject(&fr, linkErr)
	} else {
		switch f.Proto {
		case ether.TypeARP, typeRARP:
			a.arp(&fr, f.Network)
		case ether.TypeIPv4:
			a.expertCounts.Add(a.expert.Add(f))
			a.ipv4(&fr, f.Network, false)
		case ether.TypeIPv6:
			a.expertCounts.Add(a.expert.Add(f))
			a.ipv6(&fr, f.Network, false)
		}
	}
	a.count(fr.seen)
	return Protocols(fr.seen)
}

func (a *Analyzer) count(s uint16) {
	c := &a.res.Counts
	c.Frames++
	add := func(bit uint16, n *int) {
		if s&bit != 0 {
			*n++
		}
	}
	add(pEther, &c.Ethernet)
	add(pARP, &c.ARP)
	add(pIPv4, &c.IPv4)
	add(pFrag, &c.IPv4Fragments)
	add(pICMP, &c.ICMP)
	add(pUDP, &c.UDP)
	add(pTCP, &c.TCP)
	add(pDHCP, &c.DHCP)
	add(pDNS, &c.DNS)
	add(pHTTP, &c.HTTP)
	add(pIPv6, &c.IPv6)
	add(pICMPv6, &c.ICMPv6)
	add(pFrag6, &c.IPv6Fragments)
}

// reject records the first parser error of a frame.
func (a *Analyzer) reject(fr *frame, err error) {
	if fr.rejected {
		return
	}
	fr.rejected = true
	a.res.RejectedTotal++
	if len(a.res.Rejected) < MaxRejected {
		a.res.Rejected = append(a.res.Rejected, Rejected{Frame: fr.in.Index + 1, Reason: err.Error()})
	}
}

// rejectWith is reject for an error that is costly to build: mk runs only
// when the rejection is among the MaxRejected the result lists.
func (a *Analyzer) rejectWith(fr *frame, mk func() error) {
	if fr.rejected {
		return
	}
	if len(a.res.Rejected) < MaxRejected {
		a.reject(fr, mk())
		return
	}
	fr.rejected = true
	a.res.RejectedTotal++
}

// Warn records a problem with the capture file.
func (a *Analyzer) Warn(msg string) { a.res.Warnings = append(a.res.Warnings, msg) }

// Result finishes the analysis and returns it. The Analyzer must not be
// used afterwards.
func (a *Analyzer) Result() *Result {
	a.res.Flows.TCP = a.tcp.conns
	if a.res.Flows.TCP == nil {
		a.res.Flows.TCP = []*TCPConn{}
	}
	a.res.Flows.DNS = a.dns.pairs
	if a.res.Flows.DNS == nil {
		a.res.Flows.DNS = []*DNSExchange{}
	}
	a.res.Flows.DHCP = a.dhcp.flows
	if a.res.Flows.DHCP == nil {
		a.res.Flows.DHCP = []*DHCPExchange{}
	}
	a.res.TCPAnalysis = a.expertCounts.Map()
	a.res.Conversations = Conversations{IP: a.convIP.finish(), UDP: a.convUDP.finish()}
	return &a.res
}

// Run analyses every frame r delivers, on the capture's timeline (see
// replay.Timeline). A *input.TruncatedError ends the run: the result holds
// what was read before the break, with a warning, and the error is returned
// too. Other read errors are returned with a nil result.
//
// When GOMAXPROCS allows more than one goroutine to run at once, r decodes
// frames ahead on a goroutine of its own (input.Reader.ReadAhead) while
// this one analyses them; the frames and so the result are the same.
func Run(r *input.Reader) (*Result, error) {
	return run(r, runtime.GOMAXPROCS(0) > 1)
}

// run is Run, with read-ahead or without.
func run(r *input.Reader, ahead bool) (*Result, error) {
	if ahead {
		r.ReadAhead()
	}
	tl := replay.NewTimeline(r)
	a := New()
	a.clk = tl.Clock()
	err := tl.Run(func(f *input.Frame, err error) { a.Frame(f, err) })
	if err == nil {
		return a.Result(), nil
	}
	var te *input.TruncatedError
	if errors.As(err, &te) {
		a.Warn(te.Error())
		return a.Result(), err
	}
	return nil, fmt.Errorf("analyze frame %d: %w", r.Frames(), err)
}

// RunFile opens the capture at path and analyses it; see Run.
func RunFile(path string) (*Result, error) {
	r, err := input.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	return Run(r)
}
