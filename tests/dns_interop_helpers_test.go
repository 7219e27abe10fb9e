package tests

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// The DNS interop tests run on internal/gvisorpeer's World: simnet's host
// (UDP, TCP) at one end of a simulated link, a gVisor netstack at the
// other, bridged to the simulator's clock.
//
// The world gates the simulator on the gVisor application: with a gate
// port set, every query the peer delivers to that port (a UDP datagram, or
// a TCP segment carrying exactly one length-prefixed DNS message, counted
// once per sequence number) is a reply the application owes, and the
// driving loop does not advance simulated time until the application has
// written it (or gvisorpeer.DefaultGateMax of wall time passed). That keeps
// the simnet resolver's retransmission timers from firing just because the
// Go scheduler was slow to run a gVisor goroutine.

var (
	dniOurAddr  = netip.MustParseAddr("10.53.0.1")
	dniPeerAddr = netip.MustParseAddr("10.53.0.2")
	dniOurMAC   = [6]byte{0x02, 0x53, 0, 0, 0, 1}
	dniPeerMAC  = [6]byte{0x02, 0x53, 0, 0, 0, 2}
)

// dniWall bounds every blocking call made on the gVisor side.
const dniWall = 20 * time.Second

// dniGate tells which frames delivered to the gVisor peer are DNS queries
// its application owes an answer to (gvisorpeer.Config.Owes).
type dniGate struct {
	port uint16
	seen map[uint64]bool
}

// owes reports whether frame carries a query to the gate port that the
// gVisor application will answer.
func (g *dniGate) owes(f []byte) bool {
	if g.port == 0 || len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
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
		return len(l4) >= 8+12 && binary.BigEndian.Uint16(l4[2:]) == g.port
	case 6:
		if len(l4) < 20 || binary.BigEndian.Uint16(l4[2:]) != g.port {
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
		if g.seen[key] {
			return false
		}
		g.seen[key] = true
		return true
	}
	return false
}

// dniWorld is a gvisorpeer.World with the DNS tests' addresses and gate.
type dniWorld struct {
	gw   *gvisorpeer.World
	w    *sim.World
	link *sim.Link
	host *stack.Host
	tcp  *tcp.Stack
	peer *gvisorpeer.Peer
	gate *dniGate
}

// newDNIWorld builds the world; captureDir, when not empty, receives a
// pcapng capture per host (simnet.pcapng, gvisor.pcapng).
func newDNIWorld(t testing.TB, seed uint64, imp impair.Config, captureDir string) *dniWorld {
	t.Helper()
	gate := &dniGate{seen: make(map[uint64]bool)}
	gw, err := gvisorpeer.NewWorld(gvisorpeer.WorldConfig{
		Seed: seed, CaptureDir: captureDir, Link: imp,
		// A short MSL lets the tests see TIME-WAIT end without
		// simulating minutes at gVisor's tick resolution.
		TCP:     tcp.Config{MSL: time.Second},
		OurAddr: dniOurAddr, OurMAC: dniOurMAC, PeerAddr: dniPeerAddr, PeerMAC: dniPeerMAC,
		Peer: gvisorpeer.Config{Owes: gate.owes},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = gw.Close() })
	return &dniWorld{gw: gw, w: gw.W, link: gw.Link, host: gw.Host, tcp: gw.TCP, peer: gw.Peer, gate: gate}
}

// run steps the world until done reports true or limit of simulated time
// passes, holding simulated time while the gVisor application owes a reply.
func (dw *dniWorld) run(limit time.Duration, done func() bool) { dw.gw.Run(limit, done) }

// exchange runs a miekg/dns exchange from the gVisor peer to server, over
// its UDP or TCP ("udp" or "tcp") on a fresh socket, while the simulator
// runs, for at most limit of simulated time.
func (dw *dniWorld) exchange(t *testing.T, network string, server netip.AddrPort, m *mdns.Msg, limit time.Duration) (*mdns.Msg, error) {
	t.Helper()
	type result struct {
		msg *mdns.Msg
		err error
	}
	res := make(chan result, 1)
	go func() {
		var conn net.Conn
		var err error
		switch network {
		case "udp":
			conn, err = dw.peer.DialUDP(server)
		case "tcp":
			ctx, cancel := context.WithTimeout(context.Background(), dniWall)
			conn, err = dw.peer.Dial(ctx, server)
			cancel()
		default:
			err = fmt.Errorf("unknown network %q", network)
		}
		if err != nil {
			res <- result{err: err}
			return
		}
		defer conn.Close()
		cl := &mdns.Client{Net: network, Timeout: dniWall}
		r, _, err := cl.ExchangeWithConn(m, &mdns.Conn{Conn: conn})
		if err != nil {
			err = fmt.Errorf("miekg exchange over gvisor %s: %w", network, err)
		}
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
	peer *gvisorpeer.Peer
	rrs  []mdns.RR
	udp  *mdns.Server
	tcp  *mdns.Server

	mu  sync.Mutex
	log []string // "udp A host.gv.test. edns=1232" per query, in arrival order
}

func startDNIMiekgServer(t *testing.T, dw *dniWorld, records ...string) *dniMiekgServer {
	t.Helper()
	s := &dniMiekgServer{peer: dw.peer}
	for _, r := range records {
		rr, err := mdns.NewRR(r)
		require.NoError(t, err, r)
		s.rrs = append(s.rrs, rr)
	}
	pc, err := dw.peer.ListenUDP(53)
	require.NoError(t, err)
	ln, err := dw.peer.Listen(53)
	require.NoError(t, err)
	dw.gate.port = 53
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
	defer s.peer.Replied()
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
