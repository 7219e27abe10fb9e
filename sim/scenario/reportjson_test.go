package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteJSONMatchesMarshalIndent checks that the report written a list
// element at a time is byte for byte json.MarshalIndent's, for reports of
// real runs (a ping group with its per-flow table and group aggregate, a
// TCP transfer with a timeline) and for reports with empty, nil and
// omitted fields.
func TestWriteJSONMatchesMarshalIndent(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, doc string) *Report {
		rep, err := Run(mustParse(t, doc), Options{Flows: true})
		require.NoError(t, err)
		require.True(t, rep.Passed, "%v", rep.Failed())
		require.NotEmpty(t, rep.Flows)
		return rep
	}
	tests := []struct {
		name string
		rep  func(t *testing.T) *Report
	}{
		{"zero", func(*testing.T) *Report { return &Report{} }},
		{"empty lists", func(*testing.T) *Report {
			return &Report{Scenario: "<&>", Captures: []string{}, Hosts: []HostReport{}, Groups: []GroupReport{}, Flows: []FlowReport{}}
		}},
		{"ping group", func(t *testing.T) *Report { return run(t, pingGroupYAML(5)) }},
		{"tcp transfer", func(t *testing.T) *Report {
			return run(t, `name: tcp
seed: 2
duration: 5s
hosts:
  - {name: a, interfaces: [{name: eth0, address: 192.0.2.1/24}]}
  - {name: b, interfaces: [{name: eth0, address: 192.0.2.2/24}]}
links:
  - {name: ab, a: a:eth0, b: b:eth0, impair: {delay: 5ms}}
apps:
  - {name: sink, type: tcp_recv, host: b, port: 5001, bytes: 20000}
  - {name: send, type: tcp_send, host: a, target: 192.0.2.2:5001, bytes: 20000, start: 100ms}
expect:
  - {app: sink, bytes_verified: true}
`)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := tc.rep(t)
			want, err := json.MarshalIndent(rep, "", "  ")
			require.NoError(t, err)
			var got bytes.Buffer
			require.NoError(t, rep.WriteJSON(&got))
			assert.Equal(t, string(append(want, '\n')), got.String())
		})
	}
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestWriteJSONWriteError checks that a failing writer's error comes back
// wrapped.
func TestWriteJSONWriteError(t *testing.T) {
	t.Parallel()
	err := (&Report{Scenario: "x"}).WriteJSON(failWriter{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write report: disk full")
}
