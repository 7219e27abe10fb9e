package scenario

import (
	"hash/fnv"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/link/impair"
)

// word reads n's scalar with parse, one of link/impair's parsers of the
// words people write for impairments and times, and reports its error at
// n's line and path.
func word[T any](d *decoder, n *yaml.Node, path string, parse func(string) (T, error)) (T, bool) {
	var zero T
	s, ok := d.scalar(n, path)
	if !ok {
		return zero, false
	}
	v, err := parse(s)
	if err != nil {
		d.failErr(n, path, err)
		return zero, false
	}
	return v, true
}

// duration reads a duration with a unit ("10ms", "2m") or "0", at most
// impair.MaxDuration.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	return word(d, n, path, impair.ParseDuration)
}

// fraction reads a probability written as a percentage ("5%") or a
// fraction (0.05).
func (d *decoder) fraction(n *yaml.Node, path string) (float64, bool) {
	return word(d, n, path, impair.ParseProbability)
}

// rate reads a bandwidth: bits per second, or a number with a unit such as
// 10Mbit or 1.5Gbps.
func (d *decoder) rate(n *yaml.Node, path string) (int64, bool) {
	return word(d, n, path, impair.ParseRate)
}

// queue reads a queue bound: a packet count, or a byte size with a unit.
func (d *decoder) queue(n *yaml.Node, path string) (Queue, bool) {
	return word(d, n, path, func(s string) (Queue, error) {
		p, b, err := impair.ParseQueue(s)
		return Queue{Packets: p, Bytes: b}, err
	})
}

// byteSize reads a byte count: a bare integer or one with a unit (B, KB,
// KiB, MB, MiB, GB, GiB).
func (d *decoder) byteSize(n *yaml.Node, path string, max int64) (int64, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	num, mult := s, int64(1)
	for _, u := range byteUnits {
		if x, found := strings.CutSuffix(s, u.suffix); found {
			num, mult = x, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || v < 0 || v > max/mult {
		d.fail(n, path, "invalid byte count %q (want e.g. 1048576, 512KiB, 10MB; at most %d bytes)", s, max)
		return 0, false
	}
	return v * mult, true
}

// byteUnits are the units of a byte count, longest suffix first.
var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"B", 1},
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || n.ShortTag() != "!!int" {
		d.fail(n, path, "invalid integer %q", s)
		return 0, false
	}
	if v < lo || v > hi {
		d.fail(n, path, "%d is out of range [%d, %d]", v, lo, hi)
		return 0, false
	}
	return v, true
}

func (d *decoder) seed(n *yaml.Node, path string) (uint64, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.fail(n, path, "invalid seed %q (want an integer from 0 to %d)", s, uint64(math.MaxUint64))
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return false, false
	}
	if n.ShortTag() != "!!bool" {
		d.fail(n, path, "invalid boolean %q (want true or false)", s)
		return false, false
	}
	return s == "true" || s == "True" || s == "TRUE", true
}

func (d *decoder) port(n *yaml.Node, path string) (uint16, bool) {
	v, ok := d.integer(n, path, 1, 65535)
	return uint16(v), ok
}

func (d *decoder) addr(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		d.fail(n, path, "invalid IPv4 address %q", s)
		return netip.Addr{}, false
	}
	return a, true
}

// addr46 reads a unicast IPv4 or IPv6 address (no zone).
func (d *decoder) addr46(n *yaml.Node, path string) (netip.Addr, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
		d.fail(n, path, "invalid address %q (want a unicast IPv4 or IPv6 address, e.g. 192.0.2.1 or 2001:db8::1)", s)
		return netip.Addr{}, false
	}
	return a, true
}

// addrPort reads "IPv4:port" (the attack apps speak IPv4 only).
func (d *decoder) addrPort(n *yaml.Node, path string) (netip.AddrPort, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
		d.fail(n, path, "invalid IPv4 address:port %q (want e.g. 192.0.2.2:9000)", s)
		return netip.AddrPort{}, false
	}
	return ap, true
}

// addrPort46 reads "IPv4:port" or "[IPv6]:port".
func (d *decoder) addrPort46(n *yaml.Node, path string) (netip.AddrPort, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap, err := netip.ParseAddrPort(s)
	a := ap.Addr()
	if err != nil || ap.Port() == 0 || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
		d.fail(n, path, "invalid address:port %q (want e.g. 192.0.2.2:9000 or [2001:db8::2]:9000)", s)
		return netip.AddrPort{}, false
	}
	return ap, true
}

func (d *decoder) prefix(n *yaml.Node, path string) (netip.Prefix, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return netip.Prefix{}, false
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		d.fail(n, path, "invalid CIDR %q (want an IPv4 address with a prefix length, e.g. 192.0.2.1/24, or dhcp)", s)
		return netip.Prefix{}, false
	}
	if p.Bits() < 31 && (p.Addr() == p.Masked().Addr() || p.Addr() == broadcast(p)) {
		d.fail(n, path, "%s is the network or broadcast address of its subnet", s)
		return netip.Prefix{}, false
	}
	return p, true
}

// prefix6 reads an IPv6 interface address with its prefix length.
func (d *decoder) prefix6(n *yaml.Node, path string, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		d.fail(n, path, "invalid CIDR %q (want an address with a prefix length, e.g. 192.0.2.1/24 or 2001:db8::1/64)", s)
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		d.fail(n, path, "%s is not a unicast address", s)
		return netip.Prefix{}, false
	}
	return p, true
}

// maxAddresses bounds an interface's addresses list.
const maxAddresses = 16

// addresses reads an interface's address, addresses and slaac keys: at
// most one IPv4 address (or dhcp) and any number of IPv6 ones; one of the
// keys must be there.
func (d *decoder) addresses(io *object, ifc *Interface) {
	an, asn, sn := io.get("address"), io.get("addresses"), io.get("slaac")
	if sn != nil {
		ifc.SLAAC, _ = d.boolean(sn, io.field("slaac"))
	}
	if an == nil && asn == nil && !ifc.SLAAC {
		d.require(io, "address")
		return
	}
	one := func(n *yaml.Node, path string) {
		s, ok := d.scalar(n, path)
		if !ok {
			return
		}
		if strings.Contains(s, ":") {
			if p, ok := d.prefix6(n, path, s); ok {
				for _, q := range ifc.IPv6 {
					if q.Addr() == p.Addr() {
						d.fail(n, path, "address %s is listed twice", p.Addr())
						return
					}
				}
				ifc.IPv6 = append(ifc.IPv6, p)
			}
			return
		}
		if ifc.Address.IsValid() || ifc.DHCP {
			d.fail(n, path, "one IPv4 address per interface")
			return
		}
		if n == an && strings.EqualFold(s, "dhcp") {
			ifc.DHCP = true
			return
		}
		ifc.Address, _ = d.prefix(n, path)
	}
	if an != nil {
		one(an, io.field("address"))
	}
	items := d.list(asn, io.field("addresses"))
	if len(items) > maxAddresses {
		d.fail(asn, io.field("addresses"), "more than %d addresses", maxAddresses)
		return
	}
	for i, n := range items {
		one(n, index(io.field("addresses"), i))
	}
}

// broadcast returns the directed broadcast address of p (IPv4).
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func (d *decoder) mac(n *yaml.Node, path string) ([6]byte, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return [6]byte{}, false
	}
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		d.fail(n, path, "invalid MAC address %q (want e.g. 02:00:00:00:00:01)", s)
		return [6]byte{}, false
	}
	var m [6]byte
	copy(m[:], hw)
	if m[0]&1 != 0 || m == [6]byte{} {
		d.fail(n, path, "MAC address %q is not a unicast address", s)
		return [6]byte{}, false
	}
	return m, true
}

// DeriveMAC returns the locally administered unicast MAC that a host's
// interface gets when the file does not give one: it depends only on the
// two names.
func DeriveMAC(host, iface string) [6]byte {
	h := fnv.New64a()
	_, _ = h.Write([]byte(host + ":" + iface))
	v := h.Sum64()
	return [6]byte{0x02, byte(v >> 32), byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}
