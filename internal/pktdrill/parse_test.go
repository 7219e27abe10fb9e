package pktdrill

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedScripts returns the shared packetdrill scripts, or nil when they
// are absent.
func sharedScripts(t testing.TB) []string {
	_, files, err := FindShared(".")
	if err != nil {
		return nil
	}
	return files
}

func TestParseEvents(t *testing.T) {
	t.Parallel()
	s, err := Parse("x.pkt", `--tolerance_usecs=10000
`+"`../common/defaults.sh`"+`
// a comment
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
  +.1...0.200 connect(3, ..., ...) = 0
   +0 > S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>
 +.1 < S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2,nop,nop,sackOK>
 +.21~+.215 > P. 1:41(40) ack 1
   * > F. 41:41(0) ack 1 <...>
   +0 < . 1:1(0) ack 1 win 257 <sack 1461:2921 4381:5841,nop,nop>
   +0 write(4, ..., 1000) = -1 EPIPE (Broken pipe)
   +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
   +0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
   +0 sendmsg(4, {msg_name(...)=...,
                  msg_iov(1)=[{..., 40}], msg_flags=0}, MSG_MORE) = 40
   +0 %{ assert tcpi_snd_cwnd == 10 }%
`)
	require.NoError(t, err)
	require.Len(t, s.Options, 1)
	assert.Equal(t, Option{Line: 1, Name: "tolerance_usecs", Value: "10000"}, s.Options[0])
	ev := s.Events
	require.Len(t, ev, 13)
	assert.Equal(t, TimeNone, ev[0].Kind)
	assert.Equal(t, "../common/defaults.sh", ev[0].Command.Text)
	assert.Equal(t, 4, ev[1].Line)
	assert.Equal(t, "socket", ev[1].Syscall.Name)

	c := ev[2]
	assert.Equal(t, TimeRelative, c.Kind)
	assert.Equal(t, 100*time.Millisecond, c.Time)
	assert.True(t, c.Syscall.HasEnd)
	assert.Equal(t, 200*time.Millisecond, c.Syscall.End)

	syn := ev[3].Packet
	assert.Equal(t, Outbound, syn.Dir)
	assert.Equal(t, "> S 0:0(0) <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 8>", syn.String())

	sa := ev[4].Packet
	assert.Equal(t, "< S. 0:0(0) ack 1 win 5792 <mss 1460,nop,wscale 2,nop,nop,sackOK>", sa.String())

	r := ev[5]
	assert.True(t, r.HasUntil)
	assert.Equal(t, 210*time.Millisecond, r.Time)
	assert.Equal(t, 215*time.Millisecond, r.Until)

	assert.Equal(t, TimeAny, ev[6].Kind)
	assert.True(t, ev[6].Packet.AnyOptions)
	assert.Equal(t, [][2]uint32{{1461, 2921}, {4381, 5841}}, ev[7].Packet.Options[0].SACK)

	w := ev[8].Syscall
	assert.Equal(t, int64(-1), w.Result.Int)
	assert.Equal(t, "EPIPE", w.Errno)
	assert.Equal(t, "Broken pipe", w.Note)

	assert.Equal(t, "{onoff=1, linger=0}", ev[9].Syscall.Args[3].String())
	assert.Equal(t, "O_RDWR|O_NONBLOCK", ev[10].Syscall.Args[2].String())
	assert.Equal(t, "{msg_name(...)=..., msg_iov(1)=[{..., 40}], msg_flags=0}", ev[11].Syscall.Args[1].String())
	assert.Equal(t, 14, ev[11].Line)
	assert.Equal(t, " assert tcpi_snd_cwnd == 10 ", ev[12].Code.Text)
}

func TestParseUnsupportedPacketsKept(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"0 < udp (1000)\n", "UDP packet"},
		{"0 < [ect0] . 1:1(0) ack 1 win 257\n", "IP information [ect0]"},
		{"0 < 8080 > 9000 . 1:1(0) ack 1\n", "explicit port numbers"},
	} {
		s, err := Parse("u.pkt", tc.src)
		require.NoError(t, err, tc.src)
		require.Len(t, s.Events, 1)
		assert.Equal(t, tc.want, s.Events[0].Packet.Unsupported, tc.src)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, want string }{
		{"0 socket(..., SOCK_STREAM) = 3\n+0 < S 0:0(0 win 1\n", "e.pkt:2: expected \")\""},
		{"\n\n0 < S 0:5(1)\n", "e.pkt:3: sequence range 0:5 does not span the payload length 1"},
		{"0 > X 0:0(0)\n", "e.pkt:1: unknown TCP flag 'X'"},
		{"0 > S 0:0(0) <mss 1460,bogus>\n", "e.pkt:1: unknown TCP option \"bogus\""},
		{"0 > S 0:0(0) win 70000\n", "e.pkt:1: window 70000 does not fit in 16 bits"},
		{"0 socket(\n", "e.pkt:2: expected an expression"},
		{"socket(3) = 0\n", "e.pkt:1: expected an event time"},
		{"0 write(3, \"abc) = 1\n", "e.pkt:1: unterminated string"},
		{"\n0 `ls\n", "e.pkt:2: unterminated back-quoted command"},
		{"0 /* open\n\n", "e.pkt:1: unterminated /* comment"},
		{"0 > . 1:1(0) <sack>\n", "e.pkt:1: a SACK option holds 1 to 4 blocks"},
	} {
		_, err := Parse("e.pkt", tc.src)
		require.Error(t, err, tc.src)
		var pe *Error
		require.ErrorAs(t, err, &pe)
		assert.Contains(t, err.Error(), tc.want, tc.src)
	}
}

func TestParseSeconds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"0", 0}, {".1", 100 * time.Millisecond}, {"0.200", 200 * time.Millisecond}, {"3", 3 * time.Second}, {"1.000001", time.Second + time.Microsecond}} {
		got, err := parseSeconds(tc.in)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

// TestParseSharedScripts parses every shared packetdrill script.
func TestParseSharedScripts(t *testing.T) {
	t.Parallel()
	files := sharedScripts(t)
	if len(files) == 0 {
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatal("../shared/packetdrill not found and SIMNET_REQUIRE=all")
		}
		t.Skip("../shared/packetdrill not found beside the repository")
	}
	for _, f := range files {
		s, err := ParseFile(f)
		require.NoError(t, err)
		assert.NotEmpty(t, s.Events, f)
	}
}

// FuzzParse checks that the parser never panics and that errors carry a
// line within the input.
func FuzzParse(f *testing.F) {
	for _, p := range sharedScripts(f) {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(string(b))
	}
	f.Add("0 < S 0:0(0) win 1 <mss 1460>\n+0 > S. 0:0(0) ack 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse("f.pkt", src)
		if err != nil {
			var pe *Error
			if !assertErrorAs(err, &pe) {
				t.Fatalf("error %v is not a *Error", err)
			}
			if lines := 1 + countNL(src); pe.Line < 0 || pe.Line > lines+1 {
				t.Fatalf("error line %d outside the input's %d lines", pe.Line, lines)
			}
			return
		}
		for _, ev := range s.Events {
			if ev.Packet != nil {
				_ = ev.Packet.String()
			}
			if ev.Syscall != nil {
				for _, a := range ev.Syscall.Args {
					_ = a.String()
				}
			}
		}
	})
}

func countNL(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			n++
		}
	}
	return n
}

func assertErrorAs(err error, pe **Error) bool {
	e, ok := err.(*Error)
	*pe = e
	return ok
}
