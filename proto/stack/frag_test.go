package stack

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/udp"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestFragmentationAndReassembly(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	server := &udpRecorder{}
	requireBind(t, b, "0.0.0.0:9000", server)
	cs := requireBind(t, a, "0.0.0.0:1234", &udpRecorder{})
	tn.hub.sent = nil
	data := pattern(10000)
	require.NoError(t, cs.SendTo(netip.AddrPortFrom(ip(2), 9000), data))
	tn.run(time.Second)

	require.Len(t, server.got, 1)
	assert.True(t, bytes.Equal(data, server.got[0].payload))

	var frags []ipv4.Header
	for _, h := range sentIP(tn.hub) {
		if h.Src() == ip(1) {
			frags = append(frags, h)
		}
	}
	// 10,008 bytes of UDP in 1,480-byte chunks: 6 full fragments and one
	// of 1,128 bytes.
	require.Len(t, frags, 7)
	for k, f := range frags {
		assert.Equal(t, k*1480, f.FragmentOffset(), "fragment %d", k)
		assert.Equal(t, k < 6, f.MF(), "fragment %d", k)
		assert.Equal(t, frags[0].ID(), f.ID())
		assert.LessOrEqual(t, f.TotalLen(), 1500)
		assert.Equal(t, ipv4.ProtoUDP, f.Protocol())
	}
	assert.Equal(t, 20+1128, frags[6].TotalLen())
	sa, sb := a.Stats(), b.Stats()
	assert.Equal(t, uint64(7), sa.FragmentsOut)
	assert.Equal(t, uint64(7), sb.FragmentsIn)
	assert.Equal(t, uint64(1), sb.Reassembled)
	assert.Equal(t, 0, b.ReassemblyMemoryInUse())
}

// fragmentFrames crafts the Ethernet frames of a UDP datagram from a to b
// cut into fragments of chunk bytes (the last may be shorter).
func fragmentFrames(t testing.TB, to ether.Addr, src, dst netip.Addr, id uint16, payload []byte, chunk int) [][]byte {
	t.Helper()
	dg := make([]byte, udp.HeaderLen+len(payload))
	copy(dg[udp.HeaderLen:], payload)
	u, err := udp.Encode(dg, 1234, 9000, len(payload))
	require.NoError(t, err)
	u.SetChecksum(src, dst)
	var frames [][]byte
	for off := 0; off < len(dg); off += chunk {
		end := min(off+chunk, len(dg))
		fr := make([]byte, ether.HeaderLen+ipv4.MinHeaderLen+end-off)
		ether.Encode(fr, to, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
		copy(fr[ether.HeaderLen+ipv4.MinHeaderLen:], dg[off:end])
		f := ipv4.Fields{ID: id, MF: end < len(dg), FragmentOffset: off, TTL: 64, Protocol: ipv4.ProtoUDP, Src: src, Dst: dst}
		_, err := ipv4.Encode(fr[ether.HeaderLen:], &f, end-off)
		require.NoError(t, err)
		frames = append(frames, fr)
	}
	return frames
}

// craftedFragment builds one fragment frame with arbitrary offset, MF and
// data.
func craftedFragment(t testing.TB, to ether.Addr, id uint16, off int, mf bool, data []byte) []byte {
	t.Helper()
	fr := make([]byte, ether.HeaderLen+ipv4.MinHeaderLen+len(data))
	ether.Encode(fr, to, ether.Addr{2, 0, 0, 0, 0, 1}, ether.TypeIPv4)
	copy(fr[ether.HeaderLen+ipv4.MinHeaderLen:], data)
	f := ipv4.Fields{ID: id, MF: mf, FragmentOffset: off, TTL: 64, Protocol: ipv4.ProtoUDP, Src: ip(1), Dst: ip(2)}
	_, err := ipv4.Encode(fr[ether.HeaderLen:], &f, len(data))
	require.NoError(t, err)
	return fr
}

func TestReassemblyOutOfOrderAndDuplicates(t *testing.T) {
	tn := newTestNet(t, 1500)
	b := tn.addHost("b", 2)
	ifc := b.Interfaces()[0]
	server := &udpRecorder{}
	requireBind(t, b, "0.0.0.0:9000", server)
	data := pattern(3000)
	frames := fragmentFrames(t, ifc.MAC(), ip(1), ip(2), 77, data, 512)
	require.Len(t, frames, 6)
	// Last first, then the middle ones backwards, one duplicated, then
	// the first.
	order := []int{5, 3, 4, 3, 2, 1, 0}
	for _, k := range order {
		ifc.Receive(frames[k], link.Note{})
	}
	require.Len(t, server.got, 1)
	assert.True(t, bytes.Equal(data, server.got[0].payload))
	s := b.Stats()
	assert.Equal(t, uint64(1), s.ReassemblyDuplicate)
	assert.Equal(t, uint64(1), s.Reassembled)
	assert.Equal(t, uint64(0), s.ReassemblyOverlap)
	assert.Equal(t, 0, b.ReassemblyMemoryInUse())

	// A duplicate arriving after completion starts a new partial
	// datagram, which the timer later frees.
	ifc.Receive(frames[2], link.Note{})
	assert.Positive(t, b.ReassemblyMemoryInUse())
	tn.run(DefaultReassemblyTimeout + time.Second)
	assert.Equal(t, 0, b.ReassemblyMemoryInUse())
	assert.Equal(t, uint64(0), b.Stats().TimeExceededOut, "no first fragment: no ICMP")
}

func TestReassemblyOverlapDropsDatagram(t *testing.T) {
	tests := []struct {
		name  string
		frags [][]any // offset, mf, length
	}{
		{"partial overlap", [][]any{{0, true, 16}, {8, true, 16}}},
		{"contained", [][]any{{0, true, 64}, {16, true, 8}}},
		{"same start longer", [][]any{{0, true, 16}, {0, true, 24}}},
		{"last overlapping", [][]any{{0, true, 16}, {8, false, 20}}},
		{"middle made last", [][]any{{16, true, 16}, {16, false, 16}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := newTestNet(t, 1500)
			b := tn.addHost("b", 2)
			ifc := b.Interfaces()[0]
			for _, f := range tc.frags {
				ifc.Receive(craftedFragment(t, ifc.MAC(), 5, f[0].(int), f[1].(bool), make([]byte, f[2].(int))), link.Note{})
			}
			s := b.Stats()
			assert.Equal(t, uint64(1), s.ReassemblyOverlap)
			assert.Equal(t, uint64(0), s.ReassemblyPending)
			assert.Equal(t, 0, b.ReassemblyMemoryInUse())
		})
	}
}

func TestReassemblyMalformedFragments(t *testing.T) {
	tn := newTestNet(t, 1500)
	b := tn.addHost("b", 2)
	ifc := b.Interfaces()[0]
	// MF with a length that is not a multiple of 8.
	ifc.Receive(craftedFragment(t, ifc.MAC(), 1, 0, true, make([]byte, 13)), link.Note{})
	// Two different ends.
	ifc.Receive(craftedFragment(t, ifc.MAC(), 2, 16, false, make([]byte, 16)), link.Note{})
	ifc.Receive(craftedFragment(t, ifc.MAC(), 2, 64, false, make([]byte, 16)), link.Note{})
	// Data past a known end.
	ifc.Receive(craftedFragment(t, ifc.MAC(), 3, 32, false, make([]byte, 8)), link.Note{})
	ifc.Receive(craftedFragment(t, ifc.MAC(), 3, 64, true, make([]byte, 8)), link.Note{})
	s := b.Stats()
	assert.Equal(t, uint64(3), s.ReassemblyMalformed)
	assert.Equal(t, uint64(0), s.ReassemblyPending)
}

func TestReassemblyTimeoutFreesMemoryAndSendsTimeExceeded(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	b := tn.addHost("b", 2)
	tn.run(5 * time.Second)
	requireBind(t, b, "0.0.0.0:9000", &udpRecorder{})
	cs := requireBind(t, a, "0.0.0.0:1234", &udpRecorder{})
	// Lose the fourth fragment.
	n := 0
	tn.hub.drop = func(frame []byte) bool {
		f, _ := ether.Parse(frame)
		if f.EtherType() != ether.TypeIPv4 {
			return false
		}
		h, _ := ipv4.Parse(f.Payload())
		if h.Src() == ip(1) && h.IsFragment() {
			n++
			return n == 4
		}
		return false
	}
	require.NoError(t, cs.SendTo(netip.AddrPortFrom(ip(2), 9000), pattern(10000)))
	tn.run(time.Second)
	s := b.Stats()
	assert.Equal(t, uint64(6), s.FragmentsIn)
	assert.Equal(t, uint64(1), s.ReassemblyPending)
	mem := b.ReassemblyMemoryInUse()
	assert.GreaterOrEqual(t, mem, 10008)
	assert.Equal(t, uint64(mem), s.ReassemblyBytesInUse)

	tn.hub.sent = nil
	tn.run(DefaultReassemblyTimeout)
	s = b.Stats()
	assert.Equal(t, 0, b.ReassemblyMemoryInUse())
	assert.Equal(t, uint64(0), s.ReassemblyBytesInUse)
	assert.Equal(t, uint64(1), s.ReassemblyTimeout)
	assert.Equal(t, uint64(1), s.TimeExceededOut)
	assert.Equal(t, uint64(1), a.Stats().ICMPErrorsIn)

	// The error is type 11 code 1 and quotes the first fragment's header
	// and the first 8 bytes of its data (the UDP header).
	var found bool
	for _, h := range sentIP(tn.hub) {
		if h.Protocol() != ipv4.ProtoICMP {
			continue
		}
		m, err := icmp.Parse(h.Payload())
		require.NoError(t, err)
		assert.Equal(t, icmp.TypeTimeExceeded, m.Type())
		assert.Equal(t, icmp.CodeReassemblyExceeded, m.Code())
		assert.Equal(t, ip(2), h.Src())
		assert.Equal(t, ip(1), h.Dst())
		q, err := ipv4.ParseUnchecked(m.Payload())
		require.ErrorIs(t, err, ipv4.ErrTotalLen, "a quote is shorter than the datagram")
		_ = q
		require.Len(t, m.Payload(), 28)
		assert.Equal(t, uint16(1234), uint16(m.Payload()[20])<<8|uint16(m.Payload()[21]))
		assert.Equal(t, uint8(0x20), m.Payload()[6]&0x20, "quoted header has MF set")
		found = true
	}
	assert.True(t, found)
}

func TestReassemblyTimeoutWithoutFirstFragmentIsSilent(t *testing.T) {
	tn := newTestNet(t, 1500)
	b := tn.addHost("b", 2)
	ifc := b.Interfaces()[0]
	frames := fragmentFrames(t, ifc.MAC(), ip(1), ip(2), 9, pattern(2000), 512)
	for _, fr := range frames[1:] {
		ifc.Receive(fr, link.Note{})
	}
	assert.Positive(t, b.ReassemblyMemoryInUse())
	tn.hub.sent = nil
	tn.run(DefaultReassemblyTimeout + time.Second)
	assert.Equal(t, 0, b.ReassemblyMemoryInUse())
	assert.Equal(t, uint64(1), b.Stats().ReassemblyTimeout)
	assert.Equal(t, uint64(0), b.Stats().TimeExceededOut)
	assert.Empty(t, sentIP(tn.hub))
}

func TestReassemblyMemoryLimit(t *testing.T) {
	const limit = 8 << 10
	tn := newTestNet(t, 1500)
	b := tn.addHost("b", 2, func(c *Config) { c.ReassemblyMemoryLimit = limit })
	ifc := b.Interfaces()[0]
	server := &udpRecorder{}
	requireBind(t, b, "0.0.0.0:9000", server)
	// Many partial datagrams, each missing its last fragment.
	for id := range uint16(40) {
		frames := fragmentFrames(t, ifc.MAC(), ip(1), ip(2), id, pattern(1500), 512)
		for _, fr := range frames[:len(frames)-1] {
			ifc.Receive(fr, link.Note{})
			require.LessOrEqual(t, b.ReassemblyMemoryInUse(), limit)
		}
	}
	s := b.Stats()
	assert.Positive(t, s.ReassemblyMemory, "oldest partial datagrams evicted")
	assert.Less(t, s.ReassemblyPending, uint64(40))
	// A complete datagram still gets through.
	for _, fr := range fragmentFrames(t, ifc.MAC(), ip(1), ip(2), 999, pattern(1500), 512) {
		ifc.Receive(fr, link.Note{})
	}
	require.Len(t, server.got, 1)
	// One datagram larger than the whole budget is dropped, not held, and
	// does not evict the others.
	pending := b.Stats().ReassemblyPending
	evicted := b.Stats().ReassemblyMemory
	big := fragmentFrames(t, ifc.MAC(), ip(1), ip(2), 1000, pattern(20000), 1480)
	ifc.Receive(big[0], link.Note{})
	ifc.Receive(big[len(big)-1], link.Note{})
	assert.LessOrEqual(t, b.ReassemblyMemoryInUse(), limit)
	assert.Equal(t, evicted+1, b.Stats().ReassemblyMemory)
	assert.Equal(t, pending, b.Stats().ReassemblyPending)
	tn.run(DefaultReassemblyTimeout + time.Second)
	assert.Equal(t, 0, b.ReassemblyMemoryInUse())
}

func TestDontFragmentTooBig(t *testing.T) {
	tn := newTestNet(t, 1500)
	a := tn.addHost("a", 1)
	tn.addHost("b", 2)
	err := a.SendIPWith(ipv4.ProtoUDP, netip.Addr{}, ip(2), make([]byte, 1481), SendOptions{DF: true})
	require.ErrorIs(t, err, ErrMessageTooBig)
	assert.Equal(t, uint64(1), a.Stats().IPTooBig)
	require.NoError(t, a.SendIPWith(ipv4.ProtoUDP, netip.Addr{}, ip(2), make([]byte, 1480), SendOptions{DF: true}))
	err = a.SendIP(ipv4.ProtoUDP, netip.Addr{}, ip(2), make([]byte, 65516))
	assert.ErrorIs(t, err, ErrMessageTooBig)
}
