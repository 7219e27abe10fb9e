package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// ipFlag is the repeatable --ip flag: at most one IPv4 address (into
// options.ip, checked by options.check) and any number of IPv6 ones (into
// options.ip6).
type ipFlag struct{ o *options }

// String returns the addresses given so far.
func (f *ipFlag) String() string {
	if f.o == nil {
		return ""
	}
	all := f.o.ip6
	if f.o.ip != "" {
		all = append([]string{f.o.ip}, all...)
	}
	return strings.Join(all, ",")
}

// Set records one --ip value.
func (f *ipFlag) Set(s string) error {
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() {
		f.o.ip6 = append(f.o.ip6, s)
		return nil
	}
	if f.o.ip != "" {
		return fmt.Errorf("one IPv4 address only (already %s)", f.o.ip)
	}
	f.o.ip = s
	return nil
}

// Type names the value in the help text.
func (f *ipFlag) Type() string { return "CIDR" }
