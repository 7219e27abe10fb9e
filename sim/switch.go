package sim

import (
	"encoding/binary"
	"time"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
)

// Switch defaults.
const (
	// DefaultAging is how long a learned MAC address stays in the table
	// without being seen (IEEE 802.1D's default ageing time).
	DefaultAging = 300 * time.Second
	// DefaultTableSize bounds the MAC table: 32,768 addresses, as a
	// mid-range access switch holds, so that one switch with 10,000 hosts
	// learns them all instead of flooding the frames to those it could
	// not learn to every port.
	DefaultTableSize = 32768
)

// SwitchConfig configures a learning switch.
type SwitchConfig struct {
	// Aging is how long an address stays learned without being seen as a
	// source; 0 means DefaultAging.
	Aging time.Duration `yaml:"aging" json:"aging"`
	// TableSize bounds the number of learned addresses; 0 means
	// DefaultTableSize. When the table is full, new addresses are not
	// learned and frames to them are flooded.
	TableSize int `yaml:"table_size" json:"table_size"`
}

// macEntry is a learned address.
type macEntry struct {
	port int
	seen clock.Time
}

// Switch is a learning Ethernet bridge (IEEE 802.1D without spanning tree):
// it learns which port each unicast source address is behind, forwards
// frames to a known unicast destination on that port, floods broadcast,
// multicast and unknown destinations to every port but the ingress one, and
// never sends a frame back out of its ingress port. Forwarding takes no
// time; the links carry the latency. Loops in the topology are not
// detected.
type Switch struct {
	w     *World
	name  string
	cfg   SwitchConfig
	ports []*swPort
	// pipes holds, by port, the pipe a port sends into when the port is a
	// bare end of one of the world's links (no capture tap), so that a
	// flood reaches such ports through one impair.Flood; nil otherwise.
	pipes []*impair.Pipe
	table map[uint64]int32 // address (macKey) -> index in entries
	ents  []macEntry
	free  []int32 // unused indices in ents
	stats SwitchStats
}

// macKey packs a 6-byte address into an integer map key.
func macKey(b []byte) uint64 {
	return uint64(binary.BigEndian.Uint32(b[0:4]))<<16 | uint64(binary.BigEndian.Uint16(b[4:6]))
}

// swPort is a switch port attached to a link end.
type swPort struct {
	sw      *Switch
	idx     int
	ep      link.Endpoint
	carrier link.Carrier // ep, when it can carry earlier links' marks
}

// Receive handles a frame arriving at the port.
func (p *swPort) Receive(frame []byte, note link.Note) { p.sw.forward(p.idx, frame, note) }

// send transmits frame out of the port, keeping the marks earlier links
// left on it, so that the receiving host's capture says what the network
// did (a frame corrupted before the switch arrives with that comment).
func (p *swPort) send(frame []byte, note link.Note) {
	if note.IsZero() || p.carrier == nil {
		p.ep.Send(frame)
		return
	}
	p.carrier.SendCarrying(frame, note)
}

// NewSwitch creates a switch with no ports.
func (w *World) NewSwitch(name string, cfg SwitchConfig) (*Switch, error) {
	if err := w.claim("switch", name); err != nil {
		return nil, err
	}
	if cfg.Aging <= 0 {
		cfg.Aging = DefaultAging
	}
	if cfg.TableSize <= 0 {
		cfg.TableSize = DefaultTableSize
	}
	sw := &Switch{w: w, name: name, cfg: cfg, table: make(map[uint64]int32)}
	sw.stats.Name = name
	w.switches = append(w.switches, sw)
	return sw, nil
}

// Name returns the switch's name.
func (s *Switch) Name() string { return s.name }

// AddPort attaches ep (a link end) to a new port and returns its index.
func (s *Switch) AddPort(ep link.Endpoint) int {
	p := &swPort{sw: s, idx: len(s.ports), ep: ep}
	p.carrier, _ = ep.(link.Carrier)
	s.ports = append(s.ports, p)
	var pipe *impair.Pipe
	if e, ok := ep.(*end); ok && e.l.w == s.w {
		pipe = e.l.pipes[e.out]
	}
	s.pipes = append(s.pipes, pipe)
	ep.SetReceiver(p)
	return p.idx
}

// Ports returns the number of ports.
func (s *Switch) Ports() int { return len(s.ports) }

// Lookup returns the port behind which mac was learned, if it is in the
// table and has not aged out.
func (s *Switch) Lookup(mac [6]byte) (port int, ok bool) {
	i, ok := s.table[macKey(mac[:])]
	if !ok {
		return 0, false
	}
	e := &s.ents[i]
	if s.w.sched.Now().Sub(e.seen) > s.cfg.Aging {
		return 0, false
	}
	return e.port, true
}

// learn records that src was seen behind port in at now.
func (s *Switch) learn(src uint64, in int, now clock.Time) {
	if i, ok := s.table[src]; ok {
		e := &s.ents[i]
		if e.port != in {
			s.stats.Moves++
			e.port = in
		}
		e.seen = now
		return
	}
	if len(s.table) >= s.cfg.TableSize {
		return
	}
	var i int32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		i = int32(len(s.ents))
		s.ents = append(s.ents, macEntry{})
	}
	s.ents[i] = macEntry{port: in, seen: now}
	s.table[src] = i
	s.stats.Learned++
}

// forward handles a frame that arrived on port in.
func (s *Switch) forward(in int, frame []byte, note link.Note) {
	if len(frame) < 14 {
		s.stats.Runts++
		return
	}
	now := s.w.sched.Now()
	if frame[6]&1 == 0 { // group addresses are never sources (802.1D 7.8)
		s.learn(macKey(frame[6:12]), in, now)
	}
	if frame[0]&1 == 0 {
		dst := macKey(frame[0:6])
		if i, ok := s.table[dst]; ok {
			if e := &s.ents[i]; now.Sub(e.seen) <= s.cfg.Aging {
				if e.port == in {
					s.stats.Filtered++
					return
				}
				s.stats.Forwarded++
				s.unicast(e.port, frame, note)
				return
			}
			delete(s.table, dst)
			s.free = append(s.free, i)
			s.stats.Aged++
		}
	}
	s.stats.Flooded++
	// The ports that are bare link ends share one held copy of the frame
	// (see impair.Flood); the others get theirs in turn, in port order.
	f := s.w.line.StartFlood(s.pipes, in, frame, note)
	for i, p := range s.ports {
		if i != in && !f.Add(i) {
			p.send(frame, note)
		}
	}
	f.Flush()
}

// unicast sends frame out of port out. A port that is a bare end of one
// of the world's links takes an unmarked frame straight into its pipe, as
// its end would, without loading the port, the end and the link: in a
// world of many hosts each is a cache line of its own.
func (s *Switch) unicast(out int, frame []byte, note link.Note) {
	if p := s.pipes[out]; p != nil && note.IsZero() {
		p.Send(frame)
		return
	}
	s.ports[out].send(frame, note)
}

// SwitchStats are a switch's counters for the report.
type SwitchStats struct {
	// Name is the switch's name.
	Name string `json:"name"`
	// Ports is the number of ports.
	Ports int `json:"ports"`
	// Forwarded counts frames sent out of one learned port.
	Forwarded uint64 `json:"forwarded"`
	// Flooded counts frames sent out of every other port.
	Flooded uint64 `json:"flooded"`
	// Filtered counts frames dropped because their destination is behind
	// their ingress port.
	Filtered uint64 `json:"filtered"`
	// Runts counts frames too short to hold an Ethernet header.
	Runts uint64 `json:"runts"`
	// Learned counts addresses added to the table.
	Learned uint64 `json:"learned"`
	// Moves counts learned addresses seen on another port.
	Moves uint64 `json:"moves"`
	// Aged counts addresses removed after Aging without being seen.
	Aged uint64 `json:"aged"`
	// Table is the number of addresses in the table.
	Table int `json:"table"`
}

// Stats returns the switch's counters.
func (s *Switch) Stats() SwitchStats {
	st := s.stats
	st.Ports = len(s.ports)
	st.Table = len(s.table)
	return st
}
