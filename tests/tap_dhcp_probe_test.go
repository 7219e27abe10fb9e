package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// TestTapDHCPConflict (issue 18 item 6): dnsmasq, told not to ping
// (--no-ping), offers taprun a fixed address (--dhcp-host) that the kernel
// side already uses. taprun probes it with ARP from 0.0.0.0 (RFC 5227
// section 2.1.1), declines it (RFC 2131 section 4.4.1) and ends with
// another address, announced only after its own probe. Restarted with the
// lease file, it asks for that address again from INIT-REBOOT (RFC 2131
// section 3.2): a REQUEST with the address and no server identifier, no
// DISCOVER.
func TestTapDHCPConflict(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "dnsmasq", "tshark")
	const (
		mac   = "02:00:5e:00:53:42"
		taken = "192.0.2.40"
	)
	ns := tapNS(t)
	ns.Run(t, "ip", "addr", "add", taken+"/24", "dev", "tap0")
	dir := t.TempDir()
	dm := ns.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=tap0", "--bind-interfaces", "--log-dhcp", "--log-facility=-", "--no-ping",
		"--dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,1h",
		"--dhcp-host="+mac+","+taken,
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"))
	dm.WaitOutput(t, "DHCP, IP range", 10*time.Second)

	leaseFile := filepath.Join(dir, "taprun.lease")
	pcap1 := filepath.Join(dir, "first.pcapng")
	// taprun says ready only once a lease is bound, after the conflict:
	// start it without waiting for that.
	tr := ns.Start(t, taprunBinary(t), "--tap", "tap0", "--mac", mac, "--dhcp", "--lease-file", leaseFile, "--pcap", pcap1)
	// Probe (up to 7 s), DECLINE, ten seconds' wait, DISCOVER, probe again.
	tr.WaitOutput(t, "dhcp: bound", 45*time.Second)
	out := tr.Output()
	assert.Contains(t, out, "dhcp: probing "+taken+" with ARP")
	assert.Contains(t, out, "dhcp: "+taken+" is in use by another host: declining it")
	m := regexp.MustCompile(`dhcp: bound (192\.0\.2\.\d+)/24`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	addr := m[1]
	assert.NotEqual(t, taken, addr)
	dm.WaitOutput(t, "DHCPDECLINE(tap0) "+taken, 5*time.Second)
	tr.Stop()

	tshark := func(path, filter string, fields ...string) []string {
		t.Helper()
		args := []string{"-n", "-r", path, "-Y", filter, "-T", "fields"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		b, err := exec.Command("tshark", args...).Output()
		require.NoError(t, err, "tshark %s", filter)
		s := strings.TrimSpace(string(b))
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	// Frame numbers of: probes for the taken address (sender 0.0.0.0),
	// the DECLINE, probes for the final address, its first announcement.
	probesTaken := tshark(pcap1, "arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == "+taken+" && eth.src == "+mac, "frame.number")
	decline := tshark(pcap1, "dhcp.option.dhcp == 4 && dhcp.option.requested_ip_address == "+taken, "frame.number")
	probesNew := tshark(pcap1, "arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == "+addr, "frame.number")
	announce := tshark(pcap1, "arp.opcode == 1 && arp.src.proto_ipv4 == "+addr+" && arp.dst.proto_ipv4 == "+addr, "frame.number")
	require.NotEmpty(t, probesTaken, "no ARP probe for %s from 0.0.0.0", taken)
	require.Len(t, decline, 1, "one DHCPDECLINE")
	require.NotEmpty(t, probesNew, "no ARP probe for %s", addr)
	require.NotEmpty(t, announce, "no announcement of %s", addr)
	assert.Empty(t, tshark(pcap1, "arp.src.proto_ipv4 == "+taken+" && eth.src == "+mac, "frame.number"), "the taken address was announced")
	n := func(s string) int {
		var v int
		_, err := fmt.Sscan(s, &v)
		require.NoError(t, err)
		return v
	}
	assert.Less(t, n(probesTaken[len(probesTaken)-1]), n(decline[0]), "probes come before the DECLINE")
	assert.Less(t, n(probesNew[len(probesNew)-1]), n(announce[0]), "the address is announced after its probes")

	// Restart with the lease file: INIT-REBOOT.
	pcap2 := filepath.Join(dir, "second.pcapng")
	tr = startTaprun(t, ns, "--mac", mac, "--dhcp", "--lease-file", leaseFile, "--pcap", pcap2)
	assert.Contains(t, tr.Output(), "dhcp: rebooting: requesting "+addr)
	tr.WaitOutput(t, "dhcp: bound "+addr, 30*time.Second)
	tr.Stop()
	reqs := tshark(pcap2, "dhcp.option.dhcp == 3", "ip.src", "dhcp.ip.client", "dhcp.option.requested_ip_address", "dhcp.option.dhcp_server_id")
	require.NotEmpty(t, reqs)
	assert.Equal(t, "0.0.0.0\t0.0.0.0\t"+addr, reqs[0], "INIT-REBOOT REQUEST: from 0.0.0.0, ciaddr 0, requested address, no server identifier")
	assert.Empty(t, tshark(pcap2, "dhcp.option.dhcp == 1", "frame.number"), "no DISCOVER after a restart with a lease")
}
