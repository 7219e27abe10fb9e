package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCapture(t *testing.T) {
	t.Parallel()
	s, err := Parse("g.yaml", []byte(grouped+"capture: {hosts: [srv, cli], switches: [sw], snaplen: 128}\n"))
	require.NoError(t, err)
	assert.Equal(t, &Capture{Hosts: []string{"srv", "cli1", "cli2", "cli3"}, Switches: []string{"sw"}, SnapLen: 128, Line: 25}, s.Capture)

	s, err = Parse("g.yaml", []byte(grouped+"capture: {hosts: [], switches: null}\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{}, s.Capture.Hosts, "an empty list captures no host")
	assert.Equal(t, []string{}, s.Capture.Switches)

	s, err = Parse("g.yaml", []byte(grouped+"capture: {snaplen: 96}\n"))
	require.NoError(t, err)
	assert.Nil(t, s.Capture.Hosts, "no list captures every host")

	for _, c := range []struct{ doc, want string }{
		{"capture: {hosts: [nobody]}", `g.yaml:25: field "capture.hosts": no host or host group named "nobody"`},
		{"capture: {switches: [srv]}", `g.yaml:25: field "capture.switches": no switch named "srv"`},
		{"capture: {snaplen: 10}", `g.yaml:25: field "capture.snaplen": 10 is out of range [54, 262144]`},
		{"capture: {hosts: srv}", `g.yaml:25: field "capture.hosts": want a list, got "srv"`},
		{"capture: {files: 3}", `g.yaml:25: field "capture.files": unknown field (want one of hosts, switches, snaplen)`},
	} {
		_, err := Parse("g.yaml", []byte(grouped+c.doc+"\n"))
		assert.EqualError(t, err, c.want)
	}
}

// TestRunCaptureSelection runs the grouped scenario with a capture block
// and with each capture mode, and checks which files appear, the snapshot
// length and the names in the captures.
func TestRunCaptureSelection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		block string
		mode  CaptureMode
		want  []string
		// wantSwitches are the switch captures (a block that does not
		// name switches keeps every switch).
		wantSwitches []string
	}{
		{"block selects a group member and the server", "capture: {hosts: [srv, cli2], snaplen: 64}\n", CaptureFile, []string{"srv.pcapng", "cli2.pcapng"}, []string{"sw.pcapng"}},
		{"block selects the group and no switch", "capture: {hosts: [cli], switches: []}\n", CaptureFile, []string{"cli1.pcapng", "cli2.pcapng", "cli3.pcapng"}, []string{}},
		{"no block", "", CaptureFile, []string{"srv.pcapng", "cli1.pcapng", "cli2.pcapng", "cli3.pcapng"}, []string{"sw.pcapng"}},
		{"all overrides the block", "capture: {hosts: [], switches: []}\n", CaptureAll, []string{"srv.pcapng", "cli1.pcapng", "cli2.pcapng", "cli3.pcapng"}, []string{"sw.pcapng"}},
		{"hosts overrides the block", "capture: {hosts: [srv]}\n", CaptureHosts, []string{"srv.pcapng", "cli1.pcapng", "cli2.pcapng", "cli3.pcapng"}, []string{}},
		{"none", "", CaptureNone, []string{}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			doc := strings.Replace(grouped, "duration: 20s", "duration: 3s", 1)
			doc = strings.Replace(doc, "bytes: 64KiB", "bytes: 8KiB", 1)
			doc = strings.Replace(doc, "min_bytes: 64KiB", "min_bytes: 8KiB", 1)
			doc = strings.Replace(doc, "  - {at: 10s, link: cli-sw, action: down}\n", "", 1)
			doc = strings.Replace(doc, "schedule:\n", "", 1)
			s, err := Parse("g.yaml", []byte(doc+c.block))
			require.NoError(t, err)
			dir := t.TempDir()
			rep, err := Run(s, Options{OutDir: dir, Capture: c.mode})
			require.NoError(t, err)
			require.True(t, rep.Passed, "%v", rep.Failed())
			assert.Equal(t, c.want, rep.Captures)
			assert.Equal(t, c.wantSwitches, rep.SwitchCaptures)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Len(t, entries, len(c.want)+len(c.wantSwitches))
			for _, f := range c.want {
				b, err := os.ReadFile(filepath.Join(dir, f))
				require.NoError(t, err)
				r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
				require.NoError(t, err)
				n := 0
				for {
					data, ci, err := r.ReadPacketData()
					if err != nil {
						break
					}
					n++
					if s.Capture != nil && s.Capture.SnapLen > 0 {
						assert.LessOrEqual(t, len(data), s.Capture.SnapLen)
						assert.GreaterOrEqual(t, ci.Length, len(data))
					}
				}
				assert.Positive(t, n, f)
				// Every capture names every host.
				names := map[string]string{}
				for i := range r.NNames() {
					nr, err := r.Name(i)
					require.NoError(t, err)
					ip, ok := nr.Addr.(*pcapgo.NgIPAddress)
					require.True(t, ok)
					names[ip.Addr.String()] = nr.Names[0]
				}
				assert.Equal(t, map[string]string{"10.0.0.1": "srv", "10.0.0.10": "cli1", "10.0.0.11": "cli2", "10.0.0.12": "cli3"}, names, f)
			}
		})
	}
}
