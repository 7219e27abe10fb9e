package stack

// Stats counts what a host did with frames and datagrams. Every drop has a
// reason counter; all fields except the two gauges at the end only grow.
type Stats struct {
	// FramesIn counts frames received on all interfaces.
	FramesIn uint64
	// FramesOut counts frames offered to the links.
	FramesOut uint64
	// BytesIn counts the bytes of received frames.
	BytesIn uint64
	// BytesOut counts the bytes of frames offered to the links.
	BytesOut uint64
	// LinkDrops counts frames the link reported dropping on send.
	LinkDrops uint64

	// DropNotOurMAC counts unicast frames to another MAC address.
	DropNotOurMAC uint64
	// DropMulticastFrame counts frames to a multicast MAC (not joined).
	DropMulticastFrame uint64
	// DropEtherType counts frames of an unhandled EtherType (IPv6, VLAN
	// tagged, ...).
	DropEtherType uint64
	// DropMalformed counts frames, packets and messages that failed to
	// parse (truncated, bad lengths, bad version, bad ARP types).
	DropMalformed uint64

	// ARPRequestsIn and ARPRepliesIn count valid ARP packets received.
	ARPRequestsIn uint64
	ARPRepliesIn  uint64
	// ARPRequestsOut counts resolution requests sent, including retries.
	ARPRequestsOut uint64
	// ARPRepliesOut counts replies to requests for our addresses.
	ARPRepliesOut uint64
	// ARPAnnouncementsOut counts gratuitous ARP announcements sent.
	ARPAnnouncementsOut uint64
	// ARPQueueOverflow counts packets dropped because the queue behind an
	// unresolved address was full.
	ARPQueueOverflow uint64
	// ARPResolutionFailed counts queued packets dropped because the
	// address did not resolve after ARPMaxTries requests.
	ARPResolutionFailed uint64
	// ARPConflicts counts ARP packets from another MAC claiming one of our
	// addresses (RFC 5227 section 2.4).
	ARPConflicts uint64
	// ARPOverridesRefused counts ARP packets that would have changed the
	// MAC address of a static neighbour or of one confirmed less than
	// arpLockTime ago, and were ignored (ARP spoofing defence).
	ARPOverridesRefused uint64
	// ARPProbesOut counts RFC 5227 address probes sent (sender address
	// 0.0.0.0).
	ARPProbesOut uint64
	// ARPProbeConflicts counts address probes that ended with the
	// address found in use (or not probeable).
	ARPProbeConflicts uint64

	// IPIn counts IPv4 packets received (before validation).
	IPIn uint64
	// IPBadChecksum counts packets with a wrong header checksum.
	IPBadChecksum uint64
	// IPBadSource counts packets from a broadcast, multicast or
	// unspecified-with-unicast source (RFC 1122 section 3.2.1.3).
	IPBadSource uint64
	// IPNotForUs counts packets to an address that is not ours (a host
	// does not forward).
	IPNotForUs uint64
	// IPMulticast counts packets to multicast addresses (not joined).
	IPMulticast uint64
	// IPDelivered counts datagrams handed to ICMP, UDP or a protocol
	// handler.
	IPDelivered uint64
	// IPUnknownProtocol counts datagrams for a protocol with no handler.
	IPUnknownProtocol uint64
	// IPOut counts datagrams the host originated (before fragmentation).
	IPOut uint64
	// IPNoRoute counts datagrams dropped for lack of a route.
	IPNoRoute uint64
	// IPTooBig counts datagrams over the MTU with DF set, not sent.
	IPTooBig uint64
	// IPLoopback counts datagrams sent to one of the host's own addresses
	// or to 127.0.0.0/8.
	IPLoopback uint64
	// Forwarded counts datagrams forwarded (Config.Forwarding).
	Forwarded uint64
	// ForwardRefused counts datagrams a router must not forward: a
	// source or destination on network 0 or 127 or link-local
	// (169.254/16), or a directed broadcast (RFC 1812 section 5.3.7,
	// RFC 3927 section 2.7, RFC 2644).
	ForwardRefused uint64
	// TTLExceeded counts datagrams not forwarded because their TTL ran out.
	TTLExceeded uint64

	// FragmentsOut counts fragments sent; FragmentsIn fragments received.
	FragmentsOut uint64
	FragmentsIn  uint64
	// Reassembled counts datagrams completed from fragments.
	Reassembled uint64
	// ReassemblyTimeout counts partial datagrams freed by the timer.
	ReassemblyTimeout uint64
	// ReassemblyOverlap counts datagrams dropped because fragments
	// overlapped (RFC 5722 applied to IPv4).
	ReassemblyOverlap uint64
	// ReassemblyDuplicate counts exact duplicate fragments ignored.
	ReassemblyDuplicate uint64
	// ReassemblyMemory counts partial datagrams dropped to respect
	// ReassemblyMemoryLimit.
	ReassemblyMemory uint64
	// ReassemblyMalformed counts fragments with an inconsistent length
	// (not a multiple of 8 with MF set, past the known end).
	ReassemblyMalformed uint64

	// ICMPIn counts ICMP messages received with a valid checksum.
	ICMPIn uint64
	// ICMPBadChecksum counts ICMP messages with a wrong checksum.
	ICMPBadChecksum uint64
	// EchoRequestsIn, EchoRepliesOut, EchoRequestsOut and EchoRepliesIn
	// count pings.
	EchoRequestsIn  uint64
	EchoRepliesOut  uint64
	EchoRequestsOut uint64
	EchoRepliesIn   uint64
	// EchoBroadcastIgnored counts echo requests to a broadcast address,
	// which RFC 1122 section 3.2.2.6 allows a host to ignore.
	EchoBroadcastIgnored uint64
	// ICMPErrorsIn counts ICMP error messages received.
	ICMPErrorsIn uint64
	// PMTUUpdates counts IPv4 path MTUs lowered by "fragmentation needed"
	// messages (RFC 1191).
	PMTUUpdates uint64
	// UnreachableOut counts destination unreachable messages sent.
	UnreachableOut uint64
	// TimeExceededOut counts time exceeded messages sent.
	TimeExceededOut uint64

	// UDPIn counts UDP datagrams received; UDPOut datagrams sent.
	UDPIn  uint64
	UDPOut uint64
	// UDPBadChecksum counts datagrams with a wrong checksum.
	UDPBadChecksum uint64
	// UDPNoPort counts datagrams to a port with no socket.
	UDPNoPort uint64

	// ReassemblyBytesInUse is a gauge: bytes held by partial datagrams.
	ReassemblyBytesInUse uint64
	// ReassemblyPending is a gauge: partial datagrams held.
	ReassemblyPending uint64
	// ReassemblyBytesPeak is the most bytes partial datagrams held at
	// once (at most Config.ReassemblyMemoryLimit).
	ReassemblyBytesPeak uint64
}

// hotStats are the Stats counters that ordinary traffic increments on
// every frame or datagram. They live together at the start of Host, away
// from the rarely touched drop counters, so a packet dirties one or two
// cache lines of counters instead of one per protocol layer.
type hotStats struct {
	IPIn, IPOut, IPDelivered               uint64
	ICMPIn, EchoRequestsIn, EchoRepliesOut uint64
	EchoRequestsOut, EchoRepliesIn         uint64
	UDPIn, UDPOut                          uint64
}

// addTo adds the counters to their fields of s.
func (c *hotStats) addTo(s *Stats) {
	s.IPIn += c.IPIn
	s.IPOut += c.IPOut
	s.IPDelivered += c.IPDelivered
	s.ICMPIn += c.ICMPIn
	s.EchoRequestsIn += c.EchoRequestsIn
	s.EchoRepliesOut += c.EchoRepliesOut
	s.EchoRequestsOut += c.EchoRequestsOut
	s.EchoRepliesIn += c.EchoRepliesIn
	s.UDPIn += c.UDPIn
	s.UDPOut += c.UDPOut
}

// linkStats are the frame counters of one interface, kept in the
// interface's first cache line; Host.Stats adds them up. ARPRequestsIn is
// here too: on a large LAN most frames a host receives are other hosts'
// ARP requests, which then touch nothing else of the host.
type linkStats struct {
	// The counters a received frame updates come first (see Interface).
	FramesIn, BytesIn, ARPRequestsIn uint64
	FramesOut, BytesOut              uint64
}

// addTo adds the counters to their fields of s.
func (c *linkStats) addTo(s *Stats) {
	s.FramesIn += c.FramesIn
	s.BytesIn += c.BytesIn
	s.ARPRequestsIn += c.ARPRequestsIn
	s.FramesOut += c.FramesOut
	s.BytesOut += c.BytesOut
}
