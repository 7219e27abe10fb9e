package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	gvtcp "gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	gvudp "gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// The DNS interop tests need UDP on the gVisor side, which
// tests/gvisorpeer does not register (it is a TCP-only peer), so this file
// carries its own small gVisor host, bridged to a simulated link the same
// way: gVisor reads a faketime.ManualClock that follows the simulator, and
// after every delivered frame or clock advance the peer waits for gVisor to
// go quiet and then sends what it queued, at the current simulated instant.
//
// On top of that the peer can gate the simulator on the gVisor
// application: with a gate port set, every query it delivers to that port
// (a UDP datagram, or a TCP segment carrying exactly one length-prefixed
// DNS message, counted once per sequence number) is a reply the
// application owes, and the driving loop does not advance simulated time
// until the application has written it (or dniGateMax of wall time
// passed). That keeps the simnet resolver's retransmission timers from
// firing just because the Go scheduler was slow to run a gVisor goroutine.

var (
	dniOurAddr  = netip.MustParseAddr("10.53.0.1")
	dniPeerAddr = netip.MustParseAddr("10.53.0.2")
	dniOurMAC   = ether.Addr{0x02, 0x53, 0, 0, 0, 1}
	dniPeerMAC  = [6]byte{0x02, 0x53, 0, 0, 0, 2}
)

const (
	dniNIC = 1
	// dniTick is the resolution of gVisor's timers in simulated time.
	dniTick = time.Millisecond
	// gVisor is quiet when its outbound queue has not changed for
	// dniSettleYields scheduler yields and dniSettleQuiet of wall time; a
	// settle never takes longer than dniSettleMax.
	dniSettleYields = 8
	dniSettleQuiet  = 40 * time.Microsecond
	dniSettleMax    = 5 * time.Millisecond
	// dniGateMax bounds how long the loop waits for the gVisor
	// application to answer a query it was handed.
	dniGateMax = 2 * time.Second
	// dniWall bounds every blocking call made on the gVisor side.
	dniWall = 20 * time.Second
)

// dniPeer is a gVisor netstack host (ARP, IPv4, UDP, TCP) on a link.
type dniPeer struct {
	st  *gvstack.Stack
	ch  *channel.Endpoint
	clk *faketime.ManualClock
	now clock.Time
	out link.Endpoint

	sch  clock.Clock
	tick clock.Timer

	gatePort  uint16
	owed      atomic.Int64
	seen      map[uint64]bool
	gateSlips int
}

func newDNIPeer(start clock.Time) (*dniPeer, error) {
	clk := faketime.NewManualClock()
	st := gvstack.New(gvstack.Options{
		NetworkProtocols:   []gvstack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []gvstack.TransportProtocolFactory{gvtcp.NewProtocol, gvudp.NewProtocol},
		Clock:              clk,
	})
	ch := channel.New(4096, 1500, tcpip.LinkAddress(dniPeerMAC[:]))
	if err := st.CreateNIC(dniNIC, ethernet.New(ch)); err != nil {
		return nil, fmt.Errorf("gvisor: create nic: %s", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFrom4(dniPeerAddr.As4()), PrefixLen: 24},
	}
	if err := st.AddProtocolAddress(dniNIC, pa, gvstack.AddressProperties{}); err != nil {
		return nil, fmt.Errorf("gvisor: add address: %s", err)
	}
	st.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: dniNIC}})
	if err := st.AddStaticNeighbor(dniNIC, ipv4.ProtocolNumber, tcpip.AddrFrom4(dniOurAddr.As4()), tcpip.LinkAddress(dniOurMAC[:])); err != nil {
		return nil, fmt.Errorf("gvisor: neighbor: %s", err)
	}
	minRTO := tcpip.TCPMinRTOOption(200 * time.Millisecond)
	if err := st.SetTransportProtocolOption(gvtcp.ProtocolNumber, &minRTO); err != nil {
		return nil, fmt.Errorf("gvisor: min rto: %s", err)
	}
	return &dniPeer{st: st, ch: ch, clk: clk, now: start, seen: make(map[uint64]bool)}, nil
}

// attach makes the peer ep's receiver and follows clk with a periodic tick.
func (p *dniPeer) attach(ep link.Endpoint, clk clock.Clock) {
	p.out = ep
	ep.SetReceiver(p)
	p.sch = clk
	p.tick.Init(clock.HandlerFunc(func(now clock.Time) {
		p.sync(now)
		p.sch.Schedule(&p.tick, now.Add(dniTick))
	}))
	clk.Schedule(&p.tick, clk.Now().Add(dniTick))
}

func (p *dniPeer) close() {
	p.sch.Cancel(&p.tick)
	p.ch.Close()
	p.st.Close()
}

// Receive injects a frame from the link into gVisor (link.Receiver).
func (p *dniPeer) Receive(frame []byte, _ link.Note) {
	p.advance(p.sch.Now())
	if p.gatePort != 0 && p.isQuery(frame) {
		p.owed.Add(1)
	}
	pkt := gvstack.NewPacketBuffer(gvstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	p.ch.InjectInbound(0, pkt)
	pkt.DecRef()
	p.settleAndFlush()
}

// isQuery reports whether frame carries a query to the gate port that the
// gVisor application will answer.
func (p *dniPeer) isQuery(f []byte) bool {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return false
	}
	ip := f[14:]
	ihl := int(ip[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || tot < ihl || tot > len(ip) || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return false
	}
	l4 := ip[ihl:tot]
	switch ip[9] {
	case 17:
		return len(l4) >= 8+12 && binary.BigEndian.Uint16(l4[2:]) == p.gatePort
	case 6:
		if len(l4) < 20 || binary.BigEndian.Uint16(l4[2:]) != p.gatePort {
			return false
		}
		doff := int(l4[12]>>4) * 4
		if doff < 20 || doff > len(l4) {
			return false
		}
		data := l4[doff:]
		if len(data) < 2+12 || int(binary.BigEndian.Uint16(data))+2 != len(data) {
			return false
		}
		key := uint64(binary.BigEndian.Uint16(l4))<<32 | uint64(binary.BigEndian.Uint32(l4[4:]))
		if p.seen[key] {
			return false
		}
		p.seen[key] = true
		return true
	}
	return false
}

// replied records that the gVisor application wrote an owed reply.
func (p *dniPeer) replied() {
	for {
		v := p.owed.Load()
		if v <= 0 || p.owed.CompareAndSwap(v, v-1) {
			return
		}
	}
}

// waitApp blocks while the gVisor application owes replies, at most
// dniGateMax, and reports whether it waited.
func (p *dniPeer) waitApp() bool {
	if p.owed.Load() <= 0 {
		return false
	}
	start := time.Now()
	for p.owed.Load() > 0 {
		if time.Since(start) > dniGateMax {
			p.gateSlips++
			p.owed.Store(0)
			break
		}
		runtime.Gosched()
		time.Sleep(10 * time.Microsecond)
	}
	return true
}

func (p *dniPeer) sync(now clock.Time) {
	p.advance(now)
	p.settleAndFlush()
}

func (p *dniPeer) advance(now clock.Time) {
	if now > p.now {
		p.clk.Advance(now.Sub(p.now))
		p.now = now
	}
}

// settleAndFlush waits for gVisor to go quiet, then sends what it queued.
func (p *dniPeer) settleAndFlush() {
	start := time.Now()
	quietSince := start
	last, still := -1, 0
	for {
		runtime.Gosched()
		n := p.ch.NumQueued()
		now := time.Now()
		if n != last {
			last, still, quietSince = n, 0, now
			continue
		}
		still++
		if still >= dniSettleYields && now.Sub(quietSince) >= dniSettleQuiet || now.Sub(start) >= dniSettleMax {
			break
		}
	}
	for {
		pkt := p.ch.Read()
		if pkt == nil {
			return
		}
		v := pkt.ToView()
		pkt.DecRef()
		p.out.Send(v.AsSlice())
		v.Release()
	}
}

// dniFull converts ap to a gVisor address on the peer's NIC.
func dniFull(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: dniNIC, Addr: tcpip.AddrFrom4(ap.Addr().As4()), Port: ap.Port()}
}

// exchange sends m to server with a miekg/dns client over gVisor's UDP or
// TCP ("udp" or "tcp"), on a fresh socket. It blocks: call it from a
// goroutine while the simulator runs.
func (p *dniPeer) exchange(network string, server netip.AddrPort, m *mdns.Msg) (*mdns.Msg, error) {
	var conn net.Conn
	switch network {
	case "udp":
		remote := dniFull(server)
		c, err := gonet.DialUDP(p.st, nil, &remote, ipv4.ProtocolNumber)
		if err != nil {
			return nil, fmt.Errorf("gvisor udp dial %v: %w", server, err)
		}
		conn = c
	case "tcp":
		ctx, cancel := context.WithTimeout(context.Background(), dniWall)
		defer cancel()
		c, err := gonet.DialContextTCP(ctx, p.st, dniFull(server), ipv4.ProtocolNumber)
		if err != nil {
			return nil, fmt.Errorf("gvisor tcp dial %v: %w", server, err)
		}
		conn = c
	default:
		return nil, fmt.Errorf("unknown network %q", network)
	}
	defer conn.Close()
	cl := &mdns.Client{Net: network, Timeout: dniWall}
	r, _, err := cl.ExchangeWithConn(m, &mdns.Conn{Conn: conn})
	if err != nil {
		return nil, fmt.Errorf("miekg exchange over gvisor %s: %w", network, err)
	}
	return r, nil
}

// dniWorld is a sim world with a simnet host (UDP, TCP) at one end of a
// link and the gVisor peer at the other.
type dniWorld struct {
	w    *sim.World
	link *sim.Link
	host *stack.Host
	tcp  *tcp.Stack
	peer *dniPeer
}

// newDNIWorld builds the world; captureDir, when not empty, receives a
// pcapng capture per host (simnet.pcapng, gvisor.pcapng).
func newDNIWorld(t testing.TB, seed uint64, imp impair.Config, captureDir string) *dniWorld {
	t.Helper()
	w, err := sim.New(sim.Config{Seed: seed, CaptureDir: captureDir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = w.Close() })
	l, err := w.Connect("wire", sim.Iface{Host: "simnet", Name: "eth0"}, sim.Iface{Host: "gvisor", Name: "eth0"},
		sim.LinkConfig{AtoB: imp, BtoA: imp})
	require.NoError(t, err)
	// The peer listens before simnet's host announces its address.
	peer, err := newDNIPeer(w.Now())
	require.NoError(t, err)
	peer.attach(l.B(), w.Clock())
	t.Cleanup(peer.close)
	h := stack.New(stack.Config{Name: "simnet", Clock: w.Clock(), Rand: w.Rand("host/simnet")})
	// A short MSL lets the tests see TIME-WAIT end without simulating
	// minutes at gVisor's tick resolution.
	ts := tcp.New(h, w.Clock(), w.Rand("host/simnet/tcp"), tcp.Config{MSL: time.Second})
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	h.AddInterface("eth0", dniOurMAC, l.A()).SetAddress(netip.PrefixFrom(dniOurAddr, 24))
	return &dniWorld{w: w, link: l, host: h, tcp: ts, peer: peer}
}

// run steps the world until done reports true or limit of simulated time
// passes, holding simulated time while the gVisor application owes a reply.
func (dw *dniWorld) run(limit time.Duration, done func() bool) {
	end := dw.w.Now().Add(limit)
	for !done() && dw.w.Now() < end {
		if dw.peer.waitApp() {
			// Send the reply at the instant its query arrived.
			dw.peer.sync(dw.w.Now())
			continue
		}
		if !dw.w.Step() {
			return
		}
	}
}

// exchange runs a miekg/dns exchange from the gVisor peer to server while
// the simulator runs, for at most limit of simulated time.
func (dw *dniWorld) exchange(t *testing.T, network string, server netip.AddrPort, m *mdns.Msg, limit time.Duration) (*mdns.Msg, error) {
	t.Helper()
	type result struct {
		msg *mdns.Msg
		err error
	}
	res := make(chan result, 1)
	go func() {
		r, err := dw.peer.exchange(network, server, m)
		res <- result{r, err}
	}()
	var got *result
	dw.run(limit, func() bool {
		select {
		case r := <-res:
			got = &r
		default:
		}
		return got != nil
	})
	if got == nil {
		// The gVisor side is still blocked: its wall deadline ends it.
		r := <-res
		t.Fatalf("no answer within %v of simulated time (gVisor side: %v)", limit, r.err)
	}
	return got.msg, got.err
}

// dniMiekgServer is a miekg/dns authoritative server on the gVisor peer,
// serving UDP and TCP on port 53 from a fixed record list.
type dniMiekgServer struct {
	peer *dniPeer
	rrs  []mdns.RR
	udp  *mdns.Server
	tcp  *mdns.Server

	mu  sync.Mutex
	log []string // "udp A host.gv.test. edns=1232" per query, in arrival order
}

func startDNIMiekgServer(t *testing.T, p *dniPeer, records ...string) *dniMiekgServer {
	t.Helper()
	s := &dniMiekgServer{peer: p}
	for _, r := range records {
		rr, err := mdns.NewRR(r)
		require.NoError(t, err, r)
		s.rrs = append(s.rrs, rr)
	}
	local := tcpip.FullAddress{NIC: dniNIC, Port: 53}
	pc, err := gonet.DialUDP(p.st, &local, nil, ipv4.ProtocolNumber)
	require.NoError(t, err)
	ln, err := gonet.ListenTCP(p.st, local, ipv4.ProtocolNumber)
	require.NoError(t, err)
	p.gatePort = 53
	s.udp = &mdns.Server{PacketConn: pc, Handler: s}
	s.tcp = &mdns.Server{Listener: ln, Handler: s}
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		select {
		case <-started:
		case <-time.After(dniWall):
			t.Fatal("miekg server did not start")
		}
	}
	t.Cleanup(func() {
		for _, srv := range []*mdns.Server{s.udp, s.tcp} {
			ctx, cancel := context.WithTimeout(context.Background(), dniWall)
			_ = srv.ShutdownContext(ctx)
			cancel()
		}
	})
	return s
}

// ServeDNS answers from the record list: the records of the asked name and
// type, NXDOMAIN for an unknown name; over UDP it truncates to 512 octets
// or the query's EDNS0 size (RFC 6891 section 6.2.5).
func (s *dniMiekgServer) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	defer s.peer.replied()
	network := w.RemoteAddr().Network()
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	entry := network + " " + mdns.TypeToString[q.Qtype] + " " + q.Name
	if opt := req.IsEdns0(); opt != nil {
		entry += fmt.Sprintf(" edns=%d", opt.UDPSize())
	}
	s.mu.Lock()
	s.log = append(s.log, entry)
	s.mu.Unlock()
	known := false
	for _, rr := range s.rrs {
		h := rr.Header()
		if !strings.EqualFold(h.Name, q.Name) {
			continue
		}
		known = true
		if h.Rrtype == q.Qtype {
			m.Answer = append(m.Answer, mdns.Copy(rr))
		}
	}
	if !known {
		m.Rcode = mdns.RcodeNameError
	}
	size := mdns.MaxMsgSize
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(4096, false)
		if network == "udp" {
			size = int(opt.UDPSize())
		}
	} else if network == "udp" {
		size = mdns.MinMsgSize
	}
	m.Truncate(size)
	_ = w.WriteMsg(m)
}

// queries returns the server's query log.
func (s *dniMiekgServer) queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// dniTsharkFilter selects frames Wireshark finds wrong: malformed, with an
// expert error (PI_ERROR, 0x00800000) or with a bad IP, UDP or TCP
// checksum.
const dniTsharkFilter = "_ws.malformed || _ws.expert.severity >= 0x00800000 || ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0"

// dniTshark runs tshark on a capture with checksum validation on and
// returns its output lines.
func dniTshark(t *testing.T, tshark, path string, args ...string) []string {
	t.Helper()
	prefs := []string{"-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"}
	cmd := exec.Command(tshark, append(prefs, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark on %s: %s", path, stderr.String())
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
