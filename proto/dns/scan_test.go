package dns

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scanCorpus returns well-formed messages and the malformed ones of
// TestUnpackRejects.
func scanCorpus(t testing.TB) [][]byte {
	sample, err := sampleMsg().Pack()
	require.NoError(t, err)
	query, err := (&Msg{Header: Header{ID: 7, RecursionDesired: true},
		Question: []Question{{Name: "a\\.b.example.", Type: TypeAAAA, Class: ClassINET}}}).Pack()
	require.NoError(t, err)
	long := bytes.Repeat([]byte{'a'}, 63)
	var name255 []byte
	for range 4 {
		name255 = append(name255, 63)
		name255 = append(name255, long...)
	}
	name255 = append(name255, 0)
	return [][]byte{
		sample, query,
		cat(hdr(0, 0, 0, 0)),
		cat(hdr(3, 0, 0, 0), []byte{1, 'a', 0, 0, 1, 0, 1}, []byte{1, 'b', 0xC0, 12, 0, 1, 0, 1}, []byte{1, 'c', 0xC0, 19, 0, 1, 0, 1}),
		{0, 1, 2},
		cat(hdr(1, 0, 0, 0), []byte{0xC0, 12, 0, 1, 0, 1}),
		cat(hdr(1, 0, 0, 0), []byte{0xC0, 14, 0, 1, 0, 1, 0, 0, 1, 0, 1}),
		cat(hdr(1, 0, 0, 0), []byte{0x41, 'a', 0, 0, 1, 0, 1}),
		cat(hdr(1, 0, 0, 0), name255, []byte{0, 1, 0, 1}),
		cat(hdr(1, 0, 0, 0), name255[4:], []byte{0, 1, 0, 1}),
		cat(hdr(1, 0, 0, 0), []byte{1, 'a', 0, 0, 1}),
		cat(hdr(0, 255, 0, 0), []byte{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}),
		cat(hdr(0, 1, 0, 0), []byte{0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4}),
		cat(hdr(0, 1, 0, 0), []byte{0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 2, 3, 'a', 'b', 'c', 0}),
		cat(hdr(0, 1, 0, 0), []byte{0, 0, 6, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 1, 2}),
		cat(hdr(0, 1, 0, 0), []byte{0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 5, 'a'}),
		cat(hdr(0, 0, 0, 1), []byte{0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0, 9, 1}),
		cat(hdr(0, 0, 0, 0), []byte{1}),
	}
}

// checkScan fails t unless scan accepts exactly what Unpack accepts, with
// the same header, counts and first question, and Scan returns Unpack's
// error.
func checkScan(t testing.TB, b []byte) {
	var m Msg
	uerr := m.Unpack(b)
	var s Summary
	ok := s.scan(b)
	require.Equal(t, uerr == nil, ok, "scan and Unpack disagree on % x (Unpack: %v)", b, uerr)
	serr := s.Scan(b)
	if uerr != nil {
		require.EqualError(t, serr, uerr.Error())
		return
	}
	require.NoError(t, serr)
	assert.Equal(t, m.Header, s.Header)
	assert.Equal(t, []int{len(m.Question), len(m.Answer), len(m.Authority), len(m.Additional)},
		[]int{s.Questions, s.Answers, s.Authorities, s.Additionals})
	if len(m.Question) > 0 {
		assert.Equal(t, m.Question[0].Name, s.QuestionName())
		assert.Equal(t, m.Question[0].Type, s.QType)
		assert.Equal(t, m.Question[0].Class, s.QClass)
	} else {
		assert.Empty(t, s.QuestionName())
		assert.Nil(t, s.QuestionWire())
	}
}

// TestScanAgreesWithUnpack checks Scan against Unpack over the corpus,
// every truncation of it and every single-octet change to a few values.
func TestScanAgreesWithUnpack(t *testing.T) {
	t.Parallel()
	for _, msg := range scanCorpus(t) {
		checkScan(t, msg)
		for n := range len(msg) {
			checkScan(t, msg[:n])
		}
		for i := range msg {
			for _, v := range []byte{0, 1, 3, 0x3f, 0x40, 0xc0, 0xff, msg[i] + 1, msg[i] - 1} {
				mut := bytes.Clone(msg)
				mut[i] = v
				checkScan(t, mut)
			}
		}
	}
}

// TestScanAllocs checks that Scan allocates nothing on a well-formed
// message (not parallel: AllocsPerRun counts the whole process).
func TestScanAllocs(t *testing.T) {
	wire, err := sampleMsg().Pack()
	require.NoError(t, err)
	var s Summary
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.Scan(wire); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
	assert.Equal(t, "www.example.com.", s.QuestionName())
	assert.Equal(t, 8, s.Answers)
}

func FuzzScan(f *testing.F) {
	for _, msg := range scanCorpus(f) {
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkScan(t, data) })
}

func BenchmarkScan(b *testing.B) {
	wire, err := sampleMsg().Pack()
	require.NoError(b, err)
	b.ReportAllocs()
	var s Summary
	for b.Loop() {
		if err := s.Scan(wire); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
