package diff

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exchange is a small recorded server flow: SYN-ACK, ACK, data, FIN.
func exchange() []Segment {
	return []Segment{
		{Seq: 0, Ack: 1, Flags: FlagSYN | FlagACK, Window: 65535, Options: "mss=1460,ws=7"},
		{Seq: 1, Ack: 101, Flags: FlagACK, Window: 65536},
		{Seq: 1, Ack: 101, Flags: FlagACK | FlagPSH, Len: 100, Sum: 42, Window: 65536},
		{Seq: 101, Ack: 102, Flags: FlagACK | FlagFIN, Window: 65536},
	}
}

func clone(s []Segment) []Segment { return append([]Segment(nil), s...) }

func TestCompare(t *testing.T) {
	tests := []struct {
		name  string
		ours  func([]Segment) []Segment
		tol   uint32
		want  map[Kind]int
		match int
	}{
		{"identical", func(s []Segment) []Segment { return s }, 0, map[Kind]int{}, 4},
		{"missing ack", func(s []Segment) []Segment { return append(s[:1:1], s[2:]...) }, 0, map[Kind]int{Missing: 1}, 3},
		{"extra ack", func(s []Segment) []Segment {
			return append(s[:2:2], append([]Segment{{Seq: 1, Ack: 101, Flags: FlagACK, Window: 65536}}, s[2:]...)...)
		}, 0, map[Kind]int{Extra: 1}, 4},
		{"flags", func(s []Segment) []Segment { s[2].Flags = FlagACK; return s }, 0, map[Kind]int{Flags: 1}, 4},
		{"ack", func(s []Segment) []Segment { s[1].Ack = 51; return s }, 0, map[Kind]int{Ack: 1}, 4},
		{"payload", func(s []Segment) []Segment { s[2].Sum = 43; return s }, 0, map[Kind]int{Payload: 1}, 4},
		{"window beyond tolerance", func(s []Segment) []Segment { s[1].Window = 60000; return s }, 1000, map[Kind]int{Window: 1}, 4},
		{"window within tolerance", func(s []Segment) []Segment { s[1].Window = 65000; return s }, 1000, map[Kind]int{}, 4},
		{"options", func(s []Segment) []Segment { s[0].Options = "mss=1460,ws=3"; return s }, 0, map[Kind]int{Options: 1}, 4},
		{"different segmentation", func(s []Segment) []Segment {
			s[2].Len, s[2].Sum = 60, 1
			return append(s[:3:3], append([]Segment{{Seq: 61, Ack: 101, Flags: FlagACK, Len: 40, Sum: 2, Window: 65536}}, s[3:]...)...)
		}, 0, map[Kind]int{Missing: 1, Extra: 2}, 3},
		{"retransmission", func(s []Segment) []Segment {
			return append(s[:3:3], append([]Segment{s[2]}, s[3:]...)...)
		}, 0, map[Kind]int{Retransmission: 1}, 4},
		{"nothing sent", func([]Segment) []Segment { return nil }, 0, map[Kind]int{Missing: 4}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Flow{Name: "tcp a <-> b", Proto: TCP, Recorded: exchange(), Ours: tc.ours(clone(exchange()))}
			r := Compare([]Flow{f}, Config{WindowTolerance: tc.tol})
			require.Len(t, r.Flows, 1)
			fr := r.Flows[0]
			got := map[Kind]int{}
			for k, n := range fr.Counts {
				if n > 0 {
					got[k] = n
				}
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.match, fr.Matched)
			assert.Len(t, fr.Differences, fr.Total())
			assert.Equal(t, len(tc.want) == 0, r.Empty())
			for _, d := range fr.Differences {
				assert.NotEmpty(t, d.Detail)
				switch d.Kind {
				case Missing:
					assert.NotNil(t, d.Recorded)
					assert.Nil(t, d.Ours)
				case Extra:
					assert.Nil(t, d.Recorded)
					assert.NotNil(t, d.Ours)
				case Flags, Ack, Payload, Window, Options:
					assert.NotNil(t, d.Recorded)
					assert.NotNil(t, d.Ours)
				}
			}
		})
	}
}

func TestCompareRecordedRetransmission(t *testing.T) {
	rec := exchange()
	rec = append(rec[:3:3], append([]Segment{rec[2]}, rec[3:]...)...)
	r := Compare([]Flow{{Name: "f", Proto: TCP, Recorded: rec, Ours: exchange()}}, Config{})
	assert.Equal(t, 1, r.Totals[Retransmission])
	assert.Equal(t, 1, r.Total())
}

func TestCompareLookaheadIsBounded(t *testing.T) {
	// A recorded segment whose match lies beyond Lookahead is missing, and
	// the segments in between are not all reported extra.
	var ours []Segment
	for i := 0; i < Lookahead+5; i++ {
		ours = append(ours, Segment{Seq: 1, Ack: uint32(i), Flags: FlagACK})
	}
	ours = append(ours, Segment{Seq: 1, Len: 10, Flags: FlagACK})
	rec := []Segment{{Seq: 1, Len: 10, Flags: FlagACK}}
	r := Compare([]Flow{{Name: "f", Proto: TCP, Recorded: rec, Ours: ours}}, Config{})
	assert.Equal(t, 1, r.Totals[Missing])
	assert.Equal(t, len(ours), r.Totals[Extra])
}

func TestCompareDatagrams(t *testing.T) {
	rec := []Segment{{Len: 30, Sum: 1}, {Len: 40, Sum: 2}, {Len: 50, Sum: 3}}
	ours := []Segment{{Len: 30, Sum: 1}, {Len: 41, Sum: 9}}
	r := Compare([]Flow{{Name: "udp a <-> b", Proto: UDP, Recorded: rec, Ours: ours}}, Config{})
	assert.Equal(t, map[Kind]int{Payload: 1, Missing: 1}, r.Totals)
	assert.Equal(t, 2, r.Flows[0].Matched)
	r = Compare([]Flow{{Name: "udp", Proto: UDP, Recorded: rec[:1], Ours: rec}}, Config{})
	assert.Equal(t, map[Kind]int{Extra: 2}, r.Totals)
}

func TestMaxDifferences(t *testing.T) {
	var ours []Segment
	for i := 0; i < 10; i++ {
		ours = append(ours, Segment{Seq: uint32(i), Flags: FlagACK})
	}
	r := Compare([]Flow{{Name: "f", Proto: TCP, Ours: ours}}, Config{MaxDifferences: 3})
	assert.Equal(t, 10, r.Flows[0].Counts[Extra])
	assert.Len(t, r.Flows[0].Differences, 3)
	assert.Equal(t, 7, r.Flows[0].Omitted)
}

func TestReportOutputs(t *testing.T) {
	ours := exchange()
	ours[1].Window = 1000
	r := Compare([]Flow{
		{Name: "tcp 192.0.2.1:7 <-> 192.0.2.9:4000", Proto: TCP, Recorded: exchange(), Ours: ours},
		{Name: "tcp 192.0.2.1:9 <-> 192.0.2.9:4001", Proto: TCP, Note: "the recorded host opened this flow"},
	}, Config{})
	var js bytes.Buffer
	require.NoError(t, r.WriteJSON(&js))
	var back Report
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	assert.Equal(t, 1, back.Totals[Window])
	require.Len(t, back.Flows, 2)
	assert.Equal(t, "window 65536 recorded, 1000 sent", back.Flows[0].Differences[0].Detail)

	var sum bytes.Buffer
	require.NoError(t, r.WriteSummary(&sum, 5))
	assert.Equal(t, `1 differences in 2 flows: window=1
1 causes:
  window-policy  tcp 192.0.2.1:7 <-> 192.0.2.9:4000 -, 1 differences: window/option policy: advertised windows 65536 bytes recorded, 1000 sent (receive-buffer autotuning against our buffer's free space)
tcp 192.0.2.1:7 <-> 192.0.2.9:4000: 4 recorded, 4 sent, 4 matched, 1 differences (window=1)
  window   window 65536 recorded, 1000 sent
tcp 192.0.2.1:9 <-> 192.0.2.9:4001: 0 recorded, 0 sent, 0 matched [the recorded host opened this flow]
`, sum.String())
	assert.Equal(t, []Kind{Window}, r.KindsSeen())

	sum.Reset()
	require.NoError(t, Compare(nil, Config{}).WriteSummary(&sum, 5))
	assert.Equal(t, "no differences in 0 flows\n", sum.String())
}

func TestFlagString(t *testing.T) {
	assert.Equal(t, "S.", FlagString(FlagSYN|FlagACK))
	assert.Equal(t, "FP.", FlagString(FlagFIN|FlagPSH|FlagACK))
	assert.Equal(t, "R", FlagString(FlagRST))
	assert.Equal(t, "none", FlagString(0))
	assert.Equal(t, "seq=1 ack=2 len=3 [P.] win=4", Segment{Seq: 1, Ack: 2, Len: 3, Flags: FlagPSH | FlagACK, Window: 4}.String())
}

func TestCompareStreams(t *testing.T) {
	rec := []byte("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\nbody bytes")
	ours := []byte("HTTP/1.1 200 OK\r\n\r\nbody bytes")
	r := Compare([]Flow{{Name: "f", Proto: TCP, RecordedStream: rec, OurStream: ours}}, Config{})
	require.Equal(t, 1, r.Totals[Stream])
	sd := r.Flows[0].Stream
	require.NotNil(t, sd)
	assert.Equal(t, 7, sd.Offset)
	assert.Equal(t, len(rec), sd.RecordedLen)
	assert.Equal(t, len(ours), sd.OursLen)
	assert.Equal(t, len("\r\n\r\nbody bytes"), sd.CommonSuffix)
	assert.Equal(t, `"0 200 OK\r\nServer: SimpleHTTP/0.6"`, sd.Recorded)

	r = Compare([]Flow{{Name: "f", Proto: TCP, RecordedStream: rec, OurStream: rec}}, Config{})
	assert.True(t, r.Empty())
	assert.Nil(t, r.Flows[0].Stream)

	// A prefix: the streams part where the shorter ends.
	r = Compare([]Flow{{Name: "f", Proto: TCP, RecordedStream: rec, OurStream: rec[:5]}}, Config{})
	require.NotNil(t, r.Flows[0].Stream)
	assert.Equal(t, 5, r.Flows[0].Stream.Offset)
	assert.Equal(t, 0, r.Flows[0].Stream.CommonSuffix)
	assert.Equal(t, `""`, r.Flows[0].Stream.Ours)
}
