package tcp

import (
	"io"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// State is a connection state (RFC 9293 section 3.3.2).
type State uint8

// The connection states.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{
	"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
	"FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT",
}

// String returns the state's RFC name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// Events receives a connection's readiness notifications. They run on the
// loop after the segment or timer that caused them has been processed, so
// they may call any Conn method.
type Events interface {
	// OnEstablished is called when the handshake completes.
	OnEstablished(c *Conn)
	// OnReadable is called when data or the peer's FIN can be read.
	OnReadable(c *Conn)
	// OnWritable is called when send buffer space has been freed.
	OnWritable(c *Conn)
	// OnClosed is called once when the connection is finished: reset, timed
	// out, refused, or both directions closed (err is nil). It is not
	// called after Abort.
	OnClosed(c *Conn, err error)
}

// EventFuncs adapts optional functions to Events.
type EventFuncs struct {
	Established func(c *Conn)
	Readable    func(c *Conn)
	Writable    func(c *Conn)
	Closed      func(c *Conn, err error)
	Urgent      func(c *Conn)
}

// OnUrgent calls f.Urgent if set.
func (f *EventFuncs) OnUrgent(c *Conn) {
	if f.Urgent != nil {
		f.Urgent(c)
	}
}

// OnEstablished calls f.Established if set.
func (f *EventFuncs) OnEstablished(c *Conn) {
	if f.Established != nil {
		f.Established(c)
	}
}

// OnReadable calls f.Readable if set.
func (f *EventFuncs) OnReadable(c *Conn) {
	if f.Readable != nil {
		f.Readable(c)
	}
}

// OnWritable calls f.Writable if set.
func (f *EventFuncs) OnWritable(c *Conn) {
	if f.Writable != nil {
		f.Writable(c)
	}
}

// OnClosed calls f.Closed if set.
func (f *EventFuncs) OnClosed(c *Conn, err error) {
	if f.Closed != nil {
		f.Closed(c, err)
	}
}

const (
	evEstablished uint8 = 1 << iota
	evReadable
	evWritable
	evClosed
	evUrgent
)

// UrgentEvents is implemented by an Events receiver that wants to hear
// about urgent data (RFC 9293 section 3.8.5, MUST-32). Receivers without
// it learn of urgent data only through Conn.UrgentPending.
type UrgentEvents interface {
	// OnUrgent is called when the peer's urgent pointer first points past
	// the data read so far, and again whenever it advances.
	OnUrgent(c *Conn)
}

// ConnStats are one connection's counters, exported for report.json.
// Retransmits counts the segments that carried sequence space sent before
// (resent SYNs and FINs included, bytes only ever sent as zero-window
// probes excluded), the same segments a capture analyser such as
// Wireshark flags as retransmitted, fast-retransmitted, spurious or
// out-of-order on the sender's side; RetransmittedBytes is their resent
// sequence space. TimeoutRetransmits and FastRetransmits count events
// (retransmission timeouts and entries into fast recovery), not segments.
type ConnStats struct {
	ID                 uint64         `json:"id"`
	Local              netip.AddrPort `json:"local"`
	Remote             netip.AddrPort `json:"remote"`
	State              string         `json:"state"`
	CongestionControl  string         `json:"congestion_control"`
	BytesSent          uint64         `json:"bytes_sent"`
	BytesReceived      uint64         `json:"bytes_received"`
	SegmentsSent       uint64         `json:"segments_sent"`
	SegmentsReceived   uint64         `json:"segments_received"`
	Retransmits        uint64         `json:"retransmitted_segments"`
	RetransmittedBytes uint64         `json:"retransmitted_bytes"`
	TimeoutRetransmits uint64         `json:"timeouts"`
	FastRetransmits    uint64         `json:"fast_retransmits"`
	LostRetransmits    uint64         `json:"lost_retransmits"`
	SACKedBytes        uint64         `json:"sacked_bytes"`
	OOOSegments        uint64         `json:"out_of_order_segments"`
	TailLossProbes     uint64         `json:"tail_loss_probes,omitempty"`
	SRTT               time.Duration  `json:"srtt_ns"`
	RTO                time.Duration  `json:"rto_ns"`
	Cwnd               int            `json:"cwnd"`
	Ssthresh           int            `json:"ssthresh"`
	MSS                int            `json:"mss"`
	Start              clock.Time     `json:"start_ns"`
	End                clock.Time     `json:"end_ns"`
	Duration           time.Duration  `json:"duration_ns"`
	Error              string         `json:"error,omitempty"`

	// ECN tells that ECN was negotiated (RFC 3168); CEReceived counts
	// CE-marked segments received and ECNReductions the window
	// reductions (CWR) for ECE.
	ECN           bool   `json:"ecn,omitempty"`
	CEReceived    uint64 `json:"ce_received,omitempty"`
	ECNReductions uint64 `json:"ecn_reductions,omitempty"`
}

// Conn is one TCP connection. All methods must be called on the loop.
type Conn struct {
	s        *Stack
	key      connKey
	id       uint64
	state    State
	ev       Events
	listener *Listener
	// tw is the TIME-WAIT incarnation this connection reopened, parked
	// until the handshake completes (RFC 1122 section 4.2.2.13).
	tw     *Conn
	pendEv uint8
	err    error
	// softErr is the latest soft ICMP error, reported on a timeout
	// (icmp.go).
	softErr error

	// Send side (RFC 9293 section 3.3.1). The send buffer holds the bytes
	// from bufStart on; the SYN precedes bufStart and the FIN follows the
	// buffered data.
	iss, sndUna, sndNxt, sndMax seqnum
	sndWnd, maxSndWnd           uint32
	sndWl1, sndWl2              seqnum
	bufStart                    seqnum
	sndSml                      seqnum // end of the latest short segment (Minshall)
	sndBuf                      ring
	finQueued, appClosed        bool
	sndUp                       seqnum // send urgent pointer (RFC 9293 section 3.8.5)
	sndUrg                      bool   // urgent data not yet acknowledged
	finAcked                    bool
	sndShift, rcvShift          uint8
	sackOK, tsOK, wsOK          bool
	noDelay                     bool
	// cork holds a partial last segment (TCP_CORK); more does so for
	// the WriteMore call under way (MSG_MORE); noPush marks that the
	// buffer ends with MSG_MORE data, so its end is no push point.
	cork, more, noPush bool
	// pushBurst asks sendData to set PSH on the segment it sends: the
	// last one of a burst the linux profile's windows allow.
	pushBurst bool
	// burstSegs counts the new segments the current output call sent.
	burstSegs int
	// synAcked marks the handshake's ACK while it is processed: in the
	// linux profile it does not grow cwnd.
	synAcked bool
	// maxFlight is the largest flight (bytes) sent since SND.UNA passed
	// cwndUsageSeq, as Linux's max_packets_out and cwnd_usage_seq.
	maxFlight    int
	cwndUsageSeq seqnum
	maxSeg       int // largest TCP payload+options
	mss          int // payload of a full segment with timestamps
	rmss         int // the MSS we advertised

	// Receive side.
	irs, rcvNxt seqnum
	rcvAdv      seqnum // right edge of the last advertised window
	rcvBuf      ring
	ooo         []seqRange
	lastOOO     seqnum
	finRcvd     bool
	rcvUp       seqnum // receive urgent pointer (RFC 9293 section 3.8.5)
	rcvUrg      bool   // urgent data not yet read
	oooFin      bool
	finRcvSeq   seqnum
	tsRecent    uint32
	tsOffset    uint32
	lastAckSent seqnum
	ackNow      bool
	unackedSegs int
	quickAcks   int // in-order segments still to acknowledge at once

	// RTT and timers (RFC 6298).
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	rttTiming         bool
	rttSeq            seqnum
	rttTime           clock.Time
	retries           int
	persist           bool
	persistBackoff    int
	persistBytes      int
	// zwp is set from the first zero-window probe that sent a byte never
	// sent before (at zwpFrom) until the bytes up to zwpEnd are sent
	// again, or acknowledged, after the window opened: sends from zwpFrom
	// on are then not counted as retransmissions.
	zwp             bool
	zwpFrom, zwpEnd seqnum
	// rtoTS is the timestamp clock at the latest timeout retransmission
	// (rtoTSSet once there was one): earlier echoes give no RTT sample.
	rtoTS           uint32
	rtoTSSet        bool
	rtx, dack, misc clock.Timer
	keepAlive       bool
	kaProbes        int
	lastRecv        clock.Time
	// lastSend is when a segment carrying data last left (Linux's
	// lsndtime), for Config.SlowStartAfterIdle.
	lastSend clock.Time
	// userTimeout is RFC 5482's user timeout (0: none); progressAt is
	// when the oldest data in flight started waiting for its ACK: when
	// the flight began or SND.UNA last advanced.
	userTimeout time.Duration
	progressAt  clock.Time

	// Congestion control and loss recovery (RFC 5681, 6582, 6675).
	cc         CongestionControl
	ccs        CCState
	dupAcks    int
	inRecovery bool
	// inLoss is set from a retransmission timeout until everything sent
	// before it is acknowledged (Linux's TCP_CA_Loss).
	inLoss  bool
	recover seqnum
	// reordering is the reordering degree seen, in segments (Linux's
	// tp->reordering; 0 until it passes 3), reported by Info.
	reordering int
	highRxt    seqnum
	rtxMark    seqnum // SND.MAX when the latest recovery retransmission left
	rtxMarkSet bool
	sb         []seqRange
	// Proportional Rate Reduction state (RFC 6937 section 3).
	prrDelivered, prrOut, recoverFS int
	// prrEntry is what the fast retransmission that starts recovery
	// sent, until that ACK's PRR step.
	prrEntry int
	// RACK-TLP (RFC 8985) state and its reordering timer.
	rk    rackState
	rackT clock.Timer
	// rate is BBR's delivery-rate sampler and pacing (bbr.go).
	rate rateState
	// ecn is the RFC 3168 state (ecn.go).
	ecn ecnState

	stats ConnStats
}

// quickAckSegments is the default of Config.QuickAck: how many in-order
// segments are acknowledged without delay after the handshake and after
// out-of-order data, as Linux's quick-ack mode does: while the sender's
// window is small (slow start, loss recovery) a delayed ACK would stall it.
const quickAckSegments = 16

// quickAckCount returns the configured quick-ack segment count.
func (c *Conn) quickAckCount() int { return max(c.s.cfg.QuickAck, 0) }

type rtxTimer Conn
type dackTimer Conn
type miscTimer Conn

func (t *rtxTimer) OnTimer(now clock.Time) {
	c := (*Conn)(t)
	c.onRTX(now)
	c.flush()
}

func (t *dackTimer) OnTimer(clock.Time) {
	c := (*Conn)(t)
	c.ackNow = true
	c.output()
	c.flush()
}

func (t *miscTimer) OnTimer(now clock.Time) {
	c := (*Conn)(t)
	c.onMisc(now)
	c.flush()
}

func (c *Conn) init() {
	cfg := &c.s.cfg
	c.rtx.Init((*rtxTimer)(c))
	c.dack.Init((*dackTimer)(c))
	c.misc.Init((*miscTimer)(c))
	c.rackT.Init((*rackTimer)(c))
	c.rto = cfg.InitialRTO
	c.cc = newCongestionControl(c)
	c.rateInit()
	c.stats.Start = c.s.clk.Now()
	c.lastRecv = c.stats.Start
	c.tsOffset = uint32(c.s.rnd.Uint64())
	ipHdr := 20
	if !c.key.raddr.Is4() {
		ipHdr = 40
	}
	mtu := c.s.net.PathMTU(c.key.raddr)
	if mtu < ipHdr+HeaderLen+64 {
		mtu = ipHdr + HeaderLen + 64
	}
	c.rmss = min(mtu-ipHdr-HeaderLen, 65535)
	if !cfg.DisableWindowScale {
		for c.rcvShift < 14 && cfg.RecvBuffer>>c.rcvShift > 65535 {
			c.rcvShift++
		}
	}
}

// LocalAddr returns the local address and port.
func (c *Conn) LocalAddr() netip.AddrPort { return netip.AddrPortFrom(c.key.laddr, c.key.lport) }

// RemoteAddr returns the peer's address and port.
func (c *Conn) RemoteAddr() netip.AddrPort { return netip.AddrPortFrom(c.key.raddr, c.key.rport) }

// State returns the connection state.
func (c *Conn) State() State { return c.state }

// Err returns the error that ended the connection, if any.
func (c *Conn) Err() error { return c.err }

// SetEvents replaces the connection's event receiver.
func (c *Conn) SetEvents(ev Events) { c.ev = ev }

// SetNoDelay disables (true) or enables (false) Nagle's algorithm.
func (c *Conn) SetNoDelay(on bool) {
	c.noDelay = on
	c.output()
}

// SetCork holds (true) the last segment of the buffered data until it is
// full, or until the persist timer's probe sends it (Linux's TCP_CORK,
// which caps the hold at about 200 ms the same way); false releases it
// at once.
func (c *Conn) SetCork(on bool) {
	c.cork = on
	if !on {
		c.output()
	}
}

// WriteMore is Write for data that more will follow (Linux's MSG_MORE):
// full segments leave as usual, but a partial last one is held, as by
// SetCork, until a later Write, an ACK or the persist timer sends it, and
// the end of p is not marked with PSH.
func (c *Conn) WriteMore(p []byte) (int, error) {
	c.more = true
	n, err := c.write(p, false)
	c.more = false
	return n, err
}

// SetKeepAlive turns keep-alive probes on or off (RFC 1122 section
// 4.2.3.6), with the stack's idle time, interval and count.
func (c *Conn) SetKeepAlive(on bool) {
	c.keepAlive = on
	c.kaProbes = 0
	if on {
		c.armKeepAlive()
	} else if c.state == StateEstablished || c.state == StateCloseWait {
		c.s.clk.Cancel(&c.misc)
	}
}

// SetUserTimeout sets how long sent data may remain unacknowledged before
// the connection is aborted with ErrTimeout (RFC 5482, TCP_USER_TIMEOUT;
// RFC 9293 section 3.10.8's USER TIMEOUT): the retransmission timer is
// clamped to fire when it expires. Zero restores the default, where
// Config.MaxRetries timeouts in a row abort.
func (c *Conn) SetUserTimeout(d time.Duration) {
	c.userTimeout = max(d, 0)
	if c.rtx.Pending() && !c.persist && !c.rk.ptoArmed && c.synchronized() {
		c.armRTO()
	}
}

// UserTimeout returns the user timeout SetUserTimeout set.
func (c *Conn) UserTimeout() time.Duration { return c.userTimeout }

// userTimedOut reports whether data has waited for an acknowledgment for
// the user timeout.
func (c *Conn) userTimedOut(now clock.Time) bool {
	return c.userTimeout > 0 && c.sndMax != c.sndUna && now.Sub(c.progressAt) >= c.userTimeout
}

// Readable returns the number of bytes Read can return now.
func (c *Conn) Readable() int { return c.rcvBuf.n }

// Writable returns the free space in the send buffer.
func (c *Conn) Writable() int {
	if c.finQueued || c.state == StateClosed {
		return 0
	}
	return c.s.cfg.SendBuffer - c.sndBuf.n
}

// Unsent returns the number of buffered bytes not yet acknowledged.
func (c *Conn) Unsent() int { return c.sndBuf.n }

// Stats returns the connection's counters.
func (c *Conn) Stats() ConnStats {
	st := c.stats
	st.ID = c.id
	st.Local = c.LocalAddr()
	st.Remote = c.RemoteAddr()
	st.State = c.state.String()
	st.CongestionControl = c.cc.Name()
	st.SRTT = c.srtt
	st.RTO = c.rto
	st.Cwnd = c.ccs.Cwnd
	st.Ssthresh = c.ccs.Ssthresh
	st.MSS = c.mss
	if st.End == 0 {
		st.Duration = c.s.clk.Now().Sub(st.Start)
	} else {
		st.Duration = st.End.Sub(st.Start)
	}
	if c.err != nil {
		st.Error = c.err.Error()
	}
	return st
}

// Read copies received data into p. It returns io.EOF after the peer's FIN
// has been read, the connection's error after a reset or timeout, and
// ErrWouldBlock when nothing is available yet.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.rcvBuf.n == 0 {
		switch {
		case c.err != nil:
			return 0, c.err
		case c.finRcvd:
			return 0, io.EOF
		case c.state == StateClosed:
			return 0, ErrClosed
		}
		return 0, ErrWouldBlock
	}
	before := c.rcvWindowRight()
	n := c.rcvBuf.read(p)
	if c.rcvUrg && !c.rcvUp.gt(c.readSeq()) {
		c.rcvUrg = false // all urgent data read: urgent mode ends
	}
	if c.rcvBuf.n == 0 && c.state == StateTimeWait || c.state == StateClosed {
		c.maybeFreeBuffers()
	}
	// Send a window update when the window opens by a useful amount
	// (receiver SWS avoidance, RFC 1122 section 4.2.3.3).
	if c.synchronized() && !c.finRcvd {
		oldWnd := c.rcvAdv.diff(c.rcvNxt)
		after := c.rcvWindowRight()
		if after.diff(before) > 0 && oldWnd < c.s.cfg.RecvBuffer/2 && after.diff(c.rcvAdv) >= min(c.s.cfg.RecvBuffer/2, c.rmss) {
			c.ackNow = true
			c.output()
		}
	}
	return n, nil
}

// Write queues p for sending and returns how much fit in the send buffer,
// or ErrWouldBlock when none did.
func (c *Conn) Write(p []byte) (int, error) { return c.write(p, false) }

// WriteUrgent is Write for urgent data (RFC 9293 section 3.8.5): the urgent
// pointer moves to the end of what was queued and every segment sent
// before it carries URG, until the peer acknowledges it. The data itself
// travels in line. RFC 9293 (SHLD-13) advises new applications not to use
// it; it exists for the applications and tests that do.
func (c *Conn) WriteUrgent(p []byte) (int, error) { return c.write(p, true) }

// UrgentPending returns how many bytes of urgent data remain to be read:
// from the next byte Read returns up to the peer's urgent pointer, 0 when
// no urgent data is pending (RFC 9293 section 3.8.5, MUST-33). Urgent data
// is delivered in line, as RFC 6093 section 6 recommends; there is no
// out-of-band byte.
func (c *Conn) UrgentPending() int {
	if !c.rcvUrg {
		return 0
	}
	return max(c.rcvUp.diff(c.readSeq()), 0)
}

// readSeq returns the sequence number of the next byte Read returns.
func (c *Conn) readSeq() seqnum {
	r := c.rcvNxt.add(-c.rcvBuf.n)
	if c.finRcvd {
		r--
	}
	return r
}

// urgent handles the URG bit of an acceptable segment (RFC 9293 section
// 3.10.7.4, sixth): RCV.UP becomes max(RCV.UP, SEG.SEQ+SEG.UP), the urgent
// pointer pointing at the byte after the urgent data (MUST-62), and the
// application is told when urgent mode starts or the pointer advances
// (MUST-32).
func (c *Conn) urgent(seq seqnum, up uint16) {
	p := seq.add(int(up))
	if c.rcvUrg && !p.gt(c.rcvUp) {
		return
	}
	if !p.gt(c.readSeq()) {
		return
	}
	c.rcvUp, c.rcvUrg = p, true
	c.pendEv |= evUrgent
}

func (c *Conn) write(p []byte, urgent bool) (int, error) {
	switch {
	case c.err != nil:
		return 0, c.err
	case c.finQueued:
		return 0, ErrWriteShutdown
	case c.state == StateClosed:
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	c.sndBuf.reserve(c.sndBuf.n+len(p), c.s.cfg.SendBuffer)
	n := c.sndBuf.append(p)
	if n == 0 {
		return 0, ErrWouldBlock
	}
	if urgent {
		c.sndUp, c.sndUrg = c.bufStart.add(c.sndBuf.n), true
	}
	c.noPush = c.more
	c.idleRestart()
	c.output()
	return n, nil
}

// idleRestart applies Config.SlowStartAfterIdle before new data leaves:
// RFC 5681 section 4.1 sets cwnd to no more than the restart window
// RW = min(IW, cwnd) after an idle period longer than the RTO; as Linux's
// tcp_cwnd_restart (RFC 2861), cwnd is halved once per RTO idle, not
// below RW, and ssthresh keeps three quarters of the old window
// (tcp_current_ssthresh).
func (c *Conn) idleRestart() {
	if !c.s.cfg.SlowStartAfterIdle || c.sndMax != c.sndUna || c.lastSend == 0 ||
		c.inRecovery || c.inLoss || !c.synchronized() {
		return
	}
	switch c.cc.(type) {
	case *CUBIC, *NewReno:
	default:
		return // the algorithm controls the window itself (BBR)
	}
	idle := c.s.clk.Now().Sub(c.lastSend)
	if idle <= c.rto {
		return
	}
	s := &c.ccs
	if segs := s.Cwnd / max(c.mss, 1); s.Ssthresh < (segs>>1+segs>>2)*c.mss {
		s.Ssthresh = (segs>>1 + segs>>2) * c.mss
	}
	rw := min(c.s.cfg.InitialCwndSegments*c.mss, s.Cwnd)
	cwnd := s.Cwnd
	for idle -= c.rto; idle > 0 && cwnd > rw; idle -= c.rto {
		cwnd >>= 1
	}
	s.Cwnd = max(cwnd, rw)
	c.maxFlight = 0
}

// Shutdown closes the sending direction: a FIN follows the buffered data.
func (c *Conn) Shutdown() error {
	switch c.state {
	case StateClosed:
		return ErrClosed
	case StateSynSent:
		c.destroy(nil, false)
		return nil
	}
	if c.finQueued {
		return nil
	}
	c.finQueued = true
	switch c.state {
	case StateSynReceived, StateEstablished:
		c.state = StateFinWait1
	case StateCloseWait:
		c.state = StateLastAck
	}
	c.output()
	return nil
}

// Close closes the connection gracefully; OnClosed still reports when it
// is finished. Unread received data makes it an abort instead (RFC 1122
// section 4.2.2.13).
func (c *Conn) Close() error {
	if c.state == StateClosed {
		return nil
	}
	c.appClosed = true
	if c.rcvBuf.n > 0 {
		c.Abort()
		return nil
	}
	if err := c.Shutdown(); err != nil {
		return err
	}
	if c.state == StateFinWait2 {
		c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(c.s.cfg.FinWait2Timeout))
	}
	return nil
}

// Abort resets the connection (sending RST when synchronized) and releases
// it at once. OnClosed is not called.
func (c *Conn) Abort() {
	if c.state == StateClosed {
		return
	}
	c.sendRST()
	c.ev = nil
	c.destroy(ErrAborted, false)
}

// sendRST resets the peer of a synchronized connection.
func (c *Conn) sendRST() {
	if c.state != StateSynSent && c.state != StateTimeWait {
		c.s.stats.ResetsSent++
		var o *Options
		if c.tsOK && c.s.cfg.Profile == ProfileLinux {
			// RFC 7323 section 3.2: timestamps SHOULD be sent in a RST,
			// as Linux's tcp_send_active_reset does.
			o = &Options{HasTS: true, TSVal: c.tsNow(), TSEcr: c.tsRecent}
		}
		c.s.send(c.key, Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(c.sndNxt), Ack: uint32(c.rcvNxt), Flags: FlagRST | FlagACK}, o, nil)
	}
}

// giveUp ends the connection when retransmission (RFC 9293 section 3.8.3,
// R2; RFC 1122 section 4.2.3.5) or keep-alive (RFC 1122 section 4.2.3.6)
// gives up: the peer gets a RST and the application OnClosed with err, so
// a blocked reader or writer learns it (unlike Abort, which the
// application asked for).
func (c *Conn) giveUp(err error) {
	c.sendRST()
	c.destroy(err, true)
}

func (c *Conn) synchronized() bool {
	return c.state >= StateEstablished
}

// flush delivers pending events.
func (c *Conn) flush() {
	for c.pendEv != 0 {
		ev := c.ev
		p := c.pendEv
		c.pendEv = 0
		if ev == nil {
			return
		}
		if p&evEstablished != 0 {
			ev.OnEstablished(c)
		}
		if p&evUrgent != 0 && c.ev != nil {
			if u, ok := ev.(UrgentEvents); ok {
				u.OnUrgent(c)
			}
		}
		if p&evReadable != 0 && c.ev != nil {
			ev.OnReadable(c)
		}
		if p&evWritable != 0 && c.ev != nil {
			ev.OnWritable(c)
		}
		if p&evClosed != 0 && c.ev != nil {
			c.ev = nil
			ev.OnClosed(c, c.err)
		}
	}
}

// destroy moves the connection to CLOSED and removes it from the table.
func (c *Conn) destroy(err error, notify bool) {
	if c.state == StateClosed {
		return
	}
	wasTW := c.state == StateTimeWait
	wasSynRcvd := c.state == StateSynReceived
	c.state = StateClosed
	if c.err == nil {
		c.err = err
	}
	clk := c.s.clk
	clk.Cancel(&c.rtx)
	clk.Cancel(&c.dack)
	clk.Cancel(&c.misc)
	clk.Cancel(&c.rackT)
	c.stats.End = clk.Now()
	if c.listener != nil {
		c.listener.pending--
		c.listener = nil
	}
	c.maybeFreeBuffers()
	c.s.remove(c)
	if tw := c.tw; tw != nil {
		// RFC 1122 section 4.2.2.13, condition 2: the SYN that reopened
		// TIME-WAIT was an old duplicate; TIME-WAIT resumes (its 2*MSL
		// timer kept running).
		c.tw = nil
		if wasSynRcvd && tw.state == StateTimeWait && c.s.conns[c.key] == nil {
			c.s.conns[c.key] = tw
		}
	}
	if notify && !wasTW {
		c.pendEv |= evClosed
	}
}

func (c *Conn) maybeFreeBuffers() {
	if c.state == StateClosed || c.state == StateTimeWait {
		c.sndBuf = ring{}
		c.sb = nil
		c.rk.recs, c.rk.head = nil, 0
		if c.rcvBuf.n == 0 {
			c.rcvBuf = ring{}
			c.ooo = nil
		}
	}
}

func (c *Conn) enterTimeWait() {
	c.state = StateTimeWait
	c.stats.End = c.s.clk.Now()
	c.s.clk.Cancel(&c.rtx)
	c.s.clk.Cancel(&c.dack)
	c.s.clk.Cancel(&c.rackT)
	c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
	c.maybeFreeBuffers()
	c.pendEv |= evClosed
}

func (c *Conn) armKeepAlive() {
	if c.keepAlive && (c.state == StateEstablished || c.state == StateCloseWait) {
		c.s.clk.Schedule(&c.misc, c.lastRecv.Add(c.s.cfg.KeepAliveIdle))
	}
}

func (c *Conn) onMisc(now clock.Time) {
	cfg := &c.s.cfg
	switch c.state {
	case StateTimeWait:
		c.destroy(nil, false)
	case StateFinWait2:
		c.destroy(ErrTimeout, true)
	case StateEstablished, StateCloseWait:
		if !c.keepAlive {
			return
		}
		if now.Sub(c.lastRecv) < cfg.KeepAliveIdle {
			c.armKeepAlive()
			return
		}
		if c.kaProbes >= cfg.KeepAliveCount {
			c.giveUp(ErrTimeout)
			return
		}
		c.kaProbes++
		// RFC 1122 section 4.2.3.6: a probe carries SEG.SEQ = SND.NXT-1
		// and no data, which elicits an ACK.
		c.sendData(c.sndNxt-1, 0, false)
		c.s.clk.Schedule(&c.misc, now.Add(cfg.KeepAliveInterval))
	}
}

// tsNow returns the timestamp clock: milliseconds plus a per-connection
// offset (RFC 7323 section 5.4).
func (c *Conn) tsNow() uint32 {
	return uint32(int64(c.s.clk.Now())/int64(time.Millisecond)) + c.tsOffset
}

// activeOpen sends a SYN (RFC 9293 section 3.10.1).
func (c *Conn) activeOpen() {
	c.state = StateSynSent
	c.iss = c.s.isnFor(c.key)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	c.bufStart = c.iss + 1
	c.recover = c.iss
	c.sndSml = c.iss
	c.sendSYN()
	c.armRTO()
}

// passiveOpen answers a SYN received by a listener with a SYN-ACK.
func (c *Conn) passiveOpen(h Header, o *Options) {
	c.state = StateSynReceived
	c.irs = seqnum(h.Seq())
	c.rcvNxt = c.irs + 1
	c.negotiate(o)
	c.ecnSyn(h.Flags(), true)
	c.sndWnd = uint32(h.Window())
	c.maxSndWnd = c.sndWnd
	c.sndWl1 = c.irs
	c.iss = c.s.isnFor(c.key)
	if c.tw != nil {
		// Reopening from TIME-WAIT (RFC 9293 section 3.10.7.4 via RFC
		// 1122 section 4.2.2.13, condition 1; RFC 6191): the new ISS is
		// above the old incarnation's sequence space and a window beyond
		// it, whatever the ISN clock says (as Linux: tw_snd_nxt+65537).
		c.iss = c.tw.sndMax.add(65535 + 2)
	}
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	c.bufStart = c.iss + 1
	c.sndWl2 = c.iss
	c.recover = c.iss
	c.sndSml = c.iss
	if o.HasTS && c.tsOK {
		c.tsRecent = o.TSVal
	}
	c.lastRecv = c.s.clk.Now()
	c.sendSYN()
	c.armRTO()
}

// negotiate records the options of the peer's SYN: an option is used when
// both SYNs carry it (RFC 7323 sections 2.2 and 3.2, RFC 2018 section 2).
func (c *Conn) negotiate(o *Options) {
	cfg := &c.s.cfg
	peerMSS := 536 // RFC 9293 section 3.7.1 default
	if !c.key.raddr.Is4() {
		peerMSS = 1220
	}
	if o.HasMSS && o.MSS > 0 {
		peerMSS = int(o.MSS)
	}
	c.maxSeg = max(min(peerMSS, c.rmss), 64)
	c.wsOK = o.HasWScale && !cfg.DisableWindowScale
	if c.wsOK {
		c.sndShift = o.WScale
	} else {
		c.sndShift, c.rcvShift = 0, 0
	}
	c.sackOK = o.SACKPermitted && !cfg.DisableSACK
	c.tsOK = o.HasTS && !cfg.DisableTimestamps
	c.mss = c.maxSeg
	if c.tsOK {
		c.mss -= 12
	}
	c.ccs.MSS = c.mss
	// RFC 6928 initial window, capped as in its section 2.
	c.ccs.Cwnd = c.s.cfg.InitialCwndSegments * c.mss
	c.ccs.Ssthresh = 1 << 30
}

func (c *Conn) sendSYN() {
	cfg := &c.s.cfg
	o := &c.s.sendOpts
	*o = Options{HasMSS: true, MSS: uint16(c.rmss)}
	if !cfg.DisableWindowScale && (c.state == StateSynSent || c.wsOK) {
		o.HasWScale = true
		o.WScale = c.rcvShift
	}
	if !cfg.DisableSACK && (c.state == StateSynSent || c.sackOK) {
		o.SACKPermitted = true
	}
	if !cfg.DisableTimestamps && (c.state == StateSynSent || c.tsOK) {
		o.HasTS = true
		o.TSVal = c.tsNow()
		o.TSEcr = c.tsRecent
	}
	f := Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(c.iss), Flags: FlagSYN}
	f.Flags |= c.ecnSynFlags(c.stats.SegmentsSent > 0)
	// RFC 7323 section 2.2: the window in a SYN is never scaled.
	f.Window = uint16(min(c.s.cfg.RecvBuffer, 65535))
	if c.state == StateSynReceived {
		f.Flags |= FlagACK
		f.Ack = uint32(c.rcvNxt)
		c.rcvAdv = c.rcvNxt.add(int(f.Window))
		// RFC 7323 section 4.3: Last.ACK.sent is the ACK field last
		// sent, the SYN-ACK's included, so the handshake's ACK updates
		// TS.Recent.
		c.lastAckSent = c.rcvNxt
		if c.s.cfg.Profile == ProfileLinux && !c.tsOK {
			// Linux times the SYN-ACK (tcp_synack_rtt_meas) and RFC 6298
			// section 2 allows that first sample: the handshake's ACK
			// measures it unless the SYN-ACK was retransmitted (Karn).
			c.rttTiming = c.stats.SegmentsSent == 0
			c.rttSeq, c.rttTime = c.iss, c.s.clk.Now()
		}
	}
	// Every segment sent before this one was a SYN with the same ISS (a
	// SYN-ACK after simultaneous open resends it too), so this one is a
	// retransmission in sequence space, as a capture shows it.
	if c.stats.SegmentsSent > 0 {
		c.stats.Retransmits++
		c.stats.RetransmittedBytes++
	}
	c.stats.SegmentsSent++
	c.s.send(c.key, f, o, nil)
}

// inputSynSent handles a segment in SYN-SENT (RFC 9293 section 3.10.7.3).
func (c *Conn) inputSynSent(h Header, o *Options) {
	fl := h.Flags()
	ack := seqnum(h.Ack())
	ackOK := false
	if fl&FlagACK != 0 {
		if ack.leq(c.iss) || ack.gt(c.sndMax) {
			if fl&FlagRST == 0 {
				c.s.stats.ResetsSent++
				c.s.send(c.key, Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(ack), Flags: FlagRST}, nil, nil)
			}
			return
		}
		ackOK = true
	}
	if fl&FlagRST != 0 {
		if ackOK {
			c.destroy(ErrConnRefused, true)
		}
		return
	}
	if fl&FlagSYN == 0 {
		return
	}
	c.irs = seqnum(h.Seq())
	c.rcvNxt = c.irs + 1
	c.negotiate(o)
	c.ecnSyn(fl, false)
	if o.HasTS && c.tsOK {
		c.tsRecent = o.TSVal
	}
	c.lastRecv = c.s.clk.Now()
	if ackOK {
		c.sndUna = ack
		if c.tsOK && o.HasTS && o.TSEcr != 0 {
			if c.echoAfterTimeout(o.TSEcr) {
				c.rttSample(time.Duration(c.tsNow()-o.TSEcr) * time.Millisecond)
			}
		} else if c.retries == 0 {
			c.rttSample(c.s.clk.Now().Sub(c.stats.Start))
		}
	}
	// RFC 7323 section 2.2: the window of a SYN is not scaled.
	c.sndWnd = uint32(h.Window())
	c.maxSndWnd = c.sndWnd
	c.sndWl1, c.sndWl2 = c.irs, ack
	if c.sndUna.gt(c.iss) {
		c.establish()
		c.ackNow = true
		c.output()
		return
	}
	// Simultaneous open (RFC 9293 section 3.5, figure 8).
	c.state = StateSynReceived
	c.retries = 0
	c.sendSYN()
	c.armRTO()
}

func (c *Conn) establish() {
	if tw := c.tw; tw != nil {
		c.tw = nil
		tw.destroy(nil, false)
	}
	c.state = StateEstablished
	c.quickAcks = c.quickAckCount()
	c.retries = 0
	c.s.clk.Cancel(&c.rtx)
	if c.sndUna == c.sndMax {
		c.backoffReset()
	}
	if c.finQueued {
		c.state = StateFinWait1
	}
	c.pendEv |= evEstablished
	if c.listener != nil {
		c.listener.established(c)
	}
	c.armKeepAlive()
}

func (c *Conn) backoffReset() {
	if c.hasRTT {
		c.computeRTO()
	}
}

// reopenable reports whether a SYN may reopen TIME-WAIT. RFC 6191 section
// 2: when the old incarnation used timestamps and the SYN carries one, the
// timestamp alone decides (it must be newer than TS.Recent); otherwise the
// sequence number must be above RCV.NXT (RFC 1122 section 4.2.2.13).
func (c *Conn) reopenable(seq seqnum, o *Options) bool {
	if c.tsOK && o.HasTS && !c.s.cfg.DisableTimestamps {
		return int32(o.TSVal-c.tsRecent) > 0
	}
	return seq.gt(c.rcvNxt)
}

// acceptable is the segment acceptance test of RFC 9293 section 3.10.7.4.
func (c *Conn) acceptable(seq seqnum, segLen int) bool {
	wnd := uint32(max(c.rcvAdv.diff(c.rcvNxt), 0))
	if free := uint32(c.s.cfg.RecvBuffer - c.rcvBuf.n); free > wnd {
		wnd = free
	}
	if segLen == 0 {
		if wnd == 0 {
			return seq == c.rcvNxt
		}
		return inWindow(seq, c.rcvNxt, wnd)
	}
	if wnd == 0 {
		// Accept the ACK (and RST) of a segment at RCV.NXT; its data is
		// trimmed (RFC 9293 section 3.10.7.4 allows ACKs and RSTs).
		return seq == c.rcvNxt
	}
	return inWindow(seq, c.rcvNxt, wnd) || inWindow(seq.add(segLen-1), c.rcvNxt, wnd)
}

// input processes a segment for a connection not in LISTEN.
func (c *Conn) input(h Header, o *Options) {
	c.stats.SegmentsReceived++
	if c.state == StateSynSent {
		c.inputSynSent(h, o)
		return
	}
	fl := h.Flags()
	seq := seqnum(h.Seq())
	payload := h.Payload()
	segLen := len(payload)
	if fl&FlagSYN != 0 {
		segLen++
	}
	if fl&FlagFIN != 0 {
		segLen++
	}
	// A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost.
	if c.state == StateSynReceived && fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN && seq == c.irs {
		c.sendSYN()
		return
	}
	// Simultaneous open (RFC 9293 section 3.5, figure 8): in SYN-RECEIVED
	// the peer's SYN-ACK acknowledging our SYN completes the handshake;
	// its SYN is already accounted for.
	if c.state == StateSynReceived && fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN|FlagACK && seq == c.irs {
		fl &^= FlagSYN
		seq++
		segLen--
	}
	// RFC 9293 section 3.10.7.4 (RFC 1122 section 4.2.2.13) and RFC
	// 6191: a new SYN in TIME-WAIT may reopen the pair.
	if c.state == StateTimeWait && fl&(FlagSYN|FlagACK|FlagRST) == FlagSYN &&
		c.reopenable(seq, o) && c.s.reopen(c, h, o) {
		return
	}
	// RFC 5961 section 4.2: a SYN in a synchronized state draws a
	// challenge ACK (rate-limited, section 7) whatever its sequence number
	// and timestamp, as Linux's tcp_validate_incoming does (syn_challenge)
	// before PAWS and the window: a blind attacker's SYNs cannot make the
	// connection send an ACK for each.
	if fl&(FlagSYN|FlagRST) == FlagSYN && c.synchronized() && c.state != StateTimeWait {
		if c.s.allowChallengeACK() {
			c.ackNow = true
			c.output()
		}
		return
	}
	// RFC 7323 section 3.2: once timestamps are in use, a non-RST segment
	// without them is dropped.
	if c.tsOK && !o.HasTS && fl&FlagRST == 0 {
		c.s.stats.Malformed++
		return
	}
	// PAWS (RFC 7323 section 5.3): drop a segment whose timestamp is older
	// than TS.Recent, acknowledging it unless it is a RST.
	if c.tsOK && o.HasTS && fl&FlagRST == 0 && int32(o.TSVal-c.tsRecent) < 0 {
		c.s.stats.PAWSDrops++
		c.ackNow = true
		c.output()
		return
	}
	if !c.acceptable(seq, segLen) {
		if c.state == StateTimeWait && fl&FlagFIN != 0 {
			// RFC 9293 section 3.10.7.4: a retransmitted FIN in TIME-WAIT
			// is acknowledged and restarts the 2*MSL timeout.
			c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
		}
		c.s.stats.OutOfWindow++
		if fl&FlagRST == 0 {
			c.ackNow = true
			c.output()
		}
		return
	}
	c.lastRecv = c.s.clk.Now()
	c.kaProbes = 0
	if fl&FlagRST != 0 && c.state == StateTimeWait {
		// RFC 1337: ignore RSTs in TIME-WAIT (no assassination).
		return
	}
	if fl&FlagRST != 0 {
		// RFC 5961 section 3.2: only a RST at exactly RCV.NXT resets; any
		// other in-window RST draws a challenge ACK.
		if seq == c.rcvNxt {
			if c.state == StateSynReceived && c.listener != nil {
				c.destroy(ErrConnReset, false)
				return
			}
			c.destroy(ErrConnReset, true)
			return
		}
		if c.s.allowChallengeACK() {
			c.ackNow = true
			c.output()
		}
		return
	}
	if fl&FlagSYN != 0 {
		// RFC 5961 section 4.2: a SYN in a synchronized state draws a
		// challenge ACK, whatever its sequence number.
		if c.s.allowChallengeACK() {
			c.ackNow = true
			c.output()
		}
		return
	}
	if fl&FlagACK == 0 {
		return
	}
	if c.s.cfg.Profile == ProfileLinux && c.state != StateSynReceived && seqnum(h.Ack()).gt(c.sndMax) {
		// Linux's tcp_ack drops an ACK of data not yet sent silently
		// (SKB_DROP_REASON_TCP_ACK_UNSENT_DATA), before it would update
		// TS.Recent, where RFC 9293 section 3.10.7.4 answers it.
		return
	}
	// RFC 7323 section 4.3: update TS.Recent from a segment covering
	// Last.ACK.sent.
	if c.tsOK && o.HasTS && seq.leq(c.lastAckSent) {
		c.tsRecent = o.TSVal
	}
	ack := seqnum(h.Ack())
	if c.state == StateSynReceived {
		if !ack.gt(c.sndUna) || ack.gt(c.sndMax) {
			c.s.stats.ResetsSent++
			c.s.send(c.key, Fields{SrcPort: c.key.lport, DstPort: c.key.rport, Seq: uint32(ack), Flags: FlagRST}, nil, nil)
			return
		}
		c.sndWnd = uint32(h.Window()) << c.sndShift
		c.maxSndWnd = max(c.maxSndWnd, c.sndWnd)
		c.sndWl1, c.sndWl2 = seq, ack
		c.establish()
		c.synAcked = c.s.cfg.Profile == ProfileLinux
	}
	ok := c.processAck(h, o, seq, ack, fl)
	c.synAcked = false
	if !ok {
		return
	}
	if c.state == StateClosed {
		return
	}
	if fl&FlagURG != 0 && !c.finRcvd {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			c.urgent(seqnum(h.Seq()), h.Urgent())
		}
	}
	c.ecnInput(fl)
	if len(payload) > 0 || fl&FlagFIN != 0 {
		switch c.state {
		case StateEstablished, StateFinWait1, StateFinWait2:
			if c.dataAfterClose(h, seq, len(payload)) {
				return
			}
			c.processData(seq, payload, fl&FlagFIN != 0)
		case StateTimeWait:
			// A retransmitted FIN: acknowledge and restart 2*MSL (RFC
			// 9293 section 3.10.7.4, eighth).
			c.ackNow = true
			c.s.clk.Schedule(&c.misc, c.s.clk.Now().Add(2*c.s.cfg.MSL))
		default:
			c.ackNow = true
		}
	}
	c.output()
}

// dataAfterClose resets the connection, in the linux profile, when new
// data arrives after the application closed it (RFC 1122 section
// 4.2.2.13: it cannot be delivered, so TCP SHOULD send a RST). As Linux's
// tcp_rcv_state_process, the segment is answered as if there were no
// connection (RFC 9293 section 3.10.7.1).
func (c *Conn) dataAfterClose(h Header, seq seqnum, n int) bool {
	if !c.appClosed || c.s.cfg.Profile != ProfileLinux || n == 0 || c.state == StateEstablished ||
		!seq.add(n).gt(c.rcvNxt) {
		return false
	}
	c.s.resetFor(c.key, h)
	c.destroy(ErrConnReset, true)
	return true
}

// processAck handles the ACK field (RFC 9293 section 3.10.7.4, fifth). It
// returns false when the segment must be dropped.
func (c *Conn) processAck(h Header, o *Options, seq, ack seqnum, fl uint8) bool {
	// RFC 5961 section 5.2: an ACK outside [SND.UNA-MAX.SND.WND, SND.NXT]
	// is answered with an ACK and dropped.
	if ack.gt(c.sndMax) || ack.lt(c.sndUna.add(-int(c.maxSndWnd))) {
		c.ackNow = true
		c.output()
		return false
	}
	una0, sacked0 := c.sndUna, 0
	if c.prrOn() {
		sacked0 = c.sackedBytes()
	}
	if c.sackOK && o.NumSACK > 0 {
		c.updateScoreboard(o)
		c.detectLostRetransmit()
	}
	wnd := uint32(h.Window()) << c.sndShift
	wndChanged := false
	if c.sndWl1.lt(seq) || (c.sndWl1 == seq && c.sndWl2.leq(ack)) {
		wndChanged = wnd != c.sndWnd
		c.sndWnd = wnd
		c.sndWl1, c.sndWl2 = seq, ack
		c.maxSndWnd = max(c.maxSndWnd, wnd)
		if wnd > 0 && c.persist {
			// The window opened: probe bytes not acknowledged are sent
			// again with the data that follows them.
			c.persist = false
			c.persistBackoff = 0
			c.s.clk.Cancel(&c.rtx)
			if ack.gt(c.sndNxt) {
				c.sndNxt = ack
			}
			if c.sndNxt.gt(ack) && c.sndNxt.diff(ack) <= c.persistBytes {
				c.sndNxt = ack
			}
			c.persistBytes = 0
		}
		if wndChanged && c.sndBuf.n > 0 {
			// Linux's tcp_ack_update_window: a window update with data
			// waiting restarts slow start after idle (RFC 5681 section
			// 4.1) as a write would.
			c.idleRestart()
		}
	}
	payloadLen := len(h.Payload())
	switch {
	case ack.gt(c.sndUna):
		c.newAck(ack, o)
	case ack == c.sndUna && payloadLen == 0 && fl&(FlagSYN|FlagFIN) == 0 &&
		c.sndMax != c.sndUna && (!wndChanged || o.NumSACK > 0) &&
		wnd > 0 && !c.persist:
		// RFC 5681 section 2's duplicate ACK; the answer to a zero-window
		// probe (RFC 9293 section 3.8.6.1) repeats SND.UNA because the
		// window is closed, not because a segment was lost.
		c.dupAck()
	}
	if c.rackOn() {
		c.rackOnAck(o, ack.gt(una0))
	}
	if c.inRecovery && c.prrOn() {
		c.prrAck(c.sndUna.diff(una0)+c.sackedBytes()-sacked0, c.sndUna.gt(una0))
	}
	c.ecnAck(fl, c.sndMax.diff(una0))
	c.rateAck(o)
	return true
}

// prrOn reports whether Proportional Rate Reduction sets the window in
// recovery: configured, and SACK recovery (RFC 6937 builds on RFC 6675's
// pipe).
func (c *Conn) prrOn() bool { return c.s.cfg.PRR && c.sackOK }

// prrAck is RFC 6937 section 3's per-ACK step: delivered is DeliveredData
// (the change in SND.UNA plus the change in SACKed bytes). The window
// becomes pipe + sndcnt so that RFC 6675's transmission rule sends sndcnt
// bytes; PRR-SSRB bounds the catch-up once pipe is below ssthresh.
func (c *Conn) prrAck(delivered int, unaAdvanced bool) {
	c.prrDelivered += delivered
	pipe := c.pipe()
	ssthresh := c.ccs.Ssthresh
	var sndcnt int
	if pipe > ssthresh {
		// Proportional rate reduction: CEIL(prr_delivered * ssthresh /
		// RecoverFS) - prr_out.
		fs := max(c.recoverFS, 1)
		sndcnt = (c.prrDelivered*ssthresh+fs-1)/fs - c.prrOut
	} else if c.s.cfg.Profile == ProfileLinux {
		// Linux's tcp_cwnd_reduction runs before the fast retransmission
		// of the ACK that starts recovery (prrEntry bytes), so it sees
		// the flight and prr_out without it, and adds PRR-SSRB's extra
		// segment only when SND.UNA advanced.
		e := c.prrEntry
		limit := max(c.prrDelivered-(c.prrOut-e), delivered)
		if unaAdvanced {
			limit += c.mss
		}
		pipe -= e
		sndcnt = min(ssthresh-pipe, limit)
	} else {
		limit := max(c.prrDelivered-c.prrOut, delivered) + c.mss
		sndcnt = min(ssthresh-pipe, limit)
	}
	c.prrEntry = 0
	c.ccs.Cwnd = pipe + max(sndcnt, 0)
}

// newAck handles an ACK that advances SND.UNA.
func (c *Conn) newAck(ack seqnum, o *Options) {
	now := c.s.clk.Now()
	acked := ack.diff(c.sndUna)
	// Linux counts delivery when a segment is SACKed, so an ACK covering
	// SACKed bytes delivers only the rest (tcp_ack's acked_sacked).
	delivered := acked - c.sackedBelow(ack)
	if c.zwp && !ack.lt(c.zwpEnd) {
		c.zwp = false
	}
	// RTT measurement: RTTM from the echoed timestamp (RFC 7323 section
	// 4), else one timed segment at a time, never a retransmitted one
	// (Karn's algorithm, RFC 6298 section 3).
	var tsRTT time.Duration
	if c.tsOK && o.HasTS && o.TSEcr != 0 {
		if d := int32(c.tsNow() - o.TSEcr); d >= 0 && c.echoAfterTimeout(o.TSEcr) {
			tsRTT = time.Duration(d) * time.Millisecond
			c.rttSample(tsRTT)
		}
	} else if c.rttTiming && ack.gt(c.rttSeq) {
		c.rttTiming = false
		c.rttSample(now.Sub(c.rttTime))
	}
	c.hystartSample(ack, tsRTT, now)
	dataEnd := c.bufStart.add(c.sndBuf.n)
	if upto := seqMin(ack, dataEnd); upto.gt(c.bufStart) {
		k := upto.diff(c.bufStart)
		c.sndBuf.discard(k)
		c.bufStart = upto
		c.stats.BytesSent += uint64(k)
		c.pendEv |= evWritable
	}
	if c.finQueued && ack.gt(dataEnd) {
		c.finAcked = true
	}
	flight := c.sndMax.diff(c.sndUna)
	c.sndUna = ack
	c.progressAt = now
	if c.sndUrg && !c.sndUp.gt(ack) {
		c.sndUrg = false
	}
	if c.sndNxt.lt(ack) {
		c.sndNxt = ack
	}
	c.retries = 0
	c.pruneScoreboard()
	if c.inLoss && ack.geq(c.recover) {
		c.inLoss = false
	}
	if c.inRecovery {
		if ack.geq(c.recover) {
			// Full acknowledgment (RFC 6582 section 3.2 step 3; RFC 6675
			// section 5 step (A)).
			c.inRecovery = false
			c.dupAcks = 0
			c.ccs.Cwnd = min(c.ccs.Ssthresh, max(c.sndMax.diff(c.sndUna), c.mss)+c.mss)
			if c.sackOK {
				c.ccs.Cwnd = c.ccs.Ssthresh
			}
		} else if !c.sackOK {
			// Partial acknowledgment (RFC 6582 section 3.2 step 4):
			// retransmit the first unacknowledged segment and deflate.
			c.retransmit(c.sndUna, c.mss)
			c.ccs.Cwnd = max(c.ccs.Cwnd-acked, c.mss)
			if acked >= c.mss {
				c.ccs.Cwnd += c.mss
			}
			c.armRTO()
		} else if c.highRxt.lt(c.sndUna) {
			c.highRxt = c.sndUna
		}
	} else {
		c.dupAcks = 0
		// Grow only when the window was used (RFC 7661 spirit): an
		// application-limited sender does not inflate cwnd.
		// Linux does not count the SYN's acknowledgment as delivered
		// data (tcp_ack of the handshake ACK is not cwnd-limited).
		switch {
		case c.synAcked:
		case c.s.cfg.Profile == ProfileLinux:
			c.linuxCongAvoid(delivered, flight, now)
		case flight+c.mss >= c.ccs.Cwnd || c.ccs.Cwnd < c.ccs.Ssthresh:
			c.cc.OnAck(&c.ccs, acked, flight, now)
		}
	}
	// RFC 6298 section 5.2 and 5.3.
	if c.persist {
		// the persist timer keeps running
	} else if c.sndUna == c.sndMax {
		c.s.clk.Cancel(&c.rtx)
		c.rk.ptoArmed = false
	} else {
		c.armRTOorPTO()
	}
	if c.finAcked {
		switch c.state {
		case StateFinWait1:
			c.state = StateFinWait2
			if c.appClosed {
				c.s.clk.Schedule(&c.misc, now.Add(c.s.cfg.FinWait2Timeout))
			}
		case StateClosing:
			c.enterTimeWait()
		case StateLastAck:
			c.destroy(nil, true)
		}
	}
}

// dupAck handles a duplicate acknowledgment (RFC 5681 section 2).
func (c *Conn) dupAck() {
	c.dupAcks++
	if c.inRecovery {
		if !c.sackOK {
			// RFC 6582 section 3.2 step 4 (RFC 5681 step 4): inflate.
			c.ccs.Cwnd += c.mss
		}
		return
	}
	sackLost := c.sackOK && c.isLost(c.sndUna)
	thresh := 3
	// RFC 5827 (early retransmit): with fewer than four segments out and
	// nothing new to send, the threshold is one less than the segments
	// outstanding.
	if oseg := (c.sndMax.diff(c.sndUna) + c.mss - 1) / c.mss; oseg < 4 && oseg >= 2 &&
		c.bufStart.add(c.sndBuf.n).diff(c.sndMax) <= 0 {
		thresh = oseg - 1
	}
	lost := c.dupAcks >= thresh || sackLost
	// RFC 6582 section 3.2 step 1: no new recovery for losses from before
	// the last one (or a timeout), unless the SACK scoreboard proves a
	// loss (RFC 6675 IsLost).
	if !lost || (c.sndUna.lt(c.recover) && !sackLost) {
		return
	}
	c.enterRecovery()
}

// lossBase is the window a loss reduces from: FlightSize (RFC 5681
// equation 4, RFC 9438 section 4.6), or cwnd in the linux profile, as
// Linux's ssthresh hooks (tcp_reno_ssthresh, bictcp_recalc_ssthresh)
// take it.
func (c *Conn) lossBase() int {
	if c.linuxWindowCC() {
		return c.ccs.Cwnd
	}
	return c.sndMax.diff(c.sndUna)
}

// linuxWindowCC reports whether the linux profile's rules for window-based
// congestion control (Linux's ssthresh hooks, tcp_cwnd_restart) apply:
// the linux profile with CUBIC or NewReno. Linux skips them for an
// algorithm that controls the window itself (cong_control, as BBR).
func (c *Conn) linuxWindowCC() bool {
	if c.s.cfg.Profile != ProfileLinux {
		return false
	}
	switch c.cc.(type) {
	case *CUBIC, *NewReno:
		return true
	}
	return false
}

func (c *Conn) enterRecovery() {
	flight := c.sndMax.diff(c.sndUna)
	c.cc.OnCongestion(&c.ccs, c.lossBase(), c.s.clk.Now())
	c.inRecovery = true
	c.recover = c.sndMax
	// RFC 6937 section 3: initialization at the start of recovery.
	c.prrDelivered, c.prrOut, c.recoverFS, c.prrEntry = 0, 0, flight, 0
	c.stats.FastRetransmits++
	if c.rackOn() {
		// The fast retransmission is the first segment RACK marked lost,
		// or SND.UNA's when DupThresh started recovery, unless it was
		// already resent (RFC 8985 section 6.2: resending it now would
		// be spurious and its ACK would mark everything sent before the
		// copy lost).
		c.rackMarkHeadLost()
		if seq, n, ok := c.rackNextLost(); ok {
			c.prrEntry = c.retransmit(seq, n)
		}
		c.rtxMark, c.rtxMarkSet = c.sndMax, true
		return
	}
	n := c.mss
	if len(c.sb) > 0 {
		n = min(n, c.sb[0].start.diff(c.sndUna))
	}
	c.retransmit(c.sndUna, n)
	c.highRxt = c.sndUna.add(n)
	c.rtxMark, c.rtxMarkSet = c.sndMax, true
	if !c.sackOK {
		c.ccs.Cwnd = c.ccs.Ssthresh + 3*c.mss
	}
}

// onRTX handles the retransmission (or persist) timer.
func (c *Conn) onRTX(now clock.Time) {
	cfg := &c.s.cfg
	switch c.state {
	case StateClosed, StateTimeWait:
		return
	case StateSynSent, StateSynReceived:
		c.retries++
		if c.retries > cfg.SynRetries {
			c.destroy(c.timeoutErr(), c.listener == nil)
			return
		}
		c.rto = min(c.rto*2, cfg.MaxRTO)
		c.markTimeout()
		c.stats.TimeoutRetransmits++
		c.sendSYN()
		c.armRTO()
		return
	}
	if c.persist {
		c.persistProbe()
		return
	}
	if c.sndUna == c.sndMax {
		return
	}
	if c.rk.ptoArmed {
		c.sendProbe() // RFC 8985 section 7.3
		return
	}
	c.retries++
	if c.retries > cfg.MaxRetries || c.userTimedOut(now) {
		c.giveUp(c.timeoutErr())
		return
	}
	// RFC 6298 section 5.4-5.6: back off, collapse the window, resend
	// from SND.UNA.
	if c.linuxWindowCC() && (c.inRecovery || c.inLoss) {
		// Linux's tcp_enter_loss sets ssthresh once per loss episode:
		// a timeout in recovery or after a timeout only collapses
		// the window.
		c.ccs.Cwnd = c.mss
	} else {
		c.cc.OnTimeout(&c.ccs, c.lossBase(), now)
	}
	c.markTimeout()
	c.stats.TimeoutRetransmits++
	c.rto = min(c.rto*2, cfg.MaxRTO)
	c.rttTiming = false
	c.inRecovery = false
	c.inLoss = true
	c.dupAcks = 0
	c.recover = c.sndMax
	// RFC 2018 section 8 and RFC 6675 section 5.1: the receiver may have
	// discarded what it SACKed (reneging), so the timeout clears the
	// scoreboard and the go-back-N resend covers everything from SND.UNA.
	c.sb = c.sb[:0]
	if c.rackOn() {
		c.rackOnRTO()
	}
	c.highRxt = c.sndUna
	c.rtxMarkSet = false
	c.sndNxt = c.sndUna
	c.armRTO()
	c.output()
}

// persistProbe sends one byte into a zero window (RFC 9293 section
// 3.8.6.1) and backs the persist timer off.
func (c *Conn) persistProbe() {
	dataEnd := c.bufStart.add(c.sndBuf.n)
	avail := dataEnd.diff(c.sndUna)
	if avail <= 0 {
		c.persist = false
		c.persistBackoff = 0
		c.output()
		return
	}
	if c.sndWnd == 0 && c.s.cfg.Profile == ProfileLinux && c.sndUna == c.sndMax {
		// Linux's tcp_write_wakeup probes a zero window with
		// tcp_xmit_probe_skb: no data, SEG.SEQ = SND.UNA-1, which the
		// peer must acknowledge (RFC 9293 section 3.8.6.1 lets the
		// probe be any segment that elicits an ACK with the window).
		c.sendData(c.sndUna.add(-1), 0, false)
		c.persistBackoff++
		c.armPersist()
		return
	}
	n := 1
	if c.sndWnd > 0 {
		// Data held by the cork or sender SWS avoidance: send what the
		// window allows, pushed (Linux's tcp_write_wakeup).
		n = min(int(c.sndWnd), c.mss, avail)
		c.pushBurst = c.s.cfg.Profile == ProfileLinux
	} else if !c.zwp && c.sndUna == c.sndMax {
		c.zwp, c.zwpFrom = true, c.sndMax
	}
	sent := c.sendData(c.sndUna, n, false)
	c.pushBurst = false
	if c.zwp {
		c.zwpEnd = c.sndMax
	}
	if e := c.sndUna.add(sent); c.sndNxt.lt(e) {
		c.sndNxt = e
	}
	c.persistBytes = max(c.persistBytes, sent)
	c.persistBackoff++
	c.armPersist()
}

func (c *Conn) armPersist() {
	d := c.rto << min(c.persistBackoff, 10)
	d = min(max(d, c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
	c.rk.ptoArmed = false
	c.s.clk.Schedule(&c.rtx, c.s.clk.Now().Add(d))
}

func (c *Conn) armRTO() {
	c.rk.ptoArmed = false
	now := c.s.clk.Now()
	d := c.rto
	if c.userTimeout > 0 && c.synchronized() && c.sndMax != c.sndUna {
		// RFC 5482 as Linux's tcp_clamp_rto_to_user_timeout: fire no
		// later than the user timeout's expiry.
		d = max(min(d, c.progressAt.Add(c.userTimeout).Sub(now)), time.Millisecond)
	}
	c.s.clk.Schedule(&c.rtx, now.Add(d))
}

// markTimeout records the timestamp clock at a timeout retransmission.
func (c *Conn) markTimeout() {
	c.rtoTS, c.rtoTSSet = c.tsNow(), true
}

// echoAfterTimeout reports whether an echoed timestamp may give an RTT
// sample: not when it predates the latest timeout retransmission. Such an
// echo (a stale TS.Recent at the peer, RFC 7323 section 4.2, or an ACK of
// the original transmission) measures the backoff, not the path, and
// feeding it to RFC 6298's estimator inflates SRTT and RTO without bound;
// this is Karn's rule (RFC 6298 section 3) applied to timestamps. The
// echo of the retransmission itself, or of later data, is a valid sample.
func (c *Conn) echoAfterTimeout(ecr uint32) bool {
	return !c.rtoTSSet || int32(ecr-c.rtoTS) >= 0
}

// rttSample updates SRTT, RTTVAR and RTO (RFC 6298 section 2).
func (c *Conn) rttSample(r time.Duration) {
	if r < 0 {
		return
	}
	if !c.hasRTT {
		c.hasRTT = true
		c.srtt = r
		c.rttvar = r / 2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttvar = (3*c.rttvar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.ccs.SRTT = c.srtt
	if c.ccs.MinRTT == 0 || r < c.ccs.MinRTT {
		c.ccs.MinRTT = r
	}
	c.computeRTO()
}

func (c *Conn) computeRTO() {
	const g = time.Millisecond // clock granularity G
	if c.s.cfg.Profile == ProfileLinux {
		// Linux's __tcp_set_rto: the minimum RTO bounds the variance
		// term (tcp_rtt_estimator keeps rttvar_us >= tcp_rto_min), so
		// RTO = SRTT + max(4*RTTVAR, MinRTO), not max(SRTT+4*RTTVAR,
		// MinRTO) as RFC 6298 section 2.4.
		c.rto = min(c.srtt+max(4*c.rttvar, c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
		return
	}
	c.rto = c.srtt + max(g, 4*c.rttvar)
	c.rto = min(max(c.rto, c.s.cfg.MinRTO), c.s.cfg.MaxRTO)
}

// linuxCongAvoid is Linux's tcp_cong_avoid for an ACK of acked bytes: the
// window grows only while the flow is cwnd-limited (tcp_is_cwnd_limited:
// the flight filled cwnd, or in slow start cwnd is below twice the largest
// recent flight), and slow start adds every acknowledged byte up to
// ssthresh (tcp_slow_start, RFC 3465 without the L limit), handing the
// rest to the algorithm's congestion avoidance.
func (c *Conn) linuxCongAvoid(acked, flight int, now clock.Time) {
	s := &c.ccs
	slowStart := s.Cwnd < s.Ssthresh
	if !(flight+c.mss > s.Cwnd || slowStart && s.Cwnd < 2*c.maxFlight) {
		return
	}
	if slowStart {
		grow := min(acked, s.Ssthresh-s.Cwnd)
		s.Cwnd += grow
		acked -= grow
		if acked <= 0 {
			return
		}
	}
	c.cc.OnAck(s, acked, flight, now)
}

// noteFlight records the flight after a transmission of new data for
// linuxCongAvoid (Linux's tcp_cwnd_validate).
func (c *Conn) noteFlight() {
	fl := c.sndNxt.diff(c.sndUna)
	if !c.sndUna.lt(c.cwndUsageSeq) || fl > c.maxFlight {
		c.maxFlight = fl
		c.cwndUsageSeq = c.sndNxt
	}
}
