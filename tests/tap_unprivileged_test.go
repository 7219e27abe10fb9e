package tests

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/simnet-go/simnet/internal/netns"
)

// nobodyUID is the uid (and gid) of the user "nobody" on Debian.
const nobodyUID = "65534"

// publicDir makes a directory that every user can read (unlike
// t.TempDir, whose parent only its owner may enter), removed when t ends.
func publicDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "simnet-public-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// procIDs returns the Uid, Gid and CapEff lines of /proc/PID/status.
func procIDs(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	require.NoError(t, err)
	ids := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && (k == "Uid" || k == "Gid" || k == "Groups" || k == "CapEff") {
			ids[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return ids
}

// TestTapUnprivileged: taprun serves ping, HTTP and DNS as uid nobody, both
// started as nobody on a tap owned by nobody and started as root with
// --user nobody; /proc shows it runs as nobody with no capabilities. The
// zone file is private to root: --user reads it before dropping, so only
// the directory served over HTTP must be readable by nobody.
func TestTapUnprivileged(t *testing.T) {
	t.Parallel()
	netns.RequireTools(t, "setpriv", "ping", "curl", "dig")
	page := "served by nobody\n"
	web := publicDir(t, map[string]string{"index.html": page})
	pubZone := filepath.Join(publicDir(t, map[string]string{"example.test.zone": testZone}), "example.test.zone")
	privZone := filepath.Join(t.TempDir(), "example.test.zone")
	require.NoError(t, os.WriteFile(privZone, []byte(testZone), 0o600))

	for _, tc := range []struct {
		name   string
		tapCmd []string // ip tuntap add arguments after the device name
		prefix []string // runs taprun through this
		zone   string
		extra  []string
		groups string // supplementary groups in /proc/PID/status
	}{
		{
			name:   "as nobody on its own tap",
			tapCmd: []string{"mode", "tap", "user", "nobody"},
			prefix: append(openTunPrefix(t), "setpriv", "--reuid="+nobodyUID, "--regid="+nobodyUID, "--clear-groups"),
			zone:   pubZone,
			groups: "", // setpriv --clear-groups
		},
		{
			name:   "as root with --user nobody",
			tapCmd: []string{"mode", "tap"},
			zone:   privZone,
			extra:  []string{"--user", "nobody"},
			groups: nobodyUID, // nobody's group nogroup, from /etc/group
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := netns.New(t)
			ns.Run(t, "ip", append([]string{"tuntap", "add", "dev", "tap0"}, tc.tapCmd...)...)
			ns.Run(t, "ip", "addr", "add", tapKernelCIDR, "dev", "tap0")
			ns.Run(t, "ip", "link", "set", "tap0", "up")
			args := append([]string{}, tc.prefix...)
			args = append(args, taprunBinary(t), "--tap", "tap0", "--ip", tapStackCIDR,
				"--http", "80:"+web, "--dns", "53", "--zone", tc.zone)
			args = append(args, tc.extra...)
			p := ns.Start(t, args[0], args[1:]...)
			p.WaitOutput(t, "ready", 15*time.Second)

			ids := procIDs(t, p.Pid())
			assert.Equal(t, "65534 65534 65534 65534", ids["Uid"], "real, effective, saved and fs uid")
			assert.Equal(t, "65534 65534 65534 65534", ids["Gid"], "real, effective, saved and fs gid")
			assert.Equal(t, tc.groups, ids["Groups"], "supplementary groups")
			assert.Equal(t, "0000000000000000", ids["CapEff"], "effective capabilities")

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := ns.Output(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "2", tapStackIP)
			require.NoError(t, err, out)
			assert.Contains(t, out, "3 received")
			out, err = ns.Output(ctx, "curl", "-sS", "--fail", "-m", "5", "http://"+tapStackIP+"/index.html")
			require.NoError(t, err, out)
			assert.Equal(t, page, out)
			for _, transport := range []string{"+notcp", "+tcp"} {
				out, err = ns.Output(ctx, "dig", "@"+tapStackIP, "+tries=2", "+time=3", transport, "+short", "www.example.test", "A")
				require.NoError(t, err, out)
				assert.Equal(t, "192.0.2.80", strings.TrimSpace(out), "dig %s", transport)
			}
		})
	}
}

// openTunPrefix returns a command prefix that runs the rest in a private
// mount namespace where /dev/net/tun is a node every user may open, as on a
// stock Debian (udev makes it 0666). Machines whose /dev/net/tun is 0600
// (some containers) would otherwise refuse an unprivileged taprun for a
// reason that has nothing to do with taprun; the host's node is not touched.
func openTunPrefix(t *testing.T) []string {
	t.Helper()
	node := filepath.Join(t.TempDir(), "tun")
	require.NoError(t, unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))), "mknod a tun node")
	require.NoError(t, os.Chmod(node, 0o666))
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /dev/net/tun && exec "$@"`, node}
}

// TestTapUserUnreadableDir: with --user, a served directory the user cannot
// read is refused at start with one clear line, not a 404 per request.
func TestTapUserUnreadableDir(t *testing.T) {
	t.Parallel()
	ns := tapNS(t)
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700)) // root's alone: no search permission for nobody
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte("secret\n"), 0o600))
	p := ns.Start(t, taprunBinary(t), "--tap", "tap0", "--ip", tapStackCIDR, "--http", "80:"+dir, "--user", "nobody")
	err := p.Wait(15 * time.Second)
	require.Error(t, err, "taprun must exit")
	assert.Regexp(t, regexp.MustCompile(`--http .*: not readable as user nobody \(it needs r-x on the directory and r on the files\)`), p.Output())
	assert.NotContains(t, p.Output(), "ready")
}
