package dns

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfc4592Zone is the example zone of RFC 4592 section 2.2.1, with glue
// for one delegation, a wildcard CNAME and a relative MX (no $ORIGIN: the
// zone's name completes it).
const rfc4592Zone = `$TTL 3600
example.                 SOA   ns.example.com. hostmaster.example. 1 2 3 4 300
example.                 NS    ns.example.com.
example.                 NS    ns.example.net.
*.example.               TXT   "this is a wildcard"
*.example.               MX    10 host1
sub.*.example.           TXT   "this is not a wildcard"
host1.example.           A     192.0.2.1
_ssh._tcp.host1.example. SRV   0 0 22 host1
_ssh._tcp.host2.example. SRV   0 0 22 host2
subdel.example.          NS    ns.example.com.
subdel.example.          NS    ns.example.net.
deleg.example.           NS    ns.deleg
deleg.example.           NS    ns2.deleg
deleg.example.           NS    ns.example.net.
ns.deleg.example.        A     192.0.2.53
ns.deleg.example.        AAAA  2001:db8::53
ns2.deleg.example.       A     192.0.2.54
*.alias.example.         CNAME host1
wild.example.            A     192.0.2.9
*.wild.example.          A     192.0.2.10
mx.example.              MX    10 host1
mx.example.              MX    20 host1.example.
mx.example.              MX    30 ns.deleg
ns.example.              NS    ns.deleg
`

func rfcServer(t testing.TB) *Server {
	z, err := ParseZone(strings.NewReader(rfc4592Zone), "", "rfc4592.zone")
	require.NoError(t, err)
	require.Equal(t, "example.", z.Origin)
	s, err := NewServer(z)
	require.NoError(t, err)
	return s
}

// TestServerWildcardsAndDelegation runs the examples of RFC 4592 section
// 2.2.1 and referrals (RFC 1034 section 4.3.2 step 3b).
func TestServerWildcardsAndDelegation(t *testing.T) {
	t.Parallel()
	s := rfcServer(t)
	soa := "example.\t300\tIN\tSOA\tns.example.com. hostmaster.example. 1 2 3 4 300"
	delegNS := []string{"deleg.example.\t3600\tIN\tNS\tns.deleg.example.", "deleg.example.\t3600\tIN\tNS\tns2.deleg.example.", "deleg.example.\t3600\tIN\tNS\tns.example.net."}
	glue := []string{"ns.deleg.example.\t3600\tIN\tA\t192.0.2.53", "ns.deleg.example.\t3600\tIN\tAAAA\t2001:db8::53", "ns2.deleg.example.\t3600\tIN\tA\t192.0.2.54"}
	tests := []struct {
		name               string
		qname              string
		qtype              Type
		rcode              Rcode
		aa                 bool
		answer, auth, addl []string
	}{
		{"synthesised MX", "host3.example.", TypeMX, RcodeSuccess, true,
			[]string{"host3.example.\t3600\tIN\tMX\t10 host1.example."}, nil, []string{"host1.example.\t3600\tIN\tA\t192.0.2.1"}},
		{"wildcard without the type: NODATA", "host3.example.", TypeA, RcodeSuccess, true, nil, []string{soa}, nil},
		{"synthesised two labels down", "foo.bar.example.", TypeTXT, RcodeSuccess, true,
			[]string{"foo.bar.example.\t3600\tIN\tTXT\t\"this is a wildcard\""}, nil, nil},
		{"existing name blocks the wildcard", "host1.example.", TypeMX, RcodeSuccess, true, nil, []string{soa}, nil},
		{"wildcard-looking owner is no wildcard", "sub.*.example.", TypeMX, RcodeSuccess, true, nil, []string{soa}, nil},
		{"empty non-terminal is the closest encloser", "_telnet._tcp.host1.example.", TypeSRV, RcodeNameError, true, nil, []string{soa}, nil},
		{"closest encloser *.example has no wildcard", "ghost.*.example.", TypeMX, RcodeNameError, true, nil, []string{soa}, nil},
		{"the wildcard itself", "*.example.", TypeTXT, RcodeSuccess, true, []string{"*.example.\t3600\tIN\tTXT\t\"this is a wildcard\""}, nil, nil},
		{"under the wildcard's sibling", "x.wild.example.", TypeA, RcodeSuccess, true, []string{"x.wild.example.\t3600\tIN\tA\t192.0.2.10"}, nil, nil},
		{"wildcard CNAME chased", "x.alias.example.", TypeA, RcodeSuccess, true,
			[]string{"x.alias.example.\t3600\tIN\tCNAME\thost1.example.", "host1.example.\t3600\tIN\tA\t192.0.2.1"}, nil, nil},
		{"referral without glue", "host.subdel.example.", TypeA, RcodeSuccess, false, nil,
			[]string{"subdel.example.\t3600\tIN\tNS\tns.example.com.", "subdel.example.\t3600\tIN\tNS\tns.example.net."}, nil},
		{"referral at the cut", "deleg.example.", TypeA, RcodeSuccess, false, nil, delegNS, glue},
		{"referral with glue", "www.deleg.example.", TypeA, RcodeSuccess, false, nil, delegNS, glue},
		{"glue is not an answer", "ns.deleg.example.", TypeA, RcodeSuccess, false, nil, delegNS, glue},
		{"NS at the cut is a referral too", "deleg.example.", TypeNS, RcodeSuccess, false, nil, delegNS, glue},
		{"DS at the cut is the parent's", "deleg.example.", TypeDS, RcodeSuccess, true, nil, []string{soa}, nil},
		{"no wildcard below a cut", "nope.subdel.example.", TypeTXT, RcodeSuccess, false, nil,
			[]string{"subdel.example.\t3600\tIN\tNS\tns.example.com.", "subdel.example.\t3600\tIN\tNS\tns.example.net."}, nil},
		{"MX exchanges: in-zone address once, none for glue", "mx.example.", TypeMX, RcodeSuccess, true,
			[]string{"mx.example.\t3600\tIN\tMX\t10 host1.example.", "mx.example.\t3600\tIN\tMX\t20 host1.example.", "mx.example.\t3600\tIN\tMX\t30 ns.deleg.example."},
			nil, []string{"host1.example.\t3600\tIN\tA\t192.0.2.1"}},
		{"SRV target", "_ssh._tcp.host1.example.", TypeSRV, RcodeSuccess, true,
			[]string{"_ssh._tcp.host1.example.\t3600\tIN\tSRV\t0 0 22 host1.example."}, nil, []string{"host1.example.\t3600\tIN\tA\t192.0.2.1"}},
		{"SRV target that does not exist", "_ssh._tcp.host2.example.", TypeSRV, RcodeSuccess, true,
			[]string{"_ssh._tcp.host2.example.\t3600\tIN\tSRV\t0 0 22 host2.example."}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := ask(t, s, tc.qname, tc.qtype, 0, UDP)
			assert.Equal(t, tc.rcode, m.Rcode)
			assert.Equal(t, tc.aa, m.Authoritative)
			assert.False(t, m.Truncated)
			assert.Equal(t, tc.answer, answerStrings(m.Answer), "answer")
			assert.Equal(t, tc.auth, answerStrings(m.Authority), "authority")
			assert.Equal(t, tc.addl, answerStrings(m.Additional), "additional")
		})
	}
}

// TestServerAdditionalFits checks that additional data is left out, never
// truncating, when it does not fit (RFC 2181 section 9).
func TestServerAdditionalFits(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	sb.WriteString("$TTL 60\n@ SOA ns h 1 2 3 4 5\n")
	for i := range 6 {
		fmt.Fprintf(&sb, "@ MX %d mail-with-a-long-name-%02d\nmail-with-a-long-name-%02d A 192.0.2.%d\nmail-with-a-long-name-%02d AAAA 2001:db8::%d\n", i, i, i, i+1, i, i+1)
	}
	z, err := ParseZone(strings.NewReader(sb.String()), "example.test.", "mx.zone")
	require.NoError(t, err)
	s, err := NewServer(z)
	require.NoError(t, err)
	m, raw := ask(t, s, "example.test.", TypeMX, 0, UDP)
	assert.False(t, m.Truncated)
	assert.Len(t, m.Answer, 6)
	assert.NotEmpty(t, m.Additional)
	assert.Less(t, len(m.Additional), 12)
	assert.LessOrEqual(t, len(raw), MinUDPSize)
	m, raw = ask(t, s, "example.test.", TypeMX, 1232, UDP)
	assert.False(t, m.Truncated)
	assert.Len(t, m.Additional, 13, "all 12 addresses and the OPT")
	assert.LessOrEqual(t, len(raw), 1232)
}

// TestServerEDNSOnEveryReply checks RFC 6891 section 6.1.1 (a reply to a
// query with OPT carries OPT, whatever its rcode) and FORMERR for trailing
// octets and an overrunning option.
func TestServerEDNSOnEveryReply(t *testing.T) {
	t.Parallel()
	s := testServer(t)
	pack := func(m Msg) []byte {
		b, err := m.Pack()
		require.NoError(t, err)
		return b
	}
	q := Msg{Header: Header{ID: 42}, Question: []Question{{"web.example.com.", TypeA, ClassINET}}, Additional: []RR{NewOPT(1232, 0, true)}}
	plain := Msg{Header: Header{ID: 42}, Question: []Question{{"web.example.com.", TypeA, ClassINET}}}
	notify := q
	notify.Opcode = 4
	notifyPlain := plain
	notifyPlain.Opcode = 4
	trailing := append(pack(q), 0, 0, 0)
	trailingPlain := append(pack(plain), 0xAB)
	// An option whose length runs past the OPT record's RDATA.
	overrun := pack(Msg{Header: Header{ID: 42}, Question: q.Question,
		Additional: []RR{{Name: ".", Type: TypeOPT, Class: 1232, Data: &OPT{[]EDNSOption{{Code: 10, Data: make([]byte, 8)}}}}}})
	binary.BigEndian.PutUint16(overrun[len(overrun)-10:], 9) // option length 9 > 8
	axfr := pack(Msg{Header: Header{ID: 42}, Question: []Question{{"example.com.", TypeAXFR, ClassINET}}, Additional: []RR{NewOPT(1232, 0, false)}})
	tests := []struct {
		name     string
		msg      []byte
		rcode    Rcode
		opt      bool
		question bool
		do       bool
	}{
		{"NOTIFY with OPT: NOTIMP with OPT", pack(notify), RcodeNotImplemented, true, true, true},
		{"NOTIFY without OPT: NOTIMP without OPT", pack(notifyPlain), RcodeNotImplemented, false, true, false},
		{"trailing octets after OPT: FORMERR with OPT", trailing, RcodeFormatError, true, true, true},
		{"trailing octet after the question: FORMERR", trailingPlain, RcodeFormatError, false, true, false},
		{"option overruns its record: FORMERR with OPT", overrun, RcodeFormatError, true, true, false},
		{"AXFR: REFUSED with OPT", axfr, RcodeRefused, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := s.Answer(tc.msg, UDP)
			require.NotNil(t, out)
			var m Msg
			require.NoError(t, m.Unpack(out))
			assert.Equal(t, tc.rcode, m.Rcode)
			assert.Equal(t, uint16(42), m.ID)
			assert.Equal(t, tc.opt, m.OPT() != nil, "OPT in the reply")
			assert.Equal(t, tc.question, len(m.Question) == 1)
			assert.Empty(t, m.Answer)
			if tc.opt && m.OPT() != nil {
				_, _, _, do := m.OPT().EDNS()
				assert.Equal(t, tc.do, do, "DO copied")
			}
		})
	}
}

// TestServerRulesAllocs checks that referrals, wildcards and additional
// processing keep Answer free of allocations in steady state.
func TestServerRulesAllocs(t *testing.T) {
	s := rfcServer(t)
	for _, q := range []struct {
		name string
		typ  Type
	}{{"www.deleg.example.", TypeA}, {"host3.example.", TypeMX}, {"x.alias.example.", TypeA}, {"mx.example.", TypeMX}, {"ghost.*.example.", TypeMX}} {
		b, err := (&Msg{Header: Header{ID: 1}, Question: []Question{{q.name, q.typ, ClassINET}},
			Additional: []RR{NewOPT(1232, 0, false)}}).Pack()
		require.NoError(t, err)
		s.Answer(b, UDP)
		assert.Zero(t, testing.AllocsPerRun(50, func() { s.Answer(b, UDP) }), q.name)
	}
}
