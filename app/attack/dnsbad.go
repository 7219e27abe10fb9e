package attack

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/clock"
)

// DNSBadQueryConfig describes a stream of malformed DNS queries.
type DNSBadQueryConfig struct {
	Name string
	// Target is the DNS server's address and port.
	Target netip.AddrPort
	// Count is the number of queries of each kind sent.
	Count int
	// Interval is the time between two queries.
	Interval time.Duration
}

// DNSBadQueryResult is what the malformed queries got.
type DNSBadQueryResult struct {
	Target string `json:"target"`
	// Sent counts queries sent, Errors those the host refused.
	Sent   int `json:"sent"`
	Errors int `json:"errors"`
	// Answers counts the responses, FormErr those with RCODE FORMERR (1),
	// Other those with any other RCODE: a server that follows a pointer
	// loop or accepts an overlong name answers something else.
	Answers int `json:"answers"`
	FormErr int `json:"formerr"`
	Other   int `json:"other"`
}

// dnsBadKinds are the queries sent in turn; each is a 12-byte header with
// QDCOUNT 1 followed by a question whose name is broken (RFC 1035 sections
// 2.3.4 and 4.1.4): a compression pointer to itself, two pointers to each
// other, a pointer forward past the end, and a name of 300 octets, over
// the 255-octet limit.
var dnsBadKinds = [][]byte{
	{0xc0, 12, 0, 1, 0, 1},
	{0xc0, 14, 0xc0, 12, 0, 1, 0, 1},
	{0xc0, 200, 0, 1, 0, 1},
	longName(),
}

// longName returns a question whose name is 300 octets on the wire (four
// 63-octet labels, one of 42 and the root), type A, class IN.
func longName() []byte {
	var b []byte
	for _, n := range []int{63, 63, 63, 63, 42} {
		b = append(b, byte(n))
		for range n {
			b = append(b, 'a')
		}
	}
	return append(b, 0, 0, 1, 0, 1)
}

// DNSBadQuery sends Count queries of each broken kind to Target, one every
// Interval, and counts what comes back.
type DNSBadQuery struct {
	cfg   DNSBadQueryConfig
	env   *app.Env
	conn  app.Conn
	buf   []byte
	n     int
	timer clock.Timer
	res   DNSBadQueryResult
}

// NewDNSBadQuery returns the app for cfg.
func NewDNSBadQuery(cfg DNSBadQueryConfig) (*DNSBadQuery, error) {
	if !cfg.Target.IsValid() || cfg.Count < 1 || cfg.Interval <= 0 {
		return nil, fmt.Errorf("dns_bad_query %s: need a target, count >= 1 and a positive interval", cfg.Name)
	}
	q := &DNSBadQuery{cfg: cfg, buf: make([]byte, 0, 512), res: DNSBadQueryResult{Target: cfg.Target.String()}}
	q.timer.Init(clock.HandlerFunc(q.tick))
	return q, nil
}

// Name returns the app's name.
func (q *DNSBadQuery) Name() string { return q.cfg.Name }

// Start binds an ephemeral port and sends the first query.
func (q *DNSBadQuery) Start(env *app.Env) error {
	q.env = env
	c, err := env.Net.ListenUDP(0, q)
	if err != nil {
		return fmt.Errorf("dns_bad_query %s: %w", q.cfg.Name, err)
	}
	q.conn = c
	q.tick(env.Clock.Now())
	return nil
}

func (q *DNSBadQuery) tick(now clock.Time) {
	kind := dnsBadKinds[q.n%len(dnsBadKinds)]
	b := binary.BigEndian.AppendUint16(q.buf[:0], uint16(q.env.Rand.Uint32()))
	b = append(b, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD, QDCOUNT 1
	b = append(b, kind...)
	if err := q.conn.SendTo(q.cfg.Target, b); err != nil {
		q.res.Errors++
	} else {
		q.res.Sent++
	}
	q.n++
	if q.n < q.cfg.Count*len(dnsBadKinds) {
		q.env.Clock.Schedule(&q.timer, now.Add(q.cfg.Interval))
	}
}

// HandleDatagram counts a response.
func (q *DNSBadQuery) HandleDatagram(_, _ netip.AddrPort, p []byte) {
	if len(p) < 12 || p[2]&0x80 == 0 {
		return
	}
	q.res.Answers++
	if p[3]&0x0f == 1 {
		q.res.FormErr++
	} else {
		q.res.Other++
	}
}

// Result returns the counts so far.
func (q *DNSBadQuery) Result() any { return q.res }
