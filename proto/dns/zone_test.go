package dns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var exampleZone = `; example zone
$ORIGIN example.com.
$TTL 1h
@	IN	SOA	ns1 hostmaster (
		2024010101 ; serial
		2h         ; refresh
		15m        ; retry
		2w         ; expire
		300 )      ; minimum
	IN	NS	ns1
	IN	MX	10 mail
	"TXT"	"v=spf1 -all" "second \"quoted\"" plain\059semi
ns1	IN	A	192.0.2.53
www	300	IN	CNAME	web
web	IN	300	A	192.0.2.80
	AAAA	2001:db8::80
mail	A	192.0.2.25
alias	CNAME	www
ext	CNAME	www.example.net.
a.b.c	A	192.0.2.99
_sip._udp	SRV	1 2 5060 sip
big	TXT	"` + strings.Repeat("x", 200) + `" "` + strings.Repeat("y", 200) + `" "` + strings.Repeat("z", 200) + `"
$ORIGIN sub
host	A	192.0.2.7
gen	TYPE65280	\# 3 010203
gena	TYPE1	\# 4 c0000201
`

func mustZone(t testing.TB, text string) *Zone {
	z, err := ParseZone(strings.NewReader(text), "example.com.", "example.zone")
	require.NoError(t, err)
	return z
}

func TestParseZone(t *testing.T) {
	// The TXT type token above is quoted on purpose: that is an error.
	_, err := ParseZone(strings.NewReader(exampleZone), "example.com", "example.zone")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "example.zone:12:")

	z := mustZone(t, strings.Replace(exampleZone, `"TXT"`, "TXT", 1))
	assert.Equal(t, "example.com.", z.Origin)
	byName := func(name string, typ Type) []RR {
		var out []RR
		for _, rr := range z.Records {
			if rr.Name == name && rr.Type == typ {
				out = append(out, rr)
			}
		}
		return out
	}
	soa := byName("example.com.", TypeSOA)
	require.Len(t, soa, 1)
	assert.Equal(t, uint32(3600), soa[0].TTL)
	assert.Equal(t, &SOA{"ns1.example.com.", "hostmaster.example.com.", 2024010101, 7200, 900, 1209600, 300}, soa[0].Data)
	assert.Equal(t, &NS{"ns1.example.com."}, byName("example.com.", TypeNS)[0].Data)
	assert.Equal(t, &MX{10, "mail.example.com."}, byName("example.com.", TypeMX)[0].Data)
	assert.Equal(t, &TXT{[]string{"v=spf1 -all", `second "quoted"`, "plain;semi"}}, byName("example.com.", TypeTXT)[0].Data)
	www := byName("www.example.com.", TypeCNAME)
	require.Len(t, www, 1)
	assert.Equal(t, uint32(300), www[0].TTL)
	assert.Equal(t, &CNAME{"web.example.com."}, www[0].Data)
	// Omitted owner repeats the previous one; omitted TTL takes $TTL.
	aaaa := byName("web.example.com.", TypeAAAA)
	require.Len(t, aaaa, 1)
	assert.Equal(t, uint32(3600), aaaa[0].TTL)
	assert.Equal(t, netip.MustParseAddr("2001:db8::80"), aaaa[0].Data.(*AAAA).Addr)
	assert.Equal(t, &CNAME{"www.example.net."}, byName("ext.example.com.", TypeCNAME)[0].Data)
	assert.Len(t, byName("a.b.c.example.com.", TypeA), 1)
	assert.Equal(t, &SRV{1, 2, 5060, "sip.example.com."}, byName("_sip._udp.example.com.", TypeSRV)[0].Data)
	// $ORIGIN relative to the previous origin.
	assert.Len(t, byName("host.sub.example.com.", TypeA), 1)
	assert.Equal(t, &Raw{[]byte{1, 2, 3}}, byName("gen.sub.example.com.", Type(65280))[0].Data)
	assert.Equal(t, &A{netip.MustParseAddr("192.0.2.1")}, byName("gena.sub.example.com.", TypeA)[0].Data)
	assert.Len(t, byName("big.example.com.", TypeTXT)[0].Data.(*TXT).Txt, 3)
}

func TestParseZoneErrors(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"no TTL", "a A 192.0.2.1\n", "zone.db:1: no TTL"},
		{"bad IPv4", "$TTL 1\n\na A 300.1.1.1\n", "zone.db:3: A rdata"},
		{"IPv6 in A", "$TTL 1\na A ::1\n", "zone.db:2: A rdata"},
		{"unknown type", "$TTL 1\na FOO x\n", `zone.db:2: unknown type "FOO"`},
		{"unclosed paren", "$TTL 1\n@ SOA a b (1 2 3\n 4 5\n", "zone.db:2: unclosed '('"},
		{"unbalanced paren", "$TTL 1\na A 1.2.3.4 )\n", "zone.db:2: unbalanced ')'"},
		{"unterminated quote", "$TTL 1\na TXT \"abc\n", "zone.db:2: unterminated quoted string"},
		{"label too long", "$TTL 1\n" + strings.Repeat("a", 64) + " A 1.2.3.4\n", "zone.db:2: owner"},
		{"include", "$INCLUDE other\n", "zone.db:1: unsupported directive"},
		{"class CH", "$TTL 1\na CH A 1.2.3.4\n", "zone.db:2: unsupported class"},
		{"no previous owner", "$TTL 1\n  A 1.2.3.4\n", "zone.db:2: no previous owner"},
		{"MX fields", "$TTL 1\na MX 10\n", "zone.db:2: MX rdata: want 2 fields"},
		{"TXT too long", "$TTL 1\na TXT " + strings.Repeat("x", 256) + "\n", "zone.db:2: TXT rdata"},
		{"bad TTL", "$TTL 1x\n", "zone.db:1: $TTL"},
		{"TTL overflow", "$TTL 99999999999\n", "zone.db:1: $TTL"},
		{"generic length", "$TTL 1\na TYPE9 \\# 2 01\n", "zone.db:2:"},
		{"generic A wrong size", "$TTL 1\na TYPE1 \\# 2 0102\n", "zone.db:2:"},
		{"missing type", "$TTL 1\na 300 IN\n", "zone.db:2: missing type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseZone(strings.NewReader(tc.text), "example.com.", "zone.db")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseTTL(t *testing.T) {
	for s, want := range map[string]uint32{"0": 0, "300": 300, "1h30m": 5400, "1W": 604800, "2d1s": 172801, "4294967295": 4294967295} {
		got, err := parseTTL(s)
		require.NoError(t, err, s)
		assert.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "h", "1hh", "4294967296", "1q", "-1"} {
		_, err := parseTTL(s)
		assert.Error(t, err, s)
	}
}

func FuzzZone(f *testing.F) {
	f.Add(strings.Replace(exampleZone, `"TXT"`, "TXT", 1))
	f.Add("$TTL 1\n@ SOA a b (1 2 3\n 4 5)\n")
	f.Add("$ORIGIN .\n$TTL 1\nx\\.y A 1.2.3.4\n")
	f.Add("a TXT \"unterminated\n")
	f.Add("$TTL 1\nz TYPE65280 \\# 2 ab cd\n")
	f.Fuzz(func(t *testing.T, text string) {
		z, err := ParseZone(strings.NewReader(text), "example.com.", "fuzz.zone")
		if err != nil {
			return
		}
		// The origin taken from the file gives the same records when the
		// file names its zone in an absolute SOA owner.
		if z2, err := ParseZone(strings.NewReader(text), "", "fuzz.zone"); err == nil {
			if _, err := NewServer(z2); err == nil && z2.Origin == "example.com." && len(z2.Records) != len(z.Records) {
				t.Fatalf("%d records with the origin given, %d with it from the file", len(z.Records), len(z2.Records))
			}
		}
		// Every parsed record encodes and decodes.
		m := Msg{Answer: z.Records}
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("pack parsed zone: %v", err)
		}
		var m2 Msg
		if err := m2.Unpack(b); err != nil {
			t.Fatalf("unpack parsed zone: %v", err)
		}
	})
}

func TestParseZoneOrigin(t *testing.T) {
	t.Parallel()
	// No $ORIGIN: relative owners and relative names in RDATA are
	// completed with the zone's name, as BIND does.
	const noOrigin = "$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\n@ MX 10 mail\nns A 192.0.2.53\nmail A 192.0.2.25\nwww CNAME web\n_s._tcp SRV 1 2 3 web\n"
	tests := []struct {
		name, text, origin string
		wantOrigin         string
		want               []string // records that must be present
		err                string
	}{
		{"origin given", noOrigin, "example.test.", "example.test.", []string{
			"example.test.\t300\tIN\tMX\t10 mail.example.test.",
			"example.test.\t300\tIN\tNS\tns.example.test.",
			"www.example.test.\t300\tIN\tCNAME\tweb.example.test.",
			"_s._tcp.example.test.\t300\tIN\tSRV\t1 2 3 web.example.test.",
			"example.test.\t300\tIN\tSOA\tns.example.test. hostmaster.example.test. 1 2 3 4 5"}, ""},
		{"origin from absolute SOA owner", "$TTL 300\nexample.test. SOA ns hostmaster 1 2 3 4 5\n MX 10 mail\nmail A 192.0.2.25\n", "", "example.test.", []string{
			"example.test.\t300\tIN\tMX\t10 mail.example.test.",
			"mail.example.test.\t300\tIN\tA\t192.0.2.25"}, ""},
		{"relative names before the absolute SOA", "$TTL 300\nmail A 192.0.2.25\nexample.test. SOA ns hostmaster 1 2 3 4 5\n", "", "example.test.", []string{
			"mail.example.test.\t300\tIN\tA\t192.0.2.25"}, ""},
		{"$ORIGIN names the zone", "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ MX 10 mail\n", "", "example.test.", []string{
			"example.test.\t300\tIN\tMX\t10 mail.example.test."}, ""},
		{"$ORIGIN overrides the given origin afterwards", "$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n$ORIGIN sub.example.test.\nx A 192.0.2.1\n", "example.test.", "example.test.", []string{
			"x.sub.example.test.\t300\tIN\tA\t192.0.2.1"}, ""},
		{"relative SOA owner and no origin", noOrigin, "", "", nil, "give"},
		{"no SOA and no origin", "$TTL 1\na A 192.0.2.1\n", "", "", nil, "give"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			z, err := ParseZone(strings.NewReader(tc.text), tc.origin, "z.db")
			if tc.err != "" {
				require.ErrorIs(t, err, ErrNoOrigin)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantOrigin, z.Origin)
			got := answerStrings(z.Records)
			for _, w := range tc.want {
				assert.Contains(t, got, w)
			}
		})
	}
}

func TestParseZoneTTLNormalised(t *testing.T) {
	t.Parallel()
	z, err := ParseZone(strings.NewReader("$TTL 300\n@ SOA ns h 1 2 3 4 5\nw 60 A 192.0.2.1\nW 120 A 192.0.2.2\nw 60 AAAA 2001:db8::1\n"), "example.test.", "z.db")
	require.NoError(t, err)
	for _, rr := range z.Records {
		if rr.Type != TypeSOA {
			assert.Equal(t, uint32(60), rr.TTL, rr.String())
		}
	}
	require.Len(t, z.Warnings, 1)
	assert.Contains(t, z.Warnings[0].String(), "z.db:4: W.example.test. A: TTL 120 set to 60")
}
