package sim

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
)

// pingWorld runs two stack hosts on a switch over impaired links, host a
// pinging host b 200 times, and returns the capture directory and the
// number of replies.
func pingWorld(t *testing.T, seed uint64) (string, int) {
	dir := t.TempDir()
	w := newWorld(t, Config{Seed: seed, CaptureDir: dir})
	sw, err := w.NewSwitch("sw", SwitchConfig{})
	require.NoError(t, err)
	imp := impair.Config{Loss: 0.05, Delay: 2 * time.Millisecond, Jitter: time.Millisecond, Duplicate: 0.02, Corrupt: 0.05}
	var pingers []*pinger
	for i, name := range []string{"a", "b"} {
		l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, LinkConfig{AtoB: imp, BtoA: imp})
		require.NoError(t, err)
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		h.AddInterface("eth0", ether.Addr(mac(i+1)), l.A()).SetAddress(netip.PrefixFrom(hostAddr(i+1), 24))
		p := &pinger{w: w, h: h, dst: hostAddr(2 - i), payload: make([]byte, 56)}
		p.timer.Init(p)
		h.SetEchoReplyHandler(p)
		pingers = append(pingers, p)
	}
	w.At(Epoch.Add(time.Second), func(clock.Time) { pingers[0].start(200, 10*time.Millisecond) })
	w.RunFor(10 * time.Second)
	require.NoError(t, w.Close())
	return dir, pingers[0].replies
}

func TestStackHostsDeterministic(t *testing.T) {
	d1, r1 := pingWorld(t, 9)
	d2, r2 := pingWorld(t, 9)
	assert.Equal(t, r1, r2)
	// Four link crossings, each losing 5% and corrupting 5% (dropped by
	// checksums): about (0.95*0.95)^4 = 66% of the pings come back.
	assert.Greater(t, r1, 100)
	assert.Less(t, r1, 170)
	for _, h := range []string{"a", "b"} {
		b1, err := os.ReadFile(filepath.Join(d1, h+".pcapng"))
		require.NoError(t, err)
		b2, err := os.ReadFile(filepath.Join(d2, h+".pcapng"))
		require.NoError(t, err)
		assert.Equal(t, b1, b2, "%s.pcapng differs between identical runs", h)
	}

	tshark := testenv.Tool(t, "tshark")
	var stderr bytes.Buffer
	cmd := exec.Command(tshark, "-n", "-r", filepath.Join(d1, "b.pcapng"), "-T", "fields", "-E", "separator=|",
		"-e", "frame.interface_name", "-e", "icmp.type", "-e", "frame.comment")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark: %s", stderr.String())
	var requests, replies, corrupted int
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		require.Len(t, f, 3, line)
		assert.Equal(t, "b:eth0", f[0])
		switch f[1] {
		case "8":
			requests++
		case "0":
			replies++
		}
		if strings.Contains(f[2], "corrupted by link") {
			corrupted++
		}
	}
	assert.Greater(t, requests, 130)
	assert.Greater(t, replies, 130)
	assert.Positive(t, corrupted)
}
