package diff

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dns"
)

// Well-known ports whose datagrams are compared field by field.
const (
	portDNS        = 53
	portDHCPServer = 67
	portDHCPClient = 68
)

// maxFieldDiffs bounds the field differences named for one datagram.
const maxFieldDiffs = 6

// FieldDiffs names the fields in which two datagrams of a flow differ: DNS
// messages (port 53) by header flag, rcode, section count, record and name
// compression; DHCP messages (ports 67/68) by header field and option. It
// returns nil when the datagrams are not of a known protocol (or either
// does not decode), and an empty, non-nil slice when they decode to the
// same fields (other bytes, same meaning: only the ID, or record order).
func FieldDiffs(port uint16, rec, ours []byte) []string {
	switch port {
	case portDNS:
		return dnsFieldDiffs(rec, ours)
	case portDHCPServer, portDHCPClient:
		return dhcpFieldDiffs(rec, ours)
	}
	return nil
}

func dnsFieldDiffs(rec, ours []byte) []string {
	var a, b dns.Msg
	if a.Unpack(rec) != nil || b.Unpack(ours) != nil {
		return nil
	}
	out := []string{}
	add := func(name string, x, y any) {
		if x != y && len(out) < maxFieldDiffs {
			out = append(out, fmt.Sprintf("%s %v recorded, %v sent", name, x, y))
		}
	}
	bit := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	add("opcode", a.Opcode, b.Opcode)
	add("rcode", a.Rcode, b.Rcode)
	add("flags AA", bit(a.Authoritative), bit(b.Authoritative))
	add("flags TC", bit(a.Truncated), bit(b.Truncated))
	add("flags RD", bit(a.RecursionDesired), bit(b.RecursionDesired))
	add("flags RA", bit(a.RecursionAvailable), bit(b.RecursionAvailable))
	add("flags AD", bit(a.AuthenticData), bit(b.AuthenticData))
	add("question count", len(a.Question), len(b.Question))
	add("answer count", len(a.Answer), len(b.Answer))
	add("authority count", len(a.Authority), len(b.Authority))
	add("additional count", len(a.Additional), len(b.Additional))
	add("EDNS OPT", a.OPT() != nil, b.OPT() != nil)
	for _, s := range []struct {
		name string
		x, y []dns.RR
	}{{"answer", a.Answer, b.Answer}, {"authority", a.Authority, b.Authority}} {
		if len(s.x) == len(s.y) && !sameRecords(s.x, s.y) {
			add(s.name+" records", recordList(s.x), recordList(s.y))
		}
	}
	add("name compression", compressed(rec), compressed(ours))
	return out
}

// sameRecords compares records in any order (RFC 2181 section 5: an RRset
// has no order), without the OPT pseudo-record's own fields.
func sameRecords(x, y []dns.RR) bool {
	return slices.Equal(sortedRecords(x), sortedRecords(y))
}

func sortedRecords(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i := range rrs {
		out[i] = strings.ToLower(rrs[i].String())
	}
	slices.Sort(out)
	return out
}

func recordList(rrs []dns.RR) string {
	parts := make([]string, 0, len(rrs))
	for i := range rrs {
		parts = append(parts, rrs[i].Type.String()+" "+rrs[i].Data.String())
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// compressed reports whether a DNS message uses a compression pointer in
// a name of its question or record sections (RFC 1035 section 4.1.4); the
// walk stops at the first malformed name.
func compressed(m []byte) bool {
	if len(m) < 12 {
		return false
	}
	qd := int(binary.BigEndian.Uint16(m[4:]))
	rrs := int(binary.BigEndian.Uint16(m[6:])) + int(binary.BigEndian.Uint16(m[8:])) + int(binary.BigEndian.Uint16(m[10:]))
	off := 12
	// name skips a name at off; it reports a pointer and the offset after.
	name := func() (bool, bool) {
		for off < len(m) {
			l := int(m[off])
			switch {
			case l == 0:
				off++
				return false, true
			case l&0xc0 == 0xc0:
				off += 2
				return true, off <= len(m)
			case l&0xc0 != 0:
				return false, false
			}
			off += 1 + l
		}
		return false, false
	}
	for i := 0; i < qd+rrs; i++ {
		ptr, ok := name()
		if ptr {
			return true
		}
		if !ok {
			return false
		}
		if i < qd {
			off += 4
			continue
		}
		if off+10 > len(m) {
			return false
		}
		rdlen := int(binary.BigEndian.Uint16(m[off+8:]))
		off += 10 + rdlen
	}
	return false
}

// dhcpOptionNames names the options compared (RFC 2132).
var dhcpOptionNames = map[dhcp.OptionCode]string{
	dhcp.OptSubnetMask: "subnet mask", dhcp.OptRouter: "router", dhcp.OptDNS: "DNS servers",
	dhcp.OptHostName: "host name", dhcp.OptDomainName: "domain name", dhcp.OptLeaseTime: "lease time",
	dhcp.OptMessageType: "message type", dhcp.OptServerID: "server identifier",
	dhcp.OptRenewalTime: "renewal (T1) time", dhcp.OptRebindingTime: "rebinding (T2) time",
	28: "broadcast address", 56: "message",
}

func dhcpFieldDiffs(rec, ours []byte) []string {
	var a, b dhcp.Message
	if a.Unmarshal(rec) != nil || b.Unmarshal(ours) != nil {
		return nil
	}
	out := []string{}
	add := func(name string, x, y any) {
		if x != y && len(out) < maxFieldDiffs {
			out = append(out, fmt.Sprintf("%s %v recorded, %v sent", name, x, y))
		}
	}
	add("message type", a.Type(), b.Type())
	add("yiaddr", a.YIAddr, b.YIAddr)
	add("siaddr", a.SIAddr, b.SIAddr)
	add("flags", fmt.Sprintf("%#04x", a.Flags), fmt.Sprintf("%#04x", b.Flags))
	codes := map[dhcp.OptionCode]bool{}
	for _, o := range a.Options {
		codes[o.Code] = true
	}
	for _, o := range b.Options {
		codes[o.Code] = true
	}
	sorted := make([]dhcp.OptionCode, 0, len(codes))
	for c := range codes {
		sorted = append(sorted, c)
	}
	slices.Sort(sorted)
	for _, c := range sorted {
		if c == dhcp.OptMessageType || c == dhcp.OptPad || c == dhcp.OptEnd {
			continue
		}
		x, xok := a.Options.Get(c)
		y, yok := b.Options.Get(c)
		if xok == yok && bytes.Equal(x, y) {
			continue
		}
		name := dhcpOptionNames[c]
		if name == "" {
			name = fmt.Sprintf("option %d", c)
		} else {
			name = fmt.Sprintf("option %d (%s)", c, name)
		}
		add(name, optionValue(c, x, xok), optionValue(c, y, yok))
	}
	return out
}

// optionValue renders a DHCP option's data for a difference.
func optionValue(c dhcp.OptionCode, b []byte, ok bool) string {
	if !ok {
		return "absent"
	}
	switch c {
	case dhcp.OptLeaseTime, dhcp.OptRenewalTime, dhcp.OptRebindingTime:
		if len(b) == 4 {
			return fmt.Sprintf("%ds", binary.BigEndian.Uint32(b))
		}
	case dhcp.OptSubnetMask, dhcp.OptRouter, dhcp.OptDNS, dhcp.OptServerID, 28:
		if len(b)%4 == 0 && len(b) > 0 {
			var parts []string
			for i := 0; i < len(b); i += 4 {
				parts = append(parts, fmt.Sprintf("%d.%d.%d.%d", b[i], b[i+1], b[i+2], b[i+3]))
			}
			return strings.Join(parts, ",")
		}
	case dhcp.OptHostName, dhcp.OptDomainName, 56:
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%x", b)
}
