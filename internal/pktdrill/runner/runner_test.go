package runner

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/pktdrill"
	"github.com/simnet-go/simnet/proto/tcp"
)

// server is a passive open every case below starts from.
const server = `
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 65535 <mss 1000,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
  +.1 < . 1:1(0) ack 1 win 512
   +0 accept(3, ..., ...) = 4
`

func play(t *testing.T, src string, o Options) Result {
	t.Helper()
	s, err := pktdrill.Parse("t.pkt", src)
	require.NoError(t, err)
	return Run(s, o)
}

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		src    string
		tol    time.Duration
		pdTol  bool // Options.PacketdrillTolerance
		want   Outcome
		line   int
		reason string
	}{
		{name: "pass", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "wrong flags", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > . 1:101(100) ack 1
`, want: Fail, line: 12, reason: "expected > . 1:101(100) ack 1, got > P. 1:101(100) ack 1 win 32768: flags differ (fd 4 ESTABLISHED"},
		{name: "wrong ack", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 7
`, want: Fail, line: 12, reason: "ack differs"},
		{name: "wrong length", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:51(50) ack 1
`, want: Fail, line: 12, reason: "payload length differs"},
		{name: "unexpected option", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1 <nop,nop,TS val 1 ecr 0>
`, want: Fail, line: 12, reason: "missing option TS val 1 ecr 0"},
		{name: "any options", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1 <...>
`, want: Pass},
		{name: "late", src: server + `
   +0 write(4, ..., 100) = 100
 +.01 > P. 1:101(100) ack 1
`, want: Fail, line: 12, reason: "sent at 0.100000, expected at 0.110000"},
		{name: "late within tolerance", tol: 10 * time.Millisecond, src: server + `
   +0 write(4, ..., 100) = 100
 +.01 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "late within packetdrill's 4 ms", pdTol: true, src: server + `
   +0 write(4, ..., 100) = 100
 +.004 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "late beyond packetdrill's 4 ms", pdTol: true, src: server + `
   +0 write(4, ..., 100) = 100
 +.005 > P. 1:101(100) ack 1
`, want: Fail, line: 12, reason: "sent at 0.100000, expected at 0.105000"},
		{name: "the script's --tolerance_usecs", pdTol: true, src: "--tolerance_usecs=10000\n" + server + `
   +0 write(4, ..., 100) = 100
 +.009 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "--tolerance_usecs ignored without packetdrill tolerance", src: "--tolerance_usecs=10000\n" + server + `
   +0 write(4, ..., 100) = 100
 +.009 > P. 1:101(100) ack 1
`, want: Fail, line: 13, reason: "expected at 0.109000"},
		{name: "12.5% of the time since the previous event", pdTol: true, src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
 +1.1 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "beyond 12.5% of the time since the previous event", pdTol: true, src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
 +1.2 > P. 1:101(100) ack 1
`, want: Fail, line: 13, reason: "expected at 1.300000"},
		{name: "the script's --tolerance_percent", pdTol: true, src: "--tolerance_percent=20\n" + server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
 +1.2 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "never sent", src: server + `
   +1 > P. 1:101(100) ack 1
`, want: Fail, line: 11, reason: "but nothing was sent"},
		{name: "sent before the action the script puts first", src: server + `
   +0 write(4, ..., 100) = 100
   +0 < . 1:1(0) ack 1 win 512
   +0 > P. 1:101(100) ack 1
`, want: Fail, line: 13, reason: "before line 12's event"},
		{name: "inline code does not order packets", src: server + `
   +0 write(4, ..., 100) = 100
   +0 %{ assert tcpi_snd_cwnd == 10 }%
   +0 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "retransmission at the RTO", src: server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
   +1 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "IP_TOS set and read back without the ECN bits", src: server + `
   +0 setsockopt(4, SOL_IP, IP_TOS, [0x2b], 4) = 0
   +0 getsockopt(4, SOL_IP, IP_TOS, [0x28], [4]) = 0
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
`, want: Pass},
		{name: "IP_TOS read back differs", src: server + `
   +0 setsockopt(4, SOL_IP, IP_TOS, [0x10], 4) = 0
   +0 getsockopt(4, SOL_IP, IP_TOS, [0x28], [4]) = 0
`, want: Fail, line: 12, reason: "value [16], expected [40]"},
		{name: "syscall result", src: server + `
   +0 write(4, ..., 100) = 99
`, want: Fail, line: 11, reason: "write returned 100, expected 99"},
		{name: "syscall errno", src: server + `
   +0 shutdown(4, SHUT_WR) = 0
   +0 > F. 1:1(0) ack 1
   +0 write(4, ..., 10) = -1 EPIPE (Broken pipe)
   +0 write(4, ..., 10) = 10
`, want: Fail, line: 14, reason: "write returned -1 EPIPE, expected 10"},
		{name: "would block", src: server + `
   +0 read(4, ..., 100) = 100
`, want: Fail, line: 11, reason: "read would block"},
		{name: "blocking read returns at its end time", src: server + `
   +0...0.100 read(4, ..., 1000) = 10
  +.1 < P. 1:11(10) ack 1 win 512
`, want: Pass},
		{name: "blocking read returns late", src: server + `
   +0...0.050 read(4, ..., 1000) = 10
  +.1 < P. 1:11(10) ack 1 win 512
`, want: Fail, line: 11, reason: "read (line 11) did not return by 0.150000"},
		{name: "an absolute blocking call's end is absolute", src: server + `
  0.1...0.200 read(4, ..., 1000) = 10
  +.1 < P. 1:11(10) ack 1 win 512
`, want: Pass},
		{name: "inline code assertion holds", src: server + `
   +0 %{ X = 0x7fffffff }%
   +0 %{ print(tcpi_snd_cwnd); assert tcpi_snd_cwnd == 10, 'cwnd=%d' % tcpi_snd_cwnd }%
   +0 %{ assert tcpi_snd_ssthresh == X, tcpi_snd_ssthresh }%
`, want: Pass},
		{name: "inline code reads the announced MSS", src: server + `
   +0 %{ assert tcpi_advmss == 1460, tcpi_advmss; assert tcpi_snd_mss == 1000 }%
`, want: Pass},
		{name: "inline code assertion fails", src: server + `
   +0 %{ assert tcpi_snd_cwnd == 9, tcpi_snd_cwnd }%
`, want: Fail, line: 11, reason: "assert tcpi_snd_cwnd == 9 failed: tcpi_snd_cwnd is 10"},
		{name: "inline code unknown field", src: server + `
   +0 %{ assert tcpi_total_retrans == 3 }%
`, want: Unsupported, line: 11, reason: "tcp_info field tcpi_total_retrans"},
		{name: "inline code congestion state and counts", src: strings.NewReplacer("<mss 1000,nop,wscale 7>", "<mss 1000,sackOK,nop,wscale 7>",
			"<mss 1460,nop,wscale 3>", "<mss 1460,sackOK,nop,wscale 3>").Replace(server) + `
   +0 write(4, ..., 4000) = 4000
   +0 > P. 1:4001(4000) ack 1
  +.1 < . 1:1(0) ack 1 win 512 <sack 1001:2001,nop,nop>
   +0 %{ assert tcpi_ca_state == TCP_CA_Disorder; assert tcpi_sacked == 1; assert tcpi_unacked == 4 }%
   +0 %{ assert tcpi_lost == 0; assert tcpi_retrans == 0; assert tcpi_reordering == 3 }%
   +0 < . 1:1(0) ack 4001 win 512
   +0 %{ assert tcpi_ca_state == TCP_CA_Open, tcpi_ca_state }%
`, want: Pass},
		{name: "inline code congestion state mismatch", src: server + `
   +0 %{ assert tcpi_ca_state == TCP_CA_Recovery, tcpi_ca_state }%
`, want: Fail, line: 11, reason: "assert tcpi_ca_state == TCP_CA_Recovery failed: tcpi_ca_state is 0"},
		{name: "unknown syscall", src: server + `
   +0 epoll_create(1) = 5
`, want: Unsupported, line: 11, reason: "system call epoll_create"},
		{name: "udp packet", src: `0 < udp (100)
`, want: Unsupported, line: 1, reason: "UDP packet"},
		{name: "shell command", src: "`ip link set dev tun0 mtu 1000`\n" + server,
			want: Unsupported, line: 1, reason: "shell command \"ip link set dev tun0 mtu 1000\""},
		{name: "sysctl maps to the stack", src: "`sysctl -q net.ipv4.tcp_sack=0`\n" + `
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 65535 <mss 1000,sackOK,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
`, want: Pass},
		{name: "tcp_cubic HyStart parameters", src: "`echo 2 > /sys/module/tcp_cubic/parameters/hystart_detect\necho 8 > /sys/module/tcp_cubic/parameters/hystart_low_window`\n" + server,
			want: Pass},
		{name: "unknown tcp_cubic parameter", src: "`echo 1 > /sys/module/tcp_cubic/parameters/fast_convergence`\n" + server,
			want: Unsupported, line: 1, reason: "tcp_cubic parameter fast_convergence"},
		{name: "TCP_MAXSEG lowers the announced MSS", src: `
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 setsockopt(3, SOL_TCP, TCP_MAXSEG, [1100], 4) = 0
   +0 < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1100,nop,wscale 3>
`, want: Pass},
		{name: "TSO-sized expectation matches back-to-back segments", src: server + `
   +0 write(4, ..., 3000) = 3000
   +0 > P. 1:3001(3000) ack 1
`, want: Pass},
		{name: "inbound SACK blocks are relative to our ISN", src: server + `
   +0 write(4, ..., 4000) = 4000
   +0 > P. 1:4001(4000) ack 1
  +.1 < . 1:1(0) ack 1 win 512 <sack 1001:2001,nop,nop>
   +0 < . 1:1(0) ack 1 win 512 <sack 1001:3001,nop,nop>
   +0 < . 1:1(0) ack 1 win 512 <sack 1001:4001,nop,nop>
   +0 > . 1:1001(1000) ack 1
`, want: Pass},
		{name: "SO_LINGER zero resets on close", src: server + `
   +0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
   +0 close(4) = 0
   +0 > R. 1:1(0) ack 1
`, want: Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := play(t, tc.src, Options{Tolerance: tc.tol, PacketdrillTolerance: tc.pdTol})
			assert.Equal(t, tc.want, r.Result, r.Reason)
			assert.Equal(t, tc.line, r.Line, r.Reason)
			assert.Contains(t, r.Reason, tc.reason)
		})
	}
}

// TestRunDeterministicCapture: the same script gives a byte-identical
// pcapng, holding the handshake in both directions.
func TestRunDeterministicCapture(t *testing.T) {
	t.Parallel()
	src := server + `
   +0 write(4, ..., 100) = 100
   +0 > P. 1:101(100) ack 1
`
	var a, b bytes.Buffer
	require.Equal(t, Pass, play(t, src, Options{Capture: &a}).Result)
	require.Equal(t, Pass, play(t, src, Options{Capture: &b}).Result)
	assert.Equal(t, a.Bytes(), b.Bytes())
	assert.Greater(t, a.Len(), 300)
}

func TestRunFileParseError(t *testing.T) {
	t.Parallel()
	r := RunFile("testdata/does-not-exist.pkt", Options{})
	assert.Equal(t, Unsupported, r.Result)
	assert.True(t, r.ParseError)
	assert.Contains(t, r.Reason, "parse error")
}

func TestRunProfileOption(t *testing.T) {
	t.Parallel()
	src := `--profile=nosack
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
   +0 bind(3, ..., ...) = 0
   +0 listen(3, 1) = 0
   +0 < S 0:0(0) win 65535 <mss 1000,sackOK,nop,wscale 7>
   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
`
	profiles := map[string]tcp.Config{"nosack": {DisableSACK: true}}
	r := play(t, src, Options{Profiles: profiles})
	assert.Equal(t, Pass, r.Result, r.Reason)
	// The base configuration announces SACK, so without the profile the
	// same script fails.
	r = play(t, strings.Replace(src, "--profile=nosack\n", "\n", 1), Options{Profiles: profiles})
	assert.Equal(t, Fail, r.Result)
	assert.Contains(t, r.Reason, "unexpected option sackOK")
	r = play(t, src, Options{})
	assert.Equal(t, Unsupported, r.Result)
	assert.Equal(t, 1, r.Line)
	assert.Contains(t, r.Reason, "--profile=nosack (no such TCP profile)")
}
