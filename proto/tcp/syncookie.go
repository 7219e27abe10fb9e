package tcp

import (
	"encoding/binary"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// SYN cookies (RFC 4987 section 3.6), as Linux makes them
// (net/ipv4/syncookies.c). A listener keeps at most its backlog of
// connections in SYN-RECEIVED. When that half-open queue is full, a SYN is
// answered with a SYN-ACK whose initial sequence number is a cookie and no
// state is kept:
//
//	cookie = H1(4-tuple) + peer ISN + count<<24 + (H2(4-tuple, count) + mssIndex) mod 2^24
//
// where count is a 64-second time counter and H1, H2 are SipHash-2-4 under
// a key derived from the stack's ISN secret. An ACK that arrives for no
// connection, while the listener's queue overflowed in the last two
// counter periods, is checked: ACK-1 minus H1 and the peer ISN (SEG.SEQ-1)
// gives a count no older than one period and an MSS index below the
// table's size, or the ACK is answered with a reset as before. A valid
// cookie makes the connection, established at once, with the MSS the
// table keeps (the largest entry not above the peer's).
//
// Window scaling and SACK need more bits than the sequence number has:
// as Linux does (cookie_init_timestamp), when the SYN carried timestamps
// the SYN-ACK's TSval has its low 6 bits replaced by the peer's window
// shift (4 bits, 15 for none), SACK-permitted (1 bit) and ECN (1 bit: the
// SYN was an ECN-setup SYN and this stack does ECN, so the SYN-ACK carries
// ECE, RFC 3168 section 6.1.1), and the ACK's TSecr brings them back.
// Without timestamps the connection has none of the four.
//
// A full accept queue (connections established and not yet accepted, also
// at most the backlog) drops the SYN, or the cookie's ACK, silently, as
// Linux does: the peer retries.

const (
	cookieBits   = 24
	cookieMask   = 1<<cookieBits - 1
	cookiePeriod = 64 * time.Second // Linux counts minutes (tcp_cookie_time)
	cookieMaxAge = 2                // MAX_SYNCOOKIE_AGE: this period or the last

	tsOptBits      = 6 // TSBITS
	tsOptMask      = 1<<tsOptBits - 1
	tsOptWScaleNo  = 0xf // TS_OPT_WSCALE_MASK: no window scaling
	tsOptSACK      = 1 << 4
	tsOptECN       = 1 << 5
	cookieHashTag1 = 1
	cookieHashTag2 = 2
	cookieTSTag    = 3
)

// cookieMSS4 and cookieMSS6 are the MSS values a cookie can carry, Linux's
// msstab and msstab for IPv6.
var (
	cookieMSS4 = [4]uint16{536, 1300, 1440, 1460}
	cookieMSS6 = [4]uint16{1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60}
)

// synCookies is a stack's SYN cookie state.
type synCookies struct {
	off   bool
	keyed bool
	key   isnKey
}

// SetSYNCookies turns SYN cookies on (the default, as Linux's
// tcp_syncookies=1) or off. Off, a SYN that finds a listener's half-open
// queue full is dropped and counted in StackStats.BacklogDrops. The
// counters are in StackStats.
func (s *Stack) SetSYNCookies(on bool) { s.cookies.off = !on }

// cookieKey returns the cookie secret, derived from the ISN key so that
// cookies draw nothing from the stack's random source.
func (s *Stack) cookieKey() isnKey {
	if !s.cookies.keyed {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], 0x73796e636f6f6b69) // "syncooki"
		s.cookies.key = isnKey{siphash(s.isn.k0, s.isn.k1, b[:]), siphash(s.isn.k1, s.isn.k0, b[:])}
		s.cookies.keyed = true
	}
	return s.cookies.key
}

// cookieHash is SipHash of the four-tuple, a tag and a counter.
func (s *Stack) cookieHash(k connKey, tag byte, count uint32) uint32 {
	var b [41]byte
	l16, r16 := k.laddr.As16(), k.raddr.As16()
	copy(b[0:], l16[:])
	copy(b[16:], r16[:])
	binary.BigEndian.PutUint16(b[32:], k.lport)
	binary.BigEndian.PutUint16(b[34:], k.rport)
	binary.BigEndian.PutUint32(b[36:], count)
	b[40] = tag
	key := s.cookieKey()
	return uint32(siphash(key.k0, key.k1, b[:]))
}

// cookieCount is the time counter at now.
func cookieCount(now clock.Time) uint32 {
	return uint32(time.Duration(now) / cookiePeriod)
}

// makeCookie returns the cookie ISN for the SYN with sequence number irs
// (secure_tcp_syn_cookie).
func (s *Stack) makeCookie(k connKey, irs uint32, mssIdx uint32) uint32 {
	count := cookieCount(s.clk.Now())
	return s.cookieHash(k, cookieHashTag1, 0) + irs + count<<cookieBits +
		(s.cookieHash(k, cookieHashTag2, count)+mssIdx)&cookieMask
}

// checkCookie returns the MSS index cookie carries if it is valid for the
// four-tuple and peer ISN irs (check_tcp_syn_cookie), or -1.
func (s *Stack) checkCookie(k connKey, irs, cookie uint32, table int) int {
	count := cookieCount(s.clk.Now())
	cookie -= s.cookieHash(k, cookieHashTag1, 0) + irs
	diff := (count - cookie>>cookieBits) & (0xffffffff >> cookieBits)
	if diff >= cookieMaxAge {
		return -1
	}
	idx := (cookie - s.cookieHash(k, cookieHashTag2, count-diff)) & cookieMask
	if idx >= uint32(table) {
		return -1
	}
	return int(idx)
}

// cookieTSOffset is the timestamp offset of a connection made from a
// cookie, a hash of its four-tuple (Linux's secure_tcp_ts_off), so the
// SYN-ACK and the connection agree without state.
func (s *Stack) cookieTSOffset(k connKey) uint32 { return s.cookieHash(k, cookieTSTag, 0) }

// cookieTable returns the MSS table for the connection's family.
func cookieTable(k connKey) []uint16 {
	if k.raddr.Is4() {
		return cookieMSS4[:]
	}
	return cookieMSS6[:]
}

// recentOverflow reports whether l's half-open queue overflowed within the
// cookies' lifetime (tcp_synq_no_recent_overflow): only then is an ACK for
// no connection checked for a cookie.
func (l *Listener) recentOverflow() bool {
	return l.overflowed && l.s.clk.Now().Sub(l.lastOverflow) < cookieMaxAge*cookiePeriod
}

// sendCookie answers the SYN h with a cookie SYN-ACK (cookie_v4_init_sequence).
func (l *Listener) sendCookie(k connKey, h Header, o *Options) {
	s := l.s
	cfg := &s.cfg
	l.overflowed, l.lastOverflow = true, s.clk.Now()
	table := cookieTable(k)
	peer := uint16(536)
	if !k.raddr.Is4() {
		peer = 1220
	}
	if o.HasMSS && o.MSS > 0 {
		peer = o.MSS
	}
	idx := uint32(0)
	for i := len(table) - 1; i > 0; i-- {
		if peer >= table[i] {
			idx = uint32(i)
			break
		}
	}
	ipHdr := 20
	if !k.raddr.Is4() {
		ipHdr = 40
	}
	rmss := min(max(s.net.PathMTU(k.raddr), ipHdr+HeaderLen+64)-ipHdr-HeaderLen, 65535)
	so := &s.sendOpts
	*so = Options{HasMSS: true, MSS: uint16(rmss)}
	synFlags := uint8(FlagSYN | FlagACK)
	if o.HasTS && !cfg.DisableTimestamps {
		// cookie_init_timestamp: the options the cookie cannot hold ride
		// in TSval's low bits, and TSval never runs ahead of the clock.
		opts := uint32(tsOptWScaleNo)
		if o.HasWScale && !cfg.DisableWindowScale {
			opts = uint32(min(o.WScale, 14))
			so.HasWScale, so.WScale = true, rcvShiftFor(cfg)
		}
		if o.SACKPermitted && !cfg.DisableSACK {
			opts |= tsOptSACK
			so.SACKPermitted = true
		}
		if h.Flags()&(FlagECE|FlagCWR) == FlagECE|FlagCWR && s.ecnCapable() {
			// Linux's tcp_conn_request keeps ecn_ok for a cookie only
			// with timestamps, where TS_OPT_ECN can carry it.
			opts |= tsOptECN
			synFlags |= FlagECE
		}
		now := uint32(int64(s.clk.Now())/int64(time.Millisecond)) + s.cookieTSOffset(k)
		ts := now&^tsOptMask | opts
		if int32(ts-now) > 0 {
			ts -= tsOptMask + 1
		}
		so.HasTS, so.TSVal, so.TSEcr = true, ts, o.TSVal
	}
	f := Fields{SrcPort: k.lport, DstPort: k.rport, Seq: s.makeCookie(k, h.Seq(), idx),
		Ack: h.Seq() + 1, Flags: synFlags, Window: uint16(min(cfg.RecvBuffer, 65535))}
	s.stats.SYNCookiesSent++
	s.send(k, f, so, nil)
}

// rcvShiftFor is the window shift a connection of cfg offers (Conn.init).
func rcvShiftFor(cfg *Config) uint8 {
	var sh uint8
	for sh < 14 && cfg.RecvBuffer>>sh > 65535 {
		sh++
	}
	return sh
}

// cookieAck makes a connection from the ACK h if it returns a valid cookie
// (cookie_v4_check) and reports whether it took the segment: a valid
// cookie that finds the accept queue full is dropped, not reset.
func (l *Listener) cookieAck(k connKey, h Header, o *Options) bool {
	s := l.s
	if s.cookies.off || !l.recentOverflow() || h.Flags()&(FlagSYN|FlagRST) != 0 {
		return false
	}
	irs := h.Seq() - 1
	table := cookieTable(k)
	idx := s.checkCookie(k, irs, h.Ack()-1, len(table))
	if idx < 0 {
		s.stats.SYNCookiesFailed++
		return false
	}
	if len(l.queue) >= l.backlog {
		s.stats.BacklogDrops++
		return true
	}
	peer := Options{HasMSS: true, MSS: table[idx]}
	var tsOff uint32
	ecn := false
	if o.HasTS && o.TSEcr != 0 && !s.cfg.DisableTimestamps {
		// cookie_timestamp_decode: the options ride in TSecr's low bits.
		opts := o.TSEcr & tsOptMask
		peer.HasTS, peer.TSVal = true, o.TSVal
		if ws := uint8(opts & 0xf); ws != tsOptWScaleNo {
			if ws > 14 {
				s.stats.SYNCookiesFailed++
				return false
			}
			peer.HasWScale, peer.WScale = true, ws
		}
		peer.SACKPermitted = opts&tsOptSACK != 0
		ecn = opts&tsOptECN != 0
		tsOff = s.cookieTSOffset(k)
	}
	s.stats.SYNCookiesValid++
	c := s.newConn(k, nil)
	c.listener = l
	l.pending++
	// The state passiveOpen and sendSYN made for the cookie's SYN-ACK.
	c.state = StateSynReceived
	c.irs = seqnum(irs)
	c.rcvNxt = c.irs + 1
	c.negotiate(&peer)
	if ecn {
		// cookie_ecn_ok: the SYN-ACK answered an ECN-setup SYN with ECE.
		c.ecnSyn(FlagECE|FlagCWR, true)
	}
	if c.tsOK {
		c.tsOffset = tsOff
		c.tsRecent = o.TSVal
	}
	c.sndWl1 = c.irs
	c.iss = seqnum(h.Ack() - 1)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	c.bufStart = c.iss + 1
	c.sndWl2 = c.iss
	c.recover = c.iss
	c.sndSml = c.iss
	c.rcvAdv = c.rcvNxt.add(min(s.cfg.RecvBuffer, 65535))
	c.lastAckSent = c.rcvNxt
	c.stats.SegmentsSent++ // the cookie SYN-ACK
	c.input(h, o)
	if c.state == StateSynReceived {
		// The ACK did not complete the handshake: no SYN-ACK is
		// outstanding to retransmit, so nothing is kept.
		c.destroy(nil, false)
	}
	c.flush()
	return true
}
