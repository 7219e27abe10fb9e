package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
)

// DHCP ports (RFC 2131 section 4.1).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
)

// limitedBroadcast is 255.255.255.255 (RFC 919).
var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// releaseGrace is how long shutdown lets the loop run after the DHCPRELEASE
// is handed to the host, so that the frame (and the ARP exchange for the
// server's MAC it may need first) leaves before the device closes.
const releaseGrace = 300 * time.Millisecond

// dhcpClient joins the DHCP state machine to the host: it is the client's
// transport (a UDP socket on port 68) and its configurator (the interface's
// address and the default route). It runs on the loop.
type dhcpClient struct {
	r    *taprun
	c    *dhcp.Client
	sock *stack.UDPSocket
	cur  netip.Prefix // the applied lease's address, or the zero Prefix
	// bound is closed when the first lease is applied.
	bound chan struct{}

	releasing bool // Stop is running: Remove is expected, not news
}

// startDHCP binds the client port and starts discovering.
func (r *taprun) startDHCP(ctx context.Context, mac ether.Addr) error {
	d := &dhcpClient{r: r, bound: make(chan struct{})}
	err := r.call(ctx, func() error {
		sock, err := r.host.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcpClientPort),
			stack.UDPHandlerFunc(func(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) { d.c.Handle(payload) }))
		if err != nil {
			return fmt.Errorf("dhcp: bind udp/%d: %w", dhcpClientPort, err)
		}
		d.sock = sock
		d.c = dhcp.NewClient(r.l.Clock(), rng.New(r.o.seed, "dhcp/taprun"), mac, d, d, nil)
		d.c.Hostname = "taprun"
		d.c.Start(netip.Addr{})
		return nil
	})
	if err != nil {
		return err
	}
	r.dhcp = d
	r.log.printf("dhcp: discovering")
	return nil
}

// Broadcast sends msg to 255.255.255.255:67 out of the interface, from the
// bound address or 0.0.0.0 (RFC 2131 section 4.1).
func (d *dhcpClient) Broadcast(msg []byte) error {
	return d.sock.SendVia(d.r.ifc, d.cur.Addr(), netip.AddrPortFrom(limitedBroadcast, dhcpServerPort), msg)
}

// Unicast sends msg to the server at dst (renewal, release).
func (d *dhcpClient) Unicast(dst netip.Addr, msg []byte) error {
	return d.sock.SendTo(netip.AddrPortFrom(dst, dhcpServerPort), msg)
}

// Apply installs a new or renewed lease and reports it.
func (d *dhcpClient) Apply(l dhcp.Lease) {
	renewed := d.cur == l.Addr
	if !renewed {
		d.r.ifc.SetAddress(l.Addr)
		d.cur = l.Addr
	}
	gw := netip.Addr{}
	if len(l.Routers) > 0 {
		gw = l.Routers[0]
	}
	d.r.host.SetDefaultGateway(gw)
	if renewed {
		d.r.log.printf("dhcp: renewed %s, lease %v", l.Addr, l.LeaseTime)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dhcp: bound %s from %s", l.Addr, l.ServerID)
	if gw.IsValid() {
		fmt.Fprintf(&b, ", router %s", gw)
	}
	if len(l.DNS) > 0 {
		fmt.Fprintf(&b, ", dns %s", l.DNS[0])
	}
	if l.DomainName != "" {
		fmt.Fprintf(&b, ", domain %s", l.DomainName)
	}
	fmt.Fprintf(&b, ", lease %v (renew after %v)", l.LeaseTime, l.T1)
	d.r.log.printf("%s", b.String())
	select {
	case <-d.bound:
	default:
		close(d.bound)
	}
}

// Remove takes the leased address and the default route away.
func (d *dhcpClient) Remove() {
	if d.cur.IsValid() && !d.releasing {
		d.r.log.printf("dhcp: lost %s", d.cur)
	}
	d.r.ifc.SetAddress(netip.Prefix{})
	d.r.host.SetDefaultGateway(netip.Addr{})
	d.cur = netip.Prefix{}
}

// release sends a DHCPRELEASE for a bound lease (RFC 2131 section 4.4.6)
// and stops the client.
func (d *dhcpClient) release(ctx context.Context) error {
	var addr netip.Prefix
	err := d.r.call(ctx, func() error {
		if l, ok := d.c.Lease(); ok {
			addr = l.Addr
		}
		d.releasing = true
		d.c.Stop()
		d.sock.Close()
		return nil
	})
	if err != nil {
		return fmt.Errorf("dhcp release: %w", err)
	}
	if addr.IsValid() {
		time.Sleep(releaseGrace)
		d.r.log.printf("dhcp: released %s", addr.Addr())
	}
	return nil
}
