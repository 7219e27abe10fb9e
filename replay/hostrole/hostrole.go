// Package hostrole replays a capture with simnet's stack in the role of one
// of its hosts, as tcpliveplay does with a live host: the frames the
// capture shows arriving at that host are fed to our stack at their
// recorded times on the replay Timeline (so the host's clock follows
// capture time), the peer's TCP acknowledgements are rewritten onto our
// sequence space (Rewriter), and what our stack sends back is recorded,
// interleaved with the replayed input, and compared with what the recorded
// host sent (replay/diff).
//
// The host is configured from the capture (Learn): its hardware address,
// subnet, on-link neighbours (installed as static ARP or, for an IPv6
// host, neighbour cache entries, so no ARP or Neighbor Discovery exchange
// the recording did not have delays a reply) and gateway. The
// services it runs are the ones the caller names: TCP echo, HTTP, DNS.
//
// An IPv6 host takes the /64 of its address and a default route through
// the gateway; the peers' Neighbor Solicitations and packets to all-nodes
// are fed; ICMPv6 is not compared.
//
// Limits: flows in which the recorded host was the client are not
// reproduced (no application on our side opens them); they are listed
// in the report with a note. A peer segment that acknowledges data our
// stack has not sent has its acknowledgement clipped to what was sent (or
// is first held for Config.HoldTimeout, waiting for our stack to send it).
// ICMP and ARP replies are fed and recorded but not compared.
package hostrole

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/app/httpapp"
	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/ipv6"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/replay/jsontime"
)

const (
	ipProtoICMP = 1
	ipProtoUDP  = 17
)

// udpKey is the flow key of a datagram between the host's port and a
// peer. The DHCP server's flows (host port 67) are one flow whatever the
// client's address: the client sends from 0.0.0.0 before it has a lease
// and the server answers to the offered address or to broadcast.
func udpKey(host, peer netip.AddrPort) FlowKey {
	if host.Port() == dhcpServerPort {
		peer = netip.AddrPortFrom(netip.IPv4Unspecified(), dhcpClientPort)
	}
	return FlowKey{Host: host, Peer: peer}
}

// DHCP ports (RFC 2131 section 4.1).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
)

// maxDatagramKept bounds the bytes of a datagram kept for the field
// comparison of DNS and DHCP messages.
const maxDatagramKept = 4096

// Defaults for Config.
const (
	DefaultGrace = 2 * time.Second
	// MaxHeld bounds the peer segments held per flow; beyond it the oldest
	// is clipped and delivered.
	MaxHeld = 256
	// MaxSegmentsPerFlow bounds the segments kept for the comparison per
	// flow and side; later ones are counted, not compared.
	MaxSegmentsPerFlow = 1 << 20
	// MaxFlows bounds the flows tracked; segments of further flows are fed
	// unchanged and counted in Stats.Untracked, not compared.
	MaxFlows = 1 << 16
)

// Output file names in Config.OutDir.
const (
	CaptureFile = "replay.pcapng"
	DiffFile    = "diff.json"
	SummaryFile = "summary.txt"
)

// Config describes a host-role replay.
type Config struct {
	// As is the address of the host whose role our stack takes.
	As netip.Addr
	// OutDir, when not empty, receives CaptureFile, DiffFile and
	// SummaryFile.
	OutDir string
	// EchoPort, HTTPPort and DNSPort, when not zero, start a TCP echo
	// server, an HTTP server (serving HTTPRoot, or the built-in page) and
	// a DNS server (UDP and TCP, answering from Zones) on the host.
	EchoPort, HTTPPort, DNSPort uint16
	HTTPRoot                    fs.FS
	Zones                       []*dns.Zone
	// WindowTolerance is the window difference, in bytes, not reported.
	WindowTolerance uint32
	// TCP configures our TCP stack.
	TCP tcp.Config
	// Seed seeds the host's random sources.
	Seed uint64
	// Grace is how long the replay runs on after the last frame (default
	// 2 s), so that timers (delayed ACKs, retransmissions) still fire.
	Grace time.Duration
	// HoldTimeout, when positive, is how long a peer segment acknowledging
	// data our stack has not sent yet is held, waiting for our stack to
	// send it, before its acknowledgement is clipped. When zero (the
	// default) the acknowledgement is clipped at once: holding can stall a
	// stack that waits for that very acknowledgement (Nagle's algorithm,
	// RFC 896, holding back a small segment).
	HoldTimeout time.Duration
	// LearnServices starts, beside the services named above, those the
	// profile learnt from the capture (Profile.Services): HTTP and echo
	// on the ports the host served them on, DNS on port 53 when Zones are
	// given, and the DHCP server of Profile.DHCP.
	LearnServices bool
}

// ServiceUse says how the replay served one port of the host.
type ServiceUse struct {
	Service
	// Source is "flag" (named in Config) or "learnt" (from the capture).
	Source string `json:"source"`
	// Served is set when a server ran on the port; Note says why not.
	Served bool   `json:"served"`
	Note   string `json:"note,omitempty"`
}

// String renders the use as "http on tcp/80 (learnt)" or "host accepted
// on tcp/4000: no server given".
func (u ServiceUse) String() string {
	if !u.Served {
		return fmt.Sprintf("host served %s/%d: %s", u.Proto, u.Port, u.Note)
	}
	return fmt.Sprintf("%s (%s)", u.Service, u.Source)
}

// Stats counts what the replay did.
type Stats struct {
	// Frames counts the capture's frames; Delivered those fed to our
	// stack; Recorded those the recorded host sent; Ignored the rest.
	Frames    int `json:"frames"`
	Delivered int `json:"delivered"`
	Recorded  int `json:"recorded"`
	Ignored   int `json:"ignored"`
	// Sent counts the frames our stack sent.
	Sent int `json:"sent"`
	// Held counts peer segments held because they acknowledged data our
	// stack had not sent; Clipped those whose acknowledgement was lowered.
	Held    int `json:"held"`
	Clipped int `json:"clipped"`
	// Dropped counts segments beyond MaxSegmentsPerFlow, not compared.
	Dropped int `json:"dropped"`
	// Untracked counts segments of flows beyond MaxFlows.
	Untracked int `json:"untracked"`
	// ChecksumsFixed counts IPv4, TCP and UDP checksums of fed frames
	// that were wrong in the capture (checksum offload) and recomputed.
	ChecksumsFixed int `json:"checksums_fixed"`
}

// Result is the outcome of a replay.
type Result struct {
	Profile *Profile     `json:"profile"`
	Stats   Stats        `json:"stats"`
	Report  *diff.Report `json:"report"`
	// Services lists the ports served, and the learnt ones not served.
	Services []ServiceUse `json:"services"`
}

// Run replays the capture at path with our stack as cfg.As, writes the
// outputs into cfg.OutDir and returns the result. A truncated capture is
// replayed up to the break: the result's report says it covers only the
// frames read, and the *input.TruncatedError is returned with it. When the
// capture cannot be replayed at all (not a capture, or the host is not in
// the frames read) the result is nil and nothing is written.
func Run(path string, cfg Config) (*Result, error) {
	return RunOpen(path, func() (*input.Reader, error) { return input.Open(path) }, cfg)
}

// RunOpen is Run over the capture that open opens (twice: once to learn
// the host's profile, once to replay it), named name in errors. Tests and
// fuzz targets replay bytes in memory with it.
func RunOpen(name string, open func() (*input.Reader, error), cfg Config) (*Result, error) {
	r, err := open()
	if err != nil {
		return nil, fmt.Errorf("host-role replay: %w", err)
	}
	prof, lerr := Learn(r, cfg.As)
	_ = r.Close()
	var te *input.TruncatedError
	if prof == nil || (lerr != nil && !errors.As(lerr, &te)) {
		return nil, fmt.Errorf("host-role replay of %s: %w", name, lerr)
	}
	r, err = open()
	if err != nil {
		return nil, fmt.Errorf("host-role replay: %w", err)
	}
	defer r.Close()
	res, err := Replay(r, prof, cfg)
	if err != nil {
		return res, fmt.Errorf("host-role replay of %s: %w", name, err)
	}
	if lerr != nil {
		return res, fmt.Errorf("host-role replay of %s: %w", name, lerr)
	}
	return res, nil
}

// flow is one flow's segments for the comparison.
type flow struct {
	key       FlowKey
	proto     diff.Proto
	rec, ours []diff.Segment
	recRaw    []rawSeg
	oursRaw   []rawSeg
	// recStream and ourStream are the bytes each side sent, by offset
	// from its first data byte.
	recStream, ourStream stream
	// recWS, ourWS and peerWS are the window shifts each side offered in
	// its SYN (-1: none).
	recWS, ourWS, peerWS int
	// recClient is set when the recorded host opened the flow; peerSeen
	// once the peer has sent on it; untracked for the shared stand-in of
	// flows beyond MaxFlows.
	recClient, peerSeen, untracked bool
	held                           []held
}

// rawSeg keeps the raw sequence numbers until the ISNs are known.
type rawSeg struct {
	seq, ack uint32
	win      uint16
}

type held struct {
	frame []byte
	until clock.Time
}

// replayer runs one replay.
type replayer struct {
	cfg   Config
	prof  *Profile
	tl    *replay.Timeline
	clk   clock.Clock
	host  *stack.Host
	ifc   *stack.Interface
	ts    *tcp.Stack
	rw    *Rewriter
	out   *pcap.Writer
	stats Stats

	flows    []*flow
	flowIdx  map[flowID]*flow
	overflow flow

	frameNo   int // frames written to the output capture
	scratch   []byte
	opts      tcp.Options
	optNames  map[optKey]string
	holdTimer clock.Timer
	setupErr  error
	// streamBytes counts the stream bytes kept, against StreamBudget.
	streamBytes int64
	services    []ServiceUse
}

type flowID struct {
	k     FlowKey
	proto diff.Proto
}

// Replay replays the frames of r with our stack in the role of the host
// described by prof (from Learn over the same capture). A truncated capture
// is replayed up to the break; the result's Report.Partial then says so and
// the *input.TruncatedError is returned with the result. On any other error
// the result is nil and no output file is left in cfg.OutDir.
func Replay(r *input.Reader, prof *Profile, cfg Config) (res *Result, err error) {
	if prof == nil {
		return nil, errors.New("replay: no host profile")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	rp := &replayer{cfg: cfg, prof: prof, tl: replay.NewTimeline(r), rw: NewRewriter(),
		flowIdx: make(map[flowID]*flow), optNames: make(map[optKey]string)}
	rp.clk = rp.tl.Clock()
	rp.holdTimer.Init(clock.HandlerFunc(rp.onHold))
	if cfg.OutDir != "" {
		created, err := mkdirTracked(cfg.OutDir)
		if err != nil {
			return nil, fmt.Errorf("output directory: %w", err)
		}
		// Whatever fails from here leaves no partial output behind.
		defer func() {
			if res == nil {
				removeOutputs(cfg.OutDir, created)
			}
		}()
		w, err := pcap.Create(filepath.Join(cfg.OutDir, CaptureFile), pcap.PcapNG)
		if err != nil {
			return nil, fmt.Errorf("output capture: %w", err)
		}
		if _, err := w.AddInterface("replay:eth0"); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("output capture: %w", err)
		}
		rp.out = w
	} else {
		w, err := pcap.NewWriter(io.Discard, pcap.PcapNG)
		if err != nil {
			return nil, fmt.Errorf("output capture: %w", err)
		}
		if _, err := w.AddInterface("replay:eth0"); err != nil {
			return nil, fmt.Errorf("output capture: %w", err)
		}
		rp.out = w
	}
	runErr := rp.tl.Run(rp.frame)
	var te *input.TruncatedError
	if runErr != nil && !errors.As(runErr, &te) {
		_ = rp.out.Close()
		return nil, runErr
	}
	if rp.setupErr != nil {
		_ = rp.out.Close()
		return nil, rp.setupErr
	}
	if rp.host != nil {
		rp.tl.Advance(rp.clk.Now().Add(cfg.Grace))
	}
	if err := rp.out.Close(); err != nil {
		return nil, fmt.Errorf("output capture: %w", err)
	}
	out := &Result{Profile: prof, Stats: rp.stats, Report: diff.Compare(rp.finish(), diff.Config{WindowTolerance: cfg.WindowTolerance}),
		Services: rp.services}
	if te != nil {
		out.Report.Partial = fmt.Sprintf("covers only the first %d frames: the capture breaks off after them (%v)", te.Frames, te.Err)
	}
	if cfg.OutDir != "" {
		if err := writeReports(cfg.OutDir, out); err != nil {
			return nil, err
		}
	}
	return out, runErr
}

// mkdirTracked creates dir (and its parents) and reports whether dir itself
// was created by this call.
func mkdirTracked(dir string) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	return true, nil
}

// removeOutputs deletes the output files of a failed replay from dir, and
// dir itself when the replay created it and nothing else is in it.
func removeOutputs(dir string, created bool) {
	for _, name := range []string{CaptureFile, DiffFile, SummaryFile} {
		_ = os.Remove(filepath.Join(dir, name))
	}
	if created {
		_ = os.Remove(dir) // fails, harmlessly, when not empty
	}
}

func writeReports(dir string, res *Result) error {
	f, err := os.Create(filepath.Join(dir, DiffFile))
	if err != nil {
		return fmt.Errorf("diff report: %w", err)
	}
	werr := res.Report.WriteJSON(f)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("diff report: %w", werr)
	}
	f, err = os.Create(filepath.Join(dir, SummaryFile))
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	werr = res.Report.WriteSummary(f, 20)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("summary: %w", werr)
	}
	return nil
}

// setup builds the host once the clock stands at the first frame.
func (rp *replayer) setup() error {
	p := rp.prof
	h := stack.New(stack.Config{Name: "replay", Clock: rp.clk, Rand: rng.New(rp.cfg.Seed, "host/replay")})
	ifc := h.AddInterface("eth0", p.mac, &endpoint{rp: rp})
	if p.Addr.Is6() {
		// The static neighbours below go into the IPv6 neighbour cache
		// (NUD leaves them alone: the capture's own Neighbor
		// Discovery is fed as recorded).
		ifc.EnableIPv6(netip.PrefixFrom(p.Addr, p.Prefix.Bits()))
	}
	gwARP := false
	for _, n := range p.Neighbors {
		if n.IP == p.Gateway {
			gwARP = n.ARP
		}
		if !n.ARP {
			ifc.AddStaticNeighbor(n.IP, n.mac)
		}
	}
	if p.Gateway.IsValid() && !gwARP {
		ifc.AddStaticNeighbor(p.Gateway, p.gwMAC)
	}
	switch {
	case p.Addr.Is6() && p.Gateway.IsValid():
		h.AddRoute(netip.PrefixFrom(netip.IPv6Unspecified(), 0), p.Gateway, ifc)
	case p.Addr.Is6():
	default:
		ifc.SetAddress(netip.PrefixFrom(p.Addr, p.Prefix.Bits()))
		if p.Gateway.IsValid() {
			h.SetDefaultGateway(p.Gateway)
		}
	}
	ts := tcp.New(h, rp.clk, rng.New(rp.cfg.Seed, "host/replay/tcp"), rp.cfg.TCP)
	h.RegisterProtocol(tcp.ProtocolNumber, ts)
	rp.host, rp.ifc, rp.ts = h, ifc, ts
	rp.services = PlanServices(p, rp.cfg)
	for i, u := range rp.services {
		if !u.Served {
			continue
		}
		if err := rp.start(u); err != nil {
			if u.Source != "learnt" {
				return err
			}
			// What the capture suggested but our servers cannot take
			// is said, not fatal.
			rp.services[i].Served, rp.services[i].Note = false, err.Error()
		}
	}
	return nil
}

// PlanServices lists the services a replay of the host in prof runs with
// cfg: those cfg names, then (with cfg.LearnServices) those learnt from
// the capture on other ports, and the learnt ports left without a server.
func PlanServices(prof *Profile, cfg Config) []ServiceUse {
	var out []ServiceUse
	have := map[Service]bool{}
	add := func(u ServiceUse) {
		key := Service{Proto: u.Proto, Port: u.Port}
		if have[key] {
			return
		}
		have[key] = true
		out = append(out, u)
	}
	if cfg.EchoPort != 0 {
		add(ServiceUse{Service: Service{Proto: "tcp", Port: cfg.EchoPort, Kind: ServiceEcho}, Source: "flag", Served: true})
	}
	if cfg.HTTPPort != 0 {
		add(ServiceUse{Service: Service{Proto: "tcp", Port: cfg.HTTPPort, Kind: ServiceHTTP}, Source: "flag", Served: true})
	}
	if cfg.DNSPort != 0 {
		add(ServiceUse{Service: Service{Proto: "udp", Port: cfg.DNSPort, Kind: ServiceDNS}, Source: "flag", Served: true})
		add(ServiceUse{Service: Service{Proto: "tcp", Port: cfg.DNSPort, Kind: ServiceDNS}, Source: "flag", Served: true})
	}
	if !cfg.LearnServices {
		return out
	}
	for _, s := range prof.Services {
		u := ServiceUse{Service: s, Source: "learnt", Served: true}
		switch s.Kind {
		case ServiceHTTP, ServiceEcho, ServiceDHCP:
		case ServiceDNS:
			if len(cfg.Zones) == 0 {
				u.Served, u.Note = false, "DNS: no zone given (--zone)"
			}
		default:
			u.Served, u.Note = false, "no server given"
		}
		add(u)
	}
	return out
}

// start runs one service on the host.
func (rp *replayer) start(u ServiceUse) error {
	h, ts := rp.host, rp.ts
	switch u.Kind {
	case ServiceEcho:
		if _, err := tcpapps.StartEcho(ts, netip.AddrPortFrom(netip.IPv4Unspecified(), u.Port), 128); err != nil {
			return fmt.Errorf("echo service on port %d: %w", u.Port, err)
		}
	case ServiceHTTP:
		srv, err := httpapp.NewServer(httpapp.ServerConfig{Name: "http", Port: u.Port, Root: rp.cfg.HTTPRoot})
		if err != nil {
			return fmt.Errorf("http service: %w", err)
		}
		env := &app.Env{Clock: rp.clk, Rand: rng.New(rp.cfg.Seed, fmt.Sprintf("app/http/%d", u.Port)), Net: app.NewStackNet(h), TCP: ts}
		if u.Port == rp.cfg.HTTPPort {
			env.Rand = rng.New(rp.cfg.Seed, "app/http")
		}
		if err := srv.Start(env); err != nil {
			return fmt.Errorf("http service on port %d: %w", u.Port, err)
		}
	case ServiceDNS:
		srv, err := dns.NewServer(rp.cfg.Zones...)
		if err != nil {
			return fmt.Errorf("dns service: %w", err)
		}
		local := netip.AddrPortFrom(netip.IPv4Unspecified(), u.Port)
		if u.Proto == "udp" {
			if _, err := dnsstack.ServeUDP(h, local, srv); err != nil {
				return fmt.Errorf("dns service on udp port %d: %w", u.Port, err)
			}
		} else if _, err := dnsstack.ServeTCP(ts, local, srv); err != nil {
			return fmt.Errorf("dns service on tcp port %d: %w", u.Port, err)
		}
	case ServiceDHCP:
		// The subnet holding the host's address is served directly, the
		// others as relayed scopes (RFC 2131 section 4.3.1: the server
		// picks the subnet from giaddr).
		scopes := append([]*DHCPProfile(nil), rp.prof.DHCP...)
		for i, d := range scopes {
			if d.Subnet.Contains(rp.prof.Addr) {
				scopes[0], scopes[i] = scopes[i], scopes[0]
				break
			}
		}
		srv, err := dhcpstack.NewServer(rp.ifc, scopes[0].ServerConfig(rp.prof.Addr))
		if err != nil {
			return fmt.Errorf("dhcp service: %w", err)
		}
		for _, d := range scopes[1:] {
			if err := srv.AddScope(d.ServerConfig(rp.prof.Addr)); err != nil {
				return fmt.Errorf("dhcp service: %w", err)
			}
		}
	}
	return nil
}

// frame handles one capture frame at its recorded time.
func (rp *replayer) frame(f *input.Frame, ferr error) {
	rp.stats.Frames++
	if rp.setupErr != nil {
		return
	}
	if rp.host == nil {
		if rp.setupErr = rp.setup(); rp.setupErr != nil {
			return
		}
	}
	if ferr != nil {
		rp.stats.Ignored++
		return
	}
	as := rp.prof.Addr
	switch f.Proto {
	case ether.TypeIPv4, ether.TypeIPv6:
		h, err := parseIP(f.Proto, f.Network)
		if err != nil {
			rp.stats.Ignored++
			return
		}
		switch {
		case h.Src() == as:
			rp.stats.Recorded++
			rp.recorded(f, h)
		case h.Dst() == as || rp.broadcast(f, h):
			rp.inbound(f, h)
		default:
			rp.stats.Ignored++
		}
	case ether.TypeARP:
		if len(f.Network) >= 28 && netip.AddrFrom4([4]byte(f.Network[24:28])) == as && netip.AddrFrom4([4]byte(f.Network[14:18])) != as {
			rp.deliver(rp.build(f, f.Network[:28]))
			return
		}
		if len(f.Network) >= 28 && netip.AddrFrom4([4]byte(f.Network[14:18])) == as {
			rp.stats.Recorded++
			if label, ok := arpLabel(f.Network); ok {
				rp.addLabelled(diff.ARP, &rp.flow(labelKey, diff.ARP).rec, f.Index+1, label)
			}
			return
		}
		rp.stats.Ignored++
	default:
		rp.stats.Ignored++
	}
}

// build returns an Ethernet frame holding network (the frame's network
// layer, possibly rewritten) in the scratch buffer: the recorded source
// address (or SyntheticPeerMAC), our MAC as destination unless the frame
// was a broadcast.
func (rp *replayer) build(f *input.Frame, network []byte) []byte {
	src, dst := SyntheticPeerMAC, rp.prof.mac
	if f.Ether != nil {
		src = f.Ether.Src()
		if d := f.Ether.Dst(); d.IsMulticast() {
			dst = d
		}
	}
	n := ether.HeaderLen + len(network)
	if cap(rp.scratch) < n {
		// Grown to the largest frame fed, rather than 64 KiB up front:
		// most captures (and fuzz inputs) hold small frames only.
		rp.scratch = make([]byte, max(n, 2048))
	}
	b := rp.scratch[:n]
	ether.Encode(b, dst, src, f.Proto)
	copy(b[ether.HeaderLen:], network)
	return b
}

// inbound feeds a datagram for the host, rewriting TCP segments.
func (rp *replayer) inbound(f *input.Frame, h ipPkt) {
	frame := rp.build(f, h.b)
	ih, err := parseIP(f.Proto, frame[ether.HeaderLen:])
	if err != nil {
		rp.deliver(frame)
		return
	}
	rp.fixChecksums(ih)
	if h.Protocol() == ipProtoUDP && !h.IsFragment() {
		if u, err := udp.Parse(h.Payload()); err == nil {
			k := udpKey(netip.AddrPortFrom(rp.prof.Addr, u.DstPort()), netip.AddrPortFrom(h.Src(), u.SrcPort()))
			rp.flow(k, diff.UDP).peerSeen = true
		}
	}
	if h.Protocol() != tcp.ProtocolNumber || h.IsFragment() {
		rp.deliver(frame)
		return
	}
	seg, err := tcp.ParseHeader(ih.Payload())
	if err != nil {
		rp.deliver(frame)
		return
	}
	k := FlowKey{Host: netip.AddrPortFrom(ih.Dst(), seg.DstPort()), Peer: netip.AddrPortFrom(ih.Src(), seg.SrcPort())}
	fl := rp.flow(k, diff.TCP)
	if fl.untracked {
		rp.stats.Untracked++
		rp.deliver(frame)
		return
	}
	if seg.Flags()&tcp.FlagSYN != 0 && fl.peerWS == -2 {
		fl.peerWS = rp.wscale(seg)
	}
	covered := rp.rw.Inbound(k, seg)
	if !covered && rp.cfg.HoldTimeout <= 0 && len(fl.held) == 0 {
		rp.rw.Clip(k, seg)
		rp.stats.Clipped++
		covered = true
	}
	if covered && len(fl.held) == 0 {
		rp.deliver(frame)
		return
	}
	rp.stats.Held++
	if len(fl.held) >= MaxHeld {
		rp.releaseHead(fl, true)
	}
	fl.held = append(fl.held, held{frame: append([]byte(nil), frame...), until: rp.clk.Now().Add(rp.cfg.HoldTimeout)})
	rp.armHold()
}

// fixChecksums recomputes the IPv4 header checksum and the TCP or UDP
// checksum (over the IPv4 or IPv6 pseudo-header) of a datagram when they
// are wrong. Captures taken on a host with
// checksum offload (and across veth pairs) hold frames whose transport
// checksum the NIC was to fill in: as tcpreplay --fixcsum does, the replay
// repairs them, since a real peer's frames arrived with correct sums.
func (rp *replayer) fixChecksums(ih ipPkt) {
	if h4 := ipv4.Header(ih.b); !ih.v6 && !h4.VerifyChecksum() {
		h4.SetChecksum()
		rp.stats.ChecksumsFixed++
	}
	if ih.IsFragment() {
		return
	}
	pl := ih.Payload()
	src, dst := ih.Src(), ih.Dst()
	switch ih.Protocol() {
	case tcp.ProtocolNumber:
		if len(pl) < tcp.HeaderLen || tcp.Checksum(src, dst, pl) == 0 {
			return
		}
		binary.BigEndian.PutUint16(pl[16:], 0)
		binary.BigEndian.PutUint16(pl[16:], tcp.Checksum(src, dst, pl))
		rp.stats.ChecksumsFixed++
	case ipProtoUDP:
		u, err := udp.Parse(pl)
		if err != nil {
			return
		}
		seg := pl[:u.Length()]
		if ih.v6 {
			// RFC 8200 section 8.1: the UDP checksum is mandatory.
			if ipv6.VerifyUpper(src.As16(), dst.As16(), ipProtoUDP, seg) {
				return
			}
			binary.BigEndian.PutUint16(seg[6:], 0)
			binary.BigEndian.PutUint16(seg[6:], ipv6.UpperChecksum(src.As16(), dst.As16(), ipProtoUDP, seg))
			rp.stats.ChecksumsFixed++
			return
		}
		if u.Checksum() == 0 || u.VerifyChecksum(src, dst) {
			return
		}
		binary.BigEndian.PutUint16(seg[6:], 0)
		sum := checksum.Finish(checksum.Sum(seg, checksum.PseudoHeaderIPv4(src.As4(), dst.As4(), ipProtoUDP, uint16(len(seg)))))
		if sum == 0 {
			sum = 0xffff // RFC 768: a computed zero is sent as all ones
		}
		binary.BigEndian.PutUint16(seg[6:], sum)
		rp.stats.ChecksumsFixed++
	}
}

// deliver records frame as inbound and hands it to the host.
func (rp *replayer) deliver(frame []byte) {
	rp.stats.Delivered++
	rp.write(frame, pcap.Inbound)
	rp.ifc.Receive(frame, link.Note{})
}

func (rp *replayer) write(frame []byte, dir pcap.Direction) {
	rp.frameNo++
	// A write error is kept by the writer and reported by Close.
	_ = rp.out.WritePacket(0, rp.clk.Now(), dir, frame, link.Note{})
}

// releaseHead delivers the oldest held segment of fl, clipping its
// acknowledgement first when clip is set.
func (rp *replayer) releaseHead(fl *flow, clip bool) {
	hd := fl.held[0]
	copy(fl.held, fl.held[1:])
	fl.held = fl.held[:len(fl.held)-1]
	if clip {
		ih, _ := frameIP(hd.frame)
		if seg, err := tcp.ParseHeader(ih.Payload()); err == nil && rp.rw.Clip(fl.key, seg) {
			rp.stats.Clipped++
		}
	}
	rp.deliver(hd.frame)
}

// armHold schedules the hold timer now (to release covered segments) or at
// the earliest deadline.
func (rp *replayer) armHold() {
	var at clock.Time
	found := false
	for _, fl := range rp.flows {
		if len(fl.held) == 0 {
			continue
		}
		t := fl.held[0].until
		if rp.headCovered(fl) {
			t = rp.clk.Now()
		}
		if !found || t < at {
			at, found = t, true
		}
	}
	if found {
		rp.clk.Schedule(&rp.holdTimer, at)
	} else {
		rp.clk.Cancel(&rp.holdTimer)
	}
}

func (rp *replayer) headCovered(fl *flow) bool {
	ih, _ := frameIP(fl.held[0].frame)
	seg, err := tcp.ParseHeader(ih.Payload())
	return err != nil || rp.rw.Covered(fl.key, seg)
}

// onHold releases held segments that our stack has caught up with, and
// clips those whose hold expired, flow by flow in order.
func (rp *replayer) onHold(now clock.Time) {
flows:
	for _, fl := range rp.flows {
		for len(fl.held) > 0 {
			switch {
			case rp.headCovered(fl):
				rp.releaseHead(fl, false)
			case fl.held[0].until <= now:
				rp.releaseHead(fl, true)
			default:
				continue flows
			}
		}
	}
	rp.armHold()
}

func (rp *replayer) flow(k FlowKey, proto diff.Proto) *flow {
	id := flowID{k, proto}
	fl := rp.flowIdx[id]
	if fl == nil && len(rp.flows) >= MaxFlows {
		rp.overflow.untracked = true
		return &rp.overflow
	}
	if fl == nil {
		fl = &flow{key: k, proto: proto, recWS: -2, ourWS: -2, peerWS: -2}
		rp.flowIdx[id] = fl
		rp.flows = append(rp.flows, fl)
	}
	return fl
}

// wscale returns the window shift a SYN offers, or -1.
func (rp *replayer) wscale(seg tcp.Header) int {
	if tcp.ParseOptions(seg.Options(), &rp.opts) == nil && rp.opts.HasWScale {
		return int(rp.opts.WScale)
	}
	return -1
}

// recorded notes a datagram the recorded host sent.
func (rp *replayer) recorded(f *input.Frame, h ipPkt) {
	if h.IsFragment() {
		return
	}
	switch h.Protocol() {
	case tcp.ProtocolNumber:
		seg, err := tcp.ParseHeader(h.Payload())
		if err != nil {
			return
		}
		k := FlowKey{Host: netip.AddrPortFrom(h.Src(), seg.SrcPort()), Peer: netip.AddrPortFrom(h.Dst(), seg.DstPort())}
		rp.rw.ObserveRecorded(k, seg)
		fl := rp.flow(k, diff.TCP)
		if seg.Flags()&tcp.FlagSYN != 0 && fl.recWS == -2 {
			fl.recWS = rp.wscale(seg)
			if seg.Flags()&tcp.FlagACK == 0 {
				fl.recClient = true
			}
		}
		rp.addTCP(fl, &fl.rec, &fl.recRaw, f.Index+1, seg)
		if isn, _, _, ok, _, _ := rp.rw.ISNs(k); ok {
			rp.addStream(&fl.recStream, seg.Seq()-isn-1, seg)
		} else if len(seg.Payload()) > 0 {
			fl.recStream.cut = true // data before the handshake: no offsets
		}
	case ipProtoUDP:
		u, err := udp.Parse(h.Payload())
		if err != nil {
			return
		}
		k := udpKey(netip.AddrPortFrom(h.Src(), u.SrcPort()), netip.AddrPortFrom(h.Dst(), u.DstPort()))
		fl := rp.flow(k, diff.UDP)
		if !fl.peerSeen && len(fl.rec) == 0 {
			fl.recClient = true
		}
		rp.addUDP(fl, &fl.rec, f.Index+1, u.Payload())
	case ipProtoICMP:
		if label, ok := icmpLabel(h.Dst(), h.Payload()); ok && !h.v6 {
			rp.addLabelled(diff.ICMP, &rp.flow(labelKey, diff.ICMP).rec, f.Index+1, label)
		}
	}
}

// ours notes a frame our stack sent.
func (rp *replayer) ours(frame []byte) {
	rp.stats.Sent++
	rp.write(frame, pcap.Outbound)
	e, err := ether.Parse(frame)
	if err == nil && e.EtherType() == ether.TypeARP {
		if label, ok := arpLabel(e.Payload()); ok {
			rp.addLabelled(diff.ARP, &rp.flow(labelKey, diff.ARP).ours, rp.frameNo, label)
		}
		return
	}
	if err != nil {
		return
	}
	h, err := parseIP(e.EtherType(), e.Payload())
	if err != nil || h.IsFragment() {
		return
	}
	switch h.Protocol() {
	case tcp.ProtocolNumber:
		seg, err := tcp.ParseHeader(h.Payload())
		if err != nil {
			return
		}
		k := FlowKey{Host: netip.AddrPortFrom(h.Src(), seg.SrcPort()), Peer: netip.AddrPortFrom(h.Dst(), seg.DstPort())}
		rp.rw.ObserveOurs(k, seg)
		fl := rp.flow(k, diff.TCP)
		if seg.Flags()&tcp.FlagSYN != 0 && fl.ourWS == -2 {
			fl.ourWS = rp.wscale(seg)
		}
		rp.addTCP(fl, &fl.ours, &fl.oursRaw, rp.frameNo, seg)
		if _, isn, _, _, ok, _ := rp.rw.ISNs(k); ok {
			rp.addStream(&fl.ourStream, seg.Seq()-isn-1, seg)
		} else if len(seg.Payload()) > 0 {
			fl.ourStream.cut = true
		}
		if len(fl.held) > 0 {
			rp.armHold()
		}
	case ipProtoUDP:
		u, err := udp.Parse(h.Payload())
		if err != nil {
			return
		}
		k := udpKey(netip.AddrPortFrom(h.Src(), u.SrcPort()), netip.AddrPortFrom(h.Dst(), u.DstPort()))
		fl := rp.flow(k, diff.UDP)
		rp.addUDP(fl, &fl.ours, rp.frameNo, u.Payload())
	case ipProtoICMP:
		if label, ok := icmpLabel(h.Dst(), h.Payload()); ok && !h.v6 {
			rp.addLabelled(diff.ICMP, &rp.flow(labelKey, diff.ICMP).ours, rp.frameNo, label)
		}
	}
}

func (rp *replayer) addTCP(fl *flow, segs *[]diff.Segment, raw *[]rawSeg, frameNo int, seg tcp.Header) {
	if fl.untracked {
		rp.stats.Untracked++
		return
	}
	if len(*segs) >= MaxSegmentsPerFlow {
		rp.stats.Dropped++
		return
	}
	opts := ""
	if tcp.ParseOptions(seg.Options(), &rp.opts) == nil {
		opts = rp.optionName(&rp.opts)
	}
	pl := seg.Payload()
	*segs = append(*segs, diff.Segment{Frame: frameNo, Time: jsontime.Of(rp.tl.Std(rp.clk.Now())), Flags: seg.Flags(), Len: len(pl), Sum: diff.PayloadSum(pl), Options: opts})
	*raw = append(*raw, rawSeg{seq: seg.Seq(), ack: seg.Ack(), win: seg.Window()})
}

// stream is the byte stream one side of a TCP flow sent.
type stream struct {
	b []byte
	// cut is set when the stream could not be kept whole (beyond
	// MaxStreamBytes or the replay's StreamBudget).
	cut bool
}

// MaxStreamBytes bounds the bytes kept per stream for the comparison;
// StreamBudget bounds them over the whole replay.
const (
	MaxStreamBytes = 4 << 20
	StreamBudget   = 64 << 20
)

// addStream places the payload of seg at offset off of st. A SYN's offset
// is that of its first data byte (none, in practice).
func (rp *replayer) addStream(st *stream, off uint32, seg tcp.Header) {
	pl := seg.Payload()
	if seg.Flags()&tcp.FlagSYN != 0 {
		off++
	}
	if len(pl) == 0 || st.cut || seg.Flags()&tcp.FlagRST != 0 {
		return
	}
	end := int64(off) + int64(len(pl))
	if end > MaxStreamBytes {
		st.cut = true
		return
	}
	if grow := end - int64(len(st.b)); grow > 0 {
		if rp.streamBytes+grow > StreamBudget {
			st.cut = true
			return
		}
		rp.streamBytes += grow
		st.b = append(st.b, make([]byte, grow)...)
	}
	copy(st.b[off:], pl)
}

func (rp *replayer) addUDP(fl *flow, segs *[]diff.Segment, frameNo int, payload []byte) {
	if fl.untracked {
		rp.stats.Untracked++
		return
	}
	if len(*segs) >= MaxSegmentsPerFlow {
		rp.stats.Dropped++
		return
	}
	kept := payload
	if len(kept) > maxDatagramKept {
		kept = kept[:maxDatagramKept]
	}
	*segs = append(*segs, diff.Segment{Frame: frameNo, Time: jsontime.Of(rp.tl.Std(rp.clk.Now())), Len: len(payload), Sum: diff.PayloadSum(payload),
		Data: append([]byte(nil), kept...)})
}

// labelKey is the key of the host's ICMP and ARP flows (one of each).
var labelKey = FlowKey{}

// addLabelled notes an ICMP message or ARP packet.
func (rp *replayer) addLabelled(proto diff.Proto, segs *[]diff.Segment, frameNo int, label string) {
	if len(*segs) >= MaxSegmentsPerFlow {
		rp.stats.Dropped++
		return
	}
	*segs = append(*segs, diff.Segment{Frame: frameNo, Time: jsontime.Of(rp.tl.Std(rp.clk.Now())), Label: label})
}

// broadcast reports whether a datagram the host did not send is addressed
// to every host of its link (the limited broadcast or its subnet's
// directed broadcast, RFC 1122 section 3.2.1.3): our host receives it as
// the recorded one did (a DHCP client's DISCOVER and REQUEST come so).
func (rp *replayer) broadcast(f *input.Frame, h ipPkt) bool {
	if h.Src() == rp.prof.Addr {
		return false
	}
	if h.v6 {
		// IPv6 has no broadcast: the all-nodes group and the host's
		// solicited-node group (Neighbor Solicitations for its
		// address, RFC 4861 section 7.2.2) reach it.
		d := h.Dst()
		return d == ipv6.AllNodes || d == ipv6.SolicitedNode(rp.prof.Addr)
	}
	d := h.Dst()
	if d == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return true
	}
	p := rp.prof.Prefix
	if p.Bits() >= 31 || !p.Contains(d) {
		return false
	}
	last := be32(p.Addr().As4()) | (1<<(32-p.Bits()) - 1)
	return be32(d.As4()) == last
}

// finish turns raw sequence numbers into relative ones and windows into
// bytes, and returns the flows in order of first appearance, leaving out
// flows in which neither side sent anything.
func (rp *replayer) finish() []diff.Flow {
	out := make([]diff.Flow, 0, len(rp.flows))
	for _, fl := range rp.flows {
		if len(fl.rec) == 0 && len(fl.ours) == 0 {
			continue
		}
		name := fmt.Sprintf("%s %s <-> %s", fl.proto, fl.key.Host, fl.key.Peer)
		switch {
		case fl.proto == diff.ICMP || fl.proto == diff.ARP:
			name = fmt.Sprintf("%s %s", fl.proto, rp.prof.Addr)
		case fl.proto == diff.UDP && fl.key.Host.Port() == dhcpServerPort:
			name = fmt.Sprintf("udp %s <-> DHCP clients", fl.key.Host)
		}
		df := diff.Flow{Name: name, Proto: fl.proto, Recorded: fl.rec, Ours: fl.ours}
		if fl.proto == diff.ARP || fl.proto == diff.ICMP {
			df.OmitIfEqual = true
		}
		if fl.proto == diff.ARP {
			df.Recorded, df.Ours = dropAnnouncements(fl.rec), dropAnnouncements(fl.ours)
		}
		if fl.proto == diff.UDP {
			df.Port = fl.key.Host.Port()
		}
		if fl.proto == diff.TCP && !fl.recStream.cut && !fl.ourStream.cut {
			df.RecordedStream, df.OurStream = fl.recStream.b, fl.ourStream.b
		}
		if fl.proto == diff.TCP {
			recISN, ourISN, peerISN, haveRec, haveOurs, havePeer := rp.rw.ISNs(fl.key)
			relativise(fl.rec, fl.recRaw, recISN, haveRec, peerISN, havePeer, shift(fl.recWS, fl.peerWS))
			relativise(fl.ours, fl.oursRaw, ourISN, haveOurs, peerISN, havePeer, shift(fl.ourWS, fl.peerWS))
		}
		if fl.recClient {
			df.Note = "the recorded host opened this flow; host-role replay only answers"
		}
		out = append(out, df)
	}
	return out
}

// dropAnnouncements leaves out ARP announcements (RFC 5227 section 2.3):
// our stack makes them when its address is set at the start of the
// replay, the recorded host when its address was set, which the capture
// may or may not show; neither is an answer to the capture's peers.
func dropAnnouncements(segs []diff.Segment) []diff.Segment {
	out := segs[:0:0]
	for _, s := range segs {
		if !strings.HasPrefix(s.Label, arpAnnouncement) {
			out = append(out, s)
		}
	}
	return out
}

// shift is the window shift a side uses: its own offer, when the peer also
// offered one (RFC 7323 section 2.2).
func shift(own, peer int) uint {
	if own < 0 || peer < 0 {
		return 0
	}
	return uint(own)
}

func relativise(segs []diff.Segment, raw []rawSeg, isn uint32, haveISN bool, peerISN uint32, havePeer bool, ws uint) {
	if !haveISN && len(raw) > 0 {
		isn = raw[0].seq
	}
	if !havePeer {
		for _, r := range raw {
			if r.ack != 0 {
				peerISN = r.ack - 1
				break
			}
		}
	}
	for i := range segs {
		s := &segs[i]
		s.Seq = raw[i].seq - isn
		if s.Flags&diff.FlagACK != 0 {
			s.Ack = raw[i].ack - peerISN
		}
		s.Window = uint32(raw[i].win)
		if s.Flags&diff.FlagSYN == 0 {
			s.Window <<= ws
		}
	}
}

// optKey is what optionString renders of a segment's options.
type optKey struct {
	mss                           uint16
	ws                            uint8
	hasMSS, hasWS, sackOK, ts, sk bool
}

// maxOptNames bounds the cache of rendered option sets.
const maxOptNames = 1024

// optionName returns diff.OptionString(o), cached so that a recurring set of
// options costs no allocation per segment.
func (rp *replayer) optionName(o *tcp.Options) string {
	k := optKey{mss: o.MSS, ws: o.WScale, hasMSS: o.HasMSS, hasWS: o.HasWScale, sackOK: o.SACKPermitted, ts: o.HasTS, sk: o.NumSACK > 0}
	if s, ok := rp.optNames[k]; ok {
		return s
	}
	s := diff.OptionString(o)
	if len(rp.optNames) < maxOptNames {
		rp.optNames[k] = s
	}
	return s
}

// endpoint is the host's link: what our stack sends is recorded and
// compared, never delivered anywhere.
type endpoint struct {
	rp *replayer
}

// Send records a frame our stack sent.
func (e *endpoint) Send(frame []byte) link.Note {
	e.rp.ours(frame)
	return link.Note{}
}

// SetReceiver does nothing: the replayer calls the interface directly.
func (e *endpoint) SetReceiver(link.Receiver) {}

// MTU returns the Ethernet MTU.
func (e *endpoint) MTU() int { return stack.DefaultMTU }
