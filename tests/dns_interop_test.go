package tests

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
)

// dniZone is the zone simnet's server loads: every record type the server
// knows, a CNAME chain, an RRset too large for 1232 octets (many) and a TXT
// too large for one Ethernet frame (big).
func dniZone() string {
	var b strings.Builder
	b.WriteString(`; interop zone
$ORIGIN example.com.
$TTL 1h
@	IN	SOA	ns1 hostmaster 2025112501 2h 15m 2w 300
	NS	ns1
	NS	ns2
	MX	10 mail
	MX	20 mail2
	TXT	"v=spf1 mx -all"
ns1	A	192.0.2.53
ns2	A	192.0.2.54
www	300	A	192.0.2.80
	AAAA	2001:db8::80
mail	A	192.0.2.25
mail2	A	192.0.2.26
alias	CNAME	www
chain	CNAME	alias
out	CNAME	www.example.org.
txt	TXT	"hello world" "semi\059colon"
_dns._udp	SRV	10 5 53 ns1
medium	TXT	"` + strings.Repeat("m", 200) + `" "` + strings.Repeat("n", 200) + `" "` + strings.Repeat("o", 200) + `"
big	TXT	(`)
	for i := range 14 {
		fmt.Fprintf(&b, " %q", strings.Repeat(string(rune('a'+i)), 200))
	}
	b.WriteString(" )\n")
	for i := range 100 {
		fmt.Fprintf(&b, "many\tA\t198.51.100.%d\n", i+1)
	}
	return b.String()
}

const dniReverseZone = `$ORIGIN 2.0.192.in-addr.arpa.
$TTL 1d
@	SOA	ns1.example.com. hostmaster.example.com. 7 2h 15m 2w 300
	NS	ns1.example.com.
80	PTR	www.example.com.
53	PTR	ns1.example.com.
`

// dniServer loads both zones into a simnet DNS server that honours EDNS0
// payload sizes up to 4096 octets.
func dniServer(t *testing.T) *dns.Server {
	t.Helper()
	fwd, err := dns.ParseZone(strings.NewReader(dniZone()), "example.com.", "example.com.zone")
	require.NoError(t, err)
	rev, err := dns.ParseZone(strings.NewReader(dniReverseZone), "2.0.192.in-addr.arpa.", "reverse.zone")
	require.NoError(t, err)
	srv, err := dns.NewServer(fwd, rev)
	require.NoError(t, err)
	srv.SetUDPSize(4096)
	return srv
}

// dniRRs renders records in miekg/dns presentation form with single
// spaces.
func dniRRs(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

const dniSOA = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 2025112501 7200 900 1209600 300"

// TestDNSInteropMiekgClient queries simnet's authoritative server (proto/dns
// on a proto/stack host, UDP and TCP port 53) with a miekg/dns client whose
// packets are carried by gVisor's netstack across a simulated link.
//
// The run is captured, and when tshark is installed the capture must decode
// without a malformed frame or a bad checksum, with one DNS response per
// case, in order (the fragmented answer and the TCP ones reassembled).
func TestDNSInteropMiekgClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dw := newDNIWorld(t, 1, impair.Config{Delay: 5 * time.Millisecond}, dir)
	srv := dniServer(t)
	server := netip.AddrPortFrom(dniOurAddr, 53)
	us, err := dnsstack.ServeUDP(dw.host, server, srv)
	require.NoError(t, err)
	defer us.Close()
	ts, err := dnsstack.ServeTCP(dw.tcp, server, srv)
	require.NoError(t, err)
	defer ts.Close()

	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("many.example.com. 3600 IN A 198.51.100.%d", i+1)
	}
	var bigTxt []string
	for i := range 14 {
		bigTxt = append(bigTxt, `"`+strings.Repeat(string(rune('a'+i)), 200)+`"`)
	}
	mediumTxt := `medium.example.com. 3600 IN TXT "` + strings.Repeat("m", 200) + `" "` + strings.Repeat("n", 200) + `" "` + strings.Repeat("o", 200) + `"`

	cases := []struct {
		name    string
		network string
		qname   string
		qtype   uint16
		edns    uint16 // 0: no OPT record
		ednsVer uint8
		cookie  bool // send an RFC 7873 client cookie option
		rcode   int
		aa, tc  bool
		answer  []string
		soaInNs bool // the authority section is exactly the zone's SOA
		check   func(t *testing.T, r *mdns.Msg)
	}{
		{name: "A", network: "udp", qname: "www.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"www.example.com. 300 IN A 192.0.2.80"}},
		{name: "A/case-insensitive", network: "udp", qname: "WwW.ExAmPlE.cOm.", qtype: mdns.TypeA, aa: true,
			answer: []string{"WwW.ExAmPlE.cOm. 300 IN A 192.0.2.80"}},
		{name: "AAAA", network: "udp", qname: "www.example.com.", qtype: mdns.TypeAAAA, aa: true,
			answer: []string{"www.example.com. 3600 IN AAAA 2001:db8::80"}},
		{name: "MX", network: "udp", qname: "example.com.", qtype: mdns.TypeMX, aa: true,
			answer: []string{"example.com. 3600 IN MX 10 mail.example.com.", "example.com. 3600 IN MX 20 mail2.example.com."}},
		{name: "TXT", network: "udp", qname: "txt.example.com.", qtype: mdns.TypeTXT, aa: true,
			answer: []string{`txt.example.com. 3600 IN TXT "hello world" "semi;colon"`}},
		{name: "NS", network: "udp", qname: "example.com.", qtype: mdns.TypeNS, aa: true,
			answer: []string{"example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.example.com."}},
		{name: "SOA", network: "udp", qname: "example.com.", qtype: mdns.TypeSOA, aa: true,
			answer: []string{strings.Replace(dniSOA, " 300 ", " 3600 ", 1)}},
		{name: "SRV", network: "udp", qname: "_dns._udp.example.com.", qtype: mdns.TypeSRV, aa: true,
			answer: []string{"_dns._udp.example.com. 3600 IN SRV 10 5 53 ns1.example.com."}},
		{name: "PTR", network: "udp", qname: "80.2.0.192.in-addr.arpa.", qtype: mdns.TypePTR, aa: true,
			answer: []string{"80.2.0.192.in-addr.arpa. 86400 IN PTR www.example.com."}},
		{name: "CNAME-chased", network: "udp", qname: "chain.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{
				"chain.example.com. 3600 IN CNAME alias.example.com.",
				"alias.example.com. 3600 IN CNAME www.example.com.",
				"www.example.com. 300 IN A 192.0.2.80",
			}},
		{name: "CNAME-out-of-zone", network: "udp", qname: "out.example.com.", qtype: mdns.TypeA, aa: true,
			answer: []string{"out.example.com. 3600 IN CNAME www.example.org."}},
		{name: "NXDOMAIN", network: "udp", qname: "nope.example.com.", qtype: mdns.TypeA,
			rcode: mdns.RcodeNameError, aa: true, soaInNs: true},
		{name: "NODATA", network: "udp", qname: "www.example.com.", qtype: mdns.TypeMX, aa: true, soaInNs: true},
		{name: "REFUSED", network: "udp", qname: "www.example.org.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "truncated/no-EDNS", network: "udp", qname: "many.example.com.", qtype: mdns.TypeA, aa: true, tc: true,
			check: func(t *testing.T, r *mdns.Msg) {
				n, err := r.Pack()
				require.NoError(t, err)
				assert.LessOrEqual(t, len(n), mdns.MinMsgSize)
			}},
		{name: "truncated/EDNS-1232", network: "udp", qname: "many.example.com.", qtype: mdns.TypeA, edns: 1232, aa: true, tc: true},
		{name: "complete/TCP", network: "tcp", qname: "many.example.com.", qtype: mdns.TypeA, aa: true, answer: many},
		{name: "medium/no-EDNS", network: "udp", qname: "medium.example.com.", qtype: mdns.TypeTXT, aa: true, tc: true},
		{name: "medium/EDNS-1232", network: "udp", qname: "medium.example.com.", qtype: mdns.TypeTXT, edns: 1232, aa: true,
			answer: []string{mediumTxt}},
		{name: "big/EDNS-4096-fragmented", network: "udp", qname: "big.example.com.", qtype: mdns.TypeTXT, edns: 4096, aa: true,
			answer: []string{"big.example.com. 3600 IN TXT " + strings.Join(bigTxt, " ")},
			check: func(t *testing.T, r *mdns.Msg) {
				assert.Greater(t, r.Len(), 1500, "the answer needed IP fragmentation")
			}},
		{name: "EDNS-cookie-option-ignored", network: "udp", qname: "www.example.com.", qtype: mdns.TypeA, edns: 1232, cookie: true, aa: true,
			answer: []string{"www.example.com. 300 IN A 192.0.2.80"}},
		{name: "EDNS-version-1/BADVERS", network: "udp", qname: "www.example.com.", qtype: mdns.TypeA, edns: 1232, ednsVer: 1,
			rcode: mdns.RcodeBadVers},
		{name: "NXDOMAIN/TCP", network: "tcp", qname: "nope.example.com.", qtype: mdns.TypeTXT,
			rcode: mdns.RcodeNameError, aa: true, soaInNs: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := new(mdns.Msg)
			q.SetQuestion(tc.qname, tc.qtype)
			if tc.edns > 0 {
				q.SetEdns0(tc.edns, false)
				opt := q.IsEdns0()
				opt.SetVersion(tc.ednsVer)
				if tc.cookie {
					opt.Option = append(opt.Option, &mdns.EDNS0_COOKIE{Code: mdns.EDNS0COOKIE, Cookie: "0102030405060708"})
				}
			}
			r, err := dw.exchange(t, tc.network, server, q, time.Minute)
			require.NoError(t, err)
			require.NotNil(t, r)
			assert.True(t, r.Response)
			assert.Equal(t, q.Id, r.Id)
			assert.True(t, r.RecursionDesired, "RD copied")
			assert.False(t, r.RecursionAvailable)
			assert.Equal(t, mdns.RcodeToString[tc.rcode], mdns.RcodeToString[r.Rcode])
			assert.Equal(t, tc.aa, r.Authoritative, "AA")
			assert.Equal(t, tc.tc, r.Truncated, "TC")
			require.Len(t, r.Question, 1)
			assert.Equal(t, tc.qname, r.Question[0].Name, "question echoed with its case")
			assert.Equal(t, tc.answer, dniRRs(r.Answer))
			if tc.soaInNs {
				assert.Equal(t, []string{dniSOA}, dniRRs(r.Ns))
			} else {
				assert.Empty(t, r.Ns)
			}
			if opt := r.IsEdns0(); tc.edns > 0 {
				require.NotNil(t, opt, "OPT in the response to an EDNS0 query")
				assert.Equal(t, uint16(4096), opt.UDPSize())
			} else {
				assert.Nil(t, opt, "no OPT in the response to a plain query")
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	assert.Zero(t, srv.Stats.FormErr)
	assert.Equal(t, uint64(3), srv.Stats.Truncated)
	assert.Equal(t, uint64(2), srv.Stats.NXDomain)
	assert.Equal(t, uint64(1), srv.Stats.Refused)
	assert.Zero(t, us.SendErrors)
	// Only the 4096-octet answer was fragmented, in two, and gVisor
	// reassembled it.
	assert.Equal(t, uint64(2), dw.host.Stats().FragmentsOut)
	// Every TCP connection the client opened was closed on both sides.
	dw.run(10*time.Second, func() bool { return dw.tcp.NumConns() == 0 })
	assert.Zero(t, dw.tcp.NumConns())
	t.Logf("simnet host: %+v; link: %+v", dw.host.Stats(), dw.link.Stats())

	require.NoError(t, dw.w.Close())
	tshark, ok := testenv.Optional(t, "tshark", "decoding the capture")
	if !ok {
		return
	}
	capture := dw.w.CapturePath("simnet")
	assert.Empty(t, tsharkLines(t, tshark, capture, "-Y", tsharkBadFilter, "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"),
		"frames Wireshark finds malformed or with bad checksums")
	var want []string
	for _, tc := range cases {
		tcFlag := 0
		if tc.tc {
			tcFlag = 1
		}
		// The header carries the low four bits of the rcode (RFC 6891
		// section 6.1.3).
		want = append(want, fmt.Sprintf("%s %s %d %d %d", tc.network, tc.qname, tc.rcode&0xF, tcFlag, len(tc.answer)))
	}
	lines := tsharkLines(t, tshark, capture, "-Y", "dns.flags.response == 1", "-T", "fields", "-E", "separator= ",
		"-e", "ip.proto", "-e", "dns.qry.name", "-e", "dns.flags.rcode", "-e", "dns.flags.truncated", "-e", "dns.count.answers")
	var got []string
	for _, l := range lines {
		f := strings.Fields(l)
		require.Len(t, f, 5, "tshark line %q", l)
		network := map[string]string{"6": "tcp", "17": "udp"}[f[0]]
		got = append(got, strings.Join(append([]string{network, f[1] + "."}, f[2:]...), " "))
	}
	assert.Equal(t, want, got, "DNS responses as Wireshark decodes them")
}

// TestDNSInteropTruncationThenTCP follows one client the way a stub
// resolver would: a UDP answer with TC set, then the same question over TCP
// on the same gVisor stack.
func TestDNSInteropTruncationThenTCP(t *testing.T) {
	t.Parallel()
	dw := newDNIWorld(t, 2, impair.Config{Delay: 5 * time.Millisecond}, "")
	srv := dniServer(t)
	server := netip.AddrPortFrom(dniOurAddr, 53)
	_, err := dnsstack.ServeUDP(dw.host, server, srv)
	require.NoError(t, err)
	_, err = dnsstack.ServeTCP(dw.tcp, server, srv)
	require.NoError(t, err)

	q := new(mdns.Msg)
	q.SetQuestion("big.example.com.", mdns.TypeTXT)
	q.SetEdns0(1232, false)
	r, err := dw.exchange(t, "udp", server, q, time.Minute)
	require.NoError(t, err)
	require.True(t, r.Truncated, "TC over UDP")
	assert.Empty(t, r.Answer)
	assert.LessOrEqual(t, r.Len(), 1232)

	r, err = dw.exchange(t, "tcp", server, q, time.Minute)
	require.NoError(t, err)
	assert.False(t, r.Truncated)
	require.Len(t, r.Answer, 1)
	txt, ok := r.Answer[0].(*mdns.TXT)
	require.True(t, ok, "TXT answer, got %T", r.Answer[0])
	require.Len(t, txt.Txt, 14)
	for i, s := range txt.Txt {
		assert.Equal(t, strings.Repeat(string(rune('a'+i)), 200), s)
	}
}

// dniRecords are the miekg/dns server's data on the gVisor peer.
func dniRecords() []string {
	recs := []string{
		"host.gv.test. 60 IN A 10.53.0.100",
		"host.gv.test. 60 IN AAAA fd00:53::100",
		"host.gv.test. 60 IN MX 10 mx1.gv.test.",
		"host.gv.test. 60 IN MX 20 mx2.gv.test.",
	}
	var big []string
	for i := range 12 {
		big = append(big, `"`+strings.Repeat(string(rune('A'+i)), 150)+`"`)
	}
	return append(recs, "big.gv.test. 60 IN TXT "+strings.Join(big, " "))
}

// dniLookup runs one lookup of simnet's stub resolver to completion.
func dniLookup(t *testing.T, dw *dniWorld, r *dns.Resolver, name string, typ dns.Type) dns.Result {
	t.Helper()
	var got *dns.Result
	require.NoError(t, r.Lookup(name, typ, func(res dns.Result) { got = &res }))
	dw.run(time.Minute, func() bool { return got != nil })
	require.NotNil(t, got, "lookup %s %s did not finish", name, typ)
	return *got
}

// dniAnswers renders the answer records' data.
func dniAnswers(m *dns.Msg) []string {
	var out []string
	for i := range m.Answer {
		out = append(out, m.Answer[i].Type.String()+" "+m.Answer[i].Data.String())
	}
	return out
}

// TestDNSInteropStackResolver runs simnet's stub resolver
// (dnsstack.NewResolver with its TCP fallback) against a miekg/dns server on gVisor's netstack.
func TestDNSInteropStackResolver(t *testing.T) {
	t.Parallel()
	dw := newDNIWorld(t, 3, impair.Config{Delay: 5 * time.Millisecond}, "")
	ms := startDNIMiekgServer(t, dw, dniRecords()...)
	server := netip.AddrPortFrom(dniPeerAddr, 53)
	r := dnsstack.NewResolver(dw.host, dw.w.Rand("resolver"), dnsstack.NewTCPClient(dw.tcp, dw.w.Clock()), server)

	var bigWant []string
	for i := range 12 {
		bigWant = append(bigWant, strings.Repeat(string(rune('A'+i)), 150))
	}
	cases := []struct {
		name    string
		qname   string
		qtype   dns.Type
		udpSize uint16
		rcode   dns.Rcode
		tcp     bool
		answer  []string
		log     []string
	}{
		{name: "A", qname: "host.gv.test", qtype: dns.TypeA, udpSize: dns.DefaultUDPSize,
			answer: []string{"A 10.53.0.100"}, log: []string{"udp A host.gv.test. edns=1232"}},
		{name: "AAAA", qname: "HOST.gv.test.", qtype: dns.TypeAAAA, udpSize: dns.DefaultUDPSize,
			answer: []string{"AAAA fd00:53::100"}, log: []string{"udp AAAA host.gv.test. edns=1232"}},
		{name: "MX/no-EDNS", qname: "host.gv.test.", qtype: dns.TypeMX,
			answer: []string{"MX 10 mx1.gv.test.", "MX 20 mx2.gv.test."}, log: []string{"udp MX host.gv.test."}},
		{name: "NXDOMAIN", qname: "nope.gv.test.", qtype: dns.TypeA, udpSize: dns.DefaultUDPSize,
			rcode: dns.RcodeNameError, log: []string{"udp A nope.gv.test. edns=1232"}},
		{name: "TC-then-TCP", qname: "big.gv.test.", qtype: dns.TypeTXT, udpSize: dns.DefaultUDPSize, tcp: true,
			answer: []string{"TXT " + (&dns.TXT{Txt: bigWant}).String()},
			log:    []string{"udp TXT big.gv.test. edns=1232", "tcp TXT big.gv.test. edns=1232"}},
		{name: "TC-then-TCP/no-EDNS", qname: "big.gv.test.", qtype: dns.TypeTXT, tcp: true,
			answer: []string{"TXT " + (&dns.TXT{Txt: bigWant}).String()},
			log:    []string{"udp TXT big.gv.test.", "tcp TXT big.gv.test."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ms.queries())
			sent := r.Stats.Sent
			r.UDPSize = tc.udpSize
			res := dniLookup(t, dw, r, tc.qname, tc.qtype)
			require.NoError(t, res.Err)
			require.NotNil(t, res.Msg)
			assert.Equal(t, server, res.Server)
			assert.Equal(t, tc.tcp, res.TCP, "answer came over TCP")
			assert.Equal(t, tc.rcode, res.Msg.Rcode)
			assert.True(t, res.Msg.Authoritative)
			assert.False(t, res.Msg.Truncated)
			assert.Equal(t, tc.answer, dniAnswers(res.Msg))
			assert.Equal(t, tc.log, ms.queries()[before:], "queries the miekg server saw")
			assert.Equal(t, sent+1, r.Stats.Sent, "one UDP query, no retransmission")
		})
	}
	assert.Zero(t, r.Stats.Mismatched)
	assert.Zero(t, r.Stats.Malformed)
	assert.Zero(t, r.Pending())
	assert.Zero(t, dw.peer.GateSlips(), "the gVisor application answered every query")
	// Both ends closed the fallback connections: ours went through
	// TIME-WAIT after the miekg server's FIN.
	dw.run(10*time.Second, func() bool { return dw.tcp.NumConns() == 0 })
	assert.Zero(t, dw.tcp.NumConns(), "TCP fallback connections closed")
}

// TestDNSInteropResolverLoss drops 5% of the frames in each direction:
// every lookup still succeeds because the resolver retransmits over UDP and
// TCP recovers the fallback queries.
func TestDNSInteropResolverLoss(t *testing.T) {
	t.Parallel()
	dw := newDNIWorld(t, 5, impair.Config{Delay: 5 * time.Millisecond, Loss: 0.05}, "")
	ms := startDNIMiekgServer(t, dw, dniRecords()...)
	server := netip.AddrPortFrom(dniPeerAddr, 53)
	r := dnsstack.NewResolver(dw.host, dw.w.Rand("resolver"), dnsstack.NewTCPClient(dw.tcp, dw.w.Clock()), server)

	const lookups = 40
	for i := range lookups {
		res := dniLookup(t, dw, r, "host.gv.test.", dns.TypeA)
		require.NoError(t, res.Err, "lookup %d", i)
		assert.Equal(t, []string{"A 10.53.0.100"}, dniAnswers(res.Msg), "lookup %d", i)
	}
	udpSent := r.Stats.Sent
	assert.Greater(t, udpSent, uint64(lookups), "some queries or answers were lost and retransmitted")
	for i := range 4 {
		res := dniLookup(t, dw, r, "big.gv.test.", dns.TypeTXT)
		require.NoError(t, res.Err, "big lookup %d", i)
		assert.True(t, res.TCP)
		require.Len(t, res.Msg.Answer, 1)
		assert.Len(t, res.Msg.Answer[0].Data.(*dns.TXT).Txt, 12)
	}
	st := dw.link.Stats()
	assert.Positive(t, st.AtoB.DroppedLoss+st.BtoA.DroppedLoss)
	assert.Zero(t, r.Pending())
	t.Logf("resolver sent %d UDP queries for %d lookups; miekg server saw %d queries; link %+v; gate slips %d",
		udpSent, lookups, len(ms.queries()), st, dw.peer.GateSlips())
}

// TestDNSInteropMiekgClientLossTCP sends miekg/dns queries over gVisor's
// TCP to simnet's TCP server across a link that drops 5% of the frames in
// each direction: both TCP implementations recover and every 1.6 KB answer
// arrives complete.
func TestDNSInteropMiekgClientLossTCP(t *testing.T) {
	t.Parallel()
	dw := newDNIWorld(t, 7, impair.Config{Delay: 5 * time.Millisecond, Loss: 0.05}, "")
	srv := dniServer(t)
	server := netip.AddrPortFrom(dniOurAddr, 53)
	_, err := dnsstack.ServeTCP(dw.tcp, server, srv)
	require.NoError(t, err)
	const queries = 12
	for i := range queries {
		q := new(mdns.Msg)
		q.SetQuestion("many.example.com.", mdns.TypeA)
		r, err := dw.exchange(t, "tcp", server, q, time.Minute)
		require.NoError(t, err, "query %d", i)
		assert.False(t, r.Truncated)
		require.Len(t, r.Answer, 100, "query %d", i)
		for j, rr := range r.Answer {
			a, ok := rr.(*mdns.A)
			require.True(t, ok)
			assert.Equal(t, fmt.Sprintf("198.51.100.%d", j+1), a.A.String())
		}
	}
	assert.Equal(t, uint64(queries), srv.Stats.Queries)
	st := dw.link.Stats()
	assert.Positive(t, st.AtoB.DroppedLoss+st.BtoA.DroppedLoss)
	dw.run(10*time.Second, func() bool { return dw.tcp.NumConns() == 0 })
	assert.Zero(t, dw.tcp.NumConns(), "connections closed despite loss")
	t.Logf("link: %+v", st)
}
