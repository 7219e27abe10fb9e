package scenario

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/qdisc"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/stack"
)

// FlowReport is one flow's line of the per-flow table in report.json, in
// the manner of ns-3's FlowMonitor: a flow is one direction of a 5-tuple
// (a TCP connection is two flows, data and acknowledgements). A packet is
// counted sent when the host whose address is its source hands it to a
// link, and received when it reaches the host whose address is its
// destination; its delay is the simulated time in between, across every
// link, switch and router on the way.
type FlowReport struct {
	// Protocol is "tcp", "udp", "icmp", "icmpv6" or the IP protocol
	// number.
	Protocol string `json:"protocol"`
	// Src and Dst are the addresses and ports (address only for ICMP).
	Src string `json:"src"`
	Dst string `json:"dst"`
	// TxPackets and TxBytes count the IP packets (and their bytes, IP
	// header included) sent; RxPackets and RxBytes those received.
	TxPackets uint64 `json:"tx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	// LostPackets counts packets sent and never received, except those
	// sent so late (within the flow's largest delay of the end of the
	// run) that they may still have been on their way.
	LostPackets uint64 `json:"lost_packets"`
	// DelayMeanNs and DelayP99Ns summarise the one-way delays of the
	// packets received; JitterMeanNs is the mean difference between the
	// delays of consecutive received packets (FlowMonitor's jitterSum
	// over rxPackets-1).
	DelayMeanNs  time.Duration `json:"delay_mean_ns"`
	DelayP99Ns   time.Duration `json:"delay_p99_ns"`
	DelayMaxNs   time.Duration `json:"delay_max_ns"`
	JitterMeanNs time.Duration `json:"jitter_mean_ns"`
	// FirstTxNs and LastRxNs are the first send and the last receipt,
	// from the start of the run.
	FirstTxNs time.Duration `json:"first_tx_ns"`
	LastRxNs  time.Duration `json:"last_rx_ns"`
	// ThroughputBps is RxBytes*8 over LastRx-FirstTx.
	ThroughputBps float64 `json:"throughput_bps"`
}

// flowKey is a 5-tuple.
type flowKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
}

type flowStat struct {
	key            flowKey
	tx, rx         uint64
	txB, rxB       uint64
	firstTx        clock.Time
	lastRx         clock.Time
	delaySum       time.Duration
	jitterSum      time.Duration
	lastDelay      time.Duration
	hasDelay       bool
	delays         delays
	pending        uint64 // sent, not yet received
	lateUnreceived uint64 // filled at the end
}

// fewDelays is how many delays a flow keeps inline before it takes a
// histogram of its own.
const fewDelays = 4

// delays records a flow's one-way delays: the first fewDelays inline, then
// in a histogram made on demand. Most flows of a large world (one ping
// each way) never need the 2.7 KiB histogram.
type delays struct {
	few  [fewDelays]time.Duration
	n    int
	hist *qdisc.Histogram
}

// record adds one delay.
func (d *delays) record(v time.Duration) {
	if d.hist == nil && d.n < fewDelays {
		d.few[d.n] = v
		d.n++
		return
	}
	if d.hist == nil {
		d.hist = d.fill(new(qdisc.Histogram))
	}
	d.hist.Record(v)
}

// histogram returns the histogram of the delays recorded: the flow's own,
// or scratch filled with the few delays kept inline.
func (d *delays) histogram(scratch *qdisc.Histogram) *qdisc.Histogram {
	if d.hist != nil {
		return d.hist
	}
	*scratch = qdisc.Histogram{}
	return d.fill(scratch)
}

// fill records the delays kept inline into h and returns h.
func (d *delays) fill(h *qdisc.Histogram) *qdisc.Histogram {
	for _, v := range d.few[:d.n] {
		h.Record(v)
	}
	return h
}

// pendingPkt is a packet sent and not yet received: its send instant and
// flow, and how many more identical packets wait (their instants in
// flowMonitor.extra).
type pendingPkt struct {
	at   clock.Time
	flow *flowStat
	more int32
}

// flowMonitor builds the per-flow table from the frames the hosts' links
// carry, timed on the world's clock.
type flowMonitor struct {
	clk     clock.Clock
	t0      clock.Time
	byKey   map[flowKey]*flowStat
	order   []*flowStat
	pending map[uint64]pendingPkt
	extra   map[uint64][]clock.Time
}

func newFlowMonitor(clk clock.Clock, t0 clock.Time) *flowMonitor {
	return &flowMonitor{clk: clk, t0: t0, byKey: map[flowKey]*flowStat{}, pending: map[uint64]pendingPkt{}, extra: map[uint64][]clock.Time{}}
}

// hostIfaces lists a host's interfaces, whose addresses say which packets
// the host originates and which are for it.
type hostIfaces struct{ ifs []*stack.Interface }

func (h *hostIfaces) local(a netip.Addr) bool {
	for _, i := range h.ifs {
		if i.Address().Addr() == a {
			return true
		}
		if a.Is6() {
			for _, p := range i.IPv6Addresses() {
				if p.Addr() == a {
					return true
				}
			}
		}
	}
	return false
}

// monEndpoint is a host interface's endpoint with the flow monitor
// watching the frames it sends and receives.
type monEndpoint struct {
	inner link.Endpoint
	m     *flowMonitor
	h     *hostIfaces
}

// Send records an IP packet the host originates, then sends the frame.
func (e *monEndpoint) Send(frame []byte) link.Note {
	e.m.frame(e.h, frame, true)
	return e.inner.Send(frame)
}

// SetReceiver sets where arriving frames go, past the monitor.
func (e *monEndpoint) SetReceiver(r link.Receiver) {
	if r == nil {
		e.inner.SetReceiver(nil)
		return
	}
	e.inner.SetReceiver(link.ReceiverFunc(func(frame []byte, n link.Note) {
		e.m.frame(e.h, frame, false)
		r.Receive(frame, n)
	}))
}

// MTU returns the inner endpoint's MTU.
func (e *monEndpoint) MTU() int { return e.inner.MTU() }

// Protocol numbers the table names.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// frame classifies an Ethernet frame and records it as sent (tx) or
// received by host h. Frames that are not IP, IP packets the host neither
// originates (tx) nor is the destination of (rx), and fragments after the
// first are not counted.
func (m *flowMonitor) frame(h *hostIfaces, f []byte, tx bool) {
	if len(f) < 14 {
		return
	}
	var k flowKey
	var l4 []byte
	var id uint16
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800:
		ip := f[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return
		}
		ihl := int(ip[0]&0xf) * 4
		if ihl < 20 || len(ip) < ihl || binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
			return
		}
		k.proto = ip[9]
		k.src = netip.AddrFrom4([4]byte(ip[12:16]))
		k.dst = netip.AddrFrom4([4]byte(ip[16:20]))
		id = binary.BigEndian.Uint16(ip[4:6])
		l4 = ip[ihl:]
	case 0x86dd:
		ip := f[14:]
		if len(ip) < 40 {
			return
		}
		k.proto = ip[6]
		k.src = netip.AddrFrom16([16]byte(ip[8:24]))
		k.dst = netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40:]
	default:
		return
	}
	if (k.proto == protoTCP || k.proto == protoUDP) && len(l4) >= 4 {
		k.sport = binary.BigEndian.Uint16(l4[0:2])
		k.dport = binary.BigEndian.Uint16(l4[2:4])
	}
	if tx && !h.local(k.src) || !tx && !h.local(k.dst) {
		return
	}
	// The packet's identity: its addresses, IP ID and length, and the
	// start of its transport header and payload (sequence numbers,
	// timestamps), so a retransmission is a packet of its own.
	var hdr [8]byte
	hdr[0] = k.proto
	binary.BigEndian.PutUint16(hdr[1:], id)
	binary.BigEndian.PutUint16(hdr[3:], uint16(len(l4)))
	sum := mix64(0, binary.LittleEndian.Uint64(hdr[:]))
	if k.src.Is4() {
		a, b := k.src.As4(), k.dst.As4()
		sum = mix64(sum, uint64(binary.LittleEndian.Uint32(a[:]))<<32|uint64(binary.LittleEndian.Uint32(b[:])))
	} else {
		a, b := k.src.As16(), k.dst.As16()
		for _, x := range [][16]byte{a, b} {
			sum = mix64(sum, binary.LittleEndian.Uint64(x[:8]))
			sum = mix64(sum, binary.LittleEndian.Uint64(x[8:]))
		}
	}
	head := l4[:min(len(l4), 64)]
	for len(head) >= 8 {
		sum = mix64(sum, binary.LittleEndian.Uint64(head))
		head = head[8:]
	}
	var tail [8]byte
	copy(tail[:], head)
	sum = mix64(sum, binary.LittleEndian.Uint64(tail[:])^uint64(len(head))<<56)

	now := m.clk.Now()
	size := uint64(len(f) - 14)
	fs := m.byKey[k]
	if fs == nil {
		fs = &flowStat{key: k, firstTx: now}
		m.byKey[k] = fs
		m.order = append(m.order, fs)
	}
	if tx {
		if fs.tx == 0 {
			fs.firstTx = now
		}
		fs.tx++
		fs.txB += size
		fs.pending++
		p, ok := m.pending[sum]
		if !ok {
			m.pending[sum] = pendingPkt{at: now, flow: fs}
			return
		}
		p.more++
		m.pending[sum] = p
		m.extra[sum] = append(m.extra[sum], now)
		return
	}
	fs.rx++
	fs.rxB += size
	fs.lastRx = now
	p, ok := m.pending[sum]
	if !ok {
		return // a duplicate, or a frame changed on the way
	}
	sent := p.at
	if p.more == 0 {
		delete(m.pending, sum)
	} else {
		ex := m.extra[sum]
		p.at, p.more = ex[0], p.more-1
		m.pending[sum] = p
		if len(ex) == 1 {
			delete(m.extra, sum)
		} else {
			m.extra[sum] = ex[1:]
		}
	}
	p.flow.pending--
	d := now.Sub(sent)
	p.flow.delaySum += d
	p.flow.delays.record(d)
	if p.flow.hasDelay {
		j := d - p.flow.lastDelay
		p.flow.jitterSum += max(j, -j)
	}
	p.flow.lastDelay, p.flow.hasDelay = d, true
}

// report returns the table, flows in the order they were first seen.
func (m *flowMonitor) report(end clock.Time) []FlowReport {
	// Packets still pending that were sent within the flow's largest
	// delay of the end may have been on their way.
	maxDelay := make(map[*flowStat]time.Duration, len(m.order))
	var scratch qdisc.Histogram
	for _, fs := range m.order {
		maxDelay[fs] = fs.delays.histogram(&scratch).Summary().MaxNs
	}
	late := func(at clock.Time, fs *flowStat) bool { return end.Sub(at) < maxDelay[fs] }
	for _, p := range m.pending {
		if late(p.at, p.flow) {
			p.flow.lateUnreceived++
		}
	}
	for sum, ex := range m.extra {
		fs := m.pending[sum].flow
		for _, at := range ex {
			if late(at, fs) {
				fs.lateUnreceived++
			}
		}
	}
	out := make([]FlowReport, 0, len(m.order))
	for _, fs := range m.order {
		k := fs.key
		r := FlowReport{Protocol: protoName(k.proto), TxPackets: fs.tx, TxBytes: fs.txB, RxPackets: fs.rx, RxBytes: fs.rxB,
			LostPackets: fs.pending - fs.lateUnreceived}
		if k.proto == protoTCP || k.proto == protoUDP {
			r.Src = netip.AddrPortFrom(k.src, k.sport).String()
			r.Dst = netip.AddrPortFrom(k.dst, k.dport).String()
		} else {
			r.Src, r.Dst = k.src.String(), k.dst.String()
		}
		if fs.tx > 0 {
			r.FirstTxNs = fs.firstTx.Sub(m.t0)
		}
		if fs.rx > 0 {
			r.LastRxNs = fs.lastRx.Sub(m.t0)
		}
		h := fs.delays.histogram(&scratch)
		if n := h.Summary().Count; n > 0 {
			r.DelayMeanNs = fs.delaySum / time.Duration(n)
			r.DelayP99Ns = h.Quantile(0.99)
			r.DelayMaxNs = maxDelay[fs]
			if n > 1 {
				r.JitterMeanNs = fs.jitterSum / time.Duration(n-1)
			}
		}
		if span := fs.lastRx.Sub(fs.firstTx); fs.rx > 0 && fs.tx > 0 && span > 0 {
			r.ThroughputBps = float64(fs.rxB) * 8 / span.Seconds()
		}
		out = append(out, r)
	}
	return out
}

// mix64 folds v into the hash h (a multiply-xorshift step, as in
// splitmix64): fixed, so a run's matching never depends on a random seed.
func mix64(h, v uint64) uint64 {
	h ^= v
	h *= 0x9e3779b97f4a7c15
	h ^= h >> 32
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>29
}

func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmpv6"
	}
	return strconv.Itoa(int(p))
}
