// Package runner plays packetdrill scripts (parsed by internal/pktdrill)
// against one host of simnet's stack on the virtual clock.
//
// The host (proto/stack with proto/tcp) is 192.168.0.1; the script plays
// the remote peer 192.0.2.1 behind gateway 192.168.0.2, as packetdrill's
// tun setup does. Inbound packets (`<`) are built as frames and delivered
// at the link endpoint; expected packets (`>`) are taken from the frames
// the host sends and compared: flags, sequence range, ack, window, urgent
// pointer and options. Sequence numbers follow packetdrill: the host's
// relative to its ISN (learned from its first SYN), the peer's as written
// (the peer's ISN is the script's). Timing is exact on the virtual clock
// unless Options.Tolerance widens it.
//
// Each script ends in one Result: pass, fail (the first mismatch, with the
// script line, the expected and actual packet or call, and the connection's
// state) or unsupported (the construct and its line).
package runner

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/simnet-go/simnet/internal/pktdrill"
	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// Outcome is a script's result class.
type Outcome string

// The outcomes of a run.
const (
	Pass        Outcome = "pass"
	Fail        Outcome = "fail"
	Unsupported Outcome = "unsupported"
)

// Result is the outcome of one script. JSON field names are the ones
// `simnet script --json` prints.
type Result struct {
	File   string  `json:"file"`
	Result Outcome `json:"result"`
	// Line is the script line of the first mismatch or unsupported
	// construct (0 for a pass).
	Line int `json:"line"`
	// Reason explains a fail or unsupported result.
	Reason string `json:"reason"`
	// ParseError is set when the script did not parse (Result is then
	// Unsupported).
	ParseError bool `json:"-"`
}

// Options tune a run.
type Options struct {
	// Tolerance widens every expected time to [t-Tolerance, t+Tolerance]
	// (default 0: exact on the virtual clock). The scripts'
	// --tolerance_usecs, meant for a real kernel's jitter, is ignored
	// unless PacketdrillTolerance is set.
	Tolerance time.Duration
	// PacketdrillTolerance applies packetdrill's own timing tolerance on
	// top of Tolerance: the script's --tolerance_usecs (packetdrill's
	// default 4000) or --tolerance_percent (default 12.5) of the time
	// since the previous event, whichever is larger, as packetdrill's
	// verify_time (run.c) does. Scripts written for a real kernel rely on
	// it; scripts written for the virtual clock run exact.
	PacketdrillTolerance bool
	// Capture, when set, receives a pcapng capture of the run.
	Capture io.Writer
	// TCP is the base configuration of the host's TCP before the script's
	// sysctls and socket options apply.
	TCP tcp.Config
	// Profiles are other base configurations a script may select by name
	// with simnet's own option --profile=NAME (not packetdrill's: our
	// scripts that test RFC rules pin the profile they were written for).
	Profiles map[string]tcp.Config
	// Seed seeds the host's random sources (default 1).
	Seed uint64
}

// scriptError ends a run; it is turned into a Result.
type scriptError struct {
	outcome Outcome
	line    int
	reason  string
}

func (e *scriptError) Error() string { return e.reason }

func failf(line int, format string, args ...any) *scriptError {
	return &scriptError{outcome: Fail, line: line, reason: fmt.Sprintf(format, args...)}
}

func unsupportedf(line int, format string, args ...any) *scriptError {
	return &scriptError{outcome: Unsupported, line: line, reason: fmt.Sprintf(format, args...)}
}

// maxSteps bounds the timer events of one run, so that no script (a `*`
// expectation on a quiet host, a time hours away) can run forever.
const maxSteps = 1_000_000

// start is the virtual instant a script's time 0 maps to.
const start = clock.Time(1_000_000_000)

// RunFile parses and runs the script at path.
func RunFile(path string, o Options) Result {
	s, err := pktdrill.ParseFile(path)
	if err != nil {
		r := Result{File: path, Result: Unsupported, ParseError: true, Reason: "parse error: " + err.Error()}
		var pe *pktdrill.Error
		if errors.As(err, &pe) {
			r.Line = pe.Line
			r.Reason = "parse error: " + pe.Msg
		}
		return r
	}
	return Run(s, o)
}

// Run plays a parsed script.
func Run(s *pktdrill.Script, o Options) Result {
	r, err := newRun(s, o)
	res := Result{File: s.File, Result: Pass}
	if err == nil {
		err = r.play()
	}
	if r != nil && r.pcapw != nil {
		if cerr := r.pcapw.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write capture: %w", cerr)
		}
	}
	if err != nil {
		var se *scriptError
		if errors.As(err, &se) {
			res.Result, res.Line, res.Reason = se.outcome, se.line, se.reason
		} else {
			res.Result, res.Reason = Fail, err.Error()
		}
	}
	return res
}

// run is the state of one script being played.
type run struct {
	s     *pktdrill.Script
	opt   Options
	dir   string
	clk   *clock.Scheduler
	wire  *wire
	host  *stack.Host
	pcapw *pcap.Writer
	cfg   tcp.Config
	tcp   *tcp.Stack
	net   *mssNet

	socks  map[int]*socket
	nextFD int

	// Sequence spaces: the host's ISN (learned from its SYN) and the
	// peer's (the script's numbers are the peer's absolute ones).
	haveISN  bool
	localISN uint32
	// The ports of the scripted connection.
	lport, rport uint16
	// tsMap maps the script's TS val of an expected packet to the TS val
	// the host really sent, so inbound echoes (ecr) carry real values.
	tsMap    map[uint32]uint32
	tsOffset uint32
	haveTS   bool
	// tsTick is --tcp_ts_tick_usecs: when set, the host's TS val is
	// checked against the script's, in ticks of this length.
	tsTick time.Duration

	pyVars map[string]int64 // names the inline code defined
	advMSS int64            // the MSS the host announced in its SYN, for tcpi_advmss
	lastFD int              // the socket the last call used
	// noTSO is set by `ethtool -K tun0 tso off gso off`: expected packets
	// are then compared segment by segment, without coalescing.
	noTSO bool

	// tolAbs and tolPercent are packetdrill's tolerance settings
	// (Options.PacketdrillTolerance); tol is the slack of the event
	// being played.
	tolAbs     time.Duration
	tolPercent float64
	tol        time.Duration

	// callEnd is the script time the blocking call being played
	// returns at.
	callEnd time.Duration

	steps   int // timer events fired so far
	pending []*pendingCall
	line    int // line of the event being played
	// actionLine is the line of the last inbound packet, call or command.
	actionLine int
}

func newRun(s *pktdrill.Script, o Options) (*run, error) {
	if o.Seed == 0 {
		o.Seed = 1
	}
	r := &run{
		s: s, opt: o, dir: filepath.Dir(s.File), cfg: o.TCP,
		clk: clock.NewScheduler(start), socks: map[int]*socket{}, nextFD: 3,
		tsMap: map[uint32]uint32{}, tolAbs: pdTolerance, tolPercent: pdTolerancePercent,
	}
	r.wire = newWire(r.clk)
	var ep link.Endpoint = r.wire
	if o.Capture != nil {
		w, err := pcap.NewWriter(o.Capture, pcap.PcapNG)
		if err != nil {
			return r, fmt.Errorf("capture: %w", err)
		}
		r.pcapw = w
		t, err := pcap.NewTap(r.wire, r.clk, w, "host:eth0")
		if err != nil {
			return r, fmt.Errorf("capture: %w", err)
		}
		ep = t
	}
	r.host = stack.New(stack.Config{
		Name: "host", Clock: r.clk, Rand: rng.New(o.Seed, "host/host"),
		ARPCacheTimeout: 24 * time.Hour,
	})
	ifc := r.host.AddInterface("eth0", hostMAC, ep)
	ifc.SetAddress(netip24(localAddr))
	r.host.SetDefaultGateway(gatewayAddr)
	r.net = &mssNet{Host: r.host}
	return r, nil
}

// tcpStack returns the host's TCP, creating it on first use with the
// configuration the script's sysctls and socket options built so far.
func (r *run) tcpStack() *tcp.Stack {
	if r.tcp == nil {
		r.tcp = tcp.New(r.net, r.clk, rng.New(r.opt.Seed, "tcp/host"), r.cfg)
		r.host.RegisterProtocol(tcp.ProtocolNumber, r.tcp)
	}
	return r.tcp
}

// play runs every event in order.
func (r *run) play() error {
	for _, o := range r.s.Options {
		switch o.Name {
		case "tolerance_usecs", "tolerance_percent", "ip_version", "profile", "bind_port", "connect_port",
			"local_ip", "remote_ip", "gateway_ip", "netmask_ip", "wire_client", "wire_server",
			"tcp_ts_tick_usecs", "mss", "speed", "mtu", "init_scripts", "strict_segments",
			"verbose", "non_fatal", "dry_run":
			if err := r.option(o); err != nil {
				return err
			}
		default:
			return unsupportedf(o.Line, "option --%s", o.Name)
		}
	}
	prev := time.Duration(0)   // script time of the previous event
	prevAt := time.Duration(0) // its nominal time
	for i, ev := range r.s.Events {
		r.line = ev.Line
		if ev.Kind == pktdrill.TimeNone {
			if ev.Command == nil {
				return unsupportedf(ev.Line, "event without a time")
			}
			// The cleanup command (last, untimed) restores sysctls.
			if err := r.command(ev.Command.Text, i == len(r.s.Events)-1 && i > 0); err != nil {
				return err
			}
			continue
		}
		lo, hi, at := r.window(ev, prev, prevAt)
		var err error
		var actual time.Duration
		switch {
		case ev.Packet != nil && ev.Packet.Unsupported != "":
			return unsupportedf(ev.Line, "%s", ev.Packet.Unsupported)
		case ev.Packet != nil && ev.Packet.Dir == pktdrill.Outbound:
			actual, err = r.expect(ev.Packet, lo, hi)
		default:
			if err = r.advance(at); err != nil {
				return err
			}
			actual = at
			if ev.Code == nil {
				// Inline code only reads tcp_info: it causes no
				// segment, so a packet sent before it may still be
				// expected after it.
				r.wire.Mark()
				r.actionLine = ev.Line
			}
			switch {
			case ev.Packet != nil:
				err = r.injectPacket(ev.Packet)
			case ev.Syscall != nil:
				r.callEnd = ev.Syscall.End
				if ev.Kind == pktdrill.TimeRelative {
					// packetdrill shifts a blocking call's end time by the
					// offset its relative start time counts from
					// (run.c, adjust_relative_event_times).
					r.callEnd += prev
				}
				err = r.syscall(ev.Syscall)
			case ev.Command != nil:
				err = r.command(ev.Command.Text, false)
			case ev.Code != nil:
				err = r.code(ev.Code.Text)
			}
		}
		if err != nil {
			return err
		}
		if err := r.pollPending(); err != nil {
			return err
		}
		// Relative times count from the previous event's script time, or
		// from when it really happened when its time was a range or `*`.
		if ev.Kind == pktdrill.TimeAny || ev.HasUntil || r.tol > 0 {
			prev = actual
		} else {
			prev = at
		}
		prevAt = at
	}
	// Blocking calls still pending must have been due by now.
	for _, p := range r.pending {
		return failf(p.line, "%s did not return (expected at %s)", p.desc, fmtTime(p.end))
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// Packetdrill's default tolerance (config.c): 4 ms, or 12.5% of the time
// since the previous event when that is more (the worst-case slack of
// Linux's timer wheel).
const (
	pdTolerance        = 4 * time.Millisecond
	pdTolerancePercent = 12.5
)

// tolerance returns the timing slack of an event expected delta after the
// previous one (see Options.PacketdrillTolerance).
func (r *run) tolerance(delta time.Duration) time.Duration {
	if !r.opt.PacketdrillTolerance {
		return r.opt.Tolerance
	}
	t := r.tolAbs
	if d := time.Duration(float64(delta) * r.tolPercent / 100); d > t {
		t = d
	}
	return max(t, r.opt.Tolerance)
}

// window returns the accepted time range of an event and its nominal
// time, all as offsets from the script's start; prev is the time relative
// times count from, prevAt the previous event's nominal time. It sets r.tol
// to the event's slack.
func (r *run) window(ev *pktdrill.Event, prev, prevAt time.Duration) (lo, hi, at time.Duration) {
	now := r.now()
	switch ev.Kind {
	case pktdrill.TimeAny:
		r.tol = r.tolerance(0)
		return now, 1<<62 - 1, now
	case pktdrill.TimeRelative:
		at = prev + ev.Time
		hi = at
		if ev.HasUntil {
			hi = prev + ev.Until
		}
	default:
		at = ev.Time
		hi = at
		if ev.HasUntil {
			hi = ev.Until
		}
	}
	r.tol = r.tolerance(at - prevAt)
	lo = at - r.tol
	hi += r.tol
	if at < now {
		at = now // the clock never runs backwards
	}
	return lo, hi, at
}

func (r *run) now() time.Duration { return r.clk.Now().Sub(start) }

func fmtTime(d time.Duration) string { return fmt.Sprintf("%.6f", d.Seconds()) }

// step fires the next timer if it is due at or before limit (strictly
// before when strict is set), checking that no unexpected segment leaves
// and that blocking calls return in time. It reports whether one fired.
func (r *run) step(limit time.Duration, strict bool) (bool, error) {
	next, ok := r.clk.Next()
	if !ok {
		return false, nil
	}
	t := next.Sub(start)
	if t > limit || strict && t == limit {
		return false, nil
	}
	for _, p := range r.pending {
		if t > p.hi {
			return false, failf(p.line, "%s did not return by %s", p.desc, fmtTime(p.end))
		}
	}
	r.steps++
	if r.steps > maxSteps {
		return false, failf(r.line, "more than %d timer events before this line: the script waits on a stack that never settles", maxSteps)
	}
	r.clk.Step()
	return true, r.pollPending()
}

// advance moves the clock to at (a time from the script's start), running
// the timers due before it. Segments the host sends on the way stay queued:
// as in packetdrill, the next expected packet is compared with the first
// of them, so an unexpected segment fails the next `>` line (and goes
// unnoticed when none follows).
func (r *run) advance(at time.Duration) error {
	for {
		fired, err := r.step(at, true)
		if err != nil {
			return err
		}
		if !fired {
			break
		}
	}
	for _, p := range r.pending {
		if at > p.hi {
			return failf(p.line, "%s did not return by %s", p.desc, fmtTime(p.end))
		}
	}
	if start.Add(at) > r.clk.Now() {
		r.clk.SetNow(start.Add(at))
	}
	return nil
}

// expect waits (on the virtual clock) for the host's next segment within
// [lo, hi] and compares it with p.
func (r *run) expect(p *pktdrill.Packet, lo, hi time.Duration) (time.Duration, error) {
	for len(r.wire.Out) == 0 {
		fired, err := r.step(hi, false)
		if err != nil {
			return 0, err
		}
		if !fired {
			break
		}
	}
	if len(r.wire.Out) == 0 {
		if hi > r.now() && hi < 1<<61 {
			r.clk.SetNow(start.Add(hi))
		}
		return 0, failf(r.line, "expected %s at %s, but nothing was sent (%s)", p, fmtTime(lo+r.tol), r.state())
	}
	s, _ := r.wire.Pop()
	at := s.At.Sub(start)
	data := s.Data
	if !r.noTSO {
		data = r.coalesce(s, p.Len)
	}
	if err := r.match(p, data); err != nil {
		return 0, err
	}
	if s.Epoch < r.wire.Epoch {
		// Sent before the script's previous action: that action cannot
		// have caused it, and the script expects it after.
		return 0, failf(r.line, "packet %s was sent at %s before line %d's event, which the script puts first (%s)",
			p, fmtTime(at), r.actionLine, r.state())
	}
	if at < lo || at > hi {
		want := fmtTime(lo + r.tol)
		if hi-lo > 2*r.tol {
			want = fmtTime(lo) + "~" + fmtTime(hi)
		}
		return 0, failf(r.line, "packet %s sent at %s, expected at %s (%s)", p, fmtTime(at), want, r.state())
	}
	return at, nil
}

// coalesce merges s with the segments queued right behind it when the
// script expects a larger one. Linux hands TSO/GSO super-segments to the
// tun device packetdrill reads, so its scripts show one `P. 1:10001(10000)`
// where simnet, which has no segmentation offload, sends ten MSS-sized
// segments back to back. Segments merge only while they were sent at the
// same instant, are contiguous, carry the same ACK, window and options, no
// SYN, FIN or RST, and the total stays within want bytes.
func (r *run) coalesce(s tcptest.Segment, want int) []byte {
	h, err := tcp.ParseHeader(s.Data)
	if err != nil || len(h.Payload()) == 0 || len(h.Payload()) >= want || h.Flags()&(tcp.FlagSYN|tcp.FlagRST) != 0 {
		return s.Data
	}
	out := append([]byte(nil), s.Data...)
	for len(r.wire.Out) > 0 && h.Flags()&tcp.FlagFIN == 0 {
		n := r.wire.Out[0]
		nh, err := tcp.ParseHeader(n.Data)
		cur := tcp.Header(out)
		total := len(cur.Payload())
		if err != nil || n.At != s.At || len(nh.Payload()) == 0 || total+len(nh.Payload()) > want ||
			nh.Seq() != cur.Seq()+uint32(total) || nh.Ack() != cur.Ack() || nh.Window() != cur.Window() ||
			nh.Flags()&(tcp.FlagSYN|tcp.FlagRST) != 0 || string(nh.Options()) != string(cur.Options()) && !sameButTS(nh.Options(), cur.Options()) {
			break
		}
		out = append(out, nh.Payload()...)
		out[13] |= nh.Flags()
		h = nh
		r.wire.Pop()
	}
	return out
}

// sameButTS reports whether two option areas differ at most in TS val.
func sameButTS(a, b []byte) bool {
	oa, erra := actualOptions(a, 0)
	ob, errb := actualOptions(b, 0)
	if erra != nil || errb != nil || len(oa) != len(ob) {
		return false
	}
	return optionsDiffer(oa, ob) == ""
}

// match compares one segment the host sent with the expected packet.
func (r *run) match(p *pktdrill.Packet, seg []byte) error {
	h, err := tcp.ParseHeader(seg)
	if err != nil {
		return failf(r.line, "expected %s, got a malformed segment: %v", p, err)
	}
	if !r.haveISN && h.Flags()&tcp.FlagSYN != 0 {
		r.haveISN, r.localISN = true, h.Seq()-p.Seq
		r.lport, r.rport = h.SrcPort(), h.DstPort()
	}
	got := describe(seg, r.localISN, 0)
	mismatch := func(what string) error {
		return failf(r.line, "expected %s, got %s: %s (%s)", p, got, what, r.state())
	}
	if h.Flags() != flagBits(p.Flags) {
		return mismatch("flags differ")
	}
	if h.Seq()-r.localISN != p.Seq {
		return mismatch("sequence number differs")
	}
	if len(h.Payload()) != p.Len {
		return mismatch("payload length differs")
	}
	if p.HasAck && h.Ack() != p.Ack {
		return mismatch("ack differs")
	}
	if p.HasWin && h.Window() != p.Win {
		return mismatch("window differs")
	}
	if p.HasUrg && h.Urgent() != p.Urg {
		return mismatch("urgent pointer differs")
	}
	opts, err := actualOptions(h.Options(), 0)
	if err != nil {
		return mismatch(err.Error())
	}
	if !p.AnyOptions {
		if d := optionsDiffer(p.Options, opts); d != "" {
			return mismatch(d)
		}
	}
	if h.Flags()&tcp.FlagSYN != 0 {
		for _, a := range opts {
			if a.Kind == pktdrill.OptMSS {
				r.advMSS = int64(a.Value)
			}
		}
	}
	if err := r.checkTSVal(p, opts, mismatch); err != nil {
		return err
	}
	// Learn the host's timestamp clock from the script's TS val.
	for _, w := range p.Options {
		if w.Kind != pktdrill.OptTimestamp {
			continue
		}
		for _, a := range opts {
			if a.Kind == pktdrill.OptTimestamp {
				r.tsMap[w.TSVal] = a.TSVal
				if !r.haveTS {
					r.haveTS, r.tsOffset = true, a.TSVal-w.TSVal
				}
			}
		}
	}
	return nil
}

// injectPacket builds the script's inbound packet and delivers it.
func (r *run) injectPacket(p *pktdrill.Packet) error {
	if r.tcp == nil {
		r.tcpStack()
	}
	lport, rport := uint16(localPort), uint16(remotePort)
	if r.lport != 0 {
		lport, rport = r.lport, r.rport
	}
	ecr := func(v uint32) uint32 {
		if v == 0 {
			return 0
		}
		if a, ok := r.tsMap[v]; ok {
			return a
		}
		return v + r.tsOffset
	}
	opts, err := rawOptions(p.Options, r.localISN, ecr)
	if err != nil {
		return unsupportedf(r.line, "inbound %v", err)
	}
	if p.AnyOptions {
		return unsupportedf(r.line, "<...> options on an inbound packet")
	}
	var ack uint32
	if p.HasAck {
		if !r.haveISN && flagBits(p.Flags)&tcp.FlagACK != 0 {
			return unsupportedf(r.line, "inbound ACK before the host sent its SYN (no ISN to relate it to)")
		}
		ack = p.Ack + r.localISN
	}
	win := uint16(0)
	if p.HasWin {
		win = p.Win
	}
	payload := make([]byte, p.Len)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	if tcp.HeaderLen+len(opts)+len(payload)+20 > linkMTU {
		return unsupportedf(r.line, "inbound packet of %d payload bytes exceeds the %d-byte link MTU", p.Len, linkMTU)
	}
	r.wire.inject(tcptest.Craft{
		SrcPort: rport, DstPort: lport, Seq: p.Seq, Ack: ack, Flags: flagBits(p.Flags),
		Window: win, Urgent: p.Urg, Options: opts, Payload: payload,
	}.Encode(remoteAddr, localAddr))
	return nil
}

// state describes the connections for failure messages: every connection
// in the table (accepted or not), with the descriptor it is open on.
func (r *run) state() string {
	if r.tcp == nil {
		return "no TCP socket yet"
	}
	fdOf := map[netip.AddrPort]int{}
	for fd, s := range r.socks {
		if s.conn != nil && !s.closed {
			fdOf[s.conn.RemoteAddr()] = fd
		}
	}
	var parts []string
	for _, st := range r.tcp.AllStats() {
		who := "not accepted"
		if fd, ok := fdOf[st.Remote]; ok {
			who = fmt.Sprintf("fd %d", fd)
		}
		parts = append(parts, fmt.Sprintf("%s %s cwnd %d ssthresh %d mss %d rto %s srtt %s",
			who, st.State, st.Cwnd, st.Ssthresh, st.MSS, st.RTO, st.SRTT))
	}
	if len(parts) == 0 {
		return "no connection"
	}
	return strings.Join(parts, "; ")
}

// checkTSVal compares the host's TS val with the script's when the script
// set --tcp_ts_tick_usecs (packetdrill checks it only then), once the first
// expected timestamp has tied the two clocks together.
func (r *run) checkTSVal(p *pktdrill.Packet, got []pktdrill.TCPOption, mismatch func(string) error) error {
	if r.tsTick <= 0 || !r.haveTS {
		return nil
	}
	for _, w := range p.Options {
		if w.Kind != pktdrill.OptTimestamp {
			continue
		}
		for _, a := range got {
			if a.Kind != pktdrill.OptTimestamp {
				continue
			}
			diff := int64(int32(a.TSVal - r.tsOffset - w.TSVal))
			slack := int64(r.tol / r.tsTick)
			if diff < -slack || diff > slack {
				return mismatch(fmt.Sprintf("TS val %d ticks from the script's", diff))
			}
		}
	}
	return nil
}
