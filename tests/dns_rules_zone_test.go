package tests

// rulesZone is the zone of the DNS rules tests (issue 18): no $ORIGIN, so
// the zone's name comes from the absolute SOA owner and completes every
// relative name, owners and RDATA alike; a delegation with glue, a
// wildcard, an MX whose exchange is relative.
const rulesZone = `; no $ORIGIN on purpose
$TTL 300
example.test.  IN SOA ns1 hostmaster 2026120301 3600 600 86400 300
@        IN NS  ns1
@        IN MX  10 mail
ns1      IN A   192.0.2.2
mail     IN A   192.0.2.25
www      IN A   192.0.2.80
sub      IN NS  ns.sub
sub      IN NS  ns2.sub
ns.sub   IN A   192.0.2.53
ns2.sub  IN A   192.0.2.54
wild     IN TXT "the wildcard's parent"
*.wild   IN A   192.0.2.99
`

// rulesCase is one query of the DNS rules tests and what the answer must
// hold, in dig's presentation form with white space collapsed.
type rulesCase struct {
	name       string
	qname      string
	qtype      string
	rcode      string // NOERROR, NXDOMAIN, NOTIMP, REFUSED
	aa         bool
	answer     []string
	authority  []string
	additional []string // without the OPT record
}

// rulesCases are the queries both the live dig test and the simulated one
// ask.
var rulesCases = []rulesCase{
	{name: "referral with glue", qname: "www.sub.example.test.", qtype: "A", rcode: "NOERROR",
		authority:  []string{"sub.example.test. 300 IN NS ns.sub.example.test.", "sub.example.test. 300 IN NS ns2.sub.example.test."},
		additional: []string{"ns.sub.example.test. 300 IN A 192.0.2.53", "ns2.sub.example.test. 300 IN A 192.0.2.54"}},
	{name: "glue is not an answer", qname: "ns.sub.example.test.", qtype: "A", rcode: "NOERROR",
		authority:  []string{"sub.example.test. 300 IN NS ns.sub.example.test.", "sub.example.test. 300 IN NS ns2.sub.example.test."},
		additional: []string{"ns.sub.example.test. 300 IN A 192.0.2.53", "ns2.sub.example.test. 300 IN A 192.0.2.54"}},
	{name: "wildcard", qname: "x.wild.example.test.", qtype: "A", rcode: "NOERROR", aa: true,
		answer: []string{"x.wild.example.test. 300 IN A 192.0.2.99"}},
	{name: "wildcard two labels down", qname: "a.b.wild.example.test.", qtype: "A", rcode: "NOERROR", aa: true,
		answer: []string{"a.b.wild.example.test. 300 IN A 192.0.2.99"}},
	{name: "wildcard NODATA", qname: "x.wild.example.test.", qtype: "MX", rcode: "NOERROR", aa: true,
		authority: []string{"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026120301 3600 600 86400 300"}},
	{name: "MX with a relative exchange", qname: "example.test.", qtype: "MX", rcode: "NOERROR", aa: true,
		answer:     []string{"example.test. 300 IN MX 10 mail.example.test."},
		additional: []string{"mail.example.test. 300 IN A 192.0.2.25"}},
	{name: "NS with in-zone address", qname: "example.test.", qtype: "NS", rcode: "NOERROR", aa: true,
		answer:     []string{"example.test. 300 IN NS ns1.example.test."},
		additional: []string{"ns1.example.test. 300 IN A 192.0.2.2"}},
	{name: "NXDOMAIN", qname: "nope.example.test.", qtype: "A", rcode: "NXDOMAIN", aa: true,
		authority: []string{"example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026120301 3600 600 86400 300"}},
}
