package attack

import (
	"fmt"
	"net/netip"

	"github.com/simnet-go/simnet/app"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/stack"
)

// DHCPRogueConfig describes a rogue DHCP server that answers with broken
// offers.
type DHCPRogueConfig struct {
	Name string
	// Offer is the address the broken offers give away.
	Offer netip.Addr
}

// DHCPRogueResult is what a rogue DHCP server did.
type DHCPRogueResult struct {
	// Discovers counts the DISCOVERs heard, Offers the broken offers sent,
	// Errors those the host refused.
	Discovers int `json:"discovers"`
	Offers    int `json:"offers"`
	Errors    int `json:"errors"`
}

// DHCPRogue listens on the DHCP server port and answers every DISCOVER at
// once with three broken OFFERs for Offer, broadcast: one whose last
// option's length runs past the end of the message (truncated), one with
// the message type option twice (RFC 3396 section 7 concatenates repeated
// options, so the type is two octets long and names no type), and one with
// the server identifier and lease time options twice (eight octets each
// after concatenation, where RFC 2132 asks for four). A client must
// discard all three and take a good offer.
type DHCPRogue struct {
	cfg  DHCPRogueConfig
	conn app.Conn
	self netip.Addr // the server identifier the offers carry
	msg  dhcp.Message
	buf  []byte
	res  DHCPRogueResult
}

// NewDHCPRogue returns a rogue DHCP server for cfg.
func NewDHCPRogue(cfg DHCPRogueConfig) (*DHCPRogue, error) {
	if !cfg.Offer.Is4() {
		return nil, fmt.Errorf("dhcp_rogue %s: need an IPv4 address to offer", cfg.Name)
	}
	return &DHCPRogue{cfg: cfg, buf: make([]byte, 0, 600)}, nil
}

// Name returns the app's name.
func (d *DHCPRogue) Name() string { return d.cfg.Name }

// Start binds the DHCP server port.
func (d *DHCPRogue) Start(env *app.Env) error {
	c, err := env.Net.ListenUDP(dhcp.ServerPort, d)
	if err != nil {
		return fmt.Errorf("dhcp_rogue %s: %w", d.cfg.Name, err)
	}
	d.conn = c
	d.self = d.cfg.Offer
	if h, ok := env.Net.(interface{ Host() *stack.Host }); ok {
		for _, i := range h.Host().Interfaces() {
			if i.Address().IsValid() {
				d.self = i.Address().Addr()
				break
			}
		}
	}
	return nil
}

// HandleDatagram answers a DISCOVER with the broken offers.
func (d *DHCPRogue) HandleDatagram(_, _ netip.AddrPort, p []byte) {
	if err := d.msg.Unmarshal(p); err != nil || d.msg.Op != dhcp.BootRequest || d.msg.Type() != dhcp.Discover {
		return
	}
	d.res.Discovers++
	reply := dhcp.Message{Op: dhcp.BootReply, HType: d.msg.HType, HLen: d.msg.HLen, Xid: d.msg.Xid,
		Flags: d.msg.Flags, YIAddr: d.cfg.Offer, CHAddr: d.msg.CHAddr}
	base := reply.Append(d.buf[:0])[:dhcp.MinLen] // header and magic cookie
	self := d.self.As4()
	offer := []byte{byte(dhcp.OptMessageType), 1, byte(dhcp.Offer)}
	sid := []byte{byte(dhcp.OptServerID), 4, self[0], self[1], self[2], self[3]}
	lease := []byte{byte(dhcp.OptLeaseTime), 4, 0, 0, 0x0e, 0x10}
	mask := []byte{byte(dhcp.OptSubnetMask), 4, 255, 255, 255, 0}
	for _, opts := range [][]byte{
		// Truncated: a router option claiming 200 octets with 4 present.
		cat(offer, sid, lease, mask, []byte{byte(dhcp.OptRouter), 200, self[0], self[1], self[2], self[3]}),
		// The message type twice.
		cat(offer, offer, sid, lease, mask, []byte{byte(dhcp.OptEnd)}),
		// The server identifier and the lease time twice.
		cat(offer, sid, sid, lease, lease, mask, []byte{byte(dhcp.OptEnd)}),
	} {
		msg := append(base, opts...)
		if err := d.conn.SendTo(netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), dhcp.ClientPort), msg); err != nil {
			d.res.Errors++
			continue
		}
		d.res.Offers++
	}
}

// cat joins byte slices.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Result returns the counts so far.
func (d *DHCPRogue) Result() any { return d.res }
