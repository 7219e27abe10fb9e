package tcp

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/simnet-go/simnet/internal/tcptest"
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeaderView(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	b := make([]byte, 100)
	n, err := Encode(b, Fields{SrcPort: 1234, DstPort: 80, Seq: 0xdeadbeef, Ack: 42, Flags: FlagSYN | FlagACK, Window: 512},
		&Options{HasMSS: true, MSS: 1460, HasTS: true, TSVal: 7, TSEcr: 8}, []byte("abc"), src, dst)
	require.NoError(t, err)
	h, err := ParseHeader(b[:n])
	require.NoError(t, err)
	assert.Equal(t, uint16(1234), h.SrcPort())
	assert.Equal(t, uint16(80), h.DstPort())
	assert.Equal(t, uint32(0xdeadbeef), h.Seq())
	assert.Equal(t, uint32(42), h.Ack())
	assert.Equal(t, FlagSYN|FlagACK, h.Flags())
	assert.Equal(t, uint16(512), h.Window())
	assert.Equal(t, 36, h.DataOffset())
	assert.Equal(t, []byte("abc"), h.Payload())
	assert.Zero(t, Checksum(src, dst, b[:n]))
	b[n-1] ^= 1
	assert.NotZero(t, Checksum(src, dst, b[:n]), "corruption detected")
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", make([]byte, 19)},
		{"offset below 5", append([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x40}, make([]byte, 7)...)},
		{"offset past end", append([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x60}, make([]byte, 7)...)},
	} {
		_, err := ParseHeader(tc.b)
		assert.Error(t, err, tc.name)
	}
	var o Options
	for _, bad := range [][]byte{
		{OptMSS},                             // no length
		{OptMSS, 3, 0},                       // wrong length
		{OptMSS, 4, 0},                       // runs past the end
		{OptTimestamps, 8, 0, 0, 0, 0, 0, 0}, // wrong length
		{OptSACK, 7, 0, 0, 0, 0, 0},          // not a multiple of 8
		{99, 1},                              // length below 2
	} {
		assert.Error(t, ParseOptions(bad, &o), "%v", bad)
	}
	require.NoError(t, ParseOptions([]byte{OptNOP, 99, 3, 0, OptWindowScale, 3, 20, OptEnd, 0xff}, &o))
	assert.True(t, o.HasWScale)
	assert.Equal(t, uint8(14), o.WScale, "RFC 7323 section 2.3: shift capped at 14")
}

// RFC 9293 section 3.7.1: the MSS option is derived from the interface MTU
// toward the peer (path MTU), and the effective send MSS is the smaller of
// it and the peer's MSS.
func TestMSSFromPathMTU(t *testing.T) {
	r := newRig(t, Config{})
	r.net.MTU = 1280
	syn := r.connect()
	assert.Equal(t, uint16(1240), syn.o.MSS)
	r.inject(Fields{Seq: uint32(r.pISS), Ack: uint32(syn.seq() + 1), Flags: FlagSYN | FlagACK, Window: 65535}, &Options{HasMSS: true, MSS: 1460}, nil)
	assert.Equal(t, 1240, r.conn.mss)
	r.take()
	_, err := r.conn.Write(make([]byte, 5000))
	require.NoError(t, err)
	assert.Len(t, r.take().data, 1240)
}

// RFC 6528: ISNs combine a 4 µs clock with a keyed hash of the four-tuple.
func TestISN(t *testing.T) {
	r := newRig(t, Config{})
	k1 := connKey{laddr: r.local, raddr: r.peer, lport: 1, rport: 2}
	k2 := connKey{laddr: r.local, raddr: r.peer, lport: 1, rport: 3}
	a, b := r.s.isnFor(k1), r.s.isnFor(k2)
	assert.NotEqual(t, a, b, "different tuples, different ISNs")
	r.advance(4 * time.Millisecond)
	assert.Equal(t, a+1000, r.s.isnFor(k1), "one tick per 4 µs")
}

// An application that closes and never hears the peer's FIN leaves
// FIN-WAIT-2 after FinWait2Timeout.
func TestFinWait2Timeout(t *testing.T) {
	r := newRig(t, Config{FinWait2Timeout: 5 * time.Second})
	nxt := r.established(plain)
	require.NoError(t, r.conn.Close())
	r.take()
	r.ackWith(nxt+1, nil)
	assert.Equal(t, StateFinWait2, r.conn.State())
	r.advance(5 * time.Second)
	assert.Equal(t, StateClosed, r.conn.State())
	assert.ErrorIs(t, r.conn.Err(), ErrTimeout)
}

// RFC 5681 section 3.1 (NewReno) and RFC 9438 sections 4.2-4.7 (CUBIC).
func TestCongestionControl(t *testing.T) {
	const mss = 1000
	nr := &NewReno{}
	s := CCState{Cwnd: 10 * mss, Ssthresh: 1 << 30, MSS: mss}
	nr.OnAck(&s, 3000, 0, 0)
	assert.Equal(t, 11*mss, s.Cwnd, "slow start grows by at most one MSS per ACK")
	nr.OnCongestion(&s, 20*mss, 0)
	assert.Equal(t, 10*mss, s.Ssthresh)
	assert.Equal(t, 10*mss, s.Cwnd)
	for i := 0; i < 10; i++ {
		nr.OnAck(&s, mss, 0, 0)
	}
	assert.Equal(t, 11*mss, s.Cwnd, "one MSS per window in congestion avoidance")
	nr.OnTimeout(&s, 20*mss, 0)
	assert.Equal(t, mss, s.Cwnd)

	cu := &CUBIC{}
	s = CCState{Cwnd: 100 * mss, Ssthresh: 1 << 30, MSS: mss, SRTT: 10 * time.Millisecond}
	cu.OnCongestion(&s, 100*mss, 0)
	assert.Equal(t, 70*mss, s.Cwnd, "beta = 0.7")
	assert.InDelta(t, 100, cu.wMax, 1e-9)
	// Growth follows W(t) = C(t-K)^3 + Wmax: after K seconds cwnd is
	// back near Wmax.
	now := clock.Time(0)
	for now < clock.Time(4*time.Second) {
		for i := 0; i < s.Cwnd/mss; i++ {
			cu.OnAck(&s, mss, s.Cwnd, now)
		}
		now = now.Add(10 * time.Millisecond)
	}
	k := cu.k
	assert.InDelta(t, 4.22, k, 0.01, "K = cbrt(Wmax*(1-beta)/C)")
	assert.Greater(t, s.Cwnd, 100*mss, "past the plateau after K")
	// RFC 9438 section 4.6: ssthresh follows the flight size, so a second
	// timeout right after a first (cwnd already 1 MSS) keeps it.
	s.Cwnd = 40 * mss
	cu.OnTimeout(&s, 40*mss, now)
	assert.Equal(t, mss, s.Cwnd)
	assert.Equal(t, 28*mss, s.Ssthresh)
	cu.OnTimeout(&s, 40*mss, now)
	assert.Equal(t, 28*mss, s.Ssthresh)
	// Fast convergence: a loss below the previous Wmax lowers it further.
	s.Cwnd = 80 * mss
	cu.wMax = 100
	cu.OnCongestion(&s, 80*mss, now)
	assert.InDelta(t, 80*(1+0.7)/2, cu.wMax, 1e-9)
}

// Two runs with the same seed produce the same segments.
func TestDeterministic(t *testing.T) {
	trace := func() []byte {
		p := newPair(11, Config{})
		for _, n := range []*tcptest.Pipe{p.na, p.nb} {
			n.Loss, n.Reorder = 0.03, 0.05
		}
		var out bytes.Buffer
		got, cli, srv := p.transfer(t, 300000, time.Minute)
		out.Write(got)
		b, err := json.Marshal([]ConnStats{cli.Stats(), srv.Stats()})
		require.NoError(t, err)
		out.Write(b)
		return out.Bytes()
	}
	assert.True(t, bytes.Equal(trace(), trace()))
}

func TestAllStats(t *testing.T) {
	p := newPair(5, Config{KeepStats: true, MSL: time.Second})
	p.transfer(t, 10000, time.Minute)
	p.sched.RunUntil(p.sched.Now().Add(10 * time.Second))
	st := p.a.AllStats()
	require.Len(t, st, 1)
	assert.Equal(t, uint64(10000), st[0].BytesSent)
	assert.Equal(t, "CLOSED", st[0].State)
	b, err := json.Marshal(st[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"bytes_sent":10000`)
}

// naiveSum is RFC 1071's reference: 16-bit words with end-around carry.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestChecksumMatchesRFC1071(t *testing.T) {
	r := rng.New(1, "checksum")
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if n%7 == 0 {
			for i := range b {
				b[i] = 0xff
			}
		}
		assert.Equal(t, naiveSum(b), fold(sumBytes(b)), "length %d", n)
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1480)
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	b.SetBytes(int64(len(buf)))
	for i := 0; i < b.N; i++ {
		_ = Checksum(src, dst, buf)
	}
}
