// Package tcp is simnet's TCP (RFC 9293): the connection state machine with
// simultaneous open and close, TIME-WAIT, RST handling hardened per RFC
// 5961, MSS from the path MTU, retransmission timeouts per RFC 6298,
// NewReno (RFC 5681, RFC 6582), CUBIC (RFC 9438, with HyStart++ of RFC
// 9406) and BBR v3 (draft-ietf-ccwg-bbr, paced on the connection's clock;
// bbr.go) congestion control, ECN (RFC 3168, opt-in),
// window scaling, timestamps with RTTM and PAWS (RFC 7323), SACK (RFC 2018)
// with SACK-based loss recovery (RFC 6675), Nagle, delayed ACKs, persist
// and keep-alive timers, a bounded out-of-order queue and a listen backlog
// with SYN cookies when its half-open queue is full (RFC 4987 section 3.6).
//
// The package runs on its driver's loop: it never starts goroutines, reads
// the wall clock or does I/O. Segments arrive through Stack.HandleIP, time
// comes from a clock.Clock and randomness (ISN key, ephemeral ports) from
// the *rand.Rand given to New. Applications use the non-blocking socket API
// (Listen, Accept, Connect, Read, Write, Shutdown, Close) and are told about
// readiness through the Events interface; netconn wraps it into net.Conn.
//
// # Socket API
//
// A host creates one Stack with New and registers it with its IP layer
// (host.RegisterProtocol(tcp.ProtocolNumber, s)). Everything else runs on
// the driver's loop and never blocks:
//
//	l, _ := s.Listen(netip.MustParseAddrPort("0.0.0.0:80"), 128, func(l *tcp.Listener) {
//		for {
//			c, err := l.Accept(handler) // handler implements tcp.Events
//			if err != nil {
//				return // tcp.ErrWouldBlock: queue drained
//			}
//			_ = c
//		}
//	})
//	c, _ := s.Connect(netip.AddrPort{}, remote, handler) // OnEstablished follows
//
// Conn.Write copies into the send buffer and returns how much fit
// (ErrWouldBlock when nothing did; OnWritable says when to retry);
// Conn.Read drains the receive buffer (ErrWouldBlock, then io.EOF after the
// peer's FIN). Shutdown sends FIN after the buffered data; Close does the
// same and releases the connection when both sides are done (or resets it
// when unread data remains); Abort resets at once. Events are delivered
// after the segment or timer that caused them has been processed, so a
// handler may call any method. Conn.Stats and Stack.AllStats export
// per-connection counters (JSON-tagged for report.json).
//
// # Profiles
//
// One connection code, configured three ways. The zero Config is RFC
// algorithms with Linux's timers (200 ms minimum RTO, 40 ms delayed ACKs
// with quick-ack, initial window 10). RFCProfile returns the rfc profile:
// RFC 6298's 1 s minimum RTO and 200 ms delayed ACKs for every second
// segment without quick-ack. LinuxProfile returns the linux profile, what
// Linux's own packetdrill tests expect: initial window 10 (RFC 6928), 200 ms
// minimum and 120 s maximum RTO, 40 ms delayed ACKs with 16 quick-ACKs at
// the start and after out-of-order data, Proportional Rate Reduction
// (RFC 6937) for the window during SACK recovery and RACK-TLP (RFC 8985):
// losses marked by time once later segments are delivered, and a tail
// loss probe two round trips after the last transmission (without D-SACK,
// so the reordering window does not adapt). Select one as
//
//	cfg := tcp.LinuxProfile()
//	cfg.CongestionControl = "newreno" // fields set afterwards override
//	s := tcp.New(host, clk, rnd, cfg)
//
// Config.Profile names the profile a configuration came from.
//
// # Deviations and limits
//
// The SACK scoreboard is cleared on a retransmission timeout (RFC 2018
// section 8, RFC 6675 section 5.1) and rebuilt from later ACKs. Beyond the
// RFCs above the sender does limited transmit (RFC 3042), early
// retransmit (RFC 5827), Nagle in Minshall's variant (a short segment waits
// only for an earlier short one, as Linux) and detects lost
// retransmissions during SACK recovery; an echoed timestamp older than the
// latest timeout retransmission gives no RTT sample (Karn's rule for
// timestamps). The receiver acknowledges every segment for a while after
// the handshake and after out-of-order data (quick-ack). TIME-WAIT ignores
// RSTs (RFC 1337) and may be reopened by a SYN with a newer timestamp, or
// without timestamps a higher sequence number (RFC 6191); the new ISS lies
// above the old sequence space and TIME-WAIT resumes if the new handshake
// fails (RFC 1122 section 4.2.2.13). Urgent data (RFC 9293 section 3.8.5)
// is delivered in line (RFC 6093): Conn.WriteUrgent sends it,
// Conn.UrgentPending and UrgentEvents report it; there is no out-of-band
// byte. ICMP errors reach connections through HandleICMPError (icmp.go):
// path MTU discovery (RFC 1191, RFC 8201) with Don't Fragment set on IPv4
// segments, hard and soft errors (RFC 1122 section 4.2.3.9, RFC 5927).
// Not implemented: AccECN, D-SACK, TCP Fast Open, MTU probing (RFC 4821),
// IP options, PAWS's 24-day idle rule.
// Network.SendIP must not deliver into any Stack.HandleIP synchronously:
// drivers deliver frames on a later event.
package tcp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// ProtocolNumber is TCP's IP protocol number.
const ProtocolNumber = 6

// Network is what TCP needs from the IP layer; *stack.Host satisfies it.
type Network interface {
	// SendIP sends payload as an IP datagram; payload is not retained.
	SendIP(proto uint8, src, dst netip.Addr, payload []byte) error
	// SourceFor returns the local address used to reach dst.
	SourceFor(dst netip.Addr) (netip.Addr, bool)
	// PathMTU returns the largest IP packet toward dst.
	PathMTU(dst netip.Addr) int
}

// Errors returned by the socket API.
var (
	ErrWouldBlock      = errors.New("tcp: operation would block")
	ErrConnReset       = errors.New("tcp: connection reset by peer")
	ErrConnRefused     = errors.New("tcp: connection refused")
	ErrTimeout         = errors.New("tcp: connection timed out")
	ErrClosed          = errors.New("tcp: use of closed connection")
	ErrAborted         = errors.New("tcp: connection aborted")
	ErrAddrInUse       = errors.New("tcp: address already in use")
	ErrNoRoute         = errors.New("tcp: no route to host")
	ErrNoPorts         = errors.New("tcp: no free ephemeral port")
	ErrNotConnected    = errors.New("tcp: not connected")
	ErrWriteShutdown   = errors.New("tcp: write after shutdown")
	ErrListenerClosed  = errors.New("tcp: listener closed")
	ErrInvalidArgument = errors.New("tcp: invalid argument")
)

// Profile names for Config.Profile.
const (
	// ProfileRFC is the standards-track behaviour: RFC 6298's 1 s minimum
	// RTO, delayed ACKs of up to 200 ms for every second segment (RFC
	// 1122 section 4.2.3.2) without quick-ack, RFC 6675 recovery.
	ProfileRFC = "rfc"
	// ProfileLinux is Linux's behaviour (see LinuxProfile).
	ProfileLinux = "linux"
)

// Config tunes a Stack. The zero value of a field means its default.
//
// The zero Config (Profile "") is RFC algorithms with Linux's timer
// defaults: 200 ms minimum RTO, 40 ms delayed ACKs with quick-ack, an
// initial window of 10. RFCProfile and LinuxProfile return complete
// configurations of the same connection code; fields set after them
// still override.
type Config struct {
	// Profile records which profile the configuration came from ("",
	// ProfileRFC or ProfileLinux); defaults of fields left zero follow it.
	Profile string
	// PRR turns on Proportional Rate Reduction (RFC 6937, the PRR-SSRB
	// bound of section 3.1) for the window during SACK-based loss
	// recovery, instead of RFC 6675's cwnd = ssthresh. On in the linux
	// profile.
	PRR bool
	// RACK turns on RACK-TLP loss detection (RFC 8985): segments are
	// declared lost by time once later ones are delivered, and a tail
	// loss probe follows two round trips after the last transmission.
	// It needs SACK. On in the linux profile.
	RACK bool
	// QuickAck is how many in-order segments are acknowledged at once
	// after the handshake and after out-of-order data, as Linux's
	// quick-ack mode (default 16, TCP_MAX_QUICKACKS; 0 in the rfc
	// profile). A negative value disables it.
	QuickAck int
	// SendBuffer is the send buffer size per connection (default 256 KiB).
	SendBuffer int
	// RecvBuffer is the receive buffer size per connection, which bounds
	// the advertised window (default 256 KiB).
	RecvBuffer int
	// MinRTO is the smallest retransmission timeout (default 200 ms, as
	// Linux; RFC 6298 section 2.4 suggests 1 s).
	MinRTO time.Duration
	// MaxRTO caps the backed-off timeout (default 60 s, RFC 6298 section
	// 2.5).
	MaxRTO time.Duration
	// InitialRTO is the timeout before any RTT sample (default 1 s, RFC
	// 6298 section 2.1).
	InitialRTO time.Duration
	// MSL is the maximum segment lifetime; TIME-WAIT lasts 2*MSL (default
	// 30 s).
	MSL time.Duration
	// DelayedACK is the delayed-ACK timeout, at most 200 ms (RFC 1122
	// section 4.2.3.2; default 40 ms). A negative value disables delayed
	// ACKs.
	DelayedACK time.Duration
	// KeepAliveIdle, KeepAliveInterval and KeepAliveCount configure
	// keep-alive probes on connections that enable it (defaults 2 h, 75 s,
	// 9; RFC 1122 section 4.2.3.6).
	KeepAliveIdle     time.Duration
	KeepAliveInterval time.Duration
	KeepAliveCount    int
	// FinWait2Timeout bounds how long a connection closed by the
	// application waits in FIN-WAIT-2 (default 60 s).
	FinWait2Timeout time.Duration
	// MaxRetries is how many timeouts in a row abort a connection
	// (default 15); SynRetries applies to SYN and SYN-ACK (default 6).
	MaxRetries int
	SynRetries int
	// MaxOOORanges bounds the out-of-order queue in disjoint ranges
	// (default 16); the receive buffer bounds it in bytes.
	MaxOOORanges int
	// CongestionControl names the algorithm: "cubic" (default),
	// "newreno" or "bbr" (BBR v3 with pacing).
	CongestionControl string
	// DisableSACK, DisableTimestamps and DisableWindowScale turn the
	// corresponding options off.
	DisableSACK        bool
	DisableTimestamps  bool
	DisableWindowScale bool
	// DisablePMTUDiscovery sends IPv4 segments without Don't Fragment,
	// so routers fragment them instead of answering "fragmentation
	// needed" (Linux's ip_no_pmtu_disc). ICMP-reported path MTUs still
	// lower the MSS.
	DisablePMTUDiscovery bool
	// InitialCwndSegments is the initial window in segments (default 10,
	// RFC 6928).
	InitialCwndSegments int
	// SlowStartAfterIdle restarts slow start when the application sends
	// after more than an RTO without sending data and nothing is in
	// flight (RFC 5681 section 4.1, with RFC 2861's halving per idle RTO
	// down to the initial window, as Linux's
	// tcp_slow_start_after_idle=1, its default). Off in the zero Config;
	// on in both profiles.
	SlowStartAfterIdle bool
	// HyStart configures CUBIC's hybrid slow start as Linux's (off in the
	// zero Config; the linux profile runs both detectors as Linux's
	// defaults do).
	HyStart HyStart
	// SlowStart selects CUBIC's slow start: SlowStartHyStartPP
	// (HyStart++, RFC 9406) or SlowStartStandard (RFC 5681). Empty
	// means HyStart++, except in the linux profile or when HyStart
	// selects Linux's HyStart.
	SlowStart string
	// ChallengeACKLimit caps challenge ACKs per second (RFC 5961 section
	// 7; default 1000).
	ChallengeACKLimit int
	// EphemeralLow and EphemeralHigh bound ephemeral ports (default
	// 49152-65535).
	EphemeralLow, EphemeralHigh uint16
	// KeepStats keeps the statistics of closed connections for
	// Stack.ConnStats.
	KeepStats bool
	// ECN negotiates Explicit Congestion Notification (RFC 3168) on every
	// connection, when the Network implements TOSSender and TOSReceiver.
	ECN bool
	// MinTSOSegs is the linux profile's tcp_min_tso_segs (default 2):
	// the fewest segments of the GSO packets it models for PSH and send
	// buffer accounting (push.go).
	MinTSOSegs int
	// FQPacing paces the linux profile's connections (but BBR, which
	// paces itself) as Linux paces a flow under the fq qdisc (pacing.go):
	// after the first 10 segments each GSO packet holds the next back
	// by its length at Linux's pacing rate, twice cwnd per SRTT in slow
	// start and 1.2 times after it; and HyStart's ACK train, which
	// pacing spreads, may then span the whole minimum RTT.
	FQPacing bool
}

func (c *Config) defaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if c.Profile == ProfileRFC {
		def(&c.MinRTO, time.Second)              // RFC 6298 section 2.4
		def(&c.DelayedACK, 200*time.Millisecond) // RFC 1122 section 4.2.3.2
		if c.QuickAck == 0 {
			c.QuickAck = -1
		}
	}
	if c.Profile == ProfileLinux {
		def(&c.MaxRTO, 120*time.Second) // TCP_RTO_MAX
	}
	if c.QuickAck == 0 {
		c.QuickAck = quickAckSegments
	}
	defi(&c.SendBuffer, 256<<10)
	defi(&c.RecvBuffer, 256<<10)
	def(&c.MinRTO, 200*time.Millisecond)
	def(&c.MaxRTO, 60*time.Second)
	def(&c.InitialRTO, time.Second)
	def(&c.MSL, 30*time.Second)
	def(&c.DelayedACK, 40*time.Millisecond)
	if c.DelayedACK > 200*time.Millisecond {
		c.DelayedACK = 200 * time.Millisecond
	}
	def(&c.KeepAliveIdle, 2*time.Hour)
	def(&c.KeepAliveInterval, 75*time.Second)
	defi(&c.KeepAliveCount, 9)
	def(&c.FinWait2Timeout, 60*time.Second)
	defi(&c.MaxRetries, 15)
	defi(&c.SynRetries, 6)
	defi(&c.MaxOOORanges, 16)
	if c.CongestionControl == "" {
		c.CongestionControl = "cubic"
	}
	defi(&c.InitialCwndSegments, 10)
	defi(&c.MinTSOSegs, 2)
	c.HyStart.defaults()
	defi(&c.ChallengeACKLimit, 1000)
	if c.EphemeralLow == 0 {
		c.EphemeralLow = 49152
	}
	if c.EphemeralHigh == 0 || c.EphemeralHigh < c.EphemeralLow {
		c.EphemeralHigh = 65535
	}
}

// RFCProfile returns the configuration of the rfc profile: the algorithms
// and timers of the standards-track RFCs where Linux departs from them
// (minimum RTO 1 s per RFC 6298 section 2.4, delayed ACK 200 ms without
// quick-ack, RFC 6675 recovery without PRR), an initial window of 10
// (RFC 6928) and CUBIC (RFC 9438).
func RFCProfile() Config {
	return Config{
		Profile:             ProfileRFC,
		MinRTO:              time.Second,
		MaxRTO:              60 * time.Second,
		InitialRTO:          time.Second,
		DelayedACK:          200 * time.Millisecond,
		QuickAck:            -1,
		InitialCwndSegments: 10,
		CongestionControl:   "cubic",
		SlowStartAfterIdle:  true,
	}
}

// LinuxProfile returns the configuration of the linux profile, the
// behaviour Linux's own tests (packetdrill) expect: initial window 10
// (RFC 6928), minimum RTO 200 ms and maximum 120 s, initial RTO 1 s,
// delayed ACK 40 ms with 16 quick-ACKs at the start and after
// out-of-order data, Proportional Rate Reduction (RFC 6937) in recovery,
// RACK-TLP loss detection (RFC 8985), CUBIC with Linux's HyStart, slow
// start after idle,
// Minshall's Nagle (all profiles), 15 retries (tcp_retries2), 6 SYN retries, TIME-WAIT 60 s (MSL
// 30 s), FIN-WAIT-2 60 s, keep-alive 2 h / 75 s / 9. The profile also
// follows Linux where the RFCs leave room: an RTT sample from the SYN-ACK,
// cwnd grown only while cwnd-limited (tcp_is_cwnd_limited, slow start by
// every delivered byte), PSH on the last segment of a cwnd-limited burst of
// two or more new segments and of each half-window TSO packet, ssthresh
// reduced from cwnd (once per loss episode on timeouts), PRR
// counted as tcp_cwnd_reduction does (also when the RACK timer starts
// recovery), RACK.rtt from the last segment an ACK delivers
// (tcp_rack_advance), 2 ms of slack on the RACK and TLP timers, RTO = SRTT +
// max(4*RTTVAR, min RTO) (__tcp_set_rto), zero-window probes without data
// at SND.UNA-1 (tcp_xmit_probe_skb), slow start after idle also on a
// window update, SACK blocks counted in whole segments, a RST for data that arrives after Close (RFC 1122
// section 4.2.2.13), timestamps in a RST and an ACK of unsent data dropped
// silently.
func LinuxProfile() Config {
	return Config{
		Profile:             ProfileLinux,
		PRR:                 true,
		RACK:                true,
		QuickAck:            quickAckSegments,
		MinRTO:              200 * time.Millisecond,
		MaxRTO:              120 * time.Second,
		InitialRTO:          time.Second,
		DelayedACK:          40 * time.Millisecond,
		InitialCwndSegments: 10,
		CongestionControl:   "cubic",
		SlowStartAfterIdle:  true,
		HyStart:             HyStart{Detect: HyStartAckTrain | HyStartDelay},
		MaxRetries:          15,
		SynRetries:          6,
		MSL:                 30 * time.Second,
		FinWait2Timeout:     60 * time.Second,
		KeepAliveIdle:       2 * time.Hour,
		KeepAliveInterval:   75 * time.Second,
		KeepAliveCount:      9,
	}
}

// StackStats counts a stack's segments and the reasons it dropped some.
type StackStats struct {
	SegmentsIn      uint64 `json:"segments_in"`
	SegmentsOut     uint64 `json:"segments_out"`
	Malformed       uint64 `json:"malformed"`
	BadChecksum     uint64 `json:"bad_checksum"`
	NoConnection    uint64 `json:"no_connection"`
	ResetsSent      uint64 `json:"resets_sent"`
	BacklogDrops    uint64 `json:"backlog_drops"`
	OOODrops        uint64 `json:"ooo_drops"`
	PAWSDrops       uint64 `json:"paws_drops"`
	ChallengeACKs   uint64 `json:"challenge_acks"`
	OutOfWindow     uint64 `json:"out_of_window"`
	SendErrors      uint64 `json:"send_errors"`
	ConnectionsOpen uint64 `json:"connections_opened"`
	// PeakConnections is the most connections the table held at once
	// (half-open and TIME-WAIT included).
	PeakConnections uint64 `json:"peak_connections"`
	// SYNCookiesSent counts SYN-ACKs sent as SYN cookies, SYNCookiesValid
	// the ACKs that returned a valid one and made a connection, and
	// SYNCookiesFailed the ACKs checked for a cookie that held none.
	SYNCookiesSent   uint64 `json:"syn_cookies_sent"`
	SYNCookiesValid  uint64 `json:"syn_cookies_valid"`
	SYNCookiesFailed uint64 `json:"syn_cookies_failed"`
	// ICMPErrorsIn counts ICMP and ICMPv6 errors quoting a TCP segment,
	// ICMPIgnored those that matched no connection or quoted a sequence
	// number outside SND.UNA..SND.NXT (RFC 5927 section 4.1), ICMPAborts
	// the connections a hard error aborted and PMTUReductions the MSS
	// reductions a smaller path MTU caused (RFC 1191, RFC 8201).
	ICMPErrorsIn   uint64 `json:"icmp_errors_in"`
	ICMPIgnored    uint64 `json:"icmp_ignored"`
	ICMPAborts     uint64 `json:"icmp_aborts"`
	PMTUReductions uint64 `json:"pmtu_reductions"`
}

type connKey struct {
	laddr, raddr netip.Addr
	lport, rport uint16
}

type listenKey struct {
	addr netip.Addr
	port uint16
}

// Stack is the TCP endpoint table of one host: it demultiplexes segments
// to connections and listeners and owns the scratch buffer segments are
// built in. It implements the IP layer's protocol handler (HandleIP).
type Stack struct {
	net Network
	clk clock.Clock
	rnd *rand.Rand
	cfg Config

	conns     map[connKey]*Conn
	listeners map[listenKey]*Listener
	isn       isnKey
	nextID    uint64

	out      []byte  // scratch for building segments, made on first use (outBuf)
	opts     Options // scratch for parsing
	sendOpts Options // scratch for building

	challengeSec   clock.Time
	challengeCount int

	stats   StackStats
	closed  []ConnStats
	obs     Observer // see SetObserver
	cookies synCookies

	// tosTx and tosRx are the Network's optional TOS interfaces (ECN);
	// rxTOS is the TOS byte of the datagram being handled, outTOS the
	// one emit sends the next segment with.
	tosTx         TOSSender
	tosRx         TOSReceiver
	rxTOS, outTOS uint8
	// dfTx is the Network's optional Don't Fragment sender (icmp.go).
	dfTx DFSender
}

// New returns a TCP stack sending through net, timed by clk and drawing its
// ISN key and ephemeral ports from rnd.
func New(net Network, clk clock.Clock, rnd *rand.Rand, cfg Config) *Stack {
	cfg.defaults()
	s := &Stack{
		net:       net,
		clk:       clk,
		rnd:       rnd,
		cfg:       cfg,
		conns:     make(map[connKey]*Conn),
		listeners: make(map[listenKey]*Listener),
		isn:       isnKey{rnd.Uint64(), rnd.Uint64()},
	}
	s.tosTx, _ = net.(TOSSender)
	s.tosRx, _ = net.(TOSReceiver)
	if !cfg.DisablePMTUDiscovery {
		s.dfTx, _ = net.(DFSender)
	}
	return s
}

// outBuf returns the scratch buffer segments are built in, making it on
// first use: a host that never sends TCP (most of a large world) does not
// pay for it.
func (s *Stack) outBuf() []byte {
	if s.out == nil {
		s.out = make([]byte, 65536+HeaderLen+MaxOptionsLen)
	}
	return s.out
}

// Config returns the stack's configuration with defaults filled in.
func (s *Stack) Config() Config { return s.cfg }

// Stats returns the stack's counters.
func (s *Stack) Stats() StackStats { return s.stats }

// NumConns returns the number of connections in the table (TIME-WAIT
// included).
func (s *Stack) NumConns() int { return len(s.conns) }

// ConnStats returns the statistics of closed connections (when
// Config.KeepStats is set), in the order they closed.
func (s *Stack) ConnStats() []ConnStats {
	return append([]ConnStats(nil), s.closed...)
}

// AllStats returns the statistics of every connection in the table and,
// when Config.KeepStats is set, of the closed ones, ordered by connection
// ID (creation order), for report.json.
func (s *Stack) AllStats() []ConnStats {
	out := append([]ConnStats(nil), s.closed...)
	for _, c := range s.conns {
		out = append(out, c.Stats())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// isnFor returns an initial sequence number per RFC 6528: a 4 µs clock plus
// a keyed hash of the four-tuple.
func (s *Stack) isnFor(k connKey) seqnum {
	m := uint64(s.clk.Now()) / 4000
	return seqnum(uint32(m) + uint32(s.isn.hash4(k.laddr, k.lport, k.raddr, k.rport)))
}

// HandleIP processes one TCP segment carried in an IP datagram from src to
// dst. payload is only read during the call.
func (s *Stack) HandleIP(src, dst netip.Addr, payload []byte) {
	s.stats.SegmentsIn++
	// TCP is unicast only (RFC 9293 section 3.9.2.1; RFC 1122 section
	// 4.2.3.10): nothing to or from a multicast, broadcast or unspecified
	// address is answered.
	if !unicast(src) || !unicast(dst) {
		s.stats.Malformed++
		return
	}
	h, err := ParseHeader(payload)
	if err != nil {
		s.stats.Malformed++
		return
	}
	if Checksum(src, dst, payload) != 0 {
		s.stats.BadChecksum++
		return
	}
	if err := ParseOptions(h.Options(), &s.opts); err != nil {
		s.stats.Malformed++
		return
	}
	k := connKey{laddr: dst, raddr: src, lport: h.DstPort(), rport: h.SrcPort()}
	s.rxTOS = 0
	if s.cfg.ECN && s.tosRx != nil {
		s.rxTOS = s.tosRx.ReceivedTOS()
	}
	if c, ok := s.conns[k]; ok {
		c.input(h, &s.opts)
		c.flush()
		if s.obs != nil {
			s.obs(c)
		}
		return
	}
	l := s.listeners[listenKey{dst, k.lport}]
	if l == nil {
		l = s.listeners[listenKey{netip.Addr{}, k.lport}]
	}
	if l != nil && !l.closed {
		l.input(k, h, &s.opts, nil)
		return
	}
	s.stats.NoConnection++
	s.resetFor(k, h)
}

func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// resetFor answers a segment that belongs to no connection (RFC 9293
// section 3.10.7.1).
func (s *Stack) resetFor(k connKey, h Header) {
	fl := h.Flags()
	if fl&FlagRST != 0 {
		return
	}
	f := Fields{SrcPort: k.lport, DstPort: k.rport, Flags: FlagRST}
	if fl&FlagACK != 0 {
		f.Seq = h.Ack()
	} else {
		n := len(h.Payload())
		if fl&FlagSYN != 0 {
			n++
		}
		if fl&FlagFIN != 0 {
			n++
		}
		f.Ack = h.Seq() + uint32(n)
		f.Flags |= FlagACK
	}
	s.stats.ResetsSent++
	s.send(k, f, nil, nil)
}

// send encodes and transmits one segment from the scratch buffer.
func (s *Stack) send(k connKey, f Fields, o *Options, payload []byte) {
	n, err := Encode(s.outBuf(), f, o, payload, k.laddr, k.raddr)
	if err != nil {
		s.stats.SendErrors++
		return
	}
	s.stats.SegmentsOut++
	tos := s.outTOS
	s.outTOS = 0
	switch {
	case s.dfTx != nil:
		err = s.dfTx.SendIPDF(ProtocolNumber, k.laddr, k.raddr, s.out[:n], tos)
	case tos != 0 && s.tosTx != nil:
		err = s.tosTx.SendIPTOS(ProtocolNumber, k.laddr, k.raddr, s.out[:n], tos)
	default:
		err = s.net.SendIP(ProtocolNumber, k.laddr, k.raddr, s.out[:n])
	}
	if err != nil {
		s.stats.SendErrors++
	}
	if s.obs != nil {
		s.observe(k)
	}
}

// allowChallengeACK applies RFC 5961 section 7's rate limit.
func (s *Stack) allowChallengeACK() bool {
	now := s.clk.Now()
	if now.Sub(s.challengeSec) >= time.Second {
		s.challengeSec = now
		s.challengeCount = 0
	}
	if s.challengeCount >= s.cfg.ChallengeACKLimit {
		return false
	}
	s.challengeCount++
	s.stats.ChallengeACKs++
	return true
}

func (s *Stack) remove(c *Conn) {
	if s.conns[c.key] == c {
		delete(s.conns, c.key)
	}
	if s.cfg.KeepStats {
		s.closed = append(s.closed, c.Stats())
	}
}

// Listener accepts connections on a local address.
type Listener struct {
	s       *Stack
	key     listenKey
	backlog int
	notify  func(*Listener)
	queue   []*Conn // established, not yet accepted
	pending int     // connections in SYN-RECEIVED
	closed  bool

	overflowed   bool       // the half-open queue has been full (cookies sent)
	lastOverflow clock.Time // when it last was
	tos          uint8      // SetTOS's byte for the connections it opens
}

// SetTOS sets the TOS byte (as Conn.SetTOS) of the connections the
// listener opens from now on, their SYN-ACKs included: Linux's accepted
// sockets inherit the listener's IP_TOS.
func (l *Listener) SetTOS(tos uint8) { l.tos = tos &^ tosECNBits }

// Listen opens a listener on local (an unspecified address listens on all
// of the host's addresses) with room for backlog connections in SYN-RECEIVED
// or waiting for Accept. Further SYNs are answered with SYN cookies (see
// SetSYNCookies), or dropped while backlog connections wait for Accept or
// when cookies are off. notify, if not nil, is
// called on the loop whenever a connection becomes ready to Accept.
func (s *Stack) Listen(local netip.AddrPort, backlog int, notify func(*Listener)) (*Listener, error) {
	if backlog <= 0 || local.Port() == 0 {
		return nil, fmt.Errorf("listen on %v backlog %d: %w", local, backlog, ErrInvalidArgument)
	}
	a := local.Addr()
	if a.IsUnspecified() {
		a = netip.Addr{}
	}
	k := listenKey{a, local.Port()}
	if _, ok := s.listeners[k]; ok {
		return nil, fmt.Errorf("listen on %v: %w", local, ErrAddrInUse)
	}
	l := &Listener{s: s, key: k, backlog: backlog, notify: notify}
	s.listeners[k] = l
	return l, nil
}

// Addr returns the listening address.
func (l *Listener) Addr() netip.AddrPort { return netip.AddrPortFrom(l.key.addr, l.key.port) }

// Ready returns the number of connections waiting for Accept.
func (l *Listener) Ready() int { return len(l.queue) }

// Accept returns the next established connection and makes ev its event
// receiver, or ErrWouldBlock when none is ready. Events that happened
// before Accept (data, the peer's FIN) are visible through Read.
func (l *Listener) Accept(ev Events) (*Conn, error) {
	if l.closed {
		return nil, ErrListenerClosed
	}
	if len(l.queue) == 0 {
		return nil, ErrWouldBlock
	}
	c := l.queue[0]
	copy(l.queue, l.queue[1:])
	l.queue[len(l.queue)-1] = nil
	l.queue = l.queue[:len(l.queue)-1]
	c.listener = nil
	c.ev = ev
	c.pendEv = 0 // what happened before Accept is visible through Read
	return c, nil
}

// Close stops listening and resets connections not yet accepted.
func (l *Listener) Close() {
	if l.closed {
		return
	}
	l.closed = true
	delete(l.s.listeners, l.key)
	q := l.queue
	l.queue = nil
	for _, c := range q {
		c.listener = nil
		c.Abort()
	}
	// Connections still in SYN-RECEIVED are found through the table; they
	// are reset when they complete (their listener is closed).
}

// reopen hands a SYN that may reopen TIME-WAIT connection tw to its
// listener and reports whether one took it. tw leaves the table, its
// timer running, until the new handshake completes or fails.
func (s *Stack) reopen(tw *Conn, h Header, o *Options) bool {
	k := tw.key
	l := s.listeners[listenKey{k.laddr, k.lport}]
	if l == nil {
		l = s.listeners[listenKey{netip.Addr{}, k.lport}]
	}
	if l == nil || l.closed {
		return false
	}
	delete(s.conns, k)
	if !l.input(k, h, o, tw) {
		s.conns[k] = tw
	}
	return true
}

// input handles a segment for the listening socket (RFC 9293 section
// 3.10.7.2) and reports whether it opened a connection; tw, if not nil, is
// the TIME-WAIT connection the SYN reopens.
func (l *Listener) input(k connKey, h Header, o *Options, tw *Conn) bool {
	s := l.s
	fl := h.Flags()
	switch {
	case fl&FlagRST != 0:
		return false
	case fl&FlagACK != 0:
		if tw == nil && l.cookieAck(k, h, o) {
			return false
		}
		s.resetFor(k, h)
		return false
	case fl&FlagSYN == 0:
		return false
	}
	// The accept queue and the half-open queue hold at most backlog
	// connections between them. A full half-open queue answers with a
	// SYN cookie (RFC 4987 section 3.6); a full accept queue drops the
	// SYN, as Linux's tcp_conn_request does, since a cookie's connection
	// would find no room either.
	if len(l.queue)+l.pending >= l.backlog {
		if !s.cookies.off && tw == nil && len(l.queue) < l.backlog {
			l.sendCookie(k, h, o)
			return false
		}
		s.stats.BacklogDrops++
		return false
	}
	c := s.newConn(k, nil)
	c.listener = l
	c.tw = tw
	c.tos = l.tos
	l.pending++
	c.passiveOpen(h, o)
	c.flush()
	return true
}

func (l *Listener) established(c *Conn) {
	l.pending--
	if l.closed {
		c.listener = nil
		c.Abort()
		return
	}
	l.queue = append(l.queue, c)
	if l.notify != nil {
		l.notify(l)
	}
}

// Connect opens a connection to remote from local (whose address may be
// unspecified to pick the route's source address and whose port may be 0
// to pick an ephemeral port). ev receives the connection's events; its
// OnEstablished fires when the handshake completes.
func (s *Stack) Connect(local, remote netip.AddrPort, ev Events) (*Conn, error) {
	return s.ConnectTOS(local, remote, ev, 0)
}

// ConnectTOS is Connect with the connection's TOS byte (as Conn.SetTOS)
// set before its SYN leaves, as Linux's IP_TOS set before connect(2): the
// TOS applies to every segment (RFC 9293 section 3.9.1.1 leaves the IP
// fields to the user).
func (s *Stack) ConnectTOS(local, remote netip.AddrPort, ev Events, tos uint8) (*Conn, error) {
	la := local.Addr()
	if !la.IsValid() || la.IsUnspecified() {
		var ok bool
		la, ok = s.net.SourceFor(remote.Addr())
		if !ok {
			return nil, fmt.Errorf("connect to %v: %w", remote, ErrNoRoute)
		}
	}
	k := connKey{laddr: la, raddr: remote.Addr(), lport: local.Port(), rport: remote.Port()}
	if k.lport == 0 {
		lo, hi := int(s.cfg.EphemeralLow), int(s.cfg.EphemeralHigh)
		n := hi - lo + 1
		start := s.rnd.IntN(n)
		found := false
		for i := 0; i < n; i++ {
			k.lport = uint16(lo + (start+i)%n)
			if _, used := s.conns[k]; !used {
				if _, l := s.listeners[listenKey{la, k.lport}]; !l {
					found = true
					break
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("connect to %v: %w", remote, ErrNoPorts)
		}
	} else if _, used := s.conns[k]; used {
		return nil, fmt.Errorf("connect %v to %v: %w", local, remote, ErrAddrInUse)
	}
	c := s.newConn(k, ev)
	c.SetTOS(tos)
	c.activeOpen()
	c.flush()
	return c, nil
}

func (s *Stack) newConn(k connKey, ev Events) *Conn {
	s.nextID++
	s.stats.ConnectionsOpen++
	c := &Conn{s: s, key: k, ev: ev, id: s.nextID}
	c.init()
	s.conns[k] = c
	s.stats.PeakConnections = max(s.stats.PeakConnections, uint64(len(s.conns)))
	return c
}
