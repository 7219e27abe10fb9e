package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pushRig is a linux-profile connection with NewReno (so that cwnd grows
// slowly when the test pins it), TCP_NODELAY and the given cwnd (in
// segments) and SRTT.
func pushRig(t *testing.T, cwnd int, srtt time.Duration) (*rig, seqnum) {
	cfg := LinuxProfile()
	cfg.CongestionControl = "newreno"
	r := newRig(t, cfg)
	una := r.established(plain)
	c := r.conn
	require.Equal(t, 1460, c.mss)
	c.SetNoDelay(true)
	c.ccs.Cwnd = cwnd * c.mss
	c.srtt, c.hasRTT = srtt, true
	return r, una
}

// pushes returns, for each segment sent, whether it carries PSH.
func (r *rig) pushes() []bool {
	var out []bool
	for len(r.net.Out) > 0 {
		out = append(out, r.take().has(FlagPSH))
	}
	return out
}

// Linux 5.6 and later set PSH on every GSO packet of more than one
// segment (__tcp_transmit_skb), built by tcp_write_xmit of at most half
// the congestion window (tcp_cwnd_test) and of tcp_tso_segs segments
// (the pacing rate's bytes per millisecond, at least 2); the end of a
// write is pushed too (tcp_push). The linux profile places PSH there
// (push.go); the segments leave MSS-sized.
func TestLinuxPushOnGSOPackets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cwnd int
		srtt time.Duration
		segs int
		push []bool
	}{
		{"packets of tcp_min_tso_segs = 2 at a low pacing rate", 10, 100 * time.Millisecond, 6,
			[]bool{false, true, false, true, false, true}},
		{"cwnd 2: packets of one segment (half the window), only the write's end pushed", 2, 100 * time.Millisecond, 4,
			[]bool{false, false}},
		{"a fast flow's packets of half the window (5 of 10)", 10, time.Millisecond, 10,
			[]bool{false, false, false, false, true, false, false, false, false, true}},
		{"a short write's single segment is pushed", 10, 100 * time.Millisecond, 1, []bool{true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := pushRig(t, tc.cwnd, tc.srtt)
			n, err := r.conn.Write(make([]byte, tc.segs*r.conn.mss))
			require.NoError(t, err)
			require.Equal(t, tc.segs*r.conn.mss, n)
			assert.Equal(t, tc.push, r.pushes())
		})
	}
}

// Linux's tcp_sendmsg marks a full skb (size_goal bytes, at most half the
// peer's largest window) with PSH once more than half that window was
// written since the last mark (forced_push), and tops up the tail skb
// after part of it left (tcp_push_one). With the window 65535, size_goal
// is 22 segments; of a 50-segment write at cwnd 2 the first skb sends 2
// segments, is topped up to end at segment 24, which passes the half
// window (22.4 segments) and is pushed; the next mark is the write's end.
func TestLinuxForcedPush(t *testing.T) {
	t.Parallel()
	r, una := pushRig(t, 2, 100*time.Millisecond)
	c := r.conn
	mss := c.mss
	require.Equal(t, 22*mss, c.sizeGoal())
	_, err := c.Write(make([]byte, 50*mss))
	require.NoError(t, err)
	var pushed []int
	sent := 0
	for i := 0; i < 60 && sent < 50; i++ {
		for len(r.net.Out) > 0 {
			s := r.take()
			require.Len(t, s.data, mss)
			sent++
			if s.has(FlagPSH) {
				pushed = append(pushed, s.seq().add(mss).diff(una)/mss)
			}
		}
		// One segment acknowledged, cwnd pinned at 2: one segment
		// leaves per ACK, so GSO packets never carry PSH.
		c.ccs.Cwnd = 2 * mss
		r.ackWith(c.sndUna.add(mss), nil)
	}
	assert.Equal(t, 50, sent)
	assert.Equal(t, []int{24, 50}, pushed)
	// The skb boundaries of acknowledged data are forgotten.
	assert.LessOrEqual(t, len(c.skbEnds), 3)
}

// Linux's SO_SNDBUF counts sk_wmem_queued, each skb's data plus its
// truesize overhead: tcp_sendmsg starts no new skb once the queue holds
// sk_sndbuf, and a blocked writer wakes when the free space is at least
// half of what is queued (sk_stream_write_space), a third of the buffer.
// With the window 65535 (skbs of 22 segments) a 100000-byte write at
// cwnd 10 sends ten segments as five GSO packets, tops the first skb up
// to 32 segments (46720 bytes) and stops: six skbs make 54400 bytes
// against the limit of 50000, where the data alone (46720) would let a
// third skb start.
func TestLinuxSendBufferTruesize(t *testing.T) {
	t.Parallel()
	r, una := pushRig(t, 10, 100*time.Millisecond)
	c := r.conn
	mss := c.mss
	c.SetSendLimit(50000)
	n, err := c.Write(make([]byte, 100000))
	require.NoError(t, err)
	assert.Equal(t, 32*mss, n)
	assert.Equal(t, 32*mss+6*skbOverhead, c.wmemQueued())
	assert.False(t, c.SendWritable())
	for _, tc := range []struct {
		acked    int // segments
		writable bool
	}{
		// 22 segments left in skbs of two: above two thirds of 50000,
		// though the data alone (32120) is below it.
		{10, false},
		// 12 segments in six skbs: 17520 + 6*1280 = 25200.
		{20, true},
	} {
		r.ackWith(una.add(tc.acked*mss), nil)
		r.drain()
		assert.Equal(t, tc.writable, c.SendWritable(), "after %d segments acknowledged (queued %d)", tc.acked, c.wmemQueued())
	}
}
