package runner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/internal/pktdrill"
)

// FuzzRun plays arbitrary scripts: the runner (and the stack under it) must
// neither panic nor hang, whatever the script asks for.
func FuzzRun(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "tests", "scripts", "*.pkt"))
	require.NoError(f, err)
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(string(b))
	}
	f.Add(server + "   +0 write(4, ..., 5000) = 5000\n  +.1 < . 1:1(0) ack 1 win 512 <sack 1001:2001,nop,nop>\n")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := pktdrill.Parse("f.pkt", src)
		if err != nil {
			return
		}
		for _, ev := range s.Events {
			// Keep virtual runs short: hours of timers per input would
			// slow the fuzzer down without finding more.
			if ev.Time > 1<<40 || ev.Until > 1<<40 || ev.Syscall != nil && ev.Syscall.End > 1<<40 {
				return
			}
			if ev.Packet != nil && ev.Packet.Len > 4096 {
				return
			}
			if ev.Syscall != nil {
				for _, a := range ev.Syscall.Args {
					if a.Kind == pktdrill.ExprInt && (a.Int > 1<<20 || a.Int < -1) {
						return
					}
				}
			}
		}
		r := Run(s, Options{})
		if r.Result != Pass && r.Result != Fail && r.Result != Unsupported {
			t.Fatalf("result %q", r.Result)
		}
	})
}
