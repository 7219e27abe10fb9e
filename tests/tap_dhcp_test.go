package tests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// dnsmasqMinLease is the shortest lease dnsmasq grants: it raises anything
// shorter to two minutes, so T1 (renewal) comes after one.
const dnsmasqMinLease = 2 * time.Minute

// TestTapDHCP: with dnsmasq as DHCP server on the kernel side, taprun
// --dhcp gets a lease, answers ping on the leased address, renews the lease
// at T1 and releases it when it exits.
func TestTapDHCP(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a minute for the lease renewal")
	}
	t.Parallel() // a minute of waiting, in its own namespace
	netns.RequireTools(t, "dnsmasq", "ping")
	ns := tapNS(t)
	dir := t.TempDir()
	leases := filepath.Join(dir, "leases")
	dm := ns.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=tap0", "--bind-interfaces", "--log-dhcp", "--log-facility=-",
		"--dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,2m",
		"--dhcp-option=option:router,192.0.2.1",
		"--dhcp-option=option:dns-server,192.0.2.1",
		"--dhcp-leasefile="+leases, "--pid-file="+filepath.Join(dir, "pid"))
	dm.WaitOutput(t, "DHCP, IP range", 10*time.Second)

	tr := startTaprun(t, ns, "--dhcp")
	tr.WaitOutput(t, "dhcp: bound", 30*time.Second)
	m := regexp.MustCompile(`dhcp: bound (192\.0\.2\.\d+)/24`).FindStringSubmatch(tr.Output())
	require.NotNil(t, m, tr.Output())
	addr := m[1]
	assert.Contains(t, tr.Output(), "router 192.0.2.1")
	dm.WaitOutput(t, "DHCPACK(tap0) "+addr, 5*time.Second)

	ctx := context.Background()
	out, err := ns.Output(ctx, "ping", "-n", "-c", "5", "-i", "0.1", "-W", "2", addr)
	require.NoError(t, err, out)
	assert.Contains(t, out, "5 received")
	lease, err := os.ReadFile(leases)
	require.NoError(t, err)
	assert.Contains(t, string(lease), addr)

	// RFC 2131 section 4.4.5: T1 defaults to half the lease, when the
	// client unicasts a DHCPREQUEST to its server to renew.
	tr.WaitOutput(t, "dhcp: renewed "+addr, dnsmasqMinLease/2+30*time.Second)
	acks := strings.Count(dm.Output(), "DHCPACK(tap0) "+addr)
	assert.GreaterOrEqual(t, acks, 2, dm.Output())

	tr.Stop()
	assert.Contains(t, tr.Output(), "dhcp: released "+addr)
	dm.WaitOutput(t, "DHCPRELEASE(tap0) "+addr, 5*time.Second)
	require.Eventually(t, func() bool {
		lease, err := os.ReadFile(leases)
		return err == nil && !strings.Contains(string(lease), addr)
	}, 5*time.Second, 50*time.Millisecond, "dnsmasq still holds the lease")
}
