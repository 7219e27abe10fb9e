package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/app/tcpapps"
	"github.com/simnet-go/simnet/link/impair"
)

// TestHostTCPKeys checks a host's cc and ecn keys and the link
// expectation's keys.
func TestHostTCPKeys(t *testing.T) {
	t.Parallel()
	doc := strings.Replace(valid, "  - name: a\n", "  - name: a\n    cc: bbr\n    ecn: true\n", 1) +
		"expect:\n  - {link: l1, direction: b_to_a, min_marks: 3, max_drops: 0}\n"
	s, err := Parse("v.yaml", []byte(doc))
	require.NoError(t, err)
	assert.Equal(t, "bbr", s.Hosts[0].CC)
	assert.True(t, s.Hosts[0].ECN)
	assert.Empty(t, s.Hosts[1].CC)
	assert.False(t, s.Hosts[1].ECN)
	require.Len(t, s.Expect, 1)
	e := s.Expect[0]
	assert.Equal(t, "l1", e.Link)
	assert.Equal(t, "b_to_a", e.Direction)
	require.NotNil(t, e.MinMarks)
	require.NotNil(t, e.MaxDrops)
	assert.EqualValues(t, 3, *e.MinMarks)
	assert.EqualValues(t, 0, *e.MaxDrops)
}

func TestHostTCPKeyErrors(t *testing.T) {
	t.Parallel()
	host := func(keys string) string {
		return strings.Replace(valid, "  - name: a\n", "  - name: a\n"+keys, 1)
	}
	for _, c := range []struct{ name, doc, want string }{
		{"unknown cc", host("    cc: vegas\n"),
			`f.yaml:5: field "hosts[0].cc": unknown congestion control "vegas" (want newreno, cubic or bbr)`},
		{"ecn not a bool", host("    ecn: on\n"),
			`f.yaml:5: field "hosts[0].ecn": invalid boolean "on" (want true or false)`},
		{"no such link", valid + "expect:\n  - {link: l9, direction: a_to_b, min_marks: 1}\n",
			`f.yaml:18: field "expect[0].link": no link named "l9"`},
		{"bad direction", valid + "expect:\n  - {link: l1, direction: up, min_marks: 1}\n",
			`f.yaml:18: field "expect[0].direction": want a_to_b or b_to_a, got "up"`},
		{"no condition", valid + "expect:\n  - {link: l1, direction: a_to_b}\n",
			`f.yaml:18: field "expect[0].link": an expectation on a link needs min_marks or max_drops`},
		{"marks without link", valid + "expect:\n  - {app: p, min_replies: 1, min_marks: 1}\n",
			`f.yaml:18: field "expect[0].min_marks": min_marks needs link`},
		{"cc on tcp_recv", valid + "  - {name: t, type: tcp_recv, host: b, port: 80, bytes: 1KiB, cc: bbr}\n",
			`f.yaml:17: field "apps[3].cc": not used by a tcp_recv app`},
		{"unknown app cc", valid + "  - {name: t, type: tcp_send, host: a, target: 10.0.0.2:80, bytes: 1KiB, cc: reno}\n",
			`f.yaml:17: field "apps[3].cc": unknown congestion control "reno" (want newreno, cubic or bbr)`},
		{"link and app", valid + "expect:\n  - {app: p, link: l1, direction: a_to_b, max_drops: 1}\n",
			`f.yaml:18: field "expect[0].link": give one of app, host or link`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("f.yaml", []byte(c.doc))
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// TestEvaluateLink checks link expectations against a link's counters,
// in the direction named.
func TestEvaluateLink(t *testing.T) {
	t.Parallel()
	one, three := uint64(1), uint64(3)
	links := []LinkReport{{Name: "l1", AtoB: impair.Counters{Marked: 5, Dropped: 2}, BtoA: impair.Counters{Marked: 0, Dropped: 0}}}
	for _, c := range []struct {
		name       string
		e          Expectation
		wantPassed []bool
	}{
		{"a_to_b marks and drops", Expectation{Link: "l1", Direction: dirAtoB, MinMarks: &three, MaxDrops: &one}, []bool{true, false}},
		{"b_to_a", Expectation{Link: "l1", Direction: dirBtoA, MinMarks: &one, MaxDrops: &one}, []bool{false, true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := evaluateLink(c.e, links)
			require.Len(t, res, len(c.wantPassed))
			for i, r := range res {
				assert.Equal(t, c.wantPassed[i], r.Passed, "%s", r)
			}
		})
	}
}

// TestRunCongestionControlAndECN runs two transfers over a lossy
// bottleneck with ECN marking: the host's cc and a tcp_send's own cc both
// reach the connections (their counters name the algorithm), and ECN is
// negotiated between the ecn hosts.
func TestRunCongestionControlAndECN(t *testing.T) {
	t.Parallel()
	s, err := Parse("cc.yaml", []byte(`name: cc
duration: 5s
hosts:
  - {name: a, cc: newreno, ecn: true, interfaces: [{name: eth0, address: 10.0.0.1/24}]}
  - {name: b, ecn: true, interfaces: [{name: eth0, address: 10.0.0.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 5ms, a_to_b: {rate: 10Mbit, qdisc: codel, ecn: true}}}
apps:
  - {name: r1, type: tcp_recv, host: b, port: 5001, bytes: 256KiB}
  - {name: r2, type: tcp_recv, host: b, port: 5002, bytes: 256KiB}
  - {name: s1, type: tcp_send, host: a, target: 10.0.0.2:5001, bytes: 256KiB}
  - {name: s2, type: tcp_send, host: a, target: 10.0.0.2:5002, bytes: 256KiB, cc: bbr}
expect:
  - {app: r1, bytes_verified: true}
  - {app: r2, bytes_verified: true}
`))
	require.NoError(t, err)
	assert.Equal(t, "bbr", s.Apps[3].CC)
	rep, err := Run(s, Options{})
	require.NoError(t, err)
	require.True(t, rep.Passed, "%v", rep.Expectations)
	want := map[string]string{"s1": "newreno", "s2": "bbr"}
	for _, a := range rep.Apps {
		cc, ok := want[a.Name]
		if !ok {
			continue
		}
		res, ok := a.Result.(tcpapps.BulkResult)
		require.True(t, ok, "%T", a.Result)
		assert.Equal(t, cc, res.TCP.CongestionControl, a.Name)
		assert.True(t, res.TCP.ECN, "%s negotiated ECN", a.Name)
	}
}
