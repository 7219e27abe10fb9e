package tcp

import (
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

// Conn is one TCP connection: its control block (RFC 9293 section 3.3.1's
// TCB), holding the state machine, the options both ends negotiated and
// the timers' wiring, with the send half (sender, sender.go) and the
// receive half (receiver, receiver.go) embedded, as gVisor splits its
// endpoint into snd.go and rcv.go. Segments arrive through input
// (input.go); output (output.go) sends what the windows allow. All
// methods must be called on the loop.
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

	// Options negotiated on the SYNs (RFC 7323, RFC 2018); the window
	// scales and segment sizes are in sender and receiver.
	sackOK, tsOK, wsOK bool
	// appClosed marks that the application closed the connection: no
	// more reads either.
	appClosed bool
	// tos is the TOS byte SetTOS set, without the ECN bits.
	tos uint8

	sender
	receiver

	// misc is the TIME-WAIT, FIN-WAIT-2 and keep-alive timer.
	misc      clock.Timer
	keepAlive bool
	kaProbes  int
	lastRecv  clock.Time
	// userTimeout is RFC 5482's user timeout (0: none).
	userTimeout time.Duration

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

// tosECNBits is the ECN field of the TOS byte (RFC 3168 section 5).
const tosECNBits = 0b11

// SetTOS sets the TOS byte of the IP datagrams carrying the segments the
// connection sends from now on (its DSCP, RFC 2474), as Linux's IP_TOS
// socket option. The two ECN bits are left to ECN (RFC 3168 section 5), as
// Linux does for TCP sockets. It has an effect only when the Network
// implements TOSSender.
func (c *Conn) SetTOS(tos uint8) {
	c.tos = tos &^ tosECNBits
}

// TOS returns the TOS byte SetTOS set, without the ECN bits.
func (c *Conn) TOS() uint8 { return c.tos }

// ipTOS returns the TOS byte of a segment whose ECN codepoint is ecn.
func (c *Conn) ipTOS(ecn uint8) uint8 {
	if c.s.tosTx == nil {
		return ecn
	}
	return c.tos | ecn
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
