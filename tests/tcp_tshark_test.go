package tests

import (
	"bytes"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/gvisorpeer"
	"github.com/simnet-go/simnet/internal/testenv"
	"github.com/simnet-go/simnet/link/impair"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/stack"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/sim"
)

// tsharkBadFilter selects the frames Wireshark finds wrong: malformed,
// with an expert error (PI_ERROR, 0x00800000) or with a bad IP, UDP or TCP
// checksum (status 0 is "Bad").
const tsharkBadFilter = "_ws.malformed || _ws.expert.severity >= 0x00800000 || ip.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0"

// tcpTsharkResent are the analysis flags Wireshark puts on a data, SYN or
// FIN segment that does not advance the sender's highest sequence number
// (a fast retransmission carries tcp.analysis.retransmission too, so
// frames are counted once with the flags or-ed).
var tcpTsharkResent = []string{
	"tcp.analysis.retransmission",
	"tcp.analysis.fast_retransmission",
	"tcp.analysis.spurious_retransmission",
	"tcp.analysis.out_of_order",
}

// TestTCPTsharkRetransmissions runs simnet-to-simnet bulk transfers across
// lossy, reordering and duplicating links with captures on, then decodes
// both hosts' captures with tshark's TCP analysis and checksum validation.
// No frame may be malformed, carry a bad checksum or an expert error, and
// the segments tshark flags as resent must be exactly the ones our sender
// counts in ConnStats.Retransmits (timeout and fast retransmissions, SACK
// hole fills and resent SYNs and FINs alike).
//
// The comparison is made on the sender's own capture, where every
// outgoing frame is recorded as the stack sent it, before the link drops,
// duplicates or reorders it. That makes two of tshark's classifications
// ours too: a segment tshark calls "out-of-order" (sent within one initial
// RTT of the highest segment and not matching a duplicate ACK) cannot have
// been reordered by a network that it has not crossed yet, so it is a
// retransmission we made (typically a SACK hole fill interleaved with new
// data); and a "spurious retransmission" (already acknowledged when sent,
// as far as the capture shows) is a go-back-N resend after a timeout. The
// receiver's capture is not used for the count: there a frame the link
// duplicated, or a segment it delayed past later ones, is flagged too. The
// per-flag split is logged. The syn-lost case loses the first two SYNs, so
// resent SYNs are compared as well; the zero-window cases make the sender
// probe a full receive buffer, whose refused probe bytes neither side
// counts as retransmitted.
func TestTCPTsharkRetransmissions(t *testing.T) {
	t.Parallel()
	tshark := testenv.Tool(t, "tshark")
	size := 4 << 20
	if testing.Short() || tcpRaceEnabled {
		// 1 MB still meets every impairment hundreds of times.
		size = 1 << 20
	}
	const d = 5 * time.Millisecond
	cases := []struct {
		name string
		imp  impair.Config
		// resent is "none" when the link gives the sender no reason to
		// resend, "some" when it must, "" when either may happen.
		resent string
		// synLost loses everything host a sends for 1.5 s from its
		// first SYN: the SYN and its first retransmission.
		synLost bool
		// slowReader has the receiver read every second from a 16 KiB
		// buffer, so that the sender meets zero windows.
		slowReader bool
	}{
		{"clean", impair.Config{Delay: d}, "none", false, false},
		{"zero-window", impair.Config{Delay: d}, "none", false, true},
		{"zero-window-loss2", impair.Config{Delay: d, Loss: 0.02}, "some", false, true},
		{"syn-lost", impair.Config{Delay: d}, "some", true, false},
		{"loss1", impair.Config{Delay: d, Loss: 0.01}, "some", false, false},
		{"loss5", impair.Config{Delay: d, Loss: 0.05}, "some", false, false},
		{"gilbert-elliott", impair.Config{Delay: d, Burst: impair.GilbertElliott{P: 0.005, R: 0.3, LossBad: 1}}, "some", false, false},
		{"reorder", impair.Config{Delay: d, Reorder: 0.05, ReorderDelay: 2 * time.Millisecond}, "", false, false},
		{"duplicate", impair.Config{Delay: d, Duplicate: 0.05}, "none", false, false},
		{"mixed", impair.Config{Delay: d, Jitter: time.Millisecond, Loss: 0.02, Duplicate: 0.02, Reorder: 0.02, ReorderDelay: 3 * time.Millisecond, Rate: 50e6, QueuePackets: 64}, "some", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := tcp.Config{}
			readEvery := time.Duration(0)
			if tc.slowReader {
				cfg.RecvBuffer = 16 << 10
				readEvery = time.Second
			}
			pw := newTCPPairWorldOn(t, sim.Config{Seed: 11, CaptureDir: dir}, sim.LinkConfig{AtoB: tc.imp, BtoA: tc.imp}, cfg)
			if tc.synLost {
				tcpResolveAtoB(t, pw)
				l := pw.w.Link("wire")
				require.NoError(t, l.SetImpair(sim.AtoB, impair.Config{Delay: d, Loss: 1}))
				require.NoError(t, l.ScheduleImpair(pw.w.Now().Add(1500*time.Millisecond), sim.AtoB, tc.imp))
			}
			st := tcpBulkAtoB(t, pw, size, readEvery)
			if tc.synLost {
				assert.Equal(t, uint64(2), st.TimeoutRetransmits, "two SYN timeouts")
			}
			require.NoError(t, pw.w.Close())
			capture := pw.w.CapturePath("a")

			for _, host := range []string{"a", "b"} {
				bad := tsharkLines(t, tshark, pw.w.CapturePath(host), "-Y", tsharkBadFilter, "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message")
				assert.Empty(t, bad, "%s: frames Wireshark finds malformed, in error or with bad checksums", host)
			}

			// One tshark pass over the sender's capture gives every count:
			// a field of each analysis flag is non-empty on the frames
			// that carry it, as "-Y flag" would select them.
			split, total, sent, probes := tcpTsharkSenderCounts(t, tshark, capture, st.Local.Port())
			assert.Equal(t, int(st.SegmentsSent), sent, "segments our sender counts vs frames in its capture")
			assert.Equal(t, int(st.Retransmits), total, "segments tshark flags as resent (%s) vs ConnStats.Retransmits", strings.Join(split, " "))
			if tc.slowReader {
				assert.NotZero(t, probes, "the sender probed zero windows")
			}
			switch tc.resent {
			case "none":
				assert.Zero(t, st.Retransmits, "nothing was lost")
			case "some":
				assert.Positive(t, st.Retransmits, "the link's losses forced retransmissions")
			}
			t.Logf("sender: %d segs, %d retransmitted (%d timeouts, %d fast recoveries, %d lost retransmits); tshark: %s; link %+v",
				st.SegmentsSent, st.Retransmits, st.TimeoutRetransmits, st.FastRetransmits, st.LostRetransmits, strings.Join(split, " "), pw.w.Link("wire").Stats())
		})
	}
}

// tcpTsharkSenderCounts decodes a sender's capture once with tshark's TCP
// analysis and returns, over the frames host a sent from port (ip.src and
// tcp.srcport, as the display filter "ip.src == A && tcp.srcport == port"
// selects them), the count of each tcpTsharkResent flag as "flag=n", the
// frames carrying any of them, all frames, and the zero-window probes.
func tcpTsharkSenderCounts(t *testing.T, tshark, capture string, port uint16) (split []string, resent, sent, probes int) {
	t.Helper()
	args := []string{"-T", "fields", "-E", "separator=;", "-E", "aggregator=|", "-e", "ip.src", "-e", "tcp.srcport", "-e", "tcp.analysis.zero_window_probe"}
	for _, flag := range tcpTsharkResent {
		args = append(args, "-e", flag)
	}
	perFlag := make([]int, len(tcpTsharkResent))
	for _, line := range tsharkLines(t, tshark, capture, args...) {
		f := strings.Split(line, ";")
		require.Len(t, f, 3+len(tcpTsharkResent), "tshark line %q", line)
		if !slices.Contains(strings.Split(f[0], "|"), tcpPairAddrA.String()) || !slices.Contains(strings.Split(f[1], "|"), strconv.Itoa(int(port))) {
			continue
		}
		sent++
		if f[2] != "" {
			probes++
		}
		flagged := false
		for i, v := range f[3:] {
			if v != "" {
				perFlag[i]++
				flagged = true
			}
		}
		if flagged {
			resent++
		}
	}
	for i, flag := range tcpTsharkResent {
		split = append(split, flag[len("tcp.analysis."):]+"="+strconv.Itoa(perFlag[i]))
	}
	return split, resent, sent, probes
}

// tcpPairAddrA is host a's address in a tcpPairWorld.
var tcpPairAddrA = netip.MustParseAddr("10.0.0.1")

// tcpResolveAtoB has host a resolve host b's MAC address by sending it a
// datagram, so that later frames from a go out without waiting for ARP.
func tcpResolveAtoB(t *testing.T, pw *tcpPairWorld) {
	t.Helper()
	discard := stack.UDPHandlerFunc(func(*stack.UDPSocket, netip.AddrPort, netip.AddrPort, []byte) {})
	_, err := pw.hb.BindUDP(netip.MustParseAddrPort("10.0.0.2:9"), discard)
	require.NoError(t, err)
	s, err := pw.ha.BindUDP(netip.AddrPort{}, discard)
	require.NoError(t, err)
	require.NoError(t, s.SendTo(netip.MustParseAddrPort("10.0.0.2:9"), []byte("hello")))
	pw.w.RunFor(100 * time.Millisecond)
}

// tcpBulkAtoB sends size bytes of gvisorpeer.Pattern from host a to a sink
// on host b, closes both ends, checks that the data arrived byte-exact and
// returns the sender's counters. With readEvery set the sink reads only
// that often, so that a small receive buffer fills up.
func tcpBulkAtoB(t *testing.T, pw *tcpPairWorld, size int, readEvery time.Duration) tcp.ConnStats {
	t.Helper()
	sink := &gvisorpeer.Sink{}
	var ev tcp.Events = sink
	if readEvery > 0 {
		ev = tcpSlowSink{sink}
	}
	_, err := pw.b.Listen(netip.MustParseAddrPort("10.0.0.2:5001"), 4, func(l *tcp.Listener) {
		c, err := l.Accept(ev)
		if err != nil {
			return
		}
		if readEvery == 0 {
			sink.OnReadable(c)
			return
		}
		var read func(clock.Time)
		read = func(clock.Time) {
			sink.OnReadable(c)
			if !sink.Done {
				pw.w.After(readEvery, read)
			}
		}
		pw.w.After(readEvery, read)
	})
	require.NoError(t, err)
	src := &gvisorpeer.Source{Data: gvisorpeer.Pattern(size)}
	conn, err := pw.a.Connect(netip.AddrPort{}, netip.MustParseAddrPort("10.0.0.2:5001"), src)
	require.NoError(t, err)
	end := pw.w.Now().Add(10 * time.Minute)
	for !(src.Done && sink.Done) && pw.w.Now() < end && pw.w.Step() {
	}
	require.True(t, src.Done && sink.Done, "both ends closed")
	require.NoError(t, src.Err)
	require.NoError(t, sink.Err)
	require.Equal(t, size, sink.Data.Len())
	require.True(t, bytes.Equal(src.Data, sink.Data.Bytes()), "byte-exact")
	return conn.Stats()
}

// tcpSlowSink is a gvisorpeer.Sink that reads only when its owner calls
// Sink.OnReadable, not when data arrives.
type tcpSlowSink struct{ *gvisorpeer.Sink }

// OnReadable ignores the arrival of data.
func (tcpSlowSink) OnReadable(*tcp.Conn) {}

// tsharkLines runs tshark on a capture with IP, UDP and TCP checksum
// validation on and returns its output lines.
func tsharkLines(t *testing.T, tshark, path string, args ...string) []string {
	t.Helper()
	prefs := []string{"-n", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"}
	cmd := exec.Command(tshark, append(prefs, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "tshark on %s: %s", path, stderr.String())
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
