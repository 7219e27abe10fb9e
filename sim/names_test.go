package sim

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link/pcap"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/stack"
)

// memCapture is a capture output kept in memory.
type memCapture struct{ bytes.Buffer }

// Close does nothing.
func (*memCapture) Close() error { return nil }

// pingPair runs a (10.0.0.1) pinging b (10.0.0.2) on a switch, with the
// world given names first, and returns the captures by file name.
func pingPair(t *testing.T, cfg Config, names []pcap.Name) map[string]*memCapture {
	t.Helper()
	out := map[string]*memCapture{}
	cfg.Seed = 1
	// Only the hosts' captures: the switch's is tested elsewhere.
	cfg.CaptureSwitch = func(string) bool { return false }
	cfg.CaptureOpen = func(name string) (io.Writer, error) {
		b := &memCapture{}
		out[name] = b
		return b, nil
	}
	w := newWorld(t, cfg)
	sw, err := w.NewSwitch("sw", SwitchConfig{})
	require.NoError(t, err)
	var p *pinger
	for i, name := range []string{"a", "b"} {
		l, err := w.ConnectSwitch("l-"+name, Iface{name, "eth0"}, sw, LinkConfig{})
		require.NoError(t, err)
		h := stack.New(stack.Config{Name: name, Clock: w.Clock(), Rand: w.Rand("host/" + name)})
		h.AddInterface("eth0", ether.Addr(mac(i+1)), l.A()).SetAddress(netip.PrefixFrom(hostAddr(i+1), 16))
		if i == 0 {
			p = &pinger{w: w, h: h, dst: hostAddr(2), payload: make([]byte, 200)}
			p.timer.Init(p)
			h.SetEchoReplyHandler(p)
		}
	}
	require.NoError(t, w.AddNames(names))
	w.At(Epoch.Add(time.Second), func(clock.Time) { p.start(3, time.Second) })
	w.RunFor(5 * time.Second)
	require.NoError(t, w.Close())
	require.Equal(t, 3, p.replies)
	return out
}

// captureNames returns the names of a capture ("addr name") and its
// frames' captured lengths.
func captureNames(t *testing.T, b []byte) ([]string, []int) {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	var lens []int
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		lens = append(lens, len(data))
	}
	var names []string
	for i := range r.NNames() {
		nr, err := r.Name(i)
		require.NoError(t, err)
		names = append(names, nr.Addr.(*pcapgo.NgIPAddress).Addr.String()+" "+nr.Names[0])
	}
	return names, lens
}

// TestCaptureNamesAndSelection: a few names go into every capture up
// front; past eagerNames each capture names only the addresses its frames
// carry; CaptureHost picks the captured hosts and SnapLen truncates.
func TestCaptureNamesAndSelection(t *testing.T) {
	t.Parallel()
	few := []pcap.Name{{Addr: hostAddr(1), Name: "a"}, {Addr: hostAddr(2), Name: "b"}, {Addr: hostAddr(3), Name: "c"}}
	var many []pcap.Name
	for i := 1; i <= eagerNames+10; i++ {
		many = append(many, pcap.Name{Addr: hostAddr(i), Name: "h" + itoa(i)})
	}
	t.Run("eager", func(t *testing.T) {
		t.Parallel()
		caps := pingPair(t, Config{}, few)
		require.Len(t, caps, 2)
		for _, f := range []string{"a.pcapng", "b.pcapng"} {
			names, _ := captureNames(t, caps[f].Bytes())
			assert.Equal(t, []string{"10.0.0.1 a", "10.0.0.2 b", "10.0.0.3 c"}, names, f)
		}
	})
	t.Run("lazy", func(t *testing.T) {
		t.Parallel()
		caps := pingPair(t, Config{}, many)
		for _, f := range []string{"a.pcapng", "b.pcapng"} {
			names, _ := captureNames(t, caps[f].Bytes())
			assert.ElementsMatch(t, []string{"10.0.0.1 h1", "10.0.0.2 h2"}, names, f)
		}
	})
	t.Run("selection and snaplen", func(t *testing.T) {
		t.Parallel()
		caps := pingPair(t, Config{CaptureHost: func(h string) bool { return h == "b" }, SnapLen: 60}, few)
		require.Len(t, caps, 1)
		require.Contains(t, caps, "b.pcapng")
		_, lens := captureNames(t, caps["b.pcapng"].Bytes())
		require.NotEmpty(t, lens)
		assert.Equal(t, 60, lens[len(lens)-1], "a 242-byte echo reply is cut at 60")
		for _, n := range lens {
			assert.LessOrEqual(t, n, 60)
		}
	})
}
