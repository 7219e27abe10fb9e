package udpapp

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/simnet-go/simnet/app"
)

// maxTrackedSeq bounds the sequence numbers a sink remembers per sender
// (a bit each); datagrams numbered beyond it are counted as invalid.
const maxTrackedSeq = 1 << 24

// maxSenders bounds the senders a sink keeps apart; datagrams from more
// senders are counted as invalid.
const maxSenders = 64

// SinkConfig describes a UDP sink.
type SinkConfig struct {
	Name string
	Port uint16
}

// SinkResult is what a UDP sink received.
type SinkResult struct {
	Port uint16 `json:"port"`
	// Received counts every datagram delivered to the sink.
	Received int `json:"received"`
	// Datagrams counts distinct valid datagrams (by sender and sequence).
	Datagrams int `json:"datagrams"`
	// Duplicates counts valid datagrams received again.
	Duplicates int `json:"duplicates"`
	// OutOfOrder counts valid datagrams numbered below one already
	// received from the same sender.
	OutOfOrder int `json:"out_of_order"`
	// Invalid counts datagrams whose bytes are not what the sender wrote.
	Invalid int `json:"invalid"`
	// Bytes is the payload bytes of the distinct valid datagrams.
	Bytes int64 `json:"bytes"`
	// BytesVerified is true when at least one datagram arrived and every
	// one had the expected contents.
	BytesVerified bool `json:"bytes_verified"`
	// Senders lists the sources seen, sorted.
	Senders []string `json:"senders"`
}

// peer is what a sink tracks per sender.
type peer struct {
	addr    netip.AddrPort
	seen    []uint64 // bitset of sequence numbers
	highest uint64
	any     bool
}

// Sink receives datagrams on a port and verifies them.
type Sink struct {
	cfg   SinkConfig
	peers []*peer
	res   SinkResult
}

// NewSink returns a UDP sink for cfg.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Port == 0 {
		return nil, fmt.Errorf("udp_sink %s: need a port", cfg.Name)
	}
	return &Sink{cfg: cfg, res: SinkResult{Port: cfg.Port}}, nil
}

// Name returns the app's name.
func (s *Sink) Name() string { return s.cfg.Name }

// Start binds the sink's port.
func (s *Sink) Start(env *app.Env) error {
	if _, err := env.Net.ListenUDP(s.cfg.Port, s); err != nil {
		return fmt.Errorf("udp_sink %s: %w", s.cfg.Name, err)
	}
	return nil
}

// HandleDatagram verifies and counts one datagram.
func (s *Sink) HandleDatagram(src, _ netip.AddrPort, payload []byte) {
	s.res.Received++
	seq, ok := Check(payload)
	if !ok || seq >= maxTrackedSeq {
		s.res.Invalid++
		return
	}
	p := s.peer(src)
	if p == nil {
		s.res.Invalid++
		return
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if int(w) >= len(p.seen) {
		p.seen = append(p.seen, make([]uint64, int(w)+1-len(p.seen))...)
	}
	if p.seen[w]&bit != 0 {
		s.res.Duplicates++
		return
	}
	p.seen[w] |= bit
	s.res.Datagrams++
	s.res.Bytes += int64(len(payload))
	if p.any && seq < p.highest {
		s.res.OutOfOrder++
	}
	if !p.any || seq > p.highest {
		p.highest = seq
	}
	p.any = true
}

func (s *Sink) peer(src netip.AddrPort) *peer {
	for _, p := range s.peers {
		if p.addr == src {
			return p
		}
	}
	if len(s.peers) >= maxSenders {
		return nil
	}
	p := &peer{addr: src}
	s.peers = append(s.peers, p)
	return p
}

// Result returns the counts so far.
func (s *Sink) Result() any {
	r := s.res
	r.BytesVerified = r.Received > 0 && r.Invalid == 0
	r.Senders = make([]string, len(s.peers))
	for i, p := range s.peers {
		r.Senders[i] = p.addr.String()
	}
	slices.Sort(r.Senders)
	return r
}
