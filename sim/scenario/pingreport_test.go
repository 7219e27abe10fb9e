package scenario

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPingReportWithoutReplies is finding 10 of issue 11: a ping that
// could send nothing (no route) or got no reply says so in the summary and
// in the expectation text, with the host's error, instead of "0.0% loss"
// and round-trip times of zero.
func TestPingReportWithoutReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target string
		summary      []string
		messages     []string
	}{
		{
			name: "no route", target: "192.0.2.9",
			summary: []string{"p            ping     on a: nothing sent; 3 not sent: ", "no route to host"},
			messages: []string{"got 0 replies to 0 requests; 3 not sent: ",
				"no requests sent, so no loss to measure; 3 not sent: "},
		},
		{
			name: "silent peer", target: "10.0.0.3",
			summary:  []string{"p            ping     on a: 3 sent, no replies, 100.0% loss\n"},
			messages: []string{"got 0 replies to 3 requests", "no replies: 100.0% loss (3 of 3 unanswered)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := mustParse(t, `name: t
duration: 10s
hosts:
  - {name: a, interfaces: [{name: e, address: 10.0.0.1/24}]}
  - {name: b, interfaces: [{name: e, address: 10.0.0.2/24}]}
links: [{name: ab, a: a:e, b: b:e}]
apps: [{name: p, type: ping, host: a, target: `+tt.target+`, count: 3, interval: 1s}]
expect:
  - {app: p, min_replies: 1, max_loss: 10%}
`)
			rep, err := Run(s, Options{})
			require.NoError(t, err)
			var b bytes.Buffer
			require.NoError(t, rep.WriteSummary(&b))
			for _, want := range tt.summary {
				assert.Contains(t, b.String(), want)
			}
			assert.NotContains(t, b.String(), "0.000/0.000/0.000")
			assert.NotContains(t, b.String(), "0.0% loss (0 of 0")
			require.Len(t, rep.Expectations, 2)
			for i, want := range tt.messages {
				assert.False(t, rep.Expectations[i].Passed)
				assert.Contains(t, rep.Expectations[i].Message, want)
			}
		})
	}
}
