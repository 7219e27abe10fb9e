package analyze

import (
	"net/netip"
	"strconv"
)

// Conversation is one row of tshark's conversation tables (`-z conv,ip`,
// `-z conv,udp`): the traffic between two endpoints. A is the source of the
// first frame seen, B its destination.
type Conversation struct {
	A string `json:"a"`
	B string `json:"b"`
	// FramesAtoB and BytesAtoB are tshark's "->" columns, FramesBtoA and
	// BytesBtoA its "<-" columns; bytes are frame lengths on the wire.
	FramesAtoB int `json:"frames_a_to_b"`
	BytesAtoB  int `json:"bytes_a_to_b"`
	FramesBtoA int `json:"frames_b_to_a"`
	BytesBtoA  int `json:"bytes_b_to_a"`
	Frames     int `json:"frames"`
	Bytes      int `json:"bytes"`
	// RelStart is the time of its first frame since the capture's first
	// frame, Duration the time from its first to its last frame, in
	// seconds.
	RelStart float64 `json:"rel_start"`
	Duration float64 `json:"duration"`

	// first and last are frame times since the capture's first frame.
	first, last relTime
	a           convEnd
}

// Conversations holds the conversation tables.
type Conversations struct {
	// IP holds IPv4 conversations (tshark's conv,ip): every IPv4 packet,
	// fragments included, outside ICMP errors. UDP holds UDP conversations
	// over IPv4 and IPv6 (conv,udp): a fragmented datagram counts in the
	// frame that completes it.
	IP  []*Conversation `json:"ip"`
	UDP []*Conversation `json:"udp"`
}

// convEnd is one endpoint: an address and, for UDP, a port.
type convEnd struct {
	addr [16]byte
	port uint16
}

// convKey identifies a conversation whatever its direction: the lower
// endpoint first.
type convKey struct {
	lo, hi convEnd
	v6     bool
}

// MaxConversations bounds each conversation table.
const MaxConversations = 1 << 16

// convTable is one conversation table.
type convTable struct {
	idx  map[convKey]*Conversation
	list []*Conversation
	// last is the conversation of the previous lookup: consecutive frames
	// of one flow skip the map.
	lastKey convKey
	last    *Conversation
}

func less(a, b convEnd) bool {
	for i := range a.addr {
		if a.addr[i] != b.addr[i] {
			return a.addr[i] < b.addr[i]
		}
	}
	return a.port < b.port
}

// add counts a frame of n bytes at t from src to dst.
func (ct *convTable) add(src, dst convEnd, v6, withPort bool, n int, t relTime) {
	k := convKey{lo: src, hi: dst, v6: v6}
	if less(dst, src) {
		k.lo, k.hi = dst, src
	}
	c := ct.last
	if c == nil || k != ct.lastKey {
		c = ct.idx[k]
		if c == nil {
			if len(ct.list) >= MaxConversations {
				return
			}
			if ct.idx == nil {
				ct.idx = make(map[convKey]*Conversation)
			}
			c = &Conversation{A: endString(src, v6, withPort), B: endString(dst, v6, withPort), first: t, last: t, a: src}
			ct.idx[k] = c
			ct.list = append(ct.list, c)
		}
		ct.lastKey, ct.last = k, c
	}
	if src == c.a {
		c.FramesAtoB++
		c.BytesAtoB += n
	} else {
		c.FramesBtoA++
		c.BytesBtoA += n
	}
	c.Frames++
	c.Bytes += n
	if c.last.before(t) {
		c.last = t
	}
}

func endString(e convEnd, v6, withPort bool) string {
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16(e.addr)
	} else {
		a = netip.AddrFrom4([4]byte(e.addr[:4]))
	}
	if withPort {
		// As tshark prints them: an IPv6 address without brackets.
		return a.String() + ":" + strconv.Itoa(int(e.port))
	}
	return a.String()
}

// finish fills in the times in seconds.
func (ct *convTable) finish() []*Conversation {
	for _, c := range ct.list {
		// As tshark: both ends relative to the capture's start, in
		// seconds, and the duration their difference (so the rounding of
		// its four decimals is the same).
		c.RelStart = c.first.seconds()
		c.Duration = c.last.seconds() - c.RelStart
		if c.Duration < 0 {
			c.Duration = 0
		}
	}
	if ct.list == nil {
		return []*Conversation{}
	}
	return ct.list
}

// relTime is a time since the capture's first frame, in whole seconds
// and nanoseconds (0 <= nsec < 1e9): no saturation, however far apart
// the timestamps, and seconds kept apart from nanoseconds for precision.
type relTime struct{ sec, nsec int64 }

func (r relTime) before(u relTime) bool { return r.sec < u.sec || (r.sec == u.sec && r.nsec < u.nsec) }

// seconds returns r in seconds as tshark computes them (nstime_to_sec).
func (r relTime) seconds() float64 { return float64(r.sec) + float64(r.nsec)/1e9 }

// ipConv counts an IPv4 packet in the conv,ip table.
func (a *Analyzer) ipConv(fr *frame, ep *endpoints) {
	var s, d convEnd
	copy(s.addr[:4], ep.src[:4])
	copy(d.addr[:4], ep.dst[:4])
	a.convIP.add(s, d, false, false, fr.in.OrigLen, a.sinceStart(fr))
}

// udpConv counts a UDP datagram in the conv,udp table.
func (a *Analyzer) udpConv(fr *frame, ep endpoints, sport, dport uint16) {
	s, d := convEnd{addr: ep.src, port: sport}, convEnd{addr: ep.dst, port: dport}
	a.convUDP.add(s, d, ep.v6, true, fr.in.OrigLen, a.sinceStart(fr))
}

// sinceStart returns the frame's time since the capture's first frame,
// computed once per frame.
func (a *Analyzer) sinceStart(fr *frame) relTime {
	if !fr.haveRel {
		t, s := fr.in.Time, a.res.First.Time
		r := relTime{sec: t.Unix() - s.Unix(), nsec: int64(t.Nanosecond() - s.Nanosecond())}
		if r.nsec < 0 {
			r.sec, r.nsec = r.sec-1, r.nsec+1e9
		}
		fr.rel, fr.haveRel = r, true
	}
	return fr.rel
}
