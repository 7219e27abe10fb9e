package dns

import (
	"bytes"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleMsg() *Msg {
	return &Msg{
		Header:   Header{ID: 0xBEEF, Response: true, Authoritative: true, RecursionDesired: true, Rcode: RcodeSuccess},
		Question: []Question{{Name: "www.example.com.", Type: TypeA, Class: ClassINET}},
		Answer: []RR{
			{Name: "www.example.com.", Type: TypeCNAME, Class: ClassINET, TTL: 300, Data: &CNAME{"web.example.com."}},
			{Name: "web.example.com.", Type: TypeA, Class: ClassINET, TTL: 300, Data: &A{netip.MustParseAddr("192.0.2.1")}},
			{Name: "web.example.com.", Type: TypeAAAA, Class: ClassINET, TTL: 300, Data: &AAAA{netip.MustParseAddr("2001:db8::1")}},
			{Name: "example.com.", Type: TypeMX, Class: ClassINET, TTL: 60, Data: &MX{10, "mail.example.com."}},
			{Name: "example.com.", Type: TypeTXT, Class: ClassINET, TTL: 60, Data: &TXT{[]string{"v=spf1 -all", "", "x\"y"}}},
			{Name: "_sip._udp.example.com.", Type: TypeSRV, Class: ClassINET, TTL: 60, Data: &SRV{1, 2, 5060, "sip.example.com."}},
			{Name: "1.2.0.192.in-addr.arpa.", Type: TypePTR, Class: ClassINET, TTL: 60, Data: &PTR{"web.example.com."}},
			{Name: "example.com.", Type: Type(65280), Class: ClassINET, TTL: 1, Data: &Raw{[]byte{1, 2, 3}}},
		},
		Authority: []RR{
			{Name: "example.com.", Type: TypeNS, Class: ClassINET, TTL: 3600, Data: &NS{"ns1.example.com."}},
			{Name: "example.com.", Type: TypeSOA, Class: ClassINET, TTL: 3600, Data: &SOA{"ns1.example.com.", "hostmaster.example.com.", 2024010101, 7200, 900, 1209600, 300}},
		},
		Additional: []RR{
			{Name: ".", Type: TypeOPT, Class: 1232, TTL: 1 << 15, Data: &OPT{[]EDNSOption{{Code: 10, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}}}},
		},
	}
}

func TestMsgRoundTrip(t *testing.T) {
	m := sampleMsg()
	b, err := m.Pack()
	require.NoError(t, err)
	var got Msg
	require.NoError(t, got.Unpack(b))
	assert.Equal(t, m, &got)
	size, ext, ver, do := got.OPT().EDNS()
	assert.Equal(t, uint16(1232), size)
	assert.Zero(t, ext)
	assert.Zero(t, ver)
	assert.True(t, do)
	// Appending after a prefix gives the same bytes: pointers are relative
	// to the message start.
	b2, err := m.AppendPack([]byte{0xAA, 0xBB})
	require.NoError(t, err)
	assert.Equal(t, b, b2[2:])
}

func TestHeaderFlags(t *testing.T) {
	for bit := 4; bit < 16; bit++ {
		var h Header
		h.setFlags(1 << bit)
		assert.Equal(t, uint16(1<<bit), h.flags(), "bit %d", bit)
	}
	var h Header
	h.setFlags(0xFFFF)
	assert.Equal(t, uint16(0xFFFF)&^(7<<4)|7<<4, h.flags())
}

func TestCompression(t *testing.T) {
	m := &Msg{
		Question: []Question{{Name: "www.example.com.", Type: TypeA, Class: ClassINET}},
		Answer: []RR{
			{Name: "www.example.com.", Type: TypeA, Class: ClassINET, TTL: 1, Data: &A{netip.MustParseAddr("192.0.2.1")}},
			{Name: "mail.example.com.", Type: TypeA, Class: ClassINET, TTL: 1, Data: &A{netip.MustParseAddr("192.0.2.2")}},
		},
	}
	b, err := m.Pack()
	require.NoError(t, err)
	// Question name at 12: 17 octets. First answer owner: pointer to 12.
	off := HeaderLen + 17 + 4
	assert.Equal(t, []byte{0xC0, 12}, b[off:off+2])
	// Second owner: "mail" then a pointer to "example.com." at 16.
	off += 2 + 10 + 4
	assert.Equal(t, []byte{4, 'm', 'a', 'i', 'l', 0xC0, 16}, b[off:off+7])
	assert.Len(t, b, off+7+10+4)
	var got Msg
	require.NoError(t, got.Unpack(b))
	assert.Equal(t, m.Answer, got.Answer)
}

// hdr builds a header with the given counts.
func hdr(qd, an, ns, ar byte) []byte {
	return []byte{0, 1, 0, 0, 0, qd, 0, an, 0, ns, 0, ar}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestUnpackRejects(t *testing.T) {
	long := bytes.Repeat([]byte{'a'}, 63)
	var name255 []byte
	for range 4 {
		name255 = append(name255, 63)
		name255 = append(name255, long...)
	}
	name255 = append(name255, 0) // 4*64+1 = 257 octets
	tests := []struct {
		name string
		msg  []byte
		err  error
	}{
		{"short header", []byte{0, 1, 2}, ErrShort},
		{"pointer loop to itself", cat(hdr(1, 0, 0, 0), []byte{0xC0, 12, 0, 1, 0, 1}), ErrPointer},
		{"forward pointer", cat(hdr(1, 0, 0, 0), []byte{0xC0, 14, 0, 1, 0, 1, 0, 0, 1, 0, 1}), ErrPointer},
		{"two-step loop", cat(hdr(1, 0, 0, 0), []byte{1, 'a', 0xC0, 12, 0, 1, 0, 1}), ErrPointer},
		{"label type 0x40", cat(hdr(1, 0, 0, 0), []byte{0x41, 'a', 0, 0, 1, 0, 1}), ErrLabelType},
		{"label type 0x80", cat(hdr(1, 0, 0, 0), []byte{0x80, 0, 1, 0, 1}), ErrLabelType},
		{"name over 255", cat(hdr(1, 0, 0, 0), name255, []byte{0, 1, 0, 1}), ErrNameTooLong},
		{"label runs past end", cat(hdr(1, 0, 0, 0), []byte{10, 'a', 'b', 'c', 'd'}), ErrShort},
		{"question without type", cat(hdr(1, 0, 0, 0), []byte{1, 'a', 0, 0, 1}), ErrShort},
		{"counts exceed data", cat(hdr(0, 255, 0, 0), []byte{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}), ErrCounts},
		{"rdlength past end", cat(hdr(0, 1, 0, 0), []byte{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4}), ErrShort},
		{"A with 3 octets", cat(hdr(0, 1, 0, 0), []byte{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 3, 1, 2, 3}), ErrRdata},
		{"CNAME name past rdlength", cat(hdr(0, 1, 0, 0), []byte{0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 2, 3, 'a', 'b', 'c', 0}), ErrShort},
		{"SOA with short tail", cat(hdr(0, 1, 0, 0), []byte{0, 0, 6, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 1, 2}), ErrRdata},
		{"TXT string past rdlength", cat(hdr(0, 1, 0, 0), []byte{0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 5, 'a'}), ErrRdata},
		{"OPT option past rdlength", cat(hdr(0, 0, 0, 1), []byte{0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 9, 1}), ErrRdata},
		{"trailing octets", cat(hdr(0, 0, 0, 0), []byte{1}), ErrTrailing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Msg
			err := m.Unpack(tc.msg)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.err)
		})
	}
}

func TestUnpackBackwardPointerChain(t *testing.T) {
	// "a" at 12, "b"+ptr(12) at 21, "c"+ptr(21...) : valid backward chain.
	msg := cat(hdr(3, 0, 0, 0),
		[]byte{1, 'a', 0, 0, 1, 0, 1},
		[]byte{1, 'b', 0xC0, 12, 0, 1, 0, 1},
		[]byte{1, 'c', 0xC0, 19, 0, 1, 0, 1})
	var m Msg
	require.NoError(t, m.Unpack(msg))
	assert.Equal(t, "a.", m.Question[0].Name)
	assert.Equal(t, "b.a.", m.Question[1].Name)
	assert.Equal(t, "c.b.a.", m.Question[2].Name)
}

func TestWireNameLimits(t *testing.T) {
	long := string(bytes.Repeat([]byte{'a'}, 64))
	_, err := wireName(nil, long+".com.")
	assert.ErrorIs(t, err, ErrLabelTooLong)
	l63 := long[:63]
	_, err = wireName(nil, l63+"."+l63+"."+l63+"."+l63+".")
	assert.ErrorIs(t, err, ErrNameTooLong)
	w, err := wireName(nil, l63+"."+l63+"."+l63+"."+long[:61]+".")
	require.NoError(t, err)
	assert.Len(t, w, 255)
	_, err = wireName(nil, "a..b")
	assert.ErrorIs(t, err, ErrEmptyLabel)
	w, err = wireName(nil, `a\.b\065\\.c`)
	require.NoError(t, err)
	assert.Equal(t, []byte{5, 'a', '.', 'b', 'A', '\\', 1, 'c', 0}, w)
	assert.Equal(t, `a\.bA\\.c.`, nameString(w))
	_, err = wireName(nil, `a\25`)
	assert.Error(t, err)
	_, err = wireName(nil, `a\999`)
	assert.Error(t, err)
	n, err := CanonicalName("WWW.Example.COM")
	require.NoError(t, err)
	assert.Equal(t, "www.example.com.", n)
}

func TestPackErrors(t *testing.T) {
	tests := []RR{
		{Name: "a.", Type: TypeA, Data: &A{netip.MustParseAddr("::1")}},
		{Name: "a.", Type: TypeAAAA, Data: &AAAA{netip.MustParseAddr("1.2.3.4")}},
		{Name: "a..", Type: TypeA, Data: &A{netip.MustParseAddr("1.2.3.4")}},
		{Name: "a.", Type: TypeTXT, Data: &TXT{[]string{string(make([]byte, 256))}}},
		{Name: "a.", Type: TypeCNAME, Data: &CNAME{"x..y"}},
	}
	for _, rr := range tests {
		m := Msg{Answer: []RR{rr}}
		_, err := m.Pack()
		assert.Error(t, err, rr.Type.String())
	}
}

// TestDifferentialMiekg decodes miekg/dns-built messages with this package
// and the reverse.
func TestDifferentialMiekg(t *testing.T) {
	mm := new(mdns.Msg)
	mm.SetQuestion("www.example.com.", mdns.TypeA)
	mm.Id = 4242
	mm.Response = true
	mm.Authoritative = true
	mm.Compress = true
	rr := func(s string) mdns.RR {
		r, err := mdns.NewRR(s)
		require.NoError(t, err)
		return r
	}
	mm.Answer = []mdns.RR{
		rr("www.example.com. 300 IN CNAME web.example.com."),
		rr("web.example.com. 300 IN A 192.0.2.7"),
		rr("web.example.com. 300 IN AAAA 2001:db8::7"),
		rr(`example.com. 60 IN TXT "hello world" "two"`),
		rr("example.com. 60 IN MX 5 mx.example.com."),
		rr("_x._tcp.example.com. 60 IN SRV 1 2 3 t.example.com."),
		rr("7.2.0.192.in-addr.arpa. 60 IN PTR web.example.com."),
	}
	mm.Ns = []mdns.RR{rr("example.com. 3600 IN SOA ns.example.com. h.example.com. 1 2 3 4 5"), rr("example.com. 3600 IN NS ns.example.com.")}
	mm.SetEdns0(1400, true)
	wire, err := mm.Pack()
	require.NoError(t, err)

	var ours Msg
	require.NoError(t, ours.Unpack(wire))
	assert.Equal(t, uint16(4242), ours.ID)
	assert.True(t, ours.Authoritative)
	require.Len(t, ours.Answer, 7)
	assert.Equal(t, "web.example.com.", ours.Answer[0].Data.(*CNAME).Target)
	assert.Equal(t, netip.MustParseAddr("192.0.2.7"), ours.Answer[1].Data.(*A).Addr)
	assert.Equal(t, []string{"hello world", "two"}, ours.Answer[3].Data.(*TXT).Txt)
	assert.Equal(t, &SRV{1, 2, 3, "t.example.com."}, ours.Answer[5].Data)
	assert.Equal(t, &SOA{"ns.example.com.", "h.example.com.", 1, 2, 3, 4, 5}, ours.Authority[0].Data)
	size, _, _, do := ours.OPT().EDNS()
	assert.Equal(t, uint16(1400), size)
	assert.True(t, do)

	// And back: ours packed, miekg decodes to the same records.
	back, err := ours.Pack()
	require.NoError(t, err)
	m2 := new(mdns.Msg)
	require.NoError(t, m2.Unpack(back))
	require.Len(t, m2.Answer, len(mm.Answer))
	for i := range mm.Answer {
		assert.Equal(t, mm.Answer[i].String(), m2.Answer[i].String())
	}
	for i := range mm.Ns {
		assert.Equal(t, mm.Ns[i].String(), m2.Ns[i].String())
	}
	assert.Equal(t, mm.Question, m2.Question)
	assert.Equal(t, mm.IsEdns0().UDPSize(), m2.IsEdns0().UDPSize())
	// Our compression is at least as tight as miekg's.
	assert.LessOrEqual(t, len(back), len(wire))

	// Our sample message decodes in miekg to the same presentation.
	b, err := sampleMsg().Pack()
	require.NoError(t, err)
	m3 := new(mdns.Msg)
	require.NoError(t, m3.Unpack(b))
	assert.Equal(t, "www.example.com.\t300\tIN\tCNAME\tweb.example.com.", m3.Answer[0].String())
	assert.Equal(t, "example.com.\t60\tIN\tTXT\t\"v=spf1 -all\" \"\" \"x\\\"y\"", m3.Answer[4].String())
	assert.Equal(t, "example.com.\t3600\tIN\tSOA\tns1.example.com. hostmaster.example.com. 2024010101 7200 900 1209600 300", m3.Ns[1].String())
}

func FuzzMessage(f *testing.F) {
	b, _ := sampleMsg().Pack()
	f.Add(b)
	f.Add(cat(hdr(1, 0, 0, 0), []byte{0xC0, 12, 0, 1, 0, 1}))
	f.Add(cat(hdr(3, 0, 0, 0), []byte{1, 'a', 0, 0, 1, 0, 1}, []byte{1, 'b', 0xC0, 12, 0, 1, 0, 1}, []byte{1, 'c', 0xC0, 19, 0, 1, 0, 1}))
	f.Add(cat(hdr(0, 255, 0, 0), []byte{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Msg
		if err := m.Unpack(data); err != nil {
			return
		}
		out, err := m.Pack()
		if err != nil {
			// A decoded message always re-encodes: names and RDATA came
			// from the wire within its limits.
			t.Fatalf("re-pack: %v", err)
		}
		var m2 Msg
		if err := m2.Unpack(out); err != nil {
			t.Fatalf("re-unpack: %v", err)
		}
		if !assert.Equal(t, &m, &m2) {
			t.FailNow()
		}
	})
}

func BenchmarkUnpack(b *testing.B) {
	wire, err := sampleMsg().Pack()
	require.NoError(b, err)
	b.ReportAllocs()
	var m Msg
	for b.Loop() {
		if err := m.Unpack(wire); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPack(b *testing.B) {
	m := sampleMsg()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = m.AppendPack(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
