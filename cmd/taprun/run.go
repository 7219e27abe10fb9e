package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"sync"

	"github.com/simnet-go/simnet/internal/privdrop"
	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/link/tap"
	"github.com/simnet-go/simnet/loop"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
)

// ifaceName is the name of the host's one interface.
const ifaceName = "eth0"

// logger prints taprun's lines; safe for concurrent use.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

// printf writes one line prefixed with "taprun: ".
func (l *logger) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "taprun: "+format+"\n", args...)
}

// deriveMAC returns a locally administered unicast MAC for the stack on
// device dev: stable across runs, so the kernel's neighbour cache stays
// valid when taprun restarts, and distinct from the tap's own MAC.
func deriveMAC(dev string) ether.Addr {
	h := fnv.New64a()
	_, _ = io.WriteString(h, "taprun/"+dev)
	s := h.Sum64()
	var a ether.Addr
	for i := range a {
		a[i] = byte(s >> (8 * i))
	}
	a[0] = a[0]&^0x01 | 0x02 // unicast, locally administered (IEEE 802 U/L bit)
	return a
}

// taprun is one run: the loop, the device, the host and its services.
type taprun struct {
	o    *options
	log  *logger
	l    *loop.Loop
	dev  *tap.Endpoint
	link *liveLink
	cap  *pcap.Writer
	host *stack.Host
	ifc  *stack.Interface
	tcp  *tcp.Stack
	svc  *services
	dhcp *dhcpClient
	zone *dns.Zone // the --zone file, loaded before privileges are dropped
}

// run opens the device, builds the host, starts the services and runs until
// ctx ends or the device fails.
func run(ctx context.Context, o *options, out io.Writer) error {
	addr, err := o.check()
	if err != nil {
		return usage(err)
	}
	in, outCfg, err := o.impair.configs()
	if err != nil {
		return usage(err)
	}
	var hs httpSpec
	if o.http != "" {
		if hs, err = parseHTTP(o.http); err != nil {
			return usage(err)
		}
	}
	mac := deriveMAC(o.tap)
	if o.mac != "" {
		if mac, err = ether.ParseAddr(o.mac); err != nil {
			return usage(fmt.Errorf("--mac: %w", err))
		}
		if mac.IsMulticast() || mac.IsZero() {
			return usage(fmt.Errorf("--mac %s: want a unicast address", mac))
		}
	}

	var cred *privdrop.Credential
	if o.user != "" {
		c, err := privdrop.Lookup(o.user)
		if err != nil {
			return err
		}
		cred = &c
	}

	r := &taprun{o: o, log: &logger{w: out}, l: loop.New()}
	r.dev, err = tap.Open(r.l, tap.Config{Name: o.tap, Create: o.create, MTU: o.mtu})
	if err != nil {
		return explainOpen(err)
	}
	defer r.dev.Close()
	kmac, err := r.dev.HardwareAddr()
	if err != nil {
		return err
	}

	clk := r.l.Clock()
	if r.link, err = newLiveLink(r.dev, clk, o.seed, in, outCfg); err != nil {
		return err
	}
	var ep link.Endpoint = r.link
	if o.pcap != "" {
		if r.cap, err = pcap.Create(o.pcap, pcap.PcapNG); err != nil {
			return fmt.Errorf("--pcap: %w", err)
		}
		t, err := pcap.NewTap(ep, clk, r.cap, "taprun:"+o.tap)
		if err != nil {
			_ = r.cap.Close()
			return fmt.Errorf("--pcap: %w", err)
		}
		ep = t
	}

	// Everything that needs privilege or names a file is open now: the
	// device, the capture, and (below) the served directory and the zone.
	// Drop to --user before the loop handles a single frame.
	if hs.dir != "" {
		if hs.root, err = os.OpenRoot(hs.dir); err != nil {
			return fmt.Errorf("--http: %w", err)
		}
		defer hs.root.Close()
	}
	if o.dns != 0 {
		if r.zone, err = loadZone(o, r.log); err != nil {
			return err
		}
	}
	if cred != nil {
		if err := privdrop.Drop(*cred); err != nil {
			return err
		}
		r.log.printf("running as user %s (uid %d, gid %d)", cred.Name, cred.UID, cred.GID)
		if hs.root != nil {
			// Files are read per request, as the new user: say now, not
			// with a 404 per request, when it cannot read the directory.
			if err := checkServable(hs.root); err != nil {
				return fmt.Errorf("--http %s: not readable as user %s (it needs r-x on the directory and r on the files): %w",
					hs.dir, cred.Name, err)
			}
		}
	}

	r.host = stack.New(stack.Config{Name: "taprun", Clock: clk, Rand: rng.New(o.seed, "host/taprun")})
	r.ifc = r.host.AddInterface(ifaceName, mac, ep)
	r.startTCP()
	r.log.printf("tap %s (mtu %d, kernel side %s), stack mac %s", r.dev.Name(), r.dev.MTU(), kmac, mac)
	if d := describe(in); d != "" {
		r.log.printf("impairing in (kernel to stack): %s", d)
	}
	if d := describe(outCfg); d != "" {
		r.log.printf("impairing out (stack to kernel): %s", d)
	}
	if o.pcap != "" {
		r.log.printf("capturing to %s", o.pcap)
	}

	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() {
		_ = r.l.Run(loopCtx)
		close(loopDone)
	}()
	defer func() {
		stopLoop()
		<-loopDone
	}()
	defer func() {
		// On an early error the capture is still open: keep what it holds.
		if r.cap != nil {
			_ = r.call(context.Background(), r.cap.Close)
		}
	}()

	err = r.call(ctx, func() error {
		if len(addr.prefix6) > 0 {
			r.ifc.EnableIPv6(addr.prefix6...)
			r.log.printf("ipv6 addresses %v", r.ifc.IPv6Addresses())
		}
		if r.o.slaac {
			r.startSLAAC()
		}
		if addr.prefix.IsValid() {
			r.ifc.SetAddress(addr.prefix)
			r.log.printf("address %s", addr.prefix)
			if addr.gw.IsValid() {
				r.host.SetDefaultGateway(addr.gw)
				r.log.printf("gateway %s", addr.gw)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if addr.dns.IsValid() {
		r.log.printf("dns server %s", addr.dns)
	}
	if r.svc, err = startServices(ctx, r, hs); err != nil {
		return err
	}
	defer r.svc.close()
	// Ready means every service listens and the host has its address:
	// with --dhcp, once the lease is bound.
	ready := make(chan struct{})
	if o.dhcp {
		if err := r.startDHCP(ctx, mac); err != nil {
			return err
		}
		ready = r.dhcp.bound
	} else {
		close(ready)
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	gone := watchDevice(watchCtx, o.tap)

	var runErr error
wait:
	for {
		select {
		case <-ready:
			r.log.printf("ready")
			ready = nil
		case <-ctx.Done():
			r.log.printf("shutting down (%v)", context.Cause(ctx))
			break wait
		case <-r.dev.Done():
			runErr = r.dev.Err()
			if runErr == nil {
				runErr = fmt.Errorf("device %s stopped", o.tap)
			}
			break wait
		case err := <-gone:
			runErr = err
			break wait
		}
	}
	return errors.Join(runErr, r.shutdown())
}

// call runs fn on the loop and returns its error.
func (r *taprun) call(ctx context.Context, fn func() error) error {
	var err error
	if cerr := r.l.Call(ctx, func() { err = fn() }); cerr != nil {
		return cerr
	}
	return err
}

// shutdown releases the DHCP lease, stops the services and flushes and
// closes the capture.
func (r *taprun) shutdown() error {
	var errs []error
	ctx := context.Background()
	if r.dhcp != nil {
		errs = append(errs, r.dhcp.release(ctx))
	}
	r.svc.close()
	in, out := r.link.counters()
	if in.Offered > 0 || out.Offered > 0 {
		r.log.printf("impairments: in %d offered, %d dropped; out %d offered, %d dropped",
			in.Offered, in.Dropped, out.Offered, out.Dropped)
	}
	if r.tcp != nil {
		var ts tcp.StackStats
		if err := r.l.Call(ctx, func() { ts = r.tcp.Stats() }); err == nil {
			r.log.printf("tcp: %d segments in, %d connections (at most %d at once), %d backlog drops, %d SYN cookies sent, %d valid",
				ts.SegmentsIn, ts.ConnectionsOpen, ts.PeakConnections, ts.BacklogDrops, ts.SYNCookiesSent, ts.SYNCookiesValid)
		}
	}
	st := r.dev.Stats()
	r.log.printf("device: %d frames in, %d out, %d receive drops, %d send errors",
		st.RxFrames, st.TxFrames, st.RxDropped, st.TxErrors)
	if r.cap != nil {
		// The writer belongs to the loop: close it there, so no frame is
		// being written while it closes.
		err := r.call(ctx, r.cap.Close)
		r.cap = nil
		if err != nil {
			errs = append(errs, fmt.Errorf("close capture %s: %w", r.o.pcap, err))
		} else {
			r.log.printf("capture %s closed", r.o.pcap)
		}
	}
	return errors.Join(errs...)
}

// explainOpen turns a device error into advice for the user.
func explainOpen(err error) error {
	switch {
	case errors.Is(err, tap.ErrNotFound):
		return fmt.Errorf("%w", err)
	case errors.Is(err, tap.ErrBusy):
		return fmt.Errorf("%w; is another taprun attached?", err)
	case errors.Is(err, tap.ErrPermission):
		return fmt.Errorf("%w; run as root or give the binary cap_net_admin (setcap cap_net_admin+ep taprun)", err)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w; is the tun module loaded (modprobe tun)?", err)
	}
	return err
}

// startSLAAC turns on IPv6 stateless autoconfiguration (RFC 4862): each
// address formed from the link's Router Advertisements (and the default
// router they name) is logged as it comes and goes. Call it on the loop.
func (r *taprun) startSLAAC() {
	ifc := r.ifc
	ifc.OnIPv6AddressChange(func(p netip.Prefix, added bool) {
		if !added {
			r.log.printf("slaac: address %s removed", p)
			return
		}
		r.log.printf("slaac: address %s", p)
		if gw, ok := ifc.DefaultRouter6(); ok {
			r.log.printf("slaac: default router %s", gw)
		}
	})
	ifc.EnableSLAAC()
	r.log.printf("slaac: on (duplicate address detection, then router solicitations)")
}
