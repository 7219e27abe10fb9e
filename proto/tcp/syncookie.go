package tcp

import (
	"encoding/binary"
	"time"
)

// SYN cookies (RFC 4987 section 3.6): when a listener's backlog is full of
// half-open connections, a SYN is answered with a SYN-ACK whose initial
// sequence number encodes what the connection needs (a time counter, the
// peer's MSS) under a keyed hash, and no state is kept. An ACK that returns
// a valid cookie creates the connection then. Such a connection has no
// window scaling, SACK or timestamps (the SYN-ACK offers none), as with
// Linux cookies without timestamps. Off unless EnableSYNCookies is called,
// so a simulation that fills a backlog still sees its SYNs dropped.

// cookiePeriod is the time counter's tick; a cookie is valid during the
// tick it was made in and the next (64 s to 128 s, like Linux's).
const cookiePeriod = 64 * time.Second

// cookieMSS are the peer MSS values a cookie can carry (3 bits), largest
// not above the peer's offer is chosen.
var cookieMSS = [8]uint16{216, 536, 1220, 1360, 1400, 1440, 1460, 8960}

// synCookies is a stack's cookie state.
type synCookies struct {
	enabled  bool
	key      isnKey
	lastSent time.Duration // clock time of the last cookie sent, for the recent-overflow check
	sentAny  bool
	sent     uint64
	accepted uint64
}

// EnableSYNCookies makes listeners answer SYNs with SYN cookies (RFC 4987
// section 3.6) instead of dropping them while their backlog is full of
// half-open connections, so that a SYN flood does not lock legitimate
// clients out. Connections completed from a cookie have no window scaling,
// SACK or timestamps. The cookie key is derived from the ISN key: enabling
// cookies draws no randomness.
func (s *Stack) EnableSYNCookies() {
	s.cookies.enabled = true
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], 0x73796e636f6f6b69) // "syncooki"
	s.cookies.key = isnKey{siphash(s.isn.k0, s.isn.k1, b[:]), siphash(s.isn.k1, s.isn.k0, b[:])}
}

// SYNCookieStats returns how many SYN cookies were sent and how many came
// back valid and made a connection.
func (s *Stack) SYNCookieStats() (sent, accepted uint64) {
	return s.cookies.sent, s.cookies.accepted
}

// cookieTick is the time counter now.
func (s *Stack) cookieTick() uint32 {
	return uint32(time.Duration(s.clk.Now()) / cookiePeriod)
}

// cookieHash is the keyed hash of the four-tuple, tick and peer ISN, 24 bits.
func (s *Stack) cookieHash(k connKey, tick, irs uint32) uint32 {
	var b [44]byte
	l16, r16 := k.laddr.As16(), k.raddr.As16()
	copy(b[0:], l16[:])
	copy(b[16:], r16[:])
	binary.BigEndian.PutUint16(b[32:], k.lport)
	binary.BigEndian.PutUint16(b[34:], k.rport)
	binary.BigEndian.PutUint32(b[36:], tick)
	binary.BigEndian.PutUint32(b[40:], irs)
	return uint32(siphash(s.cookies.key.k0, s.cookies.key.k1, b[:])) & 0xffffff
}

// makeCookie returns the ISN of a cookie SYN-ACK: tick mod 32 in the top 5
// bits, the MSS index in the next 3, the hash in the low 24.
func (s *Stack) makeCookie(k connKey, irs uint32, mssIdx int) uint32 {
	t := s.cookieTick()
	return (t&31)<<27 | uint32(mssIdx)<<24 | s.cookieHash(k, t, irs)
}

// checkCookie validates cookie (the ACK number minus one) against the
// four-tuple and the peer's ISN, and returns the MSS it carries.
func (s *Stack) checkCookie(k connKey, irs, cookie uint32) (uint16, bool) {
	now := s.cookieTick()
	for _, t := range []uint32{now, now - 1} {
		if t&31 == cookie>>27 && s.cookieHash(k, t, irs) == cookie&0xffffff {
			return cookieMSS[(cookie>>24)&7], true
		}
	}
	return 0, false
}

// sendCookie answers the SYN h for listener l with a cookie SYN-ACK.
func (l *Listener) sendCookie(k connKey, h Header, o *Options) {
	s := l.s
	peer := uint16(536)
	if !k.raddr.Is4() {
		peer = 1220
	}
	if o.HasMSS && o.MSS > 0 {
		peer = o.MSS
	}
	idx := 0
	for i, m := range cookieMSS {
		if m <= peer {
			idx = i
		}
	}
	ipHdr := 20
	if !k.raddr.Is4() {
		ipHdr = 40
	}
	rmss := min(max(s.net.PathMTU(k.raddr), ipHdr+HeaderLen+64)-ipHdr-HeaderLen, 65535)
	f := Fields{SrcPort: k.lport, DstPort: k.rport, Seq: s.makeCookie(k, h.Seq(), idx),
		Ack: h.Seq() + 1, Flags: FlagSYN | FlagACK, Window: uint16(min(s.cfg.RecvBuffer, 65535))}
	s.sendOpts = Options{HasMSS: true, MSS: uint16(rmss)}
	s.cookies.sent++
	s.cookies.sentAny = true
	s.cookies.lastSent = time.Duration(s.clk.Now())
	s.send(k, f, &s.sendOpts, nil)
}

// cookieAccept completes a connection from the ACK h if it returns a valid
// cookie, a cookie was sent recently and the accept queue has room; it
// reports whether it did.
func (l *Listener) cookieAccept(k connKey, h Header, o *Options) bool {
	s := l.s
	fl := h.Flags()
	if fl&(FlagSYN|FlagRST) != 0 || !s.cookies.sentAny || len(l.queue) >= l.backlog ||
		time.Duration(s.clk.Now())-s.cookies.lastSent > 2*cookiePeriod {
		return false
	}
	irs := h.Seq() - 1
	mss, ok := s.checkCookie(k, irs, h.Ack()-1)
	if !ok {
		return false
	}
	s.cookies.accepted++
	c := s.newConn(k, nil)
	c.listener = l
	l.pending++
	// The state passiveOpen and sendSYN would have made, from what the
	// cookie kept: no window scaling, SACK or timestamps were offered.
	c.state = StateSynReceived
	c.irs = seqnum(irs)
	c.rcvNxt = c.irs + 1
	c.negotiate(&Options{HasMSS: true, MSS: mss})
	c.sndWnd = uint32(h.Window())
	c.maxSndWnd = c.sndWnd
	c.sndWl1 = c.irs
	c.iss = seqnum(h.Ack() - 1)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	c.bufStart = c.iss + 1
	c.sndWl2 = c.iss
	c.recover = c.iss
	c.rcvAdv = c.rcvNxt.add(min(s.cfg.RecvBuffer, 65535))
	c.lastRecv = s.clk.Now()
	c.stats.SegmentsSent++ // the cookie SYN-ACK
	c.input(h, o)
	c.flush()
	return true
}
