package dns

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testServer(t testing.TB) *Server {
	z := mustZone(t, strings.Replace(exampleZone, `"TXT"`, "TXT", 1))
	s, err := NewServer(z)
	require.NoError(t, err)
	return s
}

// ask packs a query, answers it and decodes the response.
func ask(t testing.TB, s *Server, name string, typ Type, edns uint16, tr Transport) (*Msg, []byte) {
	q := Msg{Header: Header{ID: 777, RecursionDesired: true}, Question: []Question{{name, typ, ClassINET}}}
	if edns > 0 {
		q.Additional = []RR{NewOPT(edns, 0, false)}
	}
	b, err := q.Pack()
	require.NoError(t, err)
	out := s.Answer(b, tr)
	require.NotNil(t, out)
	var m Msg
	require.NoError(t, m.Unpack(out))
	assert.Equal(t, uint16(777), m.ID)
	assert.True(t, m.Response)
	assert.True(t, m.RecursionDesired)
	return &m, append([]byte(nil), out...)
}

func answerStrings(rrs []RR) []string {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]string, len(rrs))
	for i := range rrs {
		out[i] = rrs[i].String()
	}
	return out
}

func TestServerAnswers(t *testing.T) {
	s := testServer(t)
	soa := "example.com.\t300\tIN\tSOA\tns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 300"
	tests := []struct {
		name      string
		qname     string
		qtype     Type
		rcode     Rcode
		aa        bool
		answer    []string
		authority []string
	}{
		{"A", "web.example.com.", TypeA, RcodeSuccess, true, []string{"web.example.com.\t300\tIN\tA\t192.0.2.80"}, nil},
		{"case preserved", "WeB.Example.COM.", TypeA, RcodeSuccess, true, []string{"WeB.Example.COM.\t300\tIN\tA\t192.0.2.80"}, nil},
		{"CNAME chased", "www.example.com.", TypeAAAA, RcodeSuccess, true, []string{
			"www.example.com.\t300\tIN\tCNAME\tweb.example.com.",
			"web.example.com.\t3600\tIN\tAAAA\t2001:db8::80"}, nil},
		{"CNAME chain", "alias.example.com.", TypeA, RcodeSuccess, true, []string{
			"alias.example.com.\t3600\tIN\tCNAME\twww.example.com.",
			"www.example.com.\t300\tIN\tCNAME\tweb.example.com.",
			"web.example.com.\t300\tIN\tA\t192.0.2.80"}, nil},
		{"CNAME query not chased", "www.example.com.", TypeCNAME, RcodeSuccess, true, []string{"www.example.com.\t300\tIN\tCNAME\tweb.example.com."}, nil},
		{"CNAME out of zone", "ext.example.com.", TypeA, RcodeSuccess, true, []string{"ext.example.com.\t3600\tIN\tCNAME\twww.example.net."}, nil},
		{"CNAME to NODATA", "www.example.com.", TypeMX, RcodeSuccess, true, []string{"www.example.com.\t300\tIN\tCNAME\tweb.example.com."}, []string{soa}},
		{"NXDOMAIN", "nope.example.com.", TypeA, RcodeNameError, true, nil, []string{soa}},
		{"NXDOMAIN below a name", "x.web.example.com.", TypeA, RcodeNameError, true, nil, []string{soa}},
		{"NODATA", "web.example.com.", TypeMX, RcodeSuccess, true, nil, []string{soa}},
		{"empty non-terminal is NODATA", "b.c.example.com.", TypeA, RcodeSuccess, true, nil, []string{soa}},
		{"apex MX", "example.com.", TypeMX, RcodeSuccess, true, []string{"example.com.\t3600\tIN\tMX\t10 mail.example.com."}, nil},
		{"REFUSED outside zones", "example.org.", TypeA, RcodeRefused, false, nil, nil},
		{"REFUSED parent", "com.", TypeA, RcodeRefused, false, nil, nil},
		{"zone transfer refused", "example.com.", TypeAXFR, RcodeRefused, false, nil, nil},
		{"incremental zone transfer refused", "example.com.", TypeIXFR, RcodeRefused, false, nil, nil},
	}
	// RFC 1034 section 4.3.2 step 6: the exchange's address.
	additional := map[string][]string{"apex MX": {"mail.example.com.\t3600\tIN\tA\t192.0.2.25"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := ask(t, s, tc.qname, tc.qtype, 0, UDP)
			assert.Equal(t, tc.rcode, m.Rcode)
			assert.Equal(t, tc.aa, m.Authoritative)
			assert.False(t, m.Truncated)
			require.Len(t, m.Question, 1)
			assert.Equal(t, tc.qname, m.Question[0].Name)
			assert.Equal(t, tc.answer, answerStrings(m.Answer))
			assert.Equal(t, tc.authority, answerStrings(m.Authority))
			assert.Equal(t, additional[tc.name], answerStrings(m.Additional))
		})
	}
	assert.Equal(t, uint64(2), s.Stats.NXDomain)
	assert.Equal(t, uint64(4), s.Stats.Refused)
}

func TestServerANY(t *testing.T) {
	s := testServer(t)
	m, _ := ask(t, s, "example.com.", TypeANY, 0, TCP)
	assert.Equal(t, RcodeSuccess, m.Rcode)
	types := map[Type]int{}
	for _, rr := range m.Answer {
		types[rr.Type]++
	}
	assert.Equal(t, map[Type]int{TypeSOA: 1, TypeNS: 1, TypeMX: 1, TypeTXT: 1}, types)
}

func TestServerTruncation(t *testing.T) {
	s := testServer(t)
	// Three 200-octet strings do not fit in 512 octets.
	m, raw := ask(t, s, "big.example.com.", TypeTXT, 0, UDP)
	assert.True(t, m.Truncated)
	assert.True(t, m.Authoritative)
	assert.Empty(t, m.Answer)
	assert.Len(t, m.Question, 1)
	assert.LessOrEqual(t, len(raw), MinUDPSize)
	assert.Equal(t, uint64(1), s.Stats.Truncated)

	// EDNS0 with room: the full answer and our OPT.
	m, raw = ask(t, s, "big.example.com.", TypeTXT, 4096, UDP)
	assert.False(t, m.Truncated)
	require.Len(t, m.Answer, 1)
	assert.Greater(t, len(raw), MinUDPSize)
	opt := m.OPT()
	require.NotNil(t, opt)
	size, ext, ver, _ := opt.EDNS()
	assert.Equal(t, uint16(DefaultUDPSize), size)
	assert.Zero(t, ext)
	assert.Zero(t, ver)

	// The server's own limit caps the client's.
	s.SetUDPSize(512)
	m, _ = ask(t, s, "big.example.com.", TypeTXT, 4096, UDP)
	assert.True(t, m.Truncated)
	assert.NotNil(t, m.OPT(), "OPT kept in a truncated response")

	// A payload size below 512 counts as 512; TCP has no limit.
	m, _ = ask(t, s, "big.example.com.", TypeTXT, 100, UDP)
	assert.True(t, m.Truncated)
	m, _ = ask(t, s, "big.example.com.", TypeTXT, 0, TCP)
	assert.False(t, m.Truncated)
	assert.Len(t, m.Answer, 1)
}

func TestServerEDNS(t *testing.T) {
	s := testServer(t)
	m, _ := ask(t, s, "web.example.com.", TypeA, 1400, UDP)
	require.Len(t, m.Additional, 1)
	assert.Equal(t, TypeOPT, m.Additional[0].Type)
	assert.Equal(t, ".", m.Additional[0].Name)
	m, _ = ask(t, s, "nope.example.com.", TypeA, 1400, UDP)
	assert.Equal(t, RcodeNameError, m.Rcode)
	assert.Len(t, m.Authority, 1)
	assert.NotNil(t, m.OPT())

	// Version 1: BADVERS, extended rcode 1 in the OPT, 0 in the header.
	q := Msg{Header: Header{ID: 9}, Question: []Question{{"web.example.com.", TypeA, ClassINET}},
		Additional: []RR{{Name: ".", Type: TypeOPT, Class: 1232, TTL: 1 << 16, Data: &OPT{}}}}
	b, err := q.Pack()
	require.NoError(t, err)
	var r Msg
	require.NoError(t, r.Unpack(s.Answer(b, UDP)))
	assert.Equal(t, RcodeSuccess, r.Rcode)
	assert.Empty(t, r.Answer)
	require.NotNil(t, r.OPT())
	_, ext, _, _ := r.OPT().EDNS()
	assert.Equal(t, uint8(RcodeBadVers>>4), ext)
}

// TestServerCopiesDOBit checks RFC 3225 section 3: the DO bit of the query
// MUST be copied in the response.
func TestServerCopiesDOBit(t *testing.T) {
	s := testServer(t)
	for _, do := range []bool{false, true} {
		q := Msg{Header: Header{ID: 11}, Question: []Question{{"web.example.com.", TypeA, ClassINET}},
			Additional: []RR{NewOPT(1232, 0, do)}}
		b, err := q.Pack()
		require.NoError(t, err)
		var r Msg
		require.NoError(t, r.Unpack(s.Answer(b, UDP)))
		require.NotNil(t, r.OPT())
		_, _, _, gotDO := r.OPT().EDNS()
		assert.Equal(t, do, gotDO)
	}
}

func TestServerMalformed(t *testing.T) {
	s := testServer(t)
	good, err := (&Msg{Header: Header{ID: 5}, Question: []Question{{"web.example.com.", TypeA, ClassINET}}}).Pack()
	require.NoError(t, err)
	twoOPT, err := (&Msg{Header: Header{ID: 5}, Question: []Question{{"web.example.com.", TypeA, ClassINET}},
		Additional: []RR{NewOPT(1232, 0, false), NewOPT(1232, 0, false)}}).Pack()
	require.NoError(t, err)
	optOwner, err := (&Msg{Header: Header{ID: 5}, Question: []Question{{"web.example.com.", TypeA, ClassINET}},
		Additional: []RR{{Name: "x.", Type: TypeOPT, Class: 1232, Data: &OPT{}}}}).Pack()
	require.NoError(t, err)
	two := append([]byte(nil), good...)
	two[5] = 2
	loop := append(hdr(1, 0, 0, 0), 0xC0, 12, 0, 1, 0, 1)
	notimp := append([]byte(nil), good...)
	notimp[2] |= 2 << 3 // opcode STATUS
	tests := []struct {
		name  string
		msg   []byte
		rcode Rcode
	}{
		{"two questions", two, RcodeFormatError},
		{"truncated question", good[:len(good)-2], RcodeFormatError},
		{"pointer loop", loop, RcodeFormatError},
		{"no question", hdr(0, 0, 0, 0), RcodeFormatError},
		{"two OPT", twoOPT, RcodeFormatError},
		{"OPT not at root", optOwner, RcodeFormatError},
		{"record count past end", append(append([]byte(nil), good...)[:11], 1), RcodeFormatError},
		{"opcode", notimp, RcodeNotImplemented},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := s.Answer(tc.msg, UDP)
			require.NotNil(t, out)
			var m Msg
			require.NoError(t, m.Unpack(out))
			assert.Equal(t, tc.rcode, m.Rcode)
			assert.True(t, m.Response)
			assert.Equal(t, uint16(tc.msg[0])<<8|uint16(tc.msg[1]), m.ID)
		})
	}
	assert.Nil(t, s.Answer(good[:11], UDP), "shorter than a header")
	resp := append([]byte(nil), good...)
	resp[2] |= 0x80
	assert.Nil(t, s.Answer(resp, UDP), "a response is never answered")
	assert.Equal(t, uint64(2), s.Stats.Dropped)
}

func TestNewServerRejects(t *testing.T) {
	soa := "@ SOA ns h 1 2 3 4 5\n"
	tests := []struct{ name, zone, want string }{
		{"no SOA", "$TTL 1\na A 192.0.2.1\n", "0 SOA"},
		{"two SOA", "$TTL 1\n" + soa + soa, "2 SOA"},
		{"out of zone", "$TTL 1\n" + soa + "a.example.net. A 192.0.2.1\n", "outside the zone"},
		{"CNAME and other data", "$TTL 1\n" + soa + "a CNAME b\na A 192.0.2.1\n", "shares its owner"},
		{"SOA below apex", "$TTL 1\n" + soa + "x SOA ns h 1 2 3 4 5\n", "not at the origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(mustZone(t, tc.zone))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	z := mustZone(t, "$TTL 1\n"+soa)
	_, err := NewServer(z, z)
	assert.ErrorContains(t, err, "duplicate")
}

func TestServerMultipleZones(t *testing.T) {
	a := mustZone(t, "$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww CNAME www.sub.example.com.\n")
	b, err := ParseZone(strings.NewReader("$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.9\n"), "sub.example.com.", "sub.zone")
	require.NoError(t, err)
	s, err := NewServer(a, b)
	require.NoError(t, err)
	m, _ := ask(t, s, "www.example.com.", TypeA, 0, UDP)
	assert.Equal(t, []string{
		"www.example.com.\t60\tIN\tCNAME\twww.sub.example.com.",
		"www.sub.example.com.\t60\tIN\tA\t192.0.2.9"}, answerStrings(m.Answer))
	// The longest matching apex answers.
	m, _ = ask(t, s, "sub.example.com.", TypeSOA, 0, UDP)
	require.Len(t, m.Answer, 1)
	assert.Equal(t, "sub.example.com.", m.Answer[0].Name)
	assert.Equal(t, "sub.example.com.", m.Answer[0].Data.(*SOA).Mbox[len("h."):])
}

func TestServerAnswerAllocs(t *testing.T) {
	s := testServer(t)
	q, err := (&Msg{Header: Header{ID: 1}, Question: []Question{{"www.example.com.", TypeA, ClassINET}},
		Additional: []RR{NewOPT(1232, 0, false)}}).Pack()
	require.NoError(t, err)
	nx, err := (&Msg{Header: Header{ID: 1}, Question: []Question{{"nope.example.com.", TypeA, ClassINET}}}).Pack()
	require.NoError(t, err)
	s.Answer(q, UDP)
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Answer(q, UDP) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { s.Answer(nx, UDP) }))
}

func BenchmarkServerQuery(b *testing.B) {
	s := testServer(b)
	q, err := (&Msg{Header: Header{ID: 1, RecursionDesired: true}, Question: []Question{{"www.example.com.", TypeA, ClassINET}},
		Additional: []RR{NewOPT(1232, 0, false)}}).Pack()
	require.NoError(b, err)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if s.Answer(q, UDP) == nil {
			b.Fatal("no answer")
		}
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "allocs/query")
}

func FuzzServerAnswer(f *testing.F) {
	s := testServer(f)
	for _, q := range []Msg{
		{Header: Header{ID: 1}, Question: []Question{{"www.example.com.", TypeA, ClassINET}}, Additional: []RR{NewOPT(1232, 0, false)}},
		{Header: Header{ID: 2}, Question: []Question{{"big.example.com.", TypeTXT, ClassINET}}},
		{Header: Header{ID: 3}, Question: []Question{{"nope.example.com.", TypeANY, ClassINET}}},
	} {
		b, err := q.Pack()
		require.NoError(f, err)
		f.Add(b, false)
	}
	f.Add(append(hdr(1, 0, 0, 0), 0xC0, 12, 0, 1, 0, 1), true)
	f.Fuzz(func(t *testing.T, q []byte, tcp bool) {
		tr := UDP
		if tcp {
			tr = TCP
		}
		out := s.Answer(q, tr)
		if out == nil {
			return
		}
		var m Msg
		if err := m.Unpack(out); err != nil {
			t.Fatalf("server produced an undecodable response: %v", err)
		}
		if tr == UDP && len(out) > DefaultUDPSize {
			t.Fatalf("response of %d octets", len(out))
		}
		if !m.Response {
			t.Fatal("QR not set")
		}
	})
}

func TestServerAnswerMsg(t *testing.T) {
	s := testServer(t)
	r, err := s.AnswerMsg(&Msg{Header: Header{ID: 3}, Question: []Question{{"mail.example.com.", TypeA, ClassINET}}}, UDP)
	require.NoError(t, err)
	require.NotNil(t, r)
	assert.Equal(t, []string{"mail.example.com.\t3600\tIN\tA\t192.0.2.25"}, answerStrings(r.Answer))
	r, err = s.AnswerMsg(&Msg{Header: Header{ID: 3, Response: true}, Question: []Question{{"mail.example.com.", TypeA, ClassINET}}}, UDP)
	assert.NoError(t, err)
	assert.Nil(t, r, "responses are dropped")
	_, err = s.AnswerMsg(&Msg{Question: []Question{{"a..b", TypeA, ClassINET}}}, UDP)
	assert.Error(t, err)
}
