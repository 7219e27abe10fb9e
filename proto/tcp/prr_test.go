package tcp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prrRun sends a window of 40 segments with more data queued, loses the
// first and SACKs the next 29 one ACK at a time. It returns the data bytes
// sent after each ACK and the index of the ACK that started recovery.
func prrRun(t *testing.T, cfg Config) (sent []int, start int, r *rig) {
	cfg.CongestionControl = "newreno"
	cfg.InitialCwndSegments = 40
	cfg.RACK = false // recovery starts on SACK's DupThresh (TestRACK covers RACK)
	r = newRig(t, cfg)
	// A scaled window (1 MiB) so that only cwnd limits the sender.
	r.established(&Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: r.pTS, HasWScale: true, WScale: 4})
	mss := r.conn.mss
	_, err := r.conn.Write(bytes.Repeat([]byte{'r'}, 80*mss))
	require.NoError(t, err)
	var seqs []seqnum
	for len(r.net.Out) > 0 {
		seqs = append(seqs, r.take().seq())
	}
	require.Len(t, seqs, 40, "initial window")
	start = -1
	for i := 1; i < 30; i++ {
		o := r.ts(0)
		o.SACK[0] = SACKBlock{uint32(seqs[1]), uint32(seqs[i].add(mss))}
		o.NumSACK = 1
		r.ackWith(seqs[0], o)
		if start < 0 && r.conn.inRecovery {
			start = i - 1
		}
		n := 0
		for len(r.net.Out) > 0 {
			n += len(r.take().data)
		}
		sent = append(sent, n)
	}
	require.GreaterOrEqual(t, start, 0, "recovery started")
	return sent, start, r
}

// RFC 6937 section 3: with PRR (the linux profile) the sender keeps
// sending in proportion to the data delivered during recovery, prr_out
// tracking CEIL(prr_delivered * ssthresh / RecoverFS) while pipe is above
// ssthresh; RFC 6675 alone (the rfc profile) sends nothing until pipe
// falls below cwnd = ssthresh, then a burst-free one per ACK.
func TestPRR(t *testing.T) {
	t.Parallel()
	sent, start, r := prrRun(t, LinuxProfile())
	mss := r.conn.mss
	ssthresh := r.conn.ccs.Ssthresh
	fs := r.conn.recoverFS
	require.Greater(t, fs, 2*ssthresh-mss, "NewReno halves")
	out := 0
	for k := start; k < len(sent); k++ {
		out += sent[k]
		delivered := (k - start + 1) * mss
		want := (delivered*ssthresh + fs - 1) / fs
		// The fast retransmit goes out whatever PRR says; segments are
		// whole, so prr_out trails the target by less than one.
		assert.LessOrEqual(t, out, max(want, mss), "ACK %d: prr_out %d, target %d", k, out, want)
		assert.Greater(t, out, want-mss, "ACK %d: prr_out %d, target %d", k, out, want)
	}
	assert.Greater(t, out, 10*mss, "sending went on through recovery")

	rsent, rstart, _ := prrRun(t, RFCProfile())
	quiet := 0
	for _, n := range rsent[rstart+1 : rstart+15] {
		quiet += n
	}
	assert.Zero(t, quiet, "RFC 6675 waits for pipe to fall below ssthresh")

	// Recovery ends with cwnd = ssthresh (RFC 6937 section 3).
	r.ackWith(r.conn.sndMax, r.ts(0))
	assert.False(t, r.conn.inRecovery)
	assert.Equal(t, ssthresh, r.conn.ccs.Cwnd)
}
