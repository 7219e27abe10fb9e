package tests

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/dns/dnsstack"
)

// mdnsStrings renders records as dig does, white space collapsed, the OPT
// pseudo-record left out.
func mdnsStrings(rrs []mdns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	return out
}

// TestDNSRulesSimulated (issue 18): the simulated DNS server (proto/dns
// behind dnsstack, in a simulated world) loads the zone without $ORIGIN
// through the one loader and answers miekg/dns on the gVisor peer like
// taprun answers dig: referral with glue, wildcards, additional addresses,
// OPT on NOTIMP, AXFR refused.
func TestDNSRulesSimulated(t *testing.T) {
	t.Parallel()
	dw := newDNIWorld(t, 3, impair.Config{Delay: 2 * time.Millisecond}, "")
	z, err := dns.ParseZone(strings.NewReader(rulesZone), "", "rules.zone")
	require.NoError(t, err)
	require.Equal(t, "example.test.", z.Origin)
	srv, err := dns.NewServer(z)
	require.NoError(t, err)
	server := netip.AddrPortFrom(dniOurAddr, 53)
	us, err := dnsstack.ServeUDP(dw.host, server, srv)
	require.NoError(t, err)
	defer us.Close()
	ts, err := dnsstack.ServeTCP(dw.tcp, server, srv)
	require.NoError(t, err)
	defer ts.Close()

	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range rulesCases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				m := new(mdns.Msg)
				m.SetQuestion(tc.qname, mdns.StringToType[tc.qtype])
				m.RecursionDesired = false
				m.SetEdns0(1232, false)
				r, err := dw.exchange(t, network, server, m, 10*time.Second)
				require.NoError(t, err)
				assert.Equal(t, tc.rcode, mdns.RcodeToString[r.Rcode])
				assert.Equal(t, tc.aa, r.Authoritative)
				assert.Equal(t, tc.answer, mdnsStrings(r.Answer), "answer")
				assert.Equal(t, tc.authority, mdnsStrings(r.Ns), "authority")
				assert.Equal(t, tc.additional, mdnsStrings(r.Extra), "additional")
				assert.NotNil(t, r.IsEdns0())
			})
		}
	}
	t.Run("NOTIFY with EDNS", func(t *testing.T) {
		m := new(mdns.Msg)
		m.SetNotify("example.test.")
		m.SetEdns0(1232, false)
		r, err := dw.exchange(t, "udp", server, m, 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, mdns.RcodeNotImplemented, r.Rcode)
		assert.Equal(t, mdns.OpcodeNotify, r.Opcode)
		assert.NotNil(t, r.IsEdns0(), "RFC 6891 section 6.1.1: OPT in every reply to an OPT query")
	})
	t.Run("AXFR refused", func(t *testing.T) {
		m := new(mdns.Msg)
		m.SetQuestion("example.test.", mdns.TypeAXFR)
		r, err := dw.exchange(t, "tcp", server, m, 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, mdns.RcodeRefused, r.Rcode)
		assert.Empty(t, r.Answer)
	})
}
