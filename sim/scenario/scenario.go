// Package scenario reads simnet scenario files (YAML), validates them and
// runs them in the simulator.
//
// A scenario names hosts with their interfaces, switches, links with
// impairments per direction, built-in applications, a schedule of link
// events, a duration and expectations. Parse and Load decode a file through
// yaml.Node so that every problem is reported as one line naming the file,
// the line and the field:
//
//	lab.yaml:12: field "hosts[2].interfaces[0].address": invalid CIDR "10.0.0.300/24"
//
// Unknown fields, anchors and aliases are rejected. docs/scenarios.md
// describes the schema with complete examples.
package scenario

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/link/qdisc"
)

// Scenario is a validated scenario file.
type Scenario struct {
	// File is the name the scenario was read from, used in messages.
	File string
	// Name names the scenario (output directories, reports).
	Name string
	// Seed is the run's seed; HasSeed reports whether the file set it.
	Seed    uint64
	HasSeed bool
	// Duration is how long the simulated run lasts.
	Duration time.Duration
	// Hosts, Switches, Links, Apps, Schedule and Expect keep file order.
	Hosts    []Host
	Switches []Switch
	Links    []Link
	Apps     []App
	Schedule []Event
	Expect   []Expectation
	// Warnings are what loading changed without failing, one line each
	// (a zone's RRset TTLs normalised, RFC 2181 section 5.2).
	Warnings []string
	// Capture is the file's capture block (nil: record everything).
	Capture *Capture
	// Groups lists the host entries with a count, in file order; their
	// members are in Hosts, and the links, apps, expectations and events
	// that named a group are expanded per member.
	Groups []Group
}

// Host is one simulated host.
type Host struct {
	Name       string
	Interfaces []Interface
	// Gateway is the default gateway (IPv4, or IPv6 for ::/0), or the
	// zero Addr when unset.
	Gateway netip.Addr
	// Forwarding makes the host a router: it forwards datagrams between
	// its interfaces (RFC 1812).
	Forwarding bool
	// Routes are static routes, chosen by longest prefix beside the
	// connected subnets and the gateway; IPv4 and IPv6 ones.
	Routes []Route
	// RA makes a forwarding host send Router Advertisements (RFC 4861)
	// for the IPv6 prefixes of its interfaces, so that hosts with SLAAC
	// form addresses in them and take it as their default router.
	RA bool
	// CC is the congestion control of the host's TCP ("newreno", "cubic"
	// or "bbr"; "" for proto/tcp's default, cubic).
	CC string
	// ECN makes the host's TCP negotiate ECN (RFC 3168).
	ECN bool
	// Count is the count of a group entry before expansion (0 for an
	// ordinary host); the hosts of a loaded Scenario all have 0.
	Count int
	// Line is where the host is declared.
	Line int
}

// Route is a static route: destinations in To go through the neighbour
// Via, on one of the host's subnets.
type Route struct {
	To   netip.Prefix
	Via  netip.Addr
	Line int
}

// Interface is one network interface of a host.
type Interface struct {
	Name string
	// Address is the interface's IPv4 address and prefix (from address
	// or addresses); it is the zero Prefix when DHCP is set or the
	// interface has no IPv4 address.
	Address netip.Prefix
	// IPv6 are the interface's static IPv6 addresses and prefixes (from
	// address or addresses).
	IPv6 []netip.Prefix
	// SLAAC forms IPv6 addresses by stateless autoconfiguration (RFC
	// 4862) from the Router Advertisements on the link, beside a
	// link-local address.
	SLAAC bool
	// DHCP reports that the address is to be obtained by DHCP.
	DHCP bool
	// MAC is the interface's Ethernet address: the one in the file, or one
	// derived from the host and interface names.
	MAC [6]byte
	// MACSet reports whether the file gave MAC explicitly.
	MACSet bool
	// DHCPRelay, when valid, is the DHCP server this interface relays its
	// clients' requests to (RFC 1542).
	DHCPRelay netip.Addr
	// StaticARP are permanent ARP entries: neither ARP traffic nor time
	// changes them (an ARP spoofing defence).
	StaticARP []StaticNeighbor
	Line      int
}

// Switch is a learning Ethernet switch; each link to it adds a port.
// StaticNeighbor is a permanent ARP entry of an interface.
type StaticNeighbor struct {
	Addr netip.Addr
	MAC  [6]byte
}

type Switch struct {
	Name string
	Line int
}

// Endpoint is one end of a link: a host's interface or a switch.
type Endpoint struct {
	// Host and Iface are set for a host interface ("host:iface").
	Host, Iface string
	// Switch is set when the end is a switch.
	Switch string
}

// String renders e as written in a scenario file.
func (e Endpoint) String() string {
	if e.Switch != "" {
		return e.Switch
	}
	return e.Host + ":" + e.Iface
}

// IsSwitch reports whether e is a switch port.
func (e Endpoint) IsSwitch() bool { return e.Switch != "" }

// DefaultReorderDelay is how long a reordered frame is held back when the
// file does not say.
const DefaultReorderDelay = 10 * time.Millisecond

// DefaultMTU is the MTU of a link that does not set one.
const DefaultMTU = 1500

// Link joins two endpoints, with impairments per direction.
type Link struct {
	Name string
	A, B Endpoint
	// MTU is the largest IP packet the link carries.
	MTU int
	// AtoB and BtoA are the impairments of each direction.
	AtoB, BtoA Impair
	Line       int
}

// Gilbert is a Gilbert-Elliott burst-loss model: P is the probability of
// moving from the good to the bad state per frame, R of moving back, and
// LossGood/LossBad the loss probability in each state.
type Gilbert struct {
	P, R, LossGood, LossBad float64
}

// Queue bounds a rate limiter's drop-tail queue in packets or in bytes
// (one of the two is non-zero when the queue is bounded).
type Queue struct {
	Packets int
	Bytes   int
}

// Impair is what a link does to the frames of one direction. The zero
// Impair is a perfect link. Probabilities are fractions in [0, 1].
type Impair struct {
	Loss    float64
	Gilbert *Gilbert
	Delay   time.Duration
	Jitter  time.Duration
	Reorder float64
	// ReorderDelay is how long a reordered frame is held back (zero:
	// DefaultReorderDelay).
	ReorderDelay time.Duration
	Duplicate    float64
	Corrupt      float64
	// Rate is the bandwidth in bits per second; 0 is unlimited.
	Rate int64
	// Queue bounds the rate limiter's queue (zero: the simulator's default).
	Queue Queue
	// Qdisc is the queue discipline in front of the rate limiter.
	Qdisc qdisc.Params
	// JitterDist is the jitter's distribution: impair.JitterUniform (or
	// "") or impair.JitterNormal, as taprun's --jitter-dist.
	JitterDist string
	// KeepOrder delivers frames in order despite jitter, as taprun's
	// --keep-order.
	KeepOrder bool
}

// ImpairPatch is a set of impairment fields given in a file: nil fields are
// left as they are. A link's impair block is a patch over the zero Impair;
// a schedule's set block is a patch over the current one.
type ImpairPatch struct {
	Loss         *float64
	Gilbert      **Gilbert
	Delay        *time.Duration
	Jitter       *time.Duration
	Reorder      *float64
	ReorderDelay *time.Duration
	Duplicate    *float64
	Corrupt      *float64
	Rate         *int64
	Queue        *Queue
	Qdisc        QdiscPatch
	JitterDist   *string
	KeepOrder    *bool
}

// IsZero reports whether p changes nothing.
func (p ImpairPatch) IsZero() bool { return p == ImpairPatch{} }

// Apply returns base with p's fields replaced.
func (p ImpairPatch) Apply(base Impair) Impair {
	if p.Loss != nil {
		base.Loss = *p.Loss
	}
	if p.Gilbert != nil {
		base.Gilbert = *p.Gilbert
	}
	if p.Delay != nil {
		base.Delay = *p.Delay
	}
	if p.Jitter != nil {
		base.Jitter = *p.Jitter
	}
	if p.Reorder != nil {
		base.Reorder = *p.Reorder
	}
	if p.ReorderDelay != nil {
		base.ReorderDelay = *p.ReorderDelay
	}
	if p.Duplicate != nil {
		base.Duplicate = *p.Duplicate
	}
	if p.Corrupt != nil {
		base.Corrupt = *p.Corrupt
	}
	if p.Rate != nil {
		base.Rate = *p.Rate
	}
	if p.Queue != nil {
		base.Queue = *p.Queue
	}
	if p.JitterDist != nil {
		base.JitterDist = *p.JitterDist
	}
	if p.KeepOrder != nil {
		base.KeepOrder = *p.KeepOrder
	}
	base.Qdisc = p.Qdisc.Apply(base.Qdisc)
	return base
}

// merge returns p with q's set fields laid over it.
func (p ImpairPatch) merge(q ImpairPatch) ImpairPatch {
	if q.Loss != nil {
		p.Loss = q.Loss
	}
	if q.Gilbert != nil {
		p.Gilbert = q.Gilbert
	}
	if q.Delay != nil {
		p.Delay = q.Delay
	}
	if q.Jitter != nil {
		p.Jitter = q.Jitter
	}
	if q.Reorder != nil {
		p.Reorder = q.Reorder
	}
	if q.ReorderDelay != nil {
		p.ReorderDelay = q.ReorderDelay
	}
	if q.Duplicate != nil {
		p.Duplicate = q.Duplicate
	}
	if q.Corrupt != nil {
		p.Corrupt = q.Corrupt
	}
	if q.Rate != nil {
		p.Rate = q.Rate
	}
	if q.Queue != nil {
		p.Queue = q.Queue
	}
	if q.JitterDist != nil {
		p.JitterDist = q.JitterDist
	}
	if q.KeepOrder != nil {
		p.KeepOrder = q.KeepOrder
	}
	p.Qdisc = p.Qdisc.merge(q.Qdisc)
	return p
}

// The application types a scenario may run.
const (
	AppPing    = "ping"
	AppUDPSink = "udp_sink"
	AppUDPSend = "udp_send"
	// TCP apps (RFC 862 echo, RFC 863 discard, and a verified bulk
	// transfer).
	AppTCPEcho    = "tcp_echo"
	AppTCPDiscard = "tcp_discard"
	AppTCPSend    = "tcp_send"
	AppTCPRecv    = "tcp_recv"
	// AppTCPEchoClient sends bytes to an echo server and verifies what
	// comes back.
	AppTCPEchoClient = "tcp_echo_client"
	// Service apps: a DHCP server (RFC 2131), an authoritative DNS server
	// (RFC 1035) on UDP and TCP 53, an HTTP/1.1 static server, an HTTP GET
	// client and a DNS A lookup.
	AppDHCPServer = "dhcp_server"
	AppDNSServer  = "dns_server"
	AppHTTPServer = "http_server"
	AppHTTPGet    = "http_get"
	AppDNSLookup  = "dns_lookup"
	// AppTraceroute sends UDP probes with growing TTLs, like Linux
	// traceroute.
	AppTraceroute = "traceroute"
	// AppSYNFlood floods a target with SYNs (package app/attack).
	AppSYNFlood = "syn_flood"
	// AppFragFlood floods a target with IPv4 fragments that never
	// reassemble (package app/attack).
	AppFragFlood = "frag_flood"
	// AppDNSBadQuery sends malformed DNS queries (package app/attack).
	AppDNSBadQuery = "dns_bad_query"
	// AppDHCPRogue answers DISCOVERs with broken offers (package
	// app/attack).
	AppDHCPRogue = "dhcp_rogue"
	// AppARPSpoof sends forged ARP replies (package app/attack).
	AppARPSpoof = "arp_spoof"
	// AppTCPInject forges RST, SYN and data segments into a connection
	// (package app/attack).
	AppTCPInject = "tcp_inject"
)

// DHCPSubnet is a dhcp_server's scope for a subnet behind a relay agent.
type DHCPSubnet struct {
	Subnet             netip.Prefix
	PoolStart, PoolEnd netip.Addr
	Router             netip.Addr
	Line               int
}

// Reservation gives a DHCP client a fixed pool address by MAC address.
type Reservation struct {
	MAC  [6]byte
	Addr netip.Addr
}

// App is one built-in application instance.
type App struct {
	Name string
	Type string
	Host string
	// Target is the destination: an address for ping, an address and port
	// for udp_send and tcp_send (zero when unused).
	Target     netip.Addr
	TargetPort uint16
	// Port is a server's or sink's listening port, or udp_send's source
	// port (0: ephemeral).
	Port uint16
	// Bytes is the size of a TCP bulk transfer.
	Bytes int64
	// CC is a tcp_send's congestion control ("newreno", "cubic", "bbr"),
	// "" for its host's.
	CC string
	// Count is the number of packets to send.
	Count int
	// Size is the payload size in bytes.
	Size int
	// Interval is the time between two sends (ping, udp_send, http_get),
	// or the goodput reporting interval (tcp_send, tcp_recv, udp_sink;
	// 0: none).
	Interval time.Duration
	// Start is when the app starts, from the beginning of the run, or
	// from the host's first DHCP lease when AfterLease is set.
	Start time.Duration
	// AfterLease delays the start until the host's first DHCP lease is
	// bound (after: lease).
	AfterLease bool
	// PoolStart, PoolEnd, Router, DNS, LeaseTime and Reservations
	// configure a dhcp_server.
	PoolStart, PoolEnd netip.Addr
	Router             netip.Addr
	DNS                []netip.Addr
	LeaseTime          time.Duration
	Reservations       []Reservation
	// Subnets are a dhcp_server's scopes for subnets behind relay agents.
	Subnets []DHCPSubnet
	// MaxHops and Queries configure a traceroute (0: the defaults).
	MaxHops, Queries int
	// Group is, for an app expanded from an app on a host group, the
	// app's name as written, and GroupHost the group's name.
	Group, GroupHost string
	// Zone is a dns_server's master file text (inline, or read from
	// zone_file), ZoneFile the file it came from and Origin the zone's name
	// (zone_origin; "" takes it from the file, see dns.ParseZone).
	Zone, ZoneFile, Origin string
	// Dir is the directory an http_server serves ("" for the embedded
	// default page), as an absolute or working-directory-relative path.
	Dir string
	// URL is what http_get fetches.
	URL string
	// Query is the name a dns_lookup resolves.
	Query string
	// QType is the record type a dns_lookup asks for: "A" (also when
	// empty) or "AAAA".
	QType string
	// Server is the DNS server of http_get and dns_lookup; the zero Addr
	// uses the DNS servers of the host's DHCP lease.
	Server netip.Addr
	// Rate is a syn_flood's SYNs a second; Spoof, when valid, the prefix
	// its source addresses are drawn from.
	Rate  int
	Spoof netip.Prefix
	// Offer is the address a dhcp_rogue's broken offers give away.
	Offer netip.Addr
	// Claim is the address an arp_spoof claims with its own MAC.
	Claim netip.Addr
	Line  int
}

// The actions of a schedule event.
const (
	ActionDown = "down"
	ActionUp   = "up"
	ActionSet  = "set"
	// ActionCrash powers a host off: it stops sending and receiving and
	// loses every piece of state (connections, caches, leases, apps).
	ActionCrash = "crash"
	// ActionRestart boots a crashed host again with its configuration
	// and its server apps, as after a reboot.
	ActionRestart = "restart"
)

// Event is one scheduled change to a link, or a crash or restart of a host.
type Event struct {
	At   time.Duration
	Link string
	// Host names the host of a crash or restart event (instead of Link).
	Host   string
	Action string
	// SetAtoB and SetBtoA are the impairment changes of a set action.
	SetAtoB, SetBtoA ImpairPatch
	Line             int
}

// Expectation is a condition on an app's result, checked after the run.
// Nil criteria are not checked.
type Expectation struct {
	App string
	// MinReplies is the least number of echo replies a ping must get.
	MinReplies *int
	// MaxLoss is the largest fraction of pings that may go unanswered.
	MaxLoss *float64
	// MinRTTAvg and MaxRTTAvg bound a ping's average round-trip time.
	MinRTTAvg, MaxRTTAvg *time.Duration
	// MinDatagrams is the least number of distinct datagrams a sink must
	// receive.
	MinDatagrams *int
	// BytesVerified requires (true) that every datagram a sink received
	// had the expected contents, or that a TCP bulk transfer completed
	// byte-exact.
	BytesVerified *bool
	// MinBytes is the least number of bytes a TCP bulk transfer must move.
	MinBytes *int64
	// Host names the host of a dhcp_bound expectation (instead of App).
	Host string
	// DHCPBound requires (true) that the host's DHCP lease was bound at the
	// end of the run.
	DHCPBound *bool
	// DNSAnswer is the address a dns_lookup (or http_get's name lookup)
	// must have got.
	DNSAnswer netip.Addr
	// HTTPStatus is the status the last http_get response must have.
	HTTPStatus *int
	// BodySHA256 is the hex SHA-256 the last http_get body must have.
	BodySHA256 string
	// MinRequests is the least number of complete http_get responses.
	MinRequests *int
	// Reached requires (true) that a traceroute reached its target, or
	// (false) that it did not.
	Reached *bool
	// Hops is the number of hops a traceroute must have found to its
	// target (the target's TTL).
	Hops *int
	// Link and Direction name the link direction ("a_to_b" or "b_to_a")
	// of a link expectation (instead of App): MinMarks is the least number
	// of ECN marks its queue discipline set, MaxDrops the most frames it
	// may drop for any reason.
	Link      string
	Direction string
	MinMarks  *uint64
	MaxDrops  *uint64

	// MaxTCPConns bounds (on a host) the most TCP connections its table
	// held at once, half-open ones included: the state an attack can pin.
	MaxTCPConns *int
	// MaxReassemblyBytes bounds (on a host) the most bytes its partly
	// reassembled IPv4 datagrams held at once.
	MaxReassemblyBytes *int64
	Line               int
}
