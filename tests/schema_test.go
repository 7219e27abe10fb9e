package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// schemaDir holds the JSON Schemas of report.json and of scenario files.
const schemaDir = "../docs/schema"

// compileSchema compiles docs/schema/NAME.
func compileSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(schemaDir, name))
	require.NoError(t, err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err, name)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource(path, doc))
	s, err := c.Compile(path)
	require.NoError(t, err, name)
	return s
}

// jsonValue decodes b as the validator wants it.
func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	return v
}

// TestSchemasValidateExamples is finding 11 of issue 11: every example
// scenario (and the demo) is valid against docs/schema/scenario.schema.json,
// and the report.json each writes is valid against
// docs/schema/report.schema.json: snake_case keys at every depth, every
// time an integer number of nanoseconds in a _ns key. When a field is added
// to the scenario language or the report, update the schema with it.
func TestSchemasValidateExamples(t *testing.T) {
	t.Parallel()
	reportSchema := compileSchema(t, "report.schema.json")
	scenarioSchema := compileSchema(t, "scenario.schema.json")
	for _, file := range append(scnExamples(t), scnDemo) {
		t.Run(filepath.Base(file), func(t *testing.T) {
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
			scnRun(t, file, s.Seed, dir, pcap.PcapNG)
			rep, err := os.ReadFile(filepath.Join(dir, scenario.ReportFile))
			require.NoError(t, err)
			assert.NoError(t, reportSchema.Validate(jsonValue(t, rep)), "report of %s", file)
		})
	}
}

// TestReportSchemaRejects checks that the report schema can fail: Go field
// names, times in milliseconds, seconds or as text, an unknown counter and
// a missing field.
func TestReportSchemaRejects(t *testing.T) {
	t.Parallel()
	s := compileSchema(t, "report.schema.json")
	dir := t.TempDir()
	scnRun(t, filepath.Join("..", "examples", "point-to-point.yaml"), 1, dir, pcap.PcapNG)
	good, err := os.ReadFile(filepath.Join(dir, scenario.ReportFile))
	require.NoError(t, err)
	require.NoError(t, s.Validate(jsonValue(t, good)))
	bad := map[string]func(m map[string]any){
		"Go field name in hosts[].ip": func(m map[string]any) {
			m["hosts"].([]any)[0].(map[string]any)["ip"].(map[string]any)["FramesIn"] = 1
		},
		"milliseconds in an app result": func(m map[string]any) {
			m["apps"].([]any)[0].(map[string]any)["result"] = map[string]any{"rtt_min_ms": 1.5}
		},
		"_ns as text": func(m map[string]any) {
			m["timeline"] = []any{map[string]any{"at_ns": "5.6s", "host": "a", "what": "x"}}
		},
		"duration as text":     func(m map[string]any) { m["duration_ns"] = "30s" },
		"no interrupted field": func(m map[string]any) { delete(m, "interrupted") },
		"qdisc sojourn in seconds": func(m map[string]any) {
			m["links"].([]any)[0].(map[string]any)["a_to_b"].(map[string]any)["qdisc"] = map[string]any{
				"qdisc": "codel", "enqueued": 1, "dequeued": 1, "drops": 0, "drops_overlimit": 0, "drops_congestion": 0, "marks": 0,
				"sojourn": map[string]any{"count": 1, "p50_s": 0.001, "p99_s": 0.001, "max_s": 0.001},
			}
		},
		"unknown link counter": func(m map[string]any) {
			m["links"].([]any)[0].(map[string]any)["b_to_a"].(map[string]any)["dropped_aqm_total"] = 1
		},
		"traceroute probe in milliseconds": func(m map[string]any) {
			a := m["apps"].([]any)[0].(map[string]any)
			a["type"] = "traceroute"
			a["result"] = map[string]any{"target": "192.0.2.2", "reached": true, "errors": 0, "hops": []any{
				map[string]any{"ttl": 1, "addr": "192.0.2.2", "probes": []any{map[string]any{"addr": "192.0.2.2", "rtt": 1.5}}},
			}}
		},
		"group rtt as text": func(m map[string]any) {
			m["groups"] = []any{map[string]any{"app": "p", "type": "ping", "host": "g", "members": 2, "errors": 0,
				"rtt": map[string]any{"n": 2, "sum_ns": "4ms", "min_ns": 1, "p50_ns": 1, "p99_ns": 1, "max_ns": 1}}}
		},
		"no switch_captures field": func(m map[string]any) { delete(m, "switch_captures") },
		"flow delay as text": func(m map[string]any) {
			f := m["flows"].([]any)[0].(map[string]any)
			f["delay_mean_ns"] = "1ms"
		},
		"flow without lost_packets": func(m map[string]any) {
			delete(m["flows"].([]any)[0].(map[string]any), "lost_packets")
		},
		"interval goodput in Mbit/s": func(m map[string]any) {
			m["apps"].([]any)[0].(map[string]any)["intervals"] = []any{map[string]any{"start_ns": 0, "end_ns": 1, "bytes": 1, "mbps": 1.0}}
		},
	}
	for name, spoil := range bad {
		var m map[string]any
		require.NoError(t, json.Unmarshal(good, &m))
		spoil(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		assert.Error(t, s.Validate(jsonValue(t, b)), name)
	}
}
