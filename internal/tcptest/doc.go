// Package tcptest is the crafted-segment harness shared by simnet's TCP
// tests (proto/tcp) and the packetdrill script runner
// (internal/pktdrill/runner): a host under test gets segments crafted by a
// scripted peer and the segments it sends are captured, in order, with the
// virtual time they left.
//
// The package knows the TCP wire format (RFC 9293 section 3.1) at the
// byte level and does not import proto/tcp, so that proto/tcp's own
// in-package tests can use it without an import cycle, and so that its
// checksum is an oracle independent of the code under test. Its pieces:
//
//   - Net is an IP layer for one tcp.Stack (it satisfies tcp.Network)
//     that captures every segment the stack sends into a Capture.
//   - Capture queues sent segments with their time and the number of
//     peer actions (Mark) played before each.
//   - Craft builds a segment from raw fields and option bytes, as a script
//     writes it, with a correct checksum; Checksum and ChecksumOK compute
//     and verify the TCP checksum with its pseudo-header.
//   - Pipe joins two hosts with a delay and seeded loss, duplication and
//     reordering, on the virtual clock.
//   - Log records a connection's events as short strings.
package tcptest
