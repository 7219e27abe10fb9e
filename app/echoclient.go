package app

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/tcp"
)

// echoChunk is the size of the echo client's buffers.
const echoChunk = 16 << 10

// TCPEchoClient connects to an echo server (RFC 862), sends Bytes bytes of
// the tcpapps pattern, reads them back and checks every byte. Its result
// is a tcpapps.BulkResult: Bytes counts bytes echoed back, and Verified is
// set once all came back intact and the connection closed cleanly.
type TCPEchoClient struct {
	name   string
	target netip.AddrPort
	n      int64
	clk    clock.Clock
	sent   int64
	got    int64
	bad    bool
	fin    bool
	buf    []byte
	res    tcpapps.BulkResult
}

// NewTCPEchoClient returns an echo client sending n bytes to target.
func NewTCPEchoClient(name string, target netip.AddrPort, n int64) *TCPEchoClient {
	return &TCPEchoClient{name: name, target: target, n: n}
}

// Name returns the app's name.
func (e *TCPEchoClient) Name() string { return e.name }

// Start connects to the server.
func (e *TCPEchoClient) Start(env *Env) error {
	if env.TCP == nil {
		return fmt.Errorf("tcp echo client %s: %w", e.name, errNoTCP)
	}
	e.clk = env.Clock
	e.buf = make([]byte, echoChunk)
	e.res.Start = env.Clock.Now()
	if _, err := env.TCP.Connect(netip.AddrPort{}, e.target, e); err != nil {
		return fmt.Errorf("tcp echo client %s: %w", e.name, err)
	}
	return nil
}

// OnEstablished starts sending.
func (e *TCPEchoClient) OnEstablished(c *tcp.Conn) { e.OnWritable(c) }

// OnWritable sends the next pattern bytes.
func (e *TCPEchoClient) OnWritable(c *tcp.Conn) {
	for e.sent < e.n {
		k := min(int64(len(e.buf)), e.n-e.sent)
		for i := range e.buf[:k] {
			e.buf[i] = tcpapps.PatternByte(e.sent + int64(i))
		}
		w, err := c.Write(e.buf[:k])
		e.sent += int64(w)
		if err != nil || int64(w) < k {
			return
		}
	}
}

// OnReadable checks the echoed bytes and closes once all came back.
func (e *TCPEchoClient) OnReadable(c *tcp.Conn) {
	for {
		r, err := c.Read(e.buf)
		for i := range e.buf[:r] {
			if e.buf[i] != tcpapps.PatternByte(e.got+int64(i)) {
				e.bad = true
			}
		}
		e.got += int64(r)
		if e.got >= e.n && !e.fin {
			e.fin = true
			_ = c.Close()
			return
		}
		if errors.Is(err, io.EOF) {
			_ = c.Close()
			return
		}
		if err != nil || r == 0 {
			return
		}
	}
}

// OnClosed records the result.
func (e *TCPEchoClient) OnClosed(c *tcp.Conn, err error) {
	e.res.Bytes = e.got
	e.res.Verified = err == nil && e.got == e.n && !e.bad
	e.res.End = e.clk.Now()
	e.res.Duration = e.res.End.Sub(e.res.Start)
	if e.res.Duration > 0 {
		e.res.Goodput = float64(e.got) * 8 / e.res.Duration.Seconds()
	}
	switch {
	case err != nil:
		e.res.Error = err.Error()
	case e.bad:
		e.res.Error = "echoed bytes differ from those sent"
	case e.got != e.n:
		e.res.Error = fmt.Sprintf("%d of %d bytes echoed", e.got, e.n)
	}
	e.res.TCP = c.Stats()
}

// Result returns the exchange's result so far.
func (e *TCPEchoClient) Result() any { return e.res }
