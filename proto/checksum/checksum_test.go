package checksum

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// naiveSum is the RFC 1071 reference: 16-bit words, 32-bit accumulator.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
		s = s>>16 + s&0xffff
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestSumKnownVectors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want uint16
	}{
		// RFC 1071 section 3 numerical example.
		{"rfc1071", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0xddf2},
		{"empty", nil, 0},
		{"odd", []byte{0xab}, 0xab00},
		{"carry", []byte{0xff, 0xff, 0x00, 0x01}, 0x0001},
		// A classic IPv4 header (checksum field zeroed); checksum 0xb861.
		{"ipv4", []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
			0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}, ^uint16(0xb861)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Sum(tc.in, 0))
			assert.Equal(t, naiveSum(tc.in), Sum(tc.in, 0))
		})
	}
}

func TestChecksumVerifiesToZero(t *testing.T) {
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	c := Checksum(h)
	assert.Equal(t, uint16(0xb861), c)
	binary.BigEndian.PutUint16(h[10:], c)
	assert.Equal(t, uint16(0), Checksum(h))
}

func TestSumMatchesNaiveAllLengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n <= len(buf); n++ {
		for _, init := range []uint16{0, 1, 0xfffe, 0xffff} {
			want := Combine(naiveSum(buf[:n]), init)
			require.Equal(t, want, Sum(buf[:n], init), "len %d init %#x", n, init)
		}
	}
	all := make([]byte, 1000)
	for i := range all {
		all[i] = 0xff
	}
	assert.Equal(t, naiveSum(all), Sum(all, 0))
}

func TestCombineSplitsEvenOffsets(t *testing.T) {
	b := []byte("the quick brown fox jumps over the lazy dog!")
	for split := 0; split <= len(b); split += 2 {
		assert.Equal(t, Sum(b, 0), Combine(Sum(b[:split], 0), Sum(b[split:], 0)), "split %d", split)
		assert.Equal(t, Sum(b, 0), Sum(b[split:], Sum(b[:split], 0)), "chained split %d", split)
	}
}

func TestPseudoHeaderIPv4(t *testing.T) {
	src := [4]byte{192, 168, 0, 1}
	dst := [4]byte{10, 1, 255, 254}
	ph := []byte{192, 168, 0, 1, 10, 1, 255, 254, 0, 17, 0x12, 0x34}
	assert.Equal(t, naiveSum(ph), PseudoHeaderIPv4(src, dst, 17, 0x1234))
}

func TestUpdateMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 10000; i++ {
		b := make([]byte, 20)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		b[0] |= 0x40 // never all zero
		binary.BigEndian.PutUint16(b[10:], 0)
		hc := Checksum(b)
		binary.BigEndian.PutUint16(b[10:], hc)
		off := 2 * r.IntN(10)
		if off == 10 {
			continue
		}
		old := binary.BigEndian.Uint16(b[off:])
		nw := uint16(r.Uint32())
		binary.BigEndian.PutUint16(b[off:], nw)
		got := Update(hc, old, nw)
		binary.BigEndian.PutUint16(b[10:], 0)
		require.Equal(t, Checksum(b), got, "iteration %d", i)
	}
}

func TestUpdate32(t *testing.T) {
	b := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	hc := Checksum(b)
	old := binary.BigEndian.Uint32(b[12:])
	binary.BigEndian.PutUint32(b[12:], 0xc0a80101)
	assert.Equal(t, Checksum(b), Update32(hc, old, 0xc0a80101))
}

func FuzzSum(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte{1}, uint16(0xffff))
	f.Add([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7, 0xff}, uint16(7))
	f.Fuzz(func(t *testing.T, b []byte, init uint16) {
		want := Combine(naiveSum(b), init)
		if got := Sum(b, init); got != want {
			t.Fatalf("Sum(%x, %#x) = %#x, want %#x", b, init, got, want)
		}
	})
}

func BenchmarkChecksum(b *testing.B) {
	for _, n := range []int{64, 1500, 65536} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			var s uint16
			for b.Loop() {
				s = Sum(buf, s)
			}
			_ = s
		})
	}
}

func BenchmarkChecksumNaive(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(1500)
	var s uint16
	for b.Loop() {
		s = Combine(naiveSum(buf), s)
	}
	_ = s
}
