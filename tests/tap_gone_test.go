package tests

import (
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/netns"
)

// TestTaprunStopsWhenDeviceGoes is finding 9 of issue 11: taprun exits,
// with one error line and status 1, when its namespace is deleted (ip
// netns del) or its device is removed (ip link del), instead of running on
// unseen.
func TestTaprunStopsWhenDeviceGoes(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"ip netns del", "ip link del"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			ns := tapNS(t)
			p := startTaprun(t, ns, "--ip", tapStackCIDR)
			if how == "ip netns del" {
				ns.Delete(t)
			} else {
				ns.Run(t, "ip", "link", "del", "tap0")
			}
			err := p.Wait(5 * time.Second)
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "taprun still runs or exited cleanly (%v); output:\n%s", err, p.Output())
			assert.Equal(t, 1, ee.ExitCode())
			var errLines []string
			for _, l := range strings.Split(p.Output(), "\n") {
				if strings.HasPrefix(l, "taprun: ") && regexp.MustCompile(`deleted|went away|bad state|stopped`).MatchString(l) {
					errLines = append(errLines, l)
				}
			}
			assert.Len(t, errLines, 1, "one line says why: %s", p.Output())
		})
	}
}

// TestTaprunReadyAfterLease is the second half of finding 9: with --dhcp,
// taprun says "ready" only once its lease is bound.
func TestTaprunReadyAfterLease(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "dnsmasq")
	ns := tapNS(t)
	dir := t.TempDir()
	dm := ns.Start(t, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=tap0", "--bind-interfaces", "--log-dhcp", "--log-facility=-",
		"--dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,2m",
		"--dhcp-leasefile="+dir+"/leases", "--pid-file="+dir+"/pid")
	dm.WaitOutput(t, "DHCP, IP range", 10*time.Second)
	p := startTaprun(t, ns, "--dhcp")
	out := p.Output()
	bound, ready := strings.Index(out, "dhcp: bound"), strings.Index(out, "taprun: ready")
	require.GreaterOrEqual(t, bound, 0, "ready before the lease is bound:\n%s", out)
	assert.Less(t, bound, ready, out)
}
