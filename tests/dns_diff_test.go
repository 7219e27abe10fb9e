package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// diffZone is rulesZone plus the names the differential test needs.
const diffZone = rulesZone + `www      IN AAAA 2001:db8::80
alias    IN CNAME www
chain    IN CNAME alias
out      IN CNAME www.example.org.
dangling IN CNAME nothere
txt      IN TXT "hello world" "second"
_sip._udp IN SRV 10 5 5060 www
a.b.c    IN A   192.0.2.7
*.alias-wild IN CNAME www
*.wild2  IN A   192.0.2.98
y.z.wild2 IN A  192.0.2.97
gen      IN TYPE65280 \# 3 010203
`

// diffQuery is one query of the differential test.
type diffQuery struct {
	name  string
	qname string
	qtype uint16
	class uint16 // 0: IN
	tcp   bool
	edns  int // EDNS version; -1: no OPT
	do    bool
	rd    bool
	op    int // opcode
}

// diffQueries are the 40+ queries NSD and simnet both answer.
func diffQueries() []diffQuery {
	q := func(name, qname string, qtype uint16) diffQuery {
		return diffQuery{name: name, qname: qname, qtype: qtype}
	}
	qs := []diffQuery{
		q("apex SOA", "example.test.", mdns.TypeSOA),
		q("apex NS", "example.test.", mdns.TypeNS),
		q("apex MX", "example.test.", mdns.TypeMX),
		q("apex A (NODATA)", "example.test.", mdns.TypeA),
		q("A ns1", "ns1.example.test.", mdns.TypeA),
		q("A mail", "mail.example.test.", mdns.TypeA),
		q("A www", "www.example.test.", mdns.TypeA),
		q("AAAA www", "www.example.test.", mdns.TypeAAAA),
		q("MX www (NODATA)", "www.example.test.", mdns.TypeMX),
		q("TXT two strings", "txt.example.test.", mdns.TypeTXT),
		q("TXT wild parent", "wild.example.test.", mdns.TypeTXT),
		q("wildcard A", "x.wild.example.test.", mdns.TypeA),
		q("wildcard A two labels", "a.b.wild.example.test.", mdns.TypeA),
		q("wildcard MX (NODATA)", "x.wild.example.test.", mdns.TypeMX),
		q("wildcard owner itself", "*.wild.example.test.", mdns.TypeA),
		q("wildcard CNAME", "x.alias-wild.example.test.", mdns.TypeA),
		q("empty non-terminal blocks wildcard", "z.wild2.example.test.", mdns.TypeA),
		q("below empty non-terminal: NXDOMAIN", "q.z.wild2.example.test.", mdns.TypeA),
		q("wildcard next to ENT", "k.wild2.example.test.", mdns.TypeA),
		q("referral", "www.sub.example.test.", mdns.TypeA),
		q("referral at the cut", "sub.example.test.", mdns.TypeA),
		q("NS at the cut", "sub.example.test.", mdns.TypeNS),
		q("glue A", "ns.sub.example.test.", mdns.TypeA),
		q("glue AAAA", "ns2.sub.example.test.", mdns.TypeAAAA),
		q("deep below the cut", "a.b.c.sub.example.test.", mdns.TypeTXT),
		q("DS at the cut", "sub.example.test.", mdns.TypeDS),
		q("NXDOMAIN", "nope.example.test.", mdns.TypeA),
		q("NXDOMAIN below a name", "x.www.example.test.", mdns.TypeA),
		q("empty non-terminal", "b.c.example.test.", mdns.TypeA),
		q("empty non-terminal top", "c.example.test.", mdns.TypeA),
		q("name below ENT", "a.b.c.example.test.", mdns.TypeA),
		q("CNAME", "alias.example.test.", mdns.TypeA),
		q("CNAME chain", "chain.example.test.", mdns.TypeAAAA),
		q("CNAME qtype", "alias.example.test.", mdns.TypeCNAME),
		q("CNAME to NODATA", "alias.example.test.", mdns.TypeMX),
		q("CNAME out of zone", "out.example.test.", mdns.TypeA),
		q("CNAME dangling", "dangling.example.test.", mdns.TypeA),
		q("SRV", "_sip._udp.example.test.", mdns.TypeSRV),
		q("unknown type", "gen.example.test.", 65280),
		q("unknown type NODATA", "www.example.test.", 65281),
		q("case preserved", "WwW.ExAmPlE.TeSt.", mdns.TypeA),
		q("out of zone", "example.org.", mdns.TypeA),
		q("parent of the zone", "test.", mdns.TypeSOA),
		q("ANY www", "www.example.test.", mdns.TypeANY),
	}
	more := []diffQuery{
		{name: "TCP referral", qname: "www.sub.example.test.", qtype: mdns.TypeA, tcp: true},
		{name: "TCP wildcard", qname: "x.wild.example.test.", qtype: mdns.TypeA, tcp: true},
		{name: "no EDNS", qname: "www.example.test.", qtype: mdns.TypeA, edns: -1},
		{name: "no EDNS NXDOMAIN", qname: "nope.example.test.", qtype: mdns.TypeA, edns: -1},
		{name: "DO bit", qname: "www.example.test.", qtype: mdns.TypeA, do: true},
		{name: "RD copied", qname: "www.example.test.", qtype: mdns.TypeA, rd: true},
		{name: "EDNS version 1: BADVERS", qname: "www.example.test.", qtype: mdns.TypeA, edns: 1},
		{name: "AXFR over TCP", qname: "example.test.", qtype: mdns.TypeAXFR, tcp: true},
		{name: "IXFR over UDP", qname: "example.test.", qtype: mdns.TypeIXFR},
		{name: "NOTIFY with EDNS", qname: "example.test.", qtype: mdns.TypeSOA, op: mdns.OpcodeNotify},
		{name: "UPDATE", qname: "example.test.", qtype: mdns.TypeSOA, op: mdns.OpcodeUpdate},
		{name: "CHAOS class", qname: "version.bind.", qtype: mdns.TypeTXT, class: mdns.ClassCHAOS},
	}
	return append(qs, more...)
}

// nsdJustified lists the queries where simnet answers differently from
// NSD 4.6 (minimal-responses: yes), and why. The test fails when the set
// of differing queries is not exactly this one.
var nsdJustified = map[string]string{
	"apex MX": "simnet adds the exchange's address (RFC 1034 section 4.3.2 step 6, as BIND does by default); NSD's minimal-responses adds it only for NS",
	"SRV":     "simnet adds the target's addresses (RFC 2782, RFC 1034 section 4.3.2 step 6, as BIND does); NSD's minimal-responses does not",
	"ANY www": "simnet answers ANY with every RRset of the name (as BIND without minimal-any); NSD answers one RRset, which RFC 8482 section 4.2 also allows",
	"NOTIFY with EDNS": "simnet implements no NOTIFY (a primary-only server) and answers NOTIMP with the question and OPT (RFC 6891 section 6.1.1: " +
		"OPT in every reply to an OPT query, as BIND does); NSD, a primary without allow-notify, answers REFUSED with neither",
	"UPDATE": "both answer NOTIMP (RFC 2136 section 3); simnet keeps the question and the OPT (RFC 6891 section 6.1.1), NSD sends a bare header",
}

// diffResult is the part of a response the test compares, in a printable
// form.
type diffResult map[string]string

func summarize(r *mdns.Msg) diffResult {
	if r == nil {
		return diffResult{"error": "no response"}
	}
	sec := func(rrs []mdns.RR) string {
		s := mdnsStrings(rrs)
		slices.Sort(s)
		return strings.Join(s, " | ")
	}
	res := diffResult{
		"rcode":      mdns.RcodeToString[r.Rcode],
		"opcode":     mdns.OpcodeToString[r.Opcode],
		"flags":      fmt.Sprintf("qr=%t aa=%t tc=%t rd=%t ra=%t ad=%t cd=%t z=%t", r.Response, r.Authoritative, r.Truncated, r.RecursionDesired, r.RecursionAvailable, r.AuthenticatedData, r.CheckingDisabled, r.Zero),
		"question":   fmt.Sprint(r.Question),
		"answer":     sec(r.Answer),
		"authority":  sec(r.Ns),
		"additional": sec(r.Extra),
		"opt":        "none",
	}
	if o := r.IsEdns0(); o != nil {
		res["opt"] = fmt.Sprintf("version=%d do=%t", o.Version(), o.Do())
	}
	return res
}

// diffRun starts taprun with diffZone in a namespace where start has
// started the reference server on the kernel side of the tap, asks both
// every query of diffQueries, and checks that the queries whose answers
// differ in any field are exactly those justified lists.
func diffRun(t *testing.T, ref string, start func(t *testing.T, ns *netns.NS, dir, zone string) *netns.Proc, justified map[string]string) {
	ns := tapNS(t)
	dir := t.TempDir()
	zone := filepath.Join(dir, "example.test.zone")
	require.NoError(t, os.WriteFile(zone, []byte(diffZone), 0o644))
	srv := start(t, ns, dir, zone)
	startTaprun(t, ns, "--ip", tapStackCIDR, "--dns", "53", "--zone", zone)

	ask := func(server string, dq diffQuery) *mdns.Msg {
		m := new(mdns.Msg)
		m.SetQuestion(dq.qname, dq.qtype)
		if dq.qtype == mdns.TypeIXFR {
			// RFC 1995 section 3: the client's SOA in the authority section.
			m.SetIxfr(dq.qname, 2026120300, "ns1.example.test.", "hostmaster.example.test.")
		}
		m.Id = 4242
		m.Opcode = dq.op
		m.RecursionDesired = dq.rd
		if dq.class != 0 {
			m.Question[0].Qclass = dq.class
		}
		if dq.edns >= 0 {
			m.SetEdns0(1232, dq.do)
			m.IsEdns0().SetVersion(uint8(dq.edns))
		}
		network := "udp"
		if dq.tcp {
			network = "tcp"
		}
		var r *mdns.Msg
		err := ns.Do(func() error {
			var err error
			r, _, err = (&mdns.Client{Net: network, Timeout: 3 * time.Second}).Exchange(m, server+":53")
			return err
		})
		if err != nil && r == nil {
			return nil
		}
		return r
	}
	// The reference needs a moment to load the zone and bind.
	require.Eventually(t, func() bool {
		r := ask(tapKernelIP, diffQuery{qname: "example.test.", qtype: mdns.TypeSOA})
		return r != nil && len(r.Answer) == 1
	}, 15*time.Second, 100*time.Millisecond, "%s does not answer: %s", ref, srv.Output())

	var differ []string
	var report strings.Builder
	qs := diffQueries()
	require.GreaterOrEqual(t, len(qs), 40)
	for _, dq := range qs {
		want, got := summarize(ask(tapKernelIP, dq)), summarize(ask(tapStackIP, dq))
		var fields []string
		for _, k := range []string{"error", "rcode", "opcode", "flags", "question", "answer", "authority", "additional", "opt"} {
			if want[k] != got[k] {
				fields = append(fields, fmt.Sprintf("    %s: %s %q, simnet %q", k, ref, want[k], got[k]))
			}
		}
		if len(fields) > 0 {
			differ = append(differ, dq.name)
			fmt.Fprintf(&report, "%s (%s %s):\n%s\n", dq.name, dq.qname, mdns.TypeToString[dq.qtype], strings.Join(fields, "\n"))
		}
	}
	t.Logf("%d queries, %d differ from %s:\n%s", len(qs), len(differ), ref, report.String())
	var want []string
	for k := range justified {
		want = append(want, k)
	}
	slices.Sort(want)
	slices.Sort(differ)
	assert.Equal(t, want, differ, "queries that differ from %s, against those justified:\n%s", ref, report.String())
}

// TestDNSDifferentialNSD (issue 18): NSD 4.6 and taprun load the same zone
// (no $ORIGIN) in one namespace and answer the same 50-odd queries; every
// field (rcode, opcode, flags, question, the three sections, OPT) must
// agree except where nsdJustified explains why not.
func TestDNSDifferentialNSD(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "nsd")
	diffRun(t, "nsd", func(t *testing.T, ns *netns.NS, dir, zone string) *netns.Proc {
		conf := filepath.Join(dir, "nsd.conf")
		require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`server:
  ip-address: %s
  port: 53
  server-count: 1
  database: ""
  zonelistfile: "%[2]s/zone.list"
  xfrdfile: "%[2]s/xfrd.state"
  xfrdir: "%[2]s"
  pidfile: "%[2]s/nsd.pid"
  username: ""
  chroot: ""
  zonesdir: "%[2]s"
  hide-version: yes
  minimal-responses: yes
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: example.test
  zonefile: "%[3]s"
`, tapKernelIP, dir, zone)), 0o644))
		if out, err := exec.Command("nsd-checkconf", conf).CombinedOutput(); err != nil {
			t.Fatalf("nsd-checkconf: %v\n%s", err, out)
		}
		return ns.Start(t, "nsd", "-d", "-c", conf)
	}, nsdJustified)
}

// TestDNSDifferentialBIND (issue 18): the same with BIND 9.18 (named) as
// the reference, configured as an authoritative-only primary with
// minimal-responses no-auth.
func TestDNSDifferentialBIND(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "named")
	diffRun(t, "bind", func(t *testing.T, ns *netns.NS, dir, zone string) *netns.Proc {
		conf := filepath.Join(dir, "named.conf")
		require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`options {
	directory "%[2]s";
	pid-file "%[2]s/named.pid";
	listen-on port 53 { %[1]s; };
	listen-on-v6 { none; };
	recursion no;
	minimal-responses no-auth;
	// BIND 9.18 transfers to anyone by default (NSD and BIND 9.20 do
	// not); simnet refuses, so compare with transfers closed.
	allow-transfer { none; };
	version none;
	dnssec-validation no;
	notify no;
};
controls { };
zone "example.test" {
	type primary;
	file "%[3]s";
};
`, tapKernelIP, dir, zone)), 0o644))
		if out, err := exec.Command("named-checkconf", conf).CombinedOutput(); err != nil {
			t.Fatalf("named-checkconf: %v\n%s", err, out)
		}
		return ns.Start(t, "named", "-g", "-u", "root", "-c", conf)
	}, bindJustified)
}

// bindJustified lists the queries where simnet answers differently from
// BIND 9.18 (minimal-responses no-auth), and why.
var bindJustified = map[string]string{
	"case preserved": "simnet (like NSD) writes the answer's owner as the query spelled it; BIND writes the zone's spelling. " +
		"Names compare case-insensitively (RFC 4343 section 3) and both echo the question as sent, which is what 0x20 checks use",
	"NOTIFY with EDNS": "simnet implements no NOTIFY (RFC 1996) and answers NOTIMP; BIND, a primary, acknowledges the NOTIFY (NOERROR, AA) and ignores it; " +
		"NSD refuses it. All three keep the reply well-formed; simnet and BIND put OPT in it",
	"UPDATE":      "simnet implements no dynamic update and answers NOTIMP (as NSD does; RFC 2136 section 3); BIND implements UPDATE and refuses it by policy",
	"CHAOS class": "simnet serves class IN only and refuses CH (as NSD does); BIND has a built-in CH view that answers version.bind (empty with version none)",
}
