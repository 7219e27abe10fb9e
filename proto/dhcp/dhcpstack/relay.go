package dhcpstack

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/stack"
)

// MaxRelayHops is the hops count past which a relay agent discards a
// request (RFC 1542 section 4.1.1).
const MaxRelayHops = 16

// RelayStats counts what a Relay did.
type RelayStats struct {
	// Requests counts BOOTREQUESTs passed on to a server.
	Requests uint64 `json:"requests"`
	// Replies counts BOOTREPLYs passed back to a client's subnet.
	Replies uint64 `json:"replies"`
	// Dropped counts messages discarded: malformed, too many hops, from
	// an interface that does not relay, or replies whose giaddr is not a
	// relaying interface's.
	Dropped uint64 `json:"dropped"`
	// SendErrors counts messages the host failed to send.
	SendErrors uint64 `json:"send_errors"`
}

// relayIfc is one interface a Relay serves and the server its clients'
// requests go to.
type relayIfc struct {
	ifc    *stack.Interface
	server netip.Addr
}

// Relay is a DHCP/BOOTP relay agent (RFC 1542 section 4, RFC 2131 section
// 4.1) on a stack.Host, bound to UDP port 67: a request broadcast by a
// client on a relaying interface goes to that interface's server with
// giaddr set to the interface's address, and the server's reply, sent to
// giaddr, goes back onto that interface. The host need not forward
// datagrams for the relay to work, but its routes must reach the server.
//
// Not implemented: the relay agent information option (RFC 3046), and
// unicasting a reply to yiaddr/chaddr when the broadcast bit is clear
// (RFC 1542 section 4.1.2 SHOULD): the reply is broadcast on the client's
// link, as a server without an ARP entry for yiaddr does (RFC 2131 section
// 4.1), unless ciaddr is set.
type Relay struct {
	h    *stack.Host
	sock *stack.UDPSocket
	ifcs []relayIfc
	buf  []byte

	// Stats counts messages.
	Stats RelayStats
}

// NewRelay binds UDP port 67 on h. Serve names the interfaces it relays
// for.
func NewRelay(h *stack.Host) (*Relay, error) {
	r := &Relay{h: h}
	sock, err := h.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcp.ServerPort), stack.UDPHandlerFunc(r.handle))
	if err != nil {
		return nil, fmt.Errorf("dhcp relay on %s: %w", h.Name(), err)
	}
	r.sock = sock
	return r, nil
}

// Serve relays the requests that arrive on ifc to server. ifc must have
// an address by the time clients send: it becomes the requests' giaddr.
func (r *Relay) Serve(ifc *stack.Interface, server netip.Addr) {
	r.ifcs = append(r.ifcs, relayIfc{ifc: ifc, server: server.Unmap()})
}

// Close unbinds port 67.
func (r *Relay) Close() { r.sock.Close() }

func (r *Relay) handle(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) {
	v, err := dhcp.ParseView(payload)
	if err != nil {
		r.Stats.Dropped++
		return
	}
	switch v.Op() {
	case dhcp.BootRequest:
		r.request(payload)
	case dhcp.BootReply:
		r.reply(payload)
	default:
		r.Stats.Dropped++
	}
}

// request passes a client's request on to the server of the interface it
// arrived on (RFC 1542 section 4.1.1).
func (r *Relay) request(m []byte) {
	in := r.h.ReceivingInterface()
	var ri *relayIfc
	for k := range r.ifcs {
		if r.ifcs[k].ifc == in {
			ri = &r.ifcs[k]
		}
	}
	if ri == nil || !in.Address().IsValid() || m[3] > MaxRelayHops {
		r.Stats.Dropped++
		return
	}
	r.buf = append(r.buf[:0], m...)
	r.buf[3]++ // hops
	// "If this field is zero, the relay agent MUST fill this field with
	// the IP address of the interface on which the request was received";
	// a non-zero giaddr (another relay's) is left as it is.
	if [4]byte(r.buf[24:28]) == ([4]byte{}) {
		a := in.Address().Addr().As4()
		copy(r.buf[24:28], a[:])
	}
	if err := r.sock.SendTo(netip.AddrPortFrom(ri.server, dhcp.ServerPort), r.buf); err != nil {
		r.Stats.SendErrors++
		return
	}
	r.Stats.Requests++
}

// reply passes a server's reply back onto the client's link: the
// interface whose address is giaddr (RFC 1542 section 4.1.2).
func (r *Relay) reply(m []byte) {
	gi := netip.AddrFrom4([4]byte(m[24:28]))
	var ri *relayIfc
	for k := range r.ifcs {
		if a := r.ifcs[k].ifc.Address(); a.IsValid() && a.Addr() == gi {
			ri = &r.ifcs[k]
		}
	}
	if ri == nil {
		r.Stats.Dropped++
		return
	}
	ci := netip.AddrFrom4([4]byte(m[12:16]))
	broadcast := binary.BigEndian.Uint16(m[10:12])&dhcp.FlagBroadcast != 0
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcp.ClientPort)
	if !ci.IsUnspecified() && !broadcast {
		dst = netip.AddrPortFrom(ci, dhcp.ClientPort)
	}
	if err := r.sock.SendVia(ri.ifc, gi, dst, m); err != nil {
		r.Stats.SendErrors++
		return
	}
	r.Stats.Replies++
}
