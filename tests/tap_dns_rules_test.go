package tests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// digSections splits dig output into its answer, authority and additional
// records (the OPT pseudo-record left out), white space collapsed, and
// returns the header's status and flags.
func digSections(out string) (status, flags string, sec map[string][]string) {
	sec = map[string][]string{}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(l, "status: "):
			status = strings.TrimSuffix(strings.Fields(l[strings.Index(l, "status: "):])[1], ",")
		case strings.HasPrefix(l, ";; flags: "):
			f := l[len(";; flags: "):]
			if i := strings.IndexByte(f, ';'); i >= 0 {
				f = f[:i]
			}
			flags = strings.TrimSpace(f)
		case strings.HasPrefix(l, ";; ANSWER SECTION"):
			cur = "answer"
		case strings.HasPrefix(l, ";; AUTHORITY SECTION"):
			cur = "authority"
		case strings.HasPrefix(l, ";; ADDITIONAL SECTION"):
			cur = "additional"
		case strings.HasPrefix(l, ";") || strings.TrimSpace(l) == "":
			if strings.TrimSpace(l) == "" {
				cur = ""
			}
		case cur != "":
			sec[cur] = append(sec[cur], strings.Join(strings.Fields(l), " "))
		}
	}
	return status, flags, sec
}

// TestTapDNSRules (issue 18): dig against taprun serving a zone without
// $ORIGIN: a referral with glue below a zone cut, wildcard synthesis, the
// MX exchange completed with the zone's name and its address added, OPT
// in a NOTIMP reply to a NOTIFY with EDNS, AXFR refused.
func TestTapDNSRules(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "dig")
	ns := tapNS(t)
	zone := filepath.Join(t.TempDir(), "rules.zone")
	require.NoError(t, os.WriteFile(zone, []byte(rulesZone), 0o644))
	tr := startTaprun(t, ns, "--ip", tapStackCIDR, "--dns", "53", "--zone", zone)
	assert.Contains(t, tr.Output(), "zone example.test.")
	checkDNSRules(t, ns, tapStackIP, false, "+tries=1", "+time=3")
}

// checkDNSRules asks the DNS server at server (serving rulesZone) the
// rules cases with dig from inside ns, over UDP and TCP, plus a NOTIFY
// with EDNS and an AXFR, and checks the answers. digOpts are dig's retry
// options; parallel runs the cases at once (each is its own dig).
func checkDNSRules(t *testing.T, ns *netns.NS, server string, parallel bool, digOpts ...string) {
	t.Helper()
	dig := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := ns.Output(ctx, "dig", append(append([]string{"@" + server}, digOpts...), args...)...)
		require.NoError(t, err, out)
		return out
	}
	for _, transport := range []string{"+notcp", "+tcp"} {
		for _, tc := range rulesCases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				if parallel {
					t.Parallel()
				}
				out := dig(t, transport, "+norec", tc.qname, tc.qtype)
				status, flags, sec := digSections(out)
				assert.Equal(t, tc.rcode, status, out)
				assert.Equal(t, tc.aa, strings.Contains(" "+flags+" ", " aa "), "flags %q", flags)
				assert.Equal(t, tc.answer, sec["answer"], "answer")
				assert.Equal(t, tc.authority, sec["authority"], "authority")
				assert.Equal(t, tc.additional, sec["additional"], "additional")
				assert.Contains(t, out, "OPT PSEUDOSECTION", "dig sends EDNS: the reply carries OPT")
			})
		}
	}
	t.Run("NOTIFY with EDNS", func(t *testing.T) {
		if parallel {
			t.Parallel()
		}
		out := dig(t, "+opcode=notify", "example.test", "SOA")
		status, _, _ := digSections(out)
		assert.Equal(t, "NOTIMP", status, out)
		assert.Contains(t, out, "opcode: NOTIFY")
		assert.Contains(t, out, "OPT PSEUDOSECTION", "RFC 6891 section 6.1.1: OPT in every reply to an OPT query")
	})
	t.Run("AXFR refused", func(t *testing.T) {
		if parallel {
			t.Parallel()
		}
		out := dig(t, "example.test", "AXFR")
		assert.Contains(t, out, "Transfer failed", out)
		assert.NotContains(t, out, "XFR size")
		// dig prints no header for a transfer: ask with miekg/dns from a
		// socket in the namespace to see the rcode (three tries, for a
		// lossy path).
		for _, net := range []string{"tcp", "udp"} {
			m := new(mdns.Msg)
			m.SetQuestion("example.test.", mdns.TypeAXFR)
			m.SetEdns0(1232, false)
			var r *mdns.Msg
			var err error
			for try := 0; try < 3 && r == nil; try++ {
				err = ns.Do(func() error {
					var err error
					r, _, err = (&mdns.Client{Net: net, Timeout: 3 * time.Second}).Exchange(m, server+":53")
					return err
				})
			}
			require.NoError(t, err, net)
			assert.Equal(t, mdns.RcodeRefused, r.Rcode, net)
			assert.NotNil(t, r.IsEdns0(), net)
		}
	})
}
