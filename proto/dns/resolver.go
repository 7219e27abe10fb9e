package dns

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
)

// UDPTransport sends a resolver's queries as UDP datagrams. The stack
// adapter should send each query from a fresh random source port and feed
// what comes back to Resolver.HandleUDP.
type UDPTransport interface {
	// SendUDP sends msg to server. msg is valid only during the call.
	SendUDP(server netip.AddrPort, msg []byte) error
}

// TCPTransport carries a query over TCP when a UDP answer was truncated.
type TCPTransport interface {
	// QueryTCP sends msg (unframed; the transport adds the RFC 1035 section
	// 4.2.2 length prefix) to server and calls done exactly once with the
	// unframed response or an error, including its own timeout.
	QueryTCP(server netip.AddrPort, msg []byte, done func(resp []byte, err error))
}

// Errors delivered in Result.Err.
var (
	// ErrTimeout reports that no server answered after all attempts.
	ErrTimeout = errors.New("dns: query timed out")
	// ErrTruncated reports a truncated UDP answer with no TCP transport.
	ErrTruncated = errors.New("dns: answer truncated and no TCP transport")
	// ErrNoServers reports a resolver without servers.
	ErrNoServers = errors.New("dns: no servers configured")
	// ErrBusy reports that no free query ID was found.
	ErrBusy = errors.New("dns: too many queries in flight")
)

// Result is the outcome of a lookup.
type Result struct {
	// Msg is the decoded response, nil on error.
	Msg *Msg
	// Server is the server that answered.
	Server netip.AddrPort
	// TCP reports that the answer came over TCP after truncation.
	TCP bool
	// Err is nil, ErrTimeout, ErrTruncated or a transport or decoding
	// error.
	Err error
}

// ResolverStats counts responses a Resolver ignored.
type ResolverStats struct {
	Sent       uint64 // UDP queries sent, including retries
	Mismatched uint64 // responses with an unknown ID, wrong source or question
	Malformed  uint64 // responses that failed to decode
}

// Resolver is a stub resolver state machine: it sends queries with random
// IDs, retries on clock timers rotating through its servers, falls back to
// TCP when an answer is truncated and reports results through callbacks.
// It is used from the driver's loop only.
type Resolver struct {
	clk     clock.Clock
	rnd     *rand.Rand
	udp     UDPTransport
	tcp     TCPTransport
	pending map[uint16]*lookup

	// Servers are tried in order, one per attempt.
	Servers []netip.AddrPort
	// Timeout is how long each attempt waits (default 2s).
	Timeout time.Duration
	// Attempts is the number of UDP sends per lookup (default 3).
	Attempts int
	// UDPSize is the EDNS0 payload size advertised; 0 sends no OPT.
	UDPSize uint16
	// Stats counts ignored responses.
	Stats ResolverStats
}

// NewResolver returns a resolver that sends through udp. tcp may be nil:
// truncated answers are then reported with ErrTruncated.
func NewResolver(clk clock.Clock, rnd *rand.Rand, udp UDPTransport, tcp TCPTransport, servers ...netip.AddrPort) *Resolver {
	return &Resolver{
		clk: clk, rnd: rnd, udp: udp, tcp: tcp,
		pending:  make(map[uint16]*lookup),
		Servers:  servers,
		Timeout:  2 * time.Second,
		Attempts: 3,
		UDPSize:  DefaultUDPSize,
	}
}

// SetTCP plugs in (or removes, with nil) the TCP transport.
func (r *Resolver) SetTCP(tcp TCPTransport) { r.tcp = tcp }

// Pending returns the number of lookups in flight.
func (r *Resolver) Pending() int { return len(r.pending) }

// Waiting reports whether a lookup with query ID id is in flight: a
// transport keeps a per-query socket open while it is.
func (r *Resolver) Waiting(id uint16) bool { return r.pending[id] != nil }

type lookup struct {
	r      *Resolver
	q      Question
	id     uint16
	try    int
	server netip.AddrPort
	cb     func(Result)
	timer  clock.Timer
	done   bool
}

// Lookup starts a query for name and type t (class IN, RD set) and calls cb
// once with the result, from HandleUDP, a timer or the TCP transport.
func (r *Resolver) Lookup(name string, t Type, cb func(Result)) error {
	if len(r.Servers) == 0 {
		return ErrNoServers
	}
	cn, err := CanonicalName(name)
	if err != nil {
		return fmt.Errorf("lookup %q: %w", name, err)
	}
	l := &lookup{r: r, q: Question{Name: cn, Type: t, Class: ClassINET}, cb: cb}
	l.timer.Init(l)
	if err := r.send(l); err != nil {
		return fmt.Errorf("lookup %s %s: %w", cn, t, err)
	}
	return nil
}

func (r *Resolver) newID() (uint16, bool) {
	for range 32 {
		id := uint16(r.rnd.Uint32())
		if _, busy := r.pending[id]; !busy {
			return id, true
		}
	}
	return 0, false
}

// send transmits attempt l.try with a fresh ID and arms the timer.
func (r *Resolver) send(l *lookup) error {
	id, ok := r.newID()
	if !ok {
		return ErrBusy
	}
	delete(r.pending, l.id)
	l.id = id
	l.server = r.Servers[l.try%len(r.Servers)]
	msg, err := r.query(l)
	if err != nil {
		return err
	}
	r.pending[id] = l
	r.Stats.Sent++
	r.clk.Schedule(&l.timer, r.clk.Now().Add(r.Timeout))
	// A send error (no route, say) is treated like a lost datagram: the
	// timer retries.
	_ = r.udp.SendUDP(l.server, msg)
	return nil
}

func (r *Resolver) query(l *lookup) ([]byte, error) {
	m := Msg{Header: Header{ID: l.id, RecursionDesired: true}, Question: []Question{l.q}}
	if r.UDPSize > 0 {
		m.Additional = []RR{NewOPT(r.UDPSize, 0, false)}
	}
	return m.Pack()
}

// OnTimer retries or gives up; it implements clock.Handler.
func (l *lookup) OnTimer(clock.Time) {
	r := l.r
	l.try++
	if l.try >= r.Attempts {
		r.finish(l, Result{Err: ErrTimeout})
		return
	}
	if err := r.send(l); err != nil {
		r.finish(l, Result{Err: err})
	}
}

func (r *Resolver) finish(l *lookup, res Result) {
	if l.done {
		return
	}
	l.done = true
	r.clk.Cancel(&l.timer)
	if r.pending[l.id] == l {
		delete(r.pending, l.id)
	}
	l.cb(res)
}

// HandleUDP takes a datagram received from src. Responses that do not
// match a pending query (ID, server and question, RFC 5452 section 9.1)
// are counted and ignored.
func (r *Resolver) HandleUDP(src netip.AddrPort, payload []byte) {
	if len(payload) < HeaderLen {
		r.Stats.Malformed++
		return
	}
	id := uint16(payload[0])<<8 | uint16(payload[1])
	l := r.pending[id]
	if l == nil || src != l.server || payload[2]&0x80 == 0 {
		r.Stats.Mismatched++
		return
	}
	m := new(Msg)
	if err := m.Unpack(payload); err != nil {
		r.Stats.Malformed++
		return
	}
	if !l.matches(m) {
		r.Stats.Mismatched++
		return
	}
	if m.Truncated {
		// RFC 1035 section 4.2.1 and RFC 7766 section 5: retry over TCP.
		if r.tcp == nil {
			r.finish(l, Result{Msg: m, Server: src, Err: ErrTruncated})
			return
		}
		r.clk.Cancel(&l.timer)
		delete(r.pending, l.id)
		msg, err := r.query(l)
		if err != nil {
			r.finish(l, Result{Err: err})
			return
		}
		r.tcp.QueryTCP(src, msg, func(resp []byte, err error) {
			if err != nil {
				r.finish(l, Result{Server: src, TCP: true, Err: fmt.Errorf("tcp query to %v: %w", src, err)})
				return
			}
			tm := new(Msg)
			if err := tm.Unpack(resp); err != nil {
				r.finish(l, Result{Server: src, TCP: true, Err: fmt.Errorf("tcp answer from %v: %w", src, err)})
				return
			}
			if tm.ID != l.id || !l.matches(tm) {
				r.finish(l, Result{Server: src, TCP: true, Err: fmt.Errorf("tcp answer from %v does not match the query", src)})
				return
			}
			r.finish(l, Result{Msg: tm, Server: src, TCP: true})
		})
		return
	}
	r.finish(l, Result{Msg: m, Server: src})
}

func (l *lookup) matches(m *Msg) bool {
	if !m.Response || len(m.Question) != 1 {
		return false
	}
	q := m.Question[0]
	return q.Type == l.q.Type && q.Class == l.q.Class && equalFoldASCII(q.Name, l.q.Name)
}
