package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const scriptServer = `
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 65535 <mss 1000,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
  +.1 < . 1:1(0) ack 1 win 512
   +0 accept(3, ..., ...) = 4
`

var scriptFiles = map[string]string{
	"pass.pkt":        scriptServer + "   +0 write(4, ..., 10) = 10\n   +0 > P. 1:11(10) ack 1\n",
	"late.pkt":        scriptServer + "   +0 write(4, ..., 10) = 10\n +.01 > P. 1:11(10) ack 1\n",
	"python.pkt":      scriptServer + "   +0 %{ assert tcpi_total_retrans == 0 }%\n",
	"jitter.pkt":      scriptServer + "   +0 write(4, ..., 10) = 10\n+.003 > P. 1:11(10) ack 1\n",
	"parse-error.pkt": "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0 win 1\n",
}

func TestScriptCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, src := range scriptFiles {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, tc := range []struct {
		name   string
		files  []string
		opts   scriptOpts
		code   int
		result []scriptLine
	}{
		{name: "pass", files: []string{"pass.pkt"}, code: 0, result: []scriptLine{{Result: "pass"}}},
		{name: "fail", files: []string{"pass.pkt", "late.pkt"}, code: 1, result: []scriptLine{
			{Result: "pass"}, {Result: "fail", Line: 10, Reason: "sent at 0.100000, expected at 0.110000"}}},
		{name: "tolerance", files: []string{"late.pkt"}, opts: scriptOpts{tolerance: 10e6}, code: 0, result: []scriptLine{{Result: "pass"}}},
		{name: "unsupported", files: []string{"python.pkt"}, code: 2, result: []scriptLine{
			{Result: "unsupported", Line: 9, Reason: "tcp_info field tcpi_total_retrans"}}},
		{name: "exact by default", files: []string{"jitter.pkt"}, code: 1, result: []scriptLine{
			{Result: "fail", Line: 10, Reason: "sent at 0.100000, expected at 0.103000"}}},
		{name: "packetdrill tolerance", files: []string{"jitter.pkt"}, opts: scriptOpts{pdTol: true}, code: 0, result: []scriptLine{{Result: "pass"}}},
		{name: "packetdrill tolerance is 4 ms", files: []string{"late.pkt"}, opts: scriptOpts{pdTol: true}, code: 1, result: []scriptLine{
			{Result: "fail", Line: 10, Reason: "expected at 0.110000"}}},
		{name: "parse error", files: []string{"parse-error.pkt"}, code: 2, result: []scriptLine{
			{Result: "unsupported", Line: 2, Reason: "parse error: expected \")\""}}},
		{name: "fail outranks unsupported", files: []string{"python.pkt", "late.pkt"}, code: 1, result: []scriptLine{
			{Result: "unsupported", Line: 9}, {Result: "fail", Line: 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := make([]string, len(tc.files))
			for i, f := range tc.files {
				files[i] = p(f)
			}
			out := t.TempDir()
			o := tc.opts
			o.asJSON, o.out = true, out
			var stdout, stderr bytes.Buffer
			code := runScripts(&stdout, &stderr, files, o)
			assert.Equal(t, tc.code, code)
			assert.Empty(t, stderr.String())
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			require.Len(t, lines, len(tc.result))
			for i, l := range lines {
				var got scriptLine
				require.NoError(t, json.Unmarshal([]byte(l), &got), l)
				assert.Equal(t, files[i], got.File)
				assert.Equal(t, tc.result[i].Result, got.Result, got.Reason)
				assert.Equal(t, tc.result[i].Line, got.Line, got.Reason)
				assert.Contains(t, got.Reason, tc.result[i].Reason)
				if got.Result != "unsupported" || got.Line > 2 {
					// A pcapng (section header block magic) of every run.
					b, err := os.ReadFile(filepath.Join(out, strings.TrimSuffix(tc.files[i], ".pkt")+".pcapng"))
					require.NoError(t, err)
					require.Greater(t, len(b), 4)
					assert.Equal(t, []byte{0x0a, 0x0d, 0x0d, 0x0a}, b[:4])
				}
			}
		})
	}
}

// scriptLine is one JSON line of `simnet script --json`.
type scriptLine struct {
	File   string `json:"file"`
	Result string `json:"result"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func TestScriptCommandText(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "late.pkt")
	require.NoError(t, os.WriteFile(f, []byte(scriptFiles["late.pkt"]), 0o644))
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 1, runScripts(&stdout, &stderr, []string{f}, scriptOpts{}))
	assert.True(t, strings.HasPrefix(stdout.String(), "fail "+f+":10: packet > P. 1:11(10) ack 1 sent at 0.100000, expected at 0.110000"), stdout.String())

	stdout.Reset()
	assert.Equal(t, 2, runScripts(&stdout, &stderr, []string{f}, scriptOpts{tolerance: -1}))
	assert.Equal(t, "simnet script: --tolerance -1ns is negative\n", stderr.String())
	assert.Empty(t, stdout.String())
}

func TestScriptCommandRegistered(t *testing.T) {
	t.Parallel()
	c, _, err := rootCmd.Find([]string{"script"})
	require.NoError(t, err)
	assert.Equal(t, "script", c.Name())
	for _, f := range []string{"json", "out", "tolerance", "packetdrill-tolerance"} {
		assert.NotNil(t, c.Flags().Lookup(f), f)
	}
}
