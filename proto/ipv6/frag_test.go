package ipv6

import (
	"errors"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
)

// fragments splits pkt with Fragment and returns copies of the fragments.
func fragments(t testing.TB, pkt Header, mtu int, id uint32) []Header {
	t.Helper()
	var out []Header
	buf := make([]byte, mtu)
	require.NoError(t, Fragment(buf, pkt, mtu, id, func(f Header) error {
		out = append(out, append(Header(nil), f...))
		return nil
	}))
	return out
}

// add parses and walks f and hands it to r.
func add(t testing.TB, r *Reassembler, f []byte) (Header, error) {
	t.Helper()
	h, err := Parse(f)
	require.NoError(t, err)
	c, err := Walk(h)
	require.NoError(t, err)
	require.Equal(t, ProtoFragment, c.Proto)
	return r.Add(h, c)
}

func TestFragmentAndReassemble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		next   uint8
		ext    []byte
		data   int
		mtu    int
		frags  int
		unfrag int
	}{
		{"udp 4000 at 1280", ProtoUDP, nil, 4000, 1280, 4, 40},
		{"udp 1500 at 1280", ProtoUDP, nil, 1500, 1280, 2, 40},
		{"hop-by-hop stays in every fragment", ProtoHopByHop, opts(ProtoUDP, OptRouterAlert, 2, 0, 0), 3000, 1280, 3, 48},
		{"routing stays, dest opts travel", ProtoRouting, cat(routing(ProtoDestOpts, 0), opts(ProtoUDP)), 2000, 1280, 2, 64},
		{"tiny mtu", ProtoUDP, nil, 100, 64, 7, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pkt := packet(t, tc.next, cat(tc.ext, udp(tc.data)))
			pc, err := Walk(pkt)
			require.NoError(t, err)
			frags := fragments(t, pkt, tc.mtu, 0x01020304)
			require.Len(t, frags, tc.frags)
			total := 0
			for i, f := range frags {
				assert.LessOrEqual(t, len(f), tc.mtu)
				// The unfragmentable part is copied, with only its Payload
				// Length and last Next Header changed.
				u := append([]byte(nil), f[:tc.unfrag]...)
				assert.Equal(t, ProtoFragment, u[pc.UnfragNext])
				assert.Equal(t, len(f)-HeaderLen, Header(u).PayloadLen())
				u[pc.UnfragNext] = pkt[pc.UnfragNext]
				Header(u).SetPayloadLen(pkt.PayloadLen())
				assert.Equal(t, []byte(pkt[:tc.unfrag]), u)
				c, err := Walk(f)
				require.NoError(t, err)
				require.Equal(t, ProtoFragment, c.Proto)
				require.Equal(t, tc.unfrag, c.Offset, "the fragment header follows the unfragmentable part")
				fh := FragmentHeader(f[c.Offset:])
				n := len(f) - c.Offset - FragmentHeaderLen
				assert.Equal(t, total, fh.Offset())
				assert.Equal(t, i < len(frags)-1, fh.More())
				if fh.More() {
					assert.Zero(t, n%8, "non-final fragments are multiples of 8 bytes")
				}
				total += n
				// gopacket sees the same fragment.
				p := gopacket.NewPacket(f, layers.LayerTypeIPv6, gopacket.Default)
				fl, ok := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				require.True(t, ok, "gopacket finds the fragment header")
				assert.Equal(t, uint16(fh.Offset()/8), fl.FragmentOffset)
				assert.Equal(t, fh.More(), fl.MoreFragments)
				assert.Equal(t, uint32(0x01020304), fl.Identification)
			}
			assert.Equal(t, len(pkt)-tc.unfrag, total)
			// Reassemble in reverse order.
			clk := clock.NewScheduler(0)
			r := NewReassembler(clk, ReassemblyConfig{})
			var got Header
			for i := len(frags) - 1; i >= 0; i-- {
				h, err := add(t, r, frags[i])
				require.NoError(t, err)
				if i > 0 {
					require.Nil(t, h)
				}
				got = h
			}
			assert.Equal(t, []byte(pkt), []byte(got))
			assert.Zero(t, r.Pending())
			assert.Zero(t, r.Memory())
			assert.Zero(t, clk.Len(), "the timer is cancelled")
		})
	}
}

func TestFragmentErrors(t *testing.T) {
	t.Parallel()
	pkt := packet(t, ProtoUDP, udp(100))
	err := Fragment(make([]byte, 1280), pkt, 48, 1, func(Header) error { return nil })
	assert.ErrorIs(t, err, ErrMTU)
	err = Fragment(make([]byte, 100), pkt, 1280, 1, func(Header) error { return nil })
	assert.ErrorIs(t, err, ErrShortBuffer)
	f := fragments(t, packet(t, ProtoUDP, udp(2000)), 1280, 1)[0]
	err = Fragment(make([]byte, 1280), f, 1280, 1, func(Header) error { return nil })
	assert.ErrorIs(t, err, ErrFragmented)
	stop := errors.New("stop")
	err = Fragment(make([]byte, 1280), packet(t, ProtoUDP, udp(2000)), 1280, 1, func(Header) error { return stop })
	assert.ErrorIs(t, err, stop)
}

// raw builds a fragment by hand: IPv6 header, Fragment header and data.
func raw(t testing.TB, id uint32, off int, more bool, data []byte) []byte {
	return packet(t, ProtoFragment, cat(frag(ProtoUDP, off, more, id), data))
}

func seq(n int, base byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = base + byte(i)
	}
	return b
}

// TestReassemblyRules covers RFC 8200 section 4.5, RFC 5722 and RFC 6946
// with crafted fragments.
func TestReassemblyRules(t *testing.T) {
	t.Parallel()
	first := cat(udp(8)[:8], seq(8, 0)) // 16 bytes: a UDP header and data
	t.Run("overlap drops the whole packet, later fragments too", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		h, err := add(t, r, raw(t, 1, 0, true, first))
		require.NoError(t, err)
		require.Nil(t, h)
		_, err = add(t, r, raw(t, 1, 8, true, seq(16, 50)))
		assert.ErrorIs(t, err, ErrOverlap)
		_, err = add(t, r, raw(t, 1, 24, false, seq(8, 90)))
		assert.ErrorIs(t, err, ErrDropped, "RFC 5722: fragments not yet received are discarded too")
		assert.Equal(t, 1, r.Pending())
	})
	t.Run("exact duplicate is ignored", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		_, err := add(t, r, raw(t, 2, 0, true, first))
		require.NoError(t, err)
		h, err := add(t, r, raw(t, 2, 0, true, first))
		require.NoError(t, err)
		require.Nil(t, h)
		h, err = add(t, r, raw(t, 2, 16, false, seq(5, 9)))
		require.NoError(t, err)
		require.NotNil(t, h)
		assert.Equal(t, cat(first, seq(5, 9)), h.Payload())
		assert.Equal(t, ProtoUDP, h.NextHeader())
	})
	t.Run("same offset different bytes is an overlap", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		_, err := add(t, r, raw(t, 2, 16, true, seq(8, 1)))
		require.NoError(t, err)
		_, err = add(t, r, raw(t, 2, 16, true, seq(8, 2)))
		assert.ErrorIs(t, err, ErrOverlap)
	})
	t.Run("atomic fragment is processed alone", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		_, err := add(t, r, raw(t, 3, 16, false, seq(8, 1)))
		require.NoError(t, err)
		h, err := add(t, r, raw(t, 3, 0, false, first))
		require.NoError(t, err, "RFC 6946: no overlap with the pending packet of the same id")
		require.NotNil(t, h)
		assert.Equal(t, first, h.Payload())
		assert.Equal(t, ProtoUDP, h.NextHeader())
		assert.Equal(t, 1, r.Pending(), "the pending packet is untouched")
		h, err = add(t, r, raw(t, 3, 0, true, cat(first, seq(0, 0))))
		require.NoError(t, err)
		require.NotNil(t, h, "and still completes")
		assert.Equal(t, cat(first, seq(8, 1)), h.Payload())
	})
	t.Run("non-final fragment not a multiple of 8", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		_, err := add(t, r, raw(t, 4, 0, true, cat(first, []byte{1})))
		var pe *ProblemError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, ProblemHeaderField, pe.Code)
		assert.Equal(t, uint32(4), pe.Pointer, "points at the Payload Length")
	})
	t.Run("fragment past 65535", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		_, err := add(t, r, raw(t, 5, 65528, false, seq(16, 0)))
		var pe *ProblemError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, ProblemHeaderField, pe.Code)
		assert.Equal(t, uint32(42), pe.Pointer, "points at the Fragment Offset")
	})
	t.Run("first fragment with incomplete chain", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		pkt := packet(t, ProtoFragment, cat(frag(ProtoDestOpts, 0, true, 6), opts(ProtoUDP, 0x1e, 8, 1, 2, 3, 4, 5, 6, 7, 8)[:8]))
		h, _ := Parse(pkt)
		c, err := Walk(h)
		require.NoError(t, err)
		_, err = r.Add(h, c)
		var pe *ProblemError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, ProblemIncompleteChain, pe.Code, "RFC 7112")
		assert.Zero(t, pe.Pointer)
	})
	t.Run("last fragments disagree", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		_, err := add(t, r, raw(t, 7, 32, false, seq(8, 0)))
		require.NoError(t, err)
		_, err = add(t, r, raw(t, 7, 48, false, seq(8, 0)))
		assert.ErrorIs(t, err, ErrInconsistent)
	})
	t.Run("not a fragment", func(t *testing.T) {
		t.Parallel()
		r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
		h := packet(t, ProtoUDP, udp(4))
		c, err := Walk(h)
		require.NoError(t, err)
		_, err = r.Add(h, c)
		assert.ErrorIs(t, err, ErrNotFragment)
	})
}

// TestReassemblyTimeout checks the 60-second limit of RFC 8200 section 4.5
// on the virtual clock: the Time Exceeded hook runs only when the first
// fragment arrived, and not a nanosecond early.
func TestReassemblyTimeout(t *testing.T) {
	t.Parallel()
	const sixty = 60 * time.Second // RFC 8200 section 4.5
	first := cat(udp(8)[:8], seq(8, 0))
	clk := clock.NewScheduler(clock.Time(time.Hour))
	var timedOut []Header
	r := NewReassembler(clk, ReassemblyConfig{OnTimeout: func(h Header) { timedOut = append(timedOut, append(Header(nil), h...)) }})
	start := clk.Now()
	f1 := raw(t, 1, 0, true, first)
	_, err := add(t, r, f1)
	require.NoError(t, err)
	clk.RunUntil(start.Add(10 * time.Second))
	_, err = add(t, r, raw(t, 2, 16, false, seq(8, 0))) // no first fragment
	require.NoError(t, err)
	assert.Equal(t, 2, r.Pending())

	clk.RunUntil(start.Add(sixty - 1))
	assert.Equal(t, 2, r.Pending(), "not before 60 s")
	assert.Empty(t, timedOut)
	clk.RunUntil(start.Add(sixty))
	assert.Equal(t, 1, r.Pending())
	require.Len(t, timedOut, 1)
	assert.Equal(t, f1, []byte(timedOut[0]), "the first fragment is handed over for the ICMPv6 quote")
	clk.RunUntil(start.Add(10*time.Second + sixty))
	assert.Zero(t, r.Pending())
	assert.Len(t, timedOut, 1, "no Time Exceeded without the first fragment")
	assert.Zero(t, r.Memory())
	assert.Zero(t, clk.Len())

	// A late fragment of the expired packet starts afresh.
	h, err := add(t, r, raw(t, 1, 16, false, seq(8, 0)))
	require.NoError(t, err)
	assert.Nil(t, h)
}

// TestReassemblyMemoryBound fills the reassembler past its limit: memory
// never exceeds it, the oldest packets go first, and the newest still
// completes.
func TestReassemblyMemoryBound(t *testing.T) {
	t.Parallel()
	const limit = 16 << 10
	clk := clock.NewScheduler(0)
	r := NewReassembler(clk, ReassemblyConfig{MaxMemory: limit})
	for id := uint32(1); id <= 100; id++ {
		_, err := add(t, r, raw(t, id, 1024, true, seq(1024, byte(id))))
		require.NoError(t, err)
		assert.LessOrEqual(t, r.Memory(), limit)
	}
	assert.Less(t, r.Pending(), 100, "old packets were evicted")
	assert.Positive(t, r.Pending())
	_, err := add(t, r, raw(t, 100, 0, true, cat(udp(8)[:8], seq(1016, 0))))
	require.NoError(t, err)
	h, err := add(t, r, raw(t, 100, 2048, false, seq(8, 0)))
	require.NoError(t, err)
	require.NotNil(t, h, "the newest packet survives eviction")
	assert.Len(t, h.Payload(), 2056)
	_, err = add(t, r, raw(t, 1, 0, true, cat(udp(8)[:8], seq(1016, 0))))
	require.NoError(t, err)
	h, err = add(t, r, raw(t, 1, 2048, false, seq(8, 0)))
	require.NoError(t, err)
	assert.Nil(t, h, "packet 1 was evicted: its middle fragment is gone")

	tiny := NewReassembler(clk, ReassemblyConfig{MaxMemory: 100})
	_, err = add(t, tiny, raw(t, 1, 1024, true, seq(1024, 0)))
	assert.ErrorIs(t, err, ErrMemory, "a fragment larger than the whole budget")
	assert.LessOrEqual(t, tiny.Memory(), 100)
}

func TestReassemblyFragmentLimit(t *testing.T) {
	t.Parallel()
	r := NewReassembler(clock.NewScheduler(0), ReassemblyConfig{})
	var err error
	for i := 0; i <= MaxFragments && err == nil; i++ {
		_, err = add(t, r, raw(t, 1, 8+16*i, true, seq(8, 0)))
	}
	assert.ErrorIs(t, err, ErrMemory)
	assert.Equal(t, 1, r.Pending(), "the packet waits, discarded, for its timeout")
}
