// Package app holds simnet's built-in applications and the small interface
// they run against.
//
// Apps are driven like protocol code: they start from a call on the
// driver's loop, send from timers armed on the host's clock and react to
// packets delivered by the host. They never start goroutines, never read
// the wall clock and draw randomness only from the generator the driver
// gives them, so the same app runs deterministically in the simulator and
// unchanged on a live tap.
package app

import (
	"math/rand/v2"
	"net/netip"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/tcp"
)

// App is a built-in application instance.
type App interface {
	// Name returns the instance's name (from the scenario file).
	Name() string
	// Start begins the app's work on env's host. It is called on the
	// driver's loop; the app keeps env for its lifetime.
	Start(env *Env) error
	// Result returns the app's results so far, as a struct with JSON tags.
	Result() any
}

// Env is what an app is given when it starts: its host's network, clock and
// random source.
type Env struct {
	// Clock is the host's clock; apps arm their timers on it.
	Clock clock.Clock
	// Rand is the app's own random source (from rng.New).
	Rand *rand.Rand
	// Net is the host's network service.
	Net Net
	// TCP is the host's TCP stack (nil where the driver runs none).
	TCP *tcp.Stack
}

// Net is the part of a host that the built-in apps use.
type Net interface {
	// Ping sends an ICMP echo request (RFC 792) to dst.
	Ping(dst netip.Addr, id, seq uint16, payload []byte) error
	// ListenEcho delivers the echo replies carrying identifier id to h.
	ListenEcho(id uint16, h EchoHandler) error
	// ListenUDP binds a UDP socket to port on every address of the host (0:
	// an ephemeral port) and delivers its datagrams to h (nil: discard).
	ListenUDP(port uint16, h DatagramHandler) (Conn, error)
}

// EchoHandler takes ICMP echo replies.
type EchoHandler interface {
	// HandleEchoReply handles one reply; payload is valid only during the
	// call.
	HandleEchoReply(src netip.Addr, id, seq uint16, payload []byte, ttl uint8)
}

// DatagramHandler takes UDP datagrams.
type DatagramHandler interface {
	// HandleDatagram handles one datagram; payload is valid only during the
	// call.
	HandleDatagram(src, dst netip.AddrPort, payload []byte)
}

// Conn is a bound UDP socket.
type Conn interface {
	// SendTo sends payload to dst; payload may be reused once it returns.
	SendTo(dst netip.AddrPort, payload []byte) error
}
