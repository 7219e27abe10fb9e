package tcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// grownConn opens a connection and grows cwnd by slow start to 40
// segments (write 30, ACK the first 10 then the next 20), so that nothing
// is in flight afterwards. It returns SND.NXT.
func grownConn(t *testing.T, cfg Config) (*rig, seqnum) {
	r := newRig(t, cfg)
	nxt := r.established(plain)
	mss := r.conn.mss
	_, err := r.conn.Write(make([]byte, 30*mss))
	require.NoError(t, err)
	r.drain()
	r.ackWith(nxt.add(10*mss), nil)
	r.drain()
	r.ackWith(nxt.add(30*mss), nil)
	r.drain()
	return r, nxt.add(30 * mss)
}

// burst writes plenty and returns how many segments leave at once.
func (r *rig) burst() int {
	_, err := r.conn.Write(make([]byte, 100*r.conn.mss))
	require.NoError(r.t, err)
	n := len(r.net.Out)
	r.drain()
	return n
}

// RFC 5681 section 4.1 (Config.SlowStartAfterIdle): data sent after more
// than an RTO without sending starts from at most the restart window;
// as Linux's tcp_cwnd_restart (RFC 2861), cwnd halves once per idle RTO
// and not below IW = 10 segments. The RTO here is Linux's 200 ms floor.
func TestSlowStartAfterIdle(t *testing.T) {
	t.Parallel()
	noIdle := LinuxProfile()
	noIdle.SlowStartAfterIdle = false
	for _, tc := range []struct {
		name string
		cfg  Config
		idle time.Duration
		segs int
	}{
		{"idle below the RTO", LinuxProfile(), 150 * time.Millisecond, 40},
		{"one RTO idle halves", LinuxProfile(), 300 * time.Millisecond, 20},
		{"long idle floors at IW", LinuxProfile(), 5 * time.Second, 10},
		{"off", noIdle, 5 * time.Second, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := grownConn(t, tc.cfg)
			require.Equal(t, 40*r.conn.mss, r.conn.ccs.Cwnd)
			require.Equal(t, 200*time.Millisecond, r.conn.rto)
			r.advance(tc.idle)
			assert.Equal(t, tc.segs, r.burst())
			// ssthresh = max(ssthresh, 3/4 cwnd): the infinite one stays.
			assert.GreaterOrEqual(t, r.conn.ccs.Ssthresh, 30*r.conn.mss)
		})
	}
}

// Linux's zero-window probe is a bare segment at SND.UNA-1
// (tcp_xmit_probe_skb), so nothing is in flight while the window is
// closed; the window update that reopens it after an idle RTO restarts
// slow start (tcp_ack_update_window) and the data leaves with IW.
func TestWindowUpdateAfterIdle(t *testing.T) {
	t.Parallel()
	r, una := grownConn(t, LinuxProfile())
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(una), Flags: FlagACK, Window: 0}, nil, nil)
	_, err := r.conn.Write(make([]byte, 100*r.conn.mss))
	require.NoError(t, err)
	r.none()
	for _, wait := range []time.Duration{200, 400, 800} {
		r.advance(wait*time.Millisecond - time.Millisecond)
		r.none()
		r.advance(time.Millisecond)
		p := r.take()
		assert.Equal(t, una.add(-1), p.seq(), "probe at SND.UNA-1")
		assert.Empty(t, p.data)
		assert.Equal(t, 40*r.conn.mss, r.conn.ccs.Cwnd, "probes leave cwnd alone")
	}
	r.inject(Fields{Seq: uint32(r.pNxt), Ack: uint32(una), Flags: FlagACK, Window: 65535}, nil, nil)
	assert.Len(t, r.net.Out, 10, "restart window")
	assert.Equal(t, una, r.take().seq())
}

// Linux's __tcp_set_rto: the linux profile's minimum RTO bounds the
// variance term (RTO = SRTT + max(4*RTTVAR, 200 ms)); the other profiles
// bound the sum, as RFC 6298 section 2.4.
func TestLinuxRTOFloorsVariance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"linux", LinuxProfile(), 300 * time.Millisecond},
		{"default", Config{}, 250 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			r.established(plain)
			r.conn.hasRTT = false
			r.conn.rttSample(100 * time.Millisecond)
			r.conn.rttSample(100 * time.Millisecond) // SRTT 100 ms, RTTVAR 37.5 ms
			assert.Equal(t, tc.want, r.conn.rto)
		})
	}
}

// Linux's ssthresh hooks reduce from cwnd, not FlightSize: one segment in
// flight with cwnd 10 times out to ssthresh 7 (CUBIC's beta) in the linux
// profile, to 2 segments in the rfc profile (RFC 9438 section 4.6 with
// RFC 5681's floor); a second timeout in the same episode keeps the
// linux profile's ssthresh (tcp_enter_loss), cwnd one segment
// (cubic-rto-ss-ca-cwnd-bump.pkt).
func TestTimeoutSsthreshBase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		cfg         Config
		first, next int // ssthresh in segments after one and two timeouts
	}{
		{"linux", LinuxProfile(), 7, 7},
		{"rfc", RFCProfile(), 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, tc.cfg)
			r.established(plain)
			mss := r.conn.mss
			_, err := r.conn.Write(make([]byte, mss))
			require.NoError(t, err)
			for _, want := range []int{tc.first, tc.next} {
				before := r.conn.Stats().TimeoutRetransmits
				for r.conn.Stats().TimeoutRetransmits == before {
					require.True(t, r.sched.Step())
				}
				assert.Equal(t, want*mss, r.conn.ccs.Ssthresh)
				assert.Equal(t, mss, r.conn.ccs.Cwnd)
			}
		})
	}
}
