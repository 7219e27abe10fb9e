package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/proto/dns"
)

// maxLeaseTime bounds a DHCP lease time (RFC 2131 carries it in 32 bits of
// seconds; a simulation needs far less).
const maxLeaseTime = 1000 * time.Hour

// serviceApp reads the fields of the DHCP, DNS and HTTP app types.
func (d *decoder) serviceApp(o *object, a *App) {
	switch a.Type {
	case AppDHCPServer:
		if pn := d.require(o, "pool"); pn != nil {
			a.PoolStart, a.PoolEnd = d.pool(pn, o.field("pool"))
		}
		if rn := o.get("router"); rn != nil {
			a.Router, _ = d.addr(rn, o.field("router"))
		}
		if dn := o.get("dns"); dn != nil {
			a.DNS = d.addrList(dn, o.field("dns"))
		}
		if ln := o.get("lease_time"); ln != nil {
			if v, ok := d.duration(ln, o.field("lease_time")); ok {
				if v < 10e9 || v > maxLeaseTime {
					d.fail(ln, o.field("lease_time"), "lease time %v out of range [10s, %v]", v, maxLeaseTime)
				}
				a.LeaseTime = v
			}
		}
		for i, rn := range d.items(o.get("reservations"), o.field("reservations")) {
			path := index(o.field("reservations"), i)
			ro := d.object(rn, path, "mac", "address")
			if ro == nil {
				continue
			}
			var r Reservation
			if mn := d.require(ro, "mac"); mn != nil {
				r.MAC, _ = d.mac(mn, ro.field("mac"))
			}
			if an := d.require(ro, "address"); an != nil {
				if v, ok := d.addr(an, ro.field("address")); ok {
					r.Addr = v
					if a.PoolStart.IsValid() && (v.Less(a.PoolStart) || a.PoolEnd.Less(v)) {
						d.fail(an, ro.field("address"), "reserved address %s is outside the pool %s-%s", v, a.PoolStart, a.PoolEnd)
					}
				}
			}
			a.Reservations = append(a.Reservations, r)
		}
	case AppDNSServer:
		if on := o.get("zone_origin"); on != nil {
			a.Origin, _ = d.scalar(on, o.field("zone_origin"))
		}
		zn, fn := o.get("zone"), o.get("zone_file")
		switch {
		case zn != nil && fn != nil:
			d.fail(fn, o.field("zone_file"), "give either zone or zone_file, not both")
		case zn != nil:
			if text, ok := d.scalar(zn, o.field("zone")); ok {
				a.Zone = text
				d.zone(zn, o.field("zone"), a, zn.Line)
			}
		case fn != nil:
			if p, ok := d.relPath(fn, o.field("zone_file")); ok {
				data, err := readLimited(p, dns.MaxZoneSize)
				if err != nil {
					d.fail(fn, o.field("zone_file"), "%v", err)
					return
				}
				a.Zone, a.ZoneFile = string(data), p
				d.zone(fn, o.field("zone_file"), a, 0)
			}
		default:
			d.fail(o.node, o.field("zone"), "required field is missing (want zone or zone_file)")
		}
	case AppHTTPServer:
		a.Port = 80
		if pn := o.get("port"); pn != nil {
			a.Port, _ = d.port(pn, o.field("port"))
		}
		if dn := o.get("dir"); dn != nil {
			if p, ok := d.relPath(dn, o.field("dir")); ok {
				if st, err := os.Stat(p); err != nil || !st.IsDir() {
					d.fail(dn, o.field("dir"), "%s is not a directory", p)
				}
				a.Dir = p
			}
		}
	case AppHTTPGet:
		if un := d.require(o, "url"); un != nil {
			if v, ok := d.scalar(un, o.field("url")); ok {
				u, err := url.Parse(v)
				if err != nil || u.Scheme != "http" || u.Hostname() == "" || u.User != nil || len(v) > 2048 {
					d.fail(un, o.field("url"), "invalid URL %q (want http://host[:port]/path)", v)
				}
				a.URL = v
			}
		}
		if dn := o.get("dns"); dn != nil {
			a.Server, _ = d.addr46(dn, o.field("dns"))
		}
	case AppDNSLookup:
		if qn := d.require(o, "query"); qn != nil {
			if v, ok := d.scalar(qn, o.field("query")); ok {
				if _, err := dns.CanonicalName(v); err != nil {
					d.fail(qn, o.field("query"), "invalid query: %v", err)
				}
				a.Query = v
			}
		}
		if dn := o.get("dns"); dn != nil {
			a.Server, _ = d.addr46(dn, o.field("dns"))
		}
		if qn := o.get("qtype"); qn != nil {
			if v, ok := d.scalar(qn, o.field("qtype")); ok {
				switch v = strings.ToUpper(v); v {
				case "A", "AAAA":
					a.QType = v
				default:
					d.fail(qn, o.field("qtype"), "invalid qtype %q (want A or AAAA)", v)
				}
			}
		}
	}
}

// pool reads an address range "FIRST-LAST".
func (d *decoder) pool(n *yaml.Node, path string) (first, last netip.Addr) {
	s, ok := d.scalar(n, path)
	if !ok {
		return
	}
	lo, hi, found := strings.Cut(s, "-")
	a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
	b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
	if !found || err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) {
		d.fail(n, path, "invalid pool %q (want FIRST-LAST, e.g. 10.0.0.100-10.0.0.199)", s)
		return
	}
	return a, b
}

// addrList reads one address or a list of them.
func (d *decoder) addrList(n *yaml.Node, path string) []netip.Addr {
	if n.Kind == yaml.ScalarNode {
		if a, ok := d.addr(n, path); ok {
			return []netip.Addr{a}
		}
		return nil
	}
	var out []netip.Addr
	items := d.list(n, path)
	if len(items) > 16 {
		d.fail(n, path, "more than 16 addresses")
		return nil
	}
	for i, in := range items {
		if a, ok := d.addr(in, index(path, i)); ok {
			out = append(out, a)
		}
	}
	return out
}

// relPath resolves a path given in the file relative to the file's
// directory.
func (d *decoder) relPath(n *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(n, path)
	if !ok {
		return "", false
	}
	if s == "" || strings.ContainsRune(s, 0) {
		d.fail(n, path, "invalid path %q", s)
		return "", false
	}
	if filepath.IsAbs(s) {
		return filepath.Clean(s), true
	}
	return filepath.Join(filepath.Dir(d.file), s), true
}

// errTooBig reports a file over its size limit.
var errTooBig = errors.New("file too large")

// readLimited reads at most limit bytes of the file at p.
func readLimited(p string, limit int) ([]byte, error) {
	// A regular file only: a device or FIFO could block or never end.
	if st, err := os.Stat(p); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(f, int64(limit)+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if b.Len() > limit {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", p, errTooBig, limit)
	}
	return b.Bytes(), nil
}

// zone parses a's zone text to report its errors; base is the file line
// the text starts after (0 for a zone file).
func (d *decoder) zone(n *yaml.Node, path string, a *App, base int) {
	name := a.ZoneFile
	if name == "" {
		name = "zone"
	}
	z, err := dns.ParseZone(strings.NewReader(a.Zone), a.Origin, name)
	if err == nil {
		for _, w := range z.Warnings {
			if base > 0 {
				d.warns = append(d.warns, fmt.Sprintf("%s:%d: field %q: %s", d.file, base+w.Line, path, w.Msg))
			} else {
				d.warns = append(d.warns, fmt.Sprintf("%s:%d: field %q: %s", d.file, n.Line, path, w))
			}
		}
		return
	}
	if errors.Is(err, dns.ErrNoOrigin) {
		err = fmt.Errorf("%w; set zone_origin", err)
	}
	var pe *dns.ParseError
	if base > 0 && errors.As(err, &pe) {
		d.errs = append(d.errs, &FieldError{File: d.file, Line: base + pe.Line, Field: path, Msg: pe.Err.Error()})
		return
	}
	d.fail(n, path, "%v", err)
}

// serviceExpect reads the DHCP, DNS and HTTP conditions of an expectation.
func (d *decoder) serviceExpect(o *object, e *Expectation) {
	if v := o.get("dhcp_bound"); v != nil {
		if x, ok := d.boolean(v, o.field("dhcp_bound")); ok {
			e.DHCPBound = &x
		}
		if e.Host == "" {
			d.fail(v, o.field("dhcp_bound"), "dhcp_bound applies to a host: give host instead of app")
		}
	}
	if v := o.get("dns_answer"); v != nil {
		e.DNSAnswer, _ = d.addr46(v, o.field("dns_answer"))
	}
	if v := o.get("http_status"); v != nil {
		if x, ok := d.integer(v, o.field("http_status"), 100, 599); ok {
			i := int(x)
			e.HTTPStatus = &i
		}
	}
	if v := o.get("body_sha256"); v != nil {
		if x, ok := d.scalar(v, o.field("body_sha256")); ok {
			if len(x) != 64 || strings.Trim(strings.ToLower(x), "0123456789abcdef") != "" {
				d.fail(v, o.field("body_sha256"), "invalid SHA-256 %q (want 64 hex digits)", x)
			}
			e.BodySHA256 = strings.ToLower(x)
		}
	}
	if v := o.get("min_requests"); v != nil {
		if x, ok := d.integer(v, o.field("min_requests"), 0, maxCount); ok {
			i := int(x)
			e.MinRequests = &i
		}
	}
}
