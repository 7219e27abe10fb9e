package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dhcp/dhcpstack"
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
	r     *taprun
	c     *dhcp.Client
	sock  *stack.UDPSocket
	probe *dhcpstack.InterfaceProber
	cur   netip.Prefix // the applied lease's address, or the zero Prefix
	// bound is closed when the first lease is applied.
	bound chan struct{}

	releasing bool // Stop is running: Remove is expected, not news
}

// startDHCP binds the client port and starts: from INIT-REBOOT with the
// address of the lease file, if it holds one for this MAC that has not
// expired (RFC 2131 section 3.2), else from INIT. Every acknowledged
// address is probed with ARP before it is used, and declined if another
// host answers (RFC 2131 section 4.4.1, RFC 5227 section 2.1); it is
// announced only once configured.
func (r *taprun) startDHCP(ctx context.Context, mac ether.Addr) error {
	d := &dhcpClient{r: r, bound: make(chan struct{})}
	var remembered netip.Addr
	if r.o.leaseFile != "" {
		lf, err := readLeaseFile(r.o.leaseFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			r.log.printf("dhcp: ignoring %v", err)
		case lf.MAC != mac.String():
			r.log.printf("dhcp: ignoring %s: its lease is for %s", r.o.leaseFile, lf.MAC)
		case !time.Now().Before(lf.Expires):
			r.log.printf("dhcp: ignoring %s: its lease of %s expired at %s", r.o.leaseFile, lf.Address, lf.Expires.Format(time.RFC3339))
		default:
			remembered = lf.Address.Addr()
		}
	}
	err := r.call(ctx, func() error {
		sock, err := r.host.BindUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), dhcpClientPort),
			stack.UDPHandlerFunc(func(_ *stack.UDPSocket, _, _ netip.AddrPort, payload []byte) { d.c.Handle(payload) }))
		if err != nil {
			return fmt.Errorf("dhcp: bind udp/%d: %w", dhcpClientPort, err)
		}
		d.sock = sock
		d.probe = dhcpstack.NewInterfaceProber(r.ifc)
		d.c = dhcp.NewClient(r.l.Clock(), rng.New(r.o.seed, "dhcp/taprun"), mac, d, d, d)
		d.c.Hostname = "taprun"
		d.c.Start(remembered)
		return nil
	})
	if err != nil {
		return err
	}
	r.dhcp = d
	if remembered.IsValid() {
		r.log.printf("dhcp: rebooting: requesting %s from %s (INIT-REBOOT)", remembered, r.o.leaseFile)
	} else {
		r.log.printf("dhcp: discovering")
	}
	return nil
}

// Probe implements dhcp.Prober with the interface's RFC 5227 probe, and
// says what it found.
func (d *dhcpClient) Probe(addr netip.Addr, done func(inUse bool)) {
	d.r.log.printf("dhcp: probing %s with ARP", addr)
	d.probe.Probe(addr, func(inUse bool) {
		if inUse {
			d.r.log.printf("dhcp: %s is in use by another host: declining it", addr)
		}
		done(inUse)
	})
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
		d.r.ifc.AnnounceAddress() // RFC 5227 section 2.3
		d.cur = l.Addr
	}
	gw := netip.Addr{}
	if len(l.Routers) > 0 {
		gw = l.Routers[0]
	}
	d.r.host.SetDefaultGateway(gw)
	if d.r.o.leaseFile != "" {
		if err := writeLeaseFile(d.r.o.leaseFile, d.r.ifc.MAC(), l); err != nil {
			d.r.log.printf("dhcp: %v", err)
		}
	}
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
// and stops the client. With a lease file the lease is kept instead, for
// the INIT-REBOOT of the next run (a released lease would be unknown to
// the server, which stays silent then: RFC 2131 section 4.3.2).
func (d *dhcpClient) release(ctx context.Context) error {
	var addr netip.Prefix
	keep := d.r.o.leaseFile != ""
	err := d.r.call(ctx, func() error {
		if l, ok := d.c.Lease(); ok {
			addr = l.Addr
		}
		d.releasing = true
		if keep {
			d.c.Halt()
		} else {
			d.c.Stop()
		}
		d.probe.Cancel()
		d.sock.Close()
		return nil
	})
	if err != nil {
		return fmt.Errorf("dhcp release: %w", err)
	}
	if addr.IsValid() && keep {
		d.r.log.printf("dhcp: keeping the lease of %s (in %s), not released", addr.Addr(), d.r.o.leaseFile)
		return nil
	}
	if addr.IsValid() {
		time.Sleep(releaseGrace)
		d.r.log.printf("dhcp: released %s", addr.Addr())
	}
	return nil
}

// leaseFile is what --lease-file holds: the last lease taprun bound.
type leaseFile struct {
	MAC     string       `json:"mac"`
	Address netip.Prefix `json:"address"`
	Server  netip.Addr   `json:"server"`
	Expires time.Time    `json:"expires"`
}

// readLeaseFile reads and checks a lease file.
func readLeaseFile(path string) (leaseFile, error) {
	var lf leaseFile
	b, err := os.ReadFile(path)
	if err != nil {
		return lf, fmt.Errorf("lease file: %w", err)
	}
	if err := json.Unmarshal(b, &lf); err != nil {
		return lf, fmt.Errorf("lease file %s: %w", path, err)
	}
	if !lf.Address.IsValid() || !lf.Address.Addr().Is4() {
		return lf, fmt.Errorf("lease file %s: no IPv4 address", path)
	}
	return lf, nil
}

// writeLeaseFile replaces the lease file with l, through a temporary file
// and a rename, so a crash leaves the old or the new lease.
func writeLeaseFile(path string, mac ether.Addr, l dhcp.Lease) error {
	lf := leaseFile{MAC: mac.String(), Address: l.Addr, Server: l.ServerID, Expires: time.Now().Add(l.LeaseTime).UTC().Truncate(time.Second)}
	b, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return fmt.Errorf("lease file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lease-*")
	if err != nil {
		return fmt.Errorf("lease file: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("lease file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("lease file: %w", err)
	}
	return nil
}
