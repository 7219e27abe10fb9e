package app

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app/tcpapps"
)

// errNoTCP is returned when an app needs TCP on a host without it.
var errNoTCP = errors.New("host has no TCP stack")

// TCPServer runs a tcpapps echo (RFC 862) or discard (RFC 863) server as
// an App. Its result is a tcpapps.ServerStats.
type TCPServer struct {
	name string
	port uint16
	echo bool
	srv  *tcpapps.Server
}

// NewTCPServer returns an echo server (echo true) or a discard server
// listening on port.
func NewTCPServer(name string, port uint16, echo bool) *TCPServer {
	return &TCPServer{name: name, port: port, echo: echo}
}

// Name returns the app's name.
func (s *TCPServer) Name() string { return s.name }

// Start listens on the port on every address of the host.
func (s *TCPServer) Start(env *Env) error {
	if env.TCP == nil {
		return fmt.Errorf("tcp server %s: %w", s.name, errNoTCP)
	}
	start := tcpapps.StartDiscard
	if s.echo {
		start = tcpapps.StartEcho
	}
	srv, err := start(env.TCP, netip.AddrPortFrom(netip.IPv4Unspecified(), s.port), 16)
	if err != nil {
		return fmt.Errorf("tcp server %s: %w", s.name, err)
	}
	s.srv = srv
	return nil
}

// Result returns the server's counters.
func (s *TCPServer) Result() any {
	if s.srv == nil {
		return tcpapps.ServerStats{}
	}
	return s.srv.Stats()
}

// TCPBulk runs a tcpapps bulk sender or receiver as an App: the sender
// connects and sends Bytes bytes of a pattern, the receiver accepts one
// connection and verifies them. Its result is a tcpapps.BulkResult.
type TCPBulk struct {
	name   string
	target netip.AddrPort // sender only
	port   uint16         // receiver only
	bytes  int64
	send   *tcpapps.BulkSender
	recv   *tcpapps.BulkReceiver
	// CC, when set, is the sender's congestion control ("cubic",
	// "newreno", "bbr"), instead of its host's.
	CC string
}

// NewTCPBulkSender returns a bulk sender of n bytes to target.
func NewTCPBulkSender(name string, target netip.AddrPort, n int64) *TCPBulk {
	return &TCPBulk{name: name, target: target, bytes: n}
}

// NewTCPBulkReceiver returns a bulk receiver of n bytes on port.
func NewTCPBulkReceiver(name string, port uint16, n int64) *TCPBulk {
	return &TCPBulk{name: name, port: port, bytes: n}
}

// Name returns the app's name.
func (b *TCPBulk) Name() string { return b.name }

// Start connects (sender) or listens (receiver).
func (b *TCPBulk) Start(env *Env) error {
	if env.TCP == nil {
		return fmt.Errorf("tcp bulk %s: %w", b.name, errNoTCP)
	}
	var err error
	if b.target.IsValid() {
		b.send, err = tcpapps.StartBulkSender(env.TCP, env.Clock, b.target, b.bytes, nil)
		if err == nil && b.CC != "" {
			err = b.send.SetCongestionControl(b.CC)
		}
	} else {
		b.recv, err = tcpapps.StartBulkReceiver(env.TCP, env.Clock, netip.AddrPortFrom(netip.IPv4Unspecified(), b.port), b.bytes, nil)
	}
	if err != nil {
		return fmt.Errorf("tcp bulk %s: %w", b.name, err)
	}
	return nil
}

// Result returns the transfer's result so far: Verified is set only once
// the connection has closed cleanly with every byte accounted for.
func (b *TCPBulk) Result() any {
	switch {
	case b.send != nil:
		return b.send.Result()
	case b.recv != nil:
		return b.recv.Result()
	}
	return tcpapps.BulkResult{}
}

// Progress returns the bytes moved so far: acknowledged by the peer
// (sender) or received (receiver).
func (b *TCPBulk) Progress() int64 {
	switch {
	case b.send != nil:
		return b.send.Progress()
	case b.recv != nil:
		return b.recv.Progress()
	}
	return 0
}
