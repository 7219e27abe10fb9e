package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// MSG_MORE (Conn.WriteMore) and TCP_CORK (Conn.SetCork), as Linux's
// sendmsg_msg_more.pkt exercises them on a TCP_NODELAY socket: full
// segments leave, a partial last one is held until a plain write, an ACK,
// uncorking or the persist timer (here the 200 ms minimum RTO) sends it;
// the end of MSG_MORE data is not pushed, but the GSO packet of full
// segments is (Linux 5.6 and later, push.go).
func TestCorkAndMore(t *testing.T) {
	t.Parallel()
	type step struct {
		do    func(r *rig, una seqnum)
		after time.Duration // then advance the clock
		segs  []int         // payload lengths sent, in order
		push  []bool
	}
	write := func(n int, more bool) func(*rig, seqnum) {
		return func(r *rig, _ seqnum) {
			f := r.conn.Write
			if more {
				f = r.conn.WriteMore
			}
			k, err := f(make([]byte, n))
			require.NoError(r.t, err)
			require.Equal(r.t, n, k)
		}
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a held partial segment leaves with the persist probe", []step{
			{do: write(40, true), after: 199 * time.Millisecond},
			{after: time.Millisecond, segs: []int{40}, push: []bool{true}},
		}},
		{"a plain write releases it, pushed", []step{
			{do: write(100, true)},
			{do: write(160, true)},
			{do: write(5, false), segs: []int{265}, push: []bool{true}},
		}},
		{"full segments leave as a pushed GSO packet, the rest waits for the ACK, not pushed", []step{
			{do: write(2*1460+100, true), segs: []int{1460, 1460}, push: []bool{false, true}},
			{do: write(50, true)},
			{do: func(r *rig, una seqnum) { r.ackWith(una.add(1460), nil) }, segs: []int{150}, push: []bool{false}},
		}},
		{"uncorking releases it", []step{
			{do: func(r *rig, _ seqnum) { r.conn.SetCork(true) }},
			{do: write(300, false)},
			{do: func(r *rig, _ seqnum) { r.conn.SetCork(false) }, segs: []int{300}, push: []bool{true}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, LinuxProfile())
			una := r.established(plain)
			require.Equal(t, 1460, r.conn.mss)
			r.conn.SetNoDelay(true)
			for i, st := range tc.steps {
				if st.do != nil {
					st.do(r, una)
				}
				r.advance(st.after)
				require.Len(t, r.net.Out, len(st.segs), "step %d", i)
				for j, n := range st.segs {
					s := r.take()
					assert.Len(t, s.data, n, "step %d segment %d", i, j)
					assert.Equal(t, st.push[j], s.has(FlagPSH), "step %d segment %d PSH", i, j)
				}
			}
		})
	}
}
