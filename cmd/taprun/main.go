// Command taprun runs simnet's stack live on a Linux tap device: the kernel
// (and anything routed through it) talks to a user-space host that answers
// ping, serves echo, discard, HTTP and DNS, and can take its address from a
// DHCP server, with the simulator's impairments applied on the live link.
//
// Usage:
//
//	taprun --tap NAME (--ip CIDR [--gw ADDR] | --dhcp) [--dns-server ADDR]
//	       [--echo PORT] [--discard PORT] [--http PORT[:DIR]]
//	       [--dns PORT --zone FILE] [--pcap FILE] [--create] [--mtu N]
//	       [--loss P] [--delay D] [--jitter D] [--reorder P] [--duplicate P]
//	       [--corrupt P] [--rate R] [--queue Q] [--dir in|out|both] [--seed N]
//
// See docs/taprun.md.
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/simnet-go/simnet/internal/cliflag"
)

// options are taprun's command-line settings.
type options struct {
	tap       string
	create    bool
	mtu       int
	mac       string
	ip        string
	ip6       []string // IPv6 --ip values (ipv6flag.go)
	gw        string
	dhcp      bool
	slaac     bool
	leaseFile string
	dnsServer string
	echo      uint16
	discard   uint16
	http      string
	dns       uint16
	zone      string
	origin    string
	pcap      string
	seed      uint64
	user      string
	impair    impairFlags
}

// Exit statuses: 1 when taprun fails while running (the device cannot be
// opened, it went away), 2 for a usage error (a bad or missing flag), as
// simnet does.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "taprun:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks an error in the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usage marks err, when not nil, as a usage error.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return &usageError{err}
}

// exitCode returns the exit status for the error Execute returned.
func exitCode(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// newCommand returns the taprun command.
func newCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "taprun --tap NAME (--ip CIDR [--gw ADDR] | --dhcp) [services] [impairments]",
		Short: "Run the simnet stack live on a Linux tap device",
		Long: `taprun attaches a simnet host to a Linux tap device. The kernel side of the
tap sees an ordinary Ethernet neighbour with its own MAC address that answers
ARP and ping and serves the requested services. Impairment flags apply the
simulator's link model to the live traffic (--dir picks the direction: in is
kernel to stack, out is stack to kernel). SIGINT or SIGTERM stops it cleanly:
a DHCP lease is released and the capture is flushed and closed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			return usage(cobra.NoArgs(cmd, args))
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, &o, cmd.OutOrStdout())
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(cliflag.CleanError(err)) })
	f := cmd.Flags()
	f.StringVar(&o.tap, "tap", "", "tap device to attach to (required)")
	f.BoolVar(&o.create, "create", false, "create the tap device if it does not exist (removed again on exit)")
	f.StringVar(&o.user, "user", "", "when started as root: drop to this user (name or uid) and its groups once the device and files are open")
	f.IntVar(&o.mtu, "mtu", 0, "set the device MTU (default: keep the device's)")
	f.StringVar(&o.mac, "mac", "", "the stack's MAC address (default: a locally administered address derived from the device name)")
	f.Var(&ipFlag{o: &o}, "ip", "static address and prefix, e.g. 192.0.2.2/24 or 2001:db8::2/64; repeat for IPv6 beside IPv4")
	f.StringVar(&o.gw, "gw", "", "default gateway (with --ip)")
	f.BoolVar(&o.dhcp, "dhcp", false, "get the address, gateway and DNS server from DHCP")
	f.BoolVar(&o.slaac, "slaac", false, "form IPv6 addresses from the Router Advertisements on the link (RFC 4862), beside --ip or --dhcp or alone")
	f.StringVar(&o.leaseFile, "lease-file", "", "with --dhcp: keep the lease in this file, and start from INIT-REBOOT with its address (RFC 2131 section 3.2)")
	f.StringVar(&o.dnsServer, "dns-server", "", "name server to report for the host (informational: taprun runs no resolving client)")
	f.Uint16Var(&o.echo, "echo", 0, "serve TCP and UDP echo (RFC 862) on this port")
	f.Uint16Var(&o.discard, "discard", 0, "serve TCP discard (RFC 863) on this port, logging each stream's length and SHA-256")
	f.StringVar(&o.http, "http", "", "serve HTTP on PORT, from directory DIR when given as PORT:DIR")
	f.Uint16Var(&o.dns, "dns", 0, "serve DNS over UDP and TCP on this port (needs --zone)")
	f.StringVar(&o.zone, "zone", "", "master file (RFC 1035) the DNS server is authoritative for")
	f.StringVar(&o.origin, "zone-origin", "", "the zone's name, and the origin of relative names until a $ORIGIN (default: the owner of the file's SOA record, which must then be absolute or follow a $ORIGIN)")
	f.StringVar(&o.pcap, "pcap", "", "write the host's frames to this pcapng file")
	cliflag.SeedVar(f, &o.seed, "seed", 1, "seed of every random choice (ISNs, ports, DHCP xids, impairments)")
	o.impair.register(f)
	return cmd
}

// httpSpec is a parsed --http value.
type httpSpec struct {
	port uint16
	dir  string   // "" for the built-in page
	root *os.Root // dir, opened by run before privileges are dropped
}

// parseHTTP reads PORT or PORT:DIR.
func parseHTTP(s string) (httpSpec, error) {
	portStr, dir, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return httpSpec{}, fmt.Errorf("--http %q: want PORT or PORT:DIR with PORT in 1..65535", s)
	}
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return httpSpec{}, fmt.Errorf("--http: %w", err)
		}
		if !st.IsDir() {
			return httpSpec{}, fmt.Errorf("--http: %s is not a directory", dir)
		}
	}
	return httpSpec{port: uint16(port), dir: dir}, nil
}

// addressing is the validated address configuration.
type addressing struct {
	prefix netip.Prefix // invalid with DHCP
	// prefix6 are the IPv6 addresses, beside prefix or DHCP.
	prefix6 []netip.Prefix
	gw      netip.Addr // may be invalid
	dns     netip.Addr // may be invalid
}

// check validates the combination of flags before anything is opened.
func (o *options) check() (addressing, error) {
	var a addressing
	if o.tap == "" {
		return a, fmt.Errorf("--tap is required")
	}
	switch {
	case o.dhcp && o.ip != "":
		return a, fmt.Errorf("--ip and --dhcp exclude each other")
	case !o.dhcp && o.ip == "" && len(o.ip6) == 0 && !o.slaac:
		return a, fmt.Errorf("give an address with --ip CIDR, --dhcp or --slaac")
	case o.dhcp && o.gw != "":
		return a, fmt.Errorf("--gw goes with --ip; DHCP supplies the gateway")
	case !o.dhcp && o.leaseFile != "":
		return a, fmt.Errorf("--lease-file goes with --dhcp")
	}
	if o.ip != "" {
		p, err := netip.ParsePrefix(o.ip)
		if err != nil || !p.Addr().Is4() {
			return a, fmt.Errorf("--ip %q: want an address with prefix length, e.g. 192.0.2.2/24 or 2001:db8::2/64", o.ip)
		}
		a.prefix = p
	}
	for _, s := range o.ip6 {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			return a, fmt.Errorf("--ip %q: want an IPv6 address with prefix length, e.g. 2001:db8::2/64", s)
		}
		a.prefix6 = append(a.prefix6, p)
	}
	if o.gw != "" {
		gw, err := netip.ParseAddr(o.gw)
		if err != nil || !gw.Is4() {
			return a, fmt.Errorf("--gw %q: want an IPv4 address", o.gw)
		}
		if !a.prefix.Masked().Contains(gw) {
			return a, fmt.Errorf("--gw %s is not on %s", gw, a.prefix.Masked())
		}
		a.gw = gw
	}
	if o.dnsServer != "" {
		d, err := netip.ParseAddr(o.dnsServer)
		if err != nil || !d.Is4() {
			return a, fmt.Errorf("--dns-server %q: want an IPv4 address", o.dnsServer)
		}
		a.dns = d
	}
	if (o.dns != 0) != (o.zone != "") {
		return a, fmt.Errorf("--dns PORT and --zone FILE go together")
	}
	if o.mtu < 0 || o.mtu > 65535 {
		return a, fmt.Errorf("--mtu %d out of range", o.mtu)
	}
	return a, nil
}
