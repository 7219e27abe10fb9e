package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/sim/scenario"
)

// requireTshark returns tshark's path, skipping the test without it unless
// SIMNET_REQUIRE=all asks for every tool, then failing.
func requireTshark(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatal("tshark is not installed and SIMNET_REQUIRE=all")
		}
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	return path
}

// switchDrops is a client pinging and sending UDP to a server through a
// switch whose port towards the server loses frames and, with jitter,
// reorders them; the queue towards the client is under CoDel.
const switchDrops = `name: switch-drops
seed: 3
duration: 6s
hosts:
  - {name: client, interfaces: [{name: eth0, address: 192.0.2.1/24}]}
  - {name: server, interfaces: [{name: eth0, address: 192.0.2.2/24}]}
switches:
  - name: sw
links:
  - {name: client-sw, a: client:eth0, b: sw}
  - name: server-sw
    a: server:eth0
    b: sw
    impair:
      b_to_a: {loss: 20%, delay: 5ms, jitter: 4ms}
apps:
  - {name: ping, type: ping, host: client, target: 192.0.2.2, count: 200, interval: 10ms}
  - {name: sink, type: udp_sink, host: server, port: 9000}
  - {name: send, type: udp_send, host: client, target: 192.0.2.2:9000, count: 300, interval: 2ms, start: 1s}
`

// tsharkCount counts the frames of path that filter selects.
func tsharkCount(t *testing.T, tshark, path, filter string) int {
	t.Helper()
	out, err := exec.Command(tshark, "-n", "-r", path, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
	require.NoError(t, err, "tshark %s", filter)
	return strings.Count(string(out), "\n")
}

// TestSwitchToHostDropsInCapture: a frame the link from a switch to a host
// drops appears in the switch's capture, on the port's interface, with the
// drop comment, as tshark reads it; so do the frames jitter reordered, and
// the numbers match report.json's counters (issue 11 finding 7).
func TestSwitchToHostDropsInCapture(t *testing.T) {
	t.Parallel()
	tshark := requireTshark(t)
	s, err := scenario.Parse("switch-drops.yaml", []byte(switchDrops))
	require.NoError(t, err)
	dir := t.TempDir()
	rep, err := scenario.Run(s, scenario.Options{OutDir: dir, Format: pcap.PcapNG})
	require.NoError(t, err)
	require.Equal(t, []string{"sw.pcapng"}, rep.SwitchCaptures)
	var toServer *scenario.LinkReport
	for i := range rep.Links {
		if rep.Links[i].Name == "server-sw" {
			toServer = &rep.Links[i]
		}
	}
	require.NotNil(t, toServer)
	c := toServer.BtoA // sw -> server
	require.Positive(t, c.Dropped)
	require.Positive(t, c.Reordered)

	sw := filepath.Join(dir, "sw.pcapng")
	port := `frame.interface_name == "sw:server-sw"`
	assert.Equal(t, int(c.Offered), tsharkCount(t, tshark, sw, port+` && frame.packet_flags_direction == 2`),
		"every frame the switch sent towards the server is in its capture")
	assert.Equal(t, int(c.Dropped), tsharkCount(t, tshark, sw, port+` && frame.comment contains "dropped by link: random loss"`),
		"every frame dropped between the switch and the server carries the drop comment")
	assert.Equal(t, int(c.Reordered), tsharkCount(t, tshark, sw, port+` && frame.comment contains "jitter: overtook"`))
	assert.Equal(t, int(c.Reordered), tsharkCount(t, tshark, filepath.Join(dir, "server.pcapng"), `frame.comment contains "jitter: overtook"`))
	assert.Zero(t, tsharkCount(t, tshark, sw, "_ws.malformed"))
}
