package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/app/attack"
	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/internal/tsharkcheck"
	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// attackMalformed lists, per attack scenario and capture, the frames the
// attack makes malformed on purpose (tshark frame numbers); every other
// frame must decode cleanly.
var attackMalformed = map[string]map[string][]string{
	// The queries whose compression pointer points past the end of the
	// message (tshark: "Malformed Packet: DNS").
	"dns-pointer-loop.yaml": {"server.pcapng": {"11", "19", "27", "35", "43"}},
	// The offer whose router option runs past the end of the message.
	"dhcp-bad-offer.yaml": {"client.pcapng": {"2"}, "rogue.pcapng": {"2"}},
}

// attackChecks are what each attack scenario's report must show beyond its
// own expectations: the defence was exercised, not just never reached.
var attackChecks = map[string]func(t *testing.T, rep *scenario.Report){
	"syn-flood.yaml": func(t *testing.T, rep *scenario.Report) {
		for _, h := range rep.Hosts {
			if h.Name == "server" {
				assert.GreaterOrEqual(t, h.TCP.SYNCookiesSent, uint64(5000), "the half-open queue overflowed")
				assert.GreaterOrEqual(t, h.TCP.SYNCookiesValid, uint64(5), "each client connected through a cookie")
				return
			}
		}
		t.Error("no host server in the report")
	},
	"arp-spoof.yaml": func(t *testing.T, rep *scenario.Report) {
		for _, h := range rep.Hosts {
			if h.Name == "client" {
				assert.Equal(t, uint64(10+34), h.IP.ARPOverridesRefused, "every forged reply was refused")
				return
			}
		}
		t.Error("no host client in the report")
	},
	"blind-injection.yaml": func(t *testing.T, rep *scenario.Report) {
		for _, h := range rep.Hosts {
			if h.Name == "server" {
				// The forged SYNs alone (4,100 in 0.74 s) would
				// draw one each; RFC 5961 section 7 allows 1,000 a second.
				assert.GreaterOrEqual(t, h.TCP.ChallengeACKs, uint64(1000), "challenge ACKs sent")
				assert.LessOrEqual(t, h.TCP.ChallengeACKs, uint64(2000), "challenge ACKs within 1,000 a second")
				assert.Positive(t, h.TCP.PAWSDrops)
				assert.Zero(t, h.TCP.ResetsSent)
				return
			}
		}
		t.Error("no host server in the report")
	},
	"dhcp-bad-offer.yaml": func(t *testing.T, rep *scenario.Report) {
		for _, a := range rep.Apps {
			if r, ok := a.Result.(attack.DHCPRogueResult); ok {
				assert.Equal(t, 3, r.Offers, "the broken offers were sent")
			}
		}
		for _, h := range rep.Hosts {
			if h.Name == "client" {
				require.Len(t, h.DHCP, 1)
				assert.Equal(t, "10.10.0.100/24", h.DHCP[0].Address, "the lease comes from the real server's pool")
				return
			}
		}
		t.Error("no host client in the report")
	},
	"dns-pointer-loop.yaml": func(t *testing.T, rep *scenario.Report) {
		for _, a := range rep.Apps {
			if r, ok := a.Result.(attack.DNSBadQueryResult); ok {
				assert.Equal(t, 20, r.Sent)
				assert.Zero(t, r.Other, "every answer to a malformed query is FORMERR")
				return
			}
		}
		t.Error("no dns_bad_query app in the report")
	},
	"fragment-flood.yaml": func(t *testing.T, rep *scenario.Report) {
		for _, h := range rep.Hosts {
			if h.Name == "server" {
				assert.Positive(t, h.IP.ReassemblyMemory, "the reassembly memory limit was reached")
				assert.GreaterOrEqual(t, h.IP.ReassemblyOverlap, uint64(1000), "overlapping datagrams dropped")
				assert.Positive(t, h.IP.ReassemblyPending, "unfinished datagrams held at the end")
				return
			}
		}
		t.Error("no host server in the report")
	},
}

// TestAttackScenarios runs every examples/attacks scenario: it is valid
// against the scenario schema, its expectations pass, its report is valid
// against the report schema, the report shows the defence at work, and its
// captures decode in tshark with no malformed frame and no bad checksum,
// except the frames the attack malforms on purpose (attackMalformed).
func TestAttackScenarios(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "examples", "attacks", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no examples/attacks/*.yaml")
	reportSchema := compileSchema(t, "report.schema.json")
	scenarioSchema := compileSchema(t, "scenario.schema.json")
	tshark, haveTshark := testenv.Optional(t, "tshark", "the capture check of the attack scenarios")
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var doc any
			require.NoError(t, yaml.Unmarshal(raw, &doc))
			asJSON, err := json.Marshal(doc)
			require.NoError(t, err)
			assert.NoError(t, scenarioSchema.Validate(jsonValue(t, asJSON)), "scenario %s", file)

			s, err := scenario.Load(file)
			require.NoError(t, err)
			dir := t.TempDir()
			rep := scnRun(t, file, s.Seed, dir, pcap.PcapNG)
			require.NotEmpty(t, rep.Expectations)
			for _, e := range rep.Expectations {
				assert.True(t, e.Passed, "%s", e)
			}
			assert.True(t, rep.Passed)
			for _, a := range rep.Apps {
				assert.Empty(t, a.Error, a.Name)
			}
			b, err := os.ReadFile(filepath.Join(dir, scenario.ReportFile))
			require.NoError(t, err)
			assert.NoError(t, reportSchema.Validate(jsonValue(t, b)), "report of %s", file)
			check, ok := attackChecks[name]
			require.True(t, ok, "no attackChecks entry for %s", name)
			check(t, rep)

			if !haveTshark {
				return
			}
			for _, c := range append(rep.Captures, rep.SwitchCaptures...) {
				n, bad := tsharkcheck.Problems(t, tshark, filepath.Join(dir, c))
				assert.Positive(t, n, c)
				allowed := attackMalformed[name][c]
				var unexpected, seen []string
				for _, line := range bad {
					frame, _, _ := strings.Cut(line, ";")
					if contains(allowed, frame) {
						seen = append(seen, frame)
					} else {
						unexpected = append(unexpected, line)
					}
				}
				assert.Empty(t, unexpected, "tshark finds problems in %s", c)
				assert.ElementsMatch(t, allowed, seen, "the frames of %s listed as malformed on purpose", c)
			}
		})
	}
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
