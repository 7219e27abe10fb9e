package diff

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dns"
)

// segments cuts a stream into data segments of at most size bytes from
// seq 1, numbering frames from first.
func segments(stream []byte, size, first int) []Segment {
	var out []Segment
	for off := 0; off < len(stream); off += size {
		n := min(size, len(stream)-off)
		out = append(out, Segment{Frame: first + len(out), Seq: uint32(1 + off), Ack: 1, Len: n, Flags: FlagACK,
			Sum: sum(stream[off : off+n])})
	}
	return out
}

func sum(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func causeKinds(cs []Cause) map[CauseKind]int {
	m := map[CauseKind]int{}
	for _, c := range cs {
		m[c.Kind] += c.Count
	}
	return m
}

func TestCauses(t *testing.T) {
	t.Parallel()
	body := make([]byte, 20000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	recHead := append([]byte("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\n"), body...)
	ourHead := append([]byte("HTTP/1.1 200 OK\r\n\r\n"), body...)
	pureACK := func(frame int, ack uint32) Segment { return Segment{Frame: frame, Seq: 1, Ack: ack, Flags: FlagACK} }
	tests := []struct {
		name      string
		flow      Flow
		want      map[CauseKind]int
		first     CauseKind
		firstAt   int
		identical bool
		reason    string
	}{
		{
			name: "one early shift is one cause",
			flow: Flow{Name: "http", Proto: TCP, RecordedStream: recHead, OurStream: ourHead,
				Recorded: segments(recHead, 1448, 10), Ours: segments(ourHead, 1448, 100)},
			want: map[CauseKind]int{CauseHead: 16}, first: CauseHead, firstAt: 10,
			reason: "headers differ, body identical: the streams part at offset 7",
		},
		{
			name: "same stream, other boundaries",
			flow: Flow{Name: "echo", Proto: TCP, RecordedStream: body, OurStream: body,
				Recorded: segments(body, 1448, 1), Ours: segments(body, 1000, 1)},
			want: map[CauseKind]int{CauseSegmentation: 14 + 20}, first: CauseSegmentation, firstAt: 1, identical: true,
			reason: "stream bytes identical but segmented differently",
		},
		{
			name: "other content",
			flow: Flow{Name: "c", Proto: TCP, RecordedStream: body[:3000], OurStream: recHead[:3000],
				Recorded: segments(body[:3000], 1500, 1), Ours: segments(recHead[:3000], 1500, 1)},
			want: map[CauseKind]int{CauseContent: 3}, first: CauseContent, firstAt: 1,
			reason: "byte streams differ from offset 0",
		},
		{
			name: "ACK placement and window policy",
			flow: Flow{Name: "a", Proto: TCP,
				Recorded: []Segment{pureACK(5, 100), pureACK(6, 200), {Frame: 7, Seq: 1, Ack: 300, Flags: FlagACK | FlagFIN, Window: 65536}},
				Ours:     []Segment{pureACK(1, 200), {Frame: 2, Seq: 1, Ack: 301, Flags: FlagACK | FlagFIN, Window: 1000}}},
			want: map[CauseKind]int{CauseAckPlacement: 3, CauseWindowPolicy: 1}, first: CauseAckPlacement, firstAt: 5,
			reason: "ACK placement",
		},
		{
			name: "timing-caused retransmission and close",
			flow: Flow{Name: "r", Proto: TCP,
				Recorded: []Segment{{Frame: 1, Seq: 1, Len: 100, Flags: FlagACK}, {Frame: 2, Seq: 1, Len: 100, Flags: FlagACK},
					{Frame: 3, Seq: 101, Flags: FlagACK | FlagFIN}},
				Ours: []Segment{{Frame: 1, Seq: 1, Len: 100, Flags: FlagACK}, {Frame: 2, Seq: 101, Flags: FlagRST}}},
			want: map[CauseKind]int{CauseRetransmission: 1, CauseClose: 2}, first: CauseRetransmission, firstAt: 2,
			reason: "timing-caused retransmission",
		},
		{
			name: "a flow the host opened",
			flow: Flow{Name: "n", Proto: TCP, Note: "opened", Recorded: []Segment{{Frame: 3, Flags: FlagSYN}}},
			want: map[CauseKind]int{CauseNotReplayed: 1}, first: CauseNotReplayed, firstAt: 3,
			reason: "the recorded host opened this flow",
		},
		{
			name: "a port unreachable only ours sent",
			flow: Flow{Name: "icmp 192.0.2.1", Proto: ICMP,
				Recorded: []Segment{{Frame: 4, Label: "echo reply to 192.0.2.2 id 1 seq 1"}},
				Ours:     []Segment{{Frame: 2, Label: "echo reply to 192.0.2.2 id 1 seq 1"}, {Frame: 9, Label: "port unreachable for udp 192.0.2.1:68 from 192.0.2.2"}}},
			want: map[CauseKind]int{CauseICMP: 1}, first: CauseICMP,
			reason: "ICMP sent by one side only (port unreachable for udp 192.0.2.1:68 from 192.0.2.2): 1 of ours not recorded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Compare([]Flow{tc.flow}, Config{})
			assert.Equal(t, tc.want, causeKinds(r.Causes), "%+v", r.Causes)
			require.NotEmpty(t, r.Causes)
			assert.Equal(t, tc.first, r.Causes[0].Kind)
			assert.Equal(t, tc.firstAt, r.Causes[0].FirstFrame)
			assert.Contains(t, r.Causes[0].Reason, tc.reason)
			assert.Equal(t, tc.identical, r.Flows[0].StreamsIdentical)
			n := 0
			for _, c := range r.Causes {
				n += c.Count
			}
			assert.Equal(t, r.Total(), n, "every difference has one cause")
		})
	}
}

// writes cuts a stream written as a head and then a body into segments:
// the head alone, the body in segments of at most size bytes.
func writes(head, body []byte, size, first int) []Segment {
	out := segments(head, len(head), first)
	for _, s := range segments(body, size, first+1) {
		s.Seq += uint32(len(head))
		out = append(out, s)
	}
	fin := Segment{Frame: first + len(out), Seq: uint32(1 + len(head) + len(body)), Ack: 1, Flags: FlagACK | FlagFIN}
	return append(out, fin)
}

// TestShiftedPairing: a head written alone and 25 bytes longer shifts the
// body's segments; they pair at their position in our stream, so the one
// cause explains three differences (the stream and the two heads), not
// thirty.
func TestShiftedPairing(t *testing.T) {
	t.Parallel()
	body := make([]byte, 20000)
	for i := range body {
		body[i] = byte(i * 13)
	}
	recHead := []byte("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6\r\n\r\n")
	ourHead := []byte("HTTP/1.1 200 OK\r\n\r\n")
	f := Flow{Name: "http", Proto: TCP, RecordedStream: append(append([]byte(nil), recHead...), body...),
		OurStream: append(append([]byte(nil), ourHead...), body...),
		Recorded:  writes(recHead, body, 1448, 10), Ours: writes(ourHead, body, 1448, 100)}
	r := Compare([]Flow{f}, Config{})
	assert.Equal(t, map[Kind]int{Stream: 1, Missing: 1, Extra: 1}, r.Totals)
	require.Len(t, r.Causes, 1)
	assert.Equal(t, CauseHead, r.Causes[0].Kind)
	assert.Equal(t, 3, r.Causes[0].Count)
	assert.Contains(t, r.Causes[0].Reason, "15 later segments pair up -24 bytes away")
	assert.Equal(t, len(f.Recorded)-1, r.Flows[0].Matched)
}

func TestStreamsIdenticalSummary(t *testing.T) {
	t.Parallel()
	s := []byte("echo")
	r := Compare([]Flow{{Name: "tcp e", Proto: TCP, RecordedStream: s, OurStream: s}}, Config{})
	var b bytesBuffer
	require.NoError(t, r.WriteSummary(&b, 5))
	assert.Contains(t, b.String(), "tcp e: 0 recorded, 0 sent, 0 matched, streams identical")
}

type bytesBuffer struct{ b []byte }

func (w *bytesBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }
func (w *bytesBuffer) String() string              { return string(w.b) }

func packDNS(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	require.NoError(t, err)
	return b
}

func TestFieldDiffsDNS(t *testing.T) {
	t.Parallel()
	q := dns.Question{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET}
	a := dns.RR{Name: "www.example.", Type: dns.TypeA, Class: dns.ClassINET, TTL: 300, Data: &dns.A{Addr: netip.MustParseAddr("192.0.2.80")}}
	base := func() *dns.Msg {
		return &dns.Msg{Header: dns.Header{ID: 7, Response: true, Authoritative: true}, Question: []dns.Question{q}, Answer: []dns.RR{a}}
	}
	rec := base()
	rec.RecursionAvailable = true
	ours := base()
	ours.Answer = nil
	ours.Rcode = dns.RcodeNameError
	got := FieldDiffs(53, packDNS(t, rec), packDNS(t, ours))
	assert.Contains(t, got, "flags RA 1 recorded, 0 sent")
	assert.Contains(t, got, "answer count 1 recorded, 0 sent")
	assert.Contains(t, got, "rcode NOERROR recorded, NXDOMAIN sent")
	// Name compression: the answer's owner points at the question's.
	packed := packDNS(t, base())
	assert.True(t, compressed(packed))
	assert.Equal(t, []string{}, FieldDiffs(53, packed, packed))
	r := Compare([]Flow{{Name: "udp dns", Proto: UDP, Port: 53,
		Recorded: []Segment{{Frame: 3, Len: 1, Sum: 1, Data: packDNS(t, rec)}},
		Ours:     []Segment{{Frame: 4, Len: 2, Sum: 2, Data: packDNS(t, ours)}}}}, Config{})
	require.Len(t, r.Causes, 1)
	assert.Equal(t, CauseDNS, r.Causes[0].Kind)
	assert.Contains(t, r.Causes[0].Reason, "flags RA 1 recorded, 0 sent")
	assert.Nil(t, FieldDiffs(53, []byte{1, 2}, packed), "not DNS")
}

func TestFieldDiffsDHCP(t *testing.T) {
	t.Parallel()
	msg := func(lease time.Duration, router string) []byte {
		m := dhcp.Message{Op: dhcp.BootReply, HType: 1, HLen: 6, Xid: 9, YIAddr: netip.MustParseAddr("192.0.2.50"),
			CIAddr: netip.IPv4Unspecified(), SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified()}
		m.Options.Set(dhcp.OptMessageType, []byte{byte(dhcp.Offer)})
		m.Options.SetSeconds(dhcp.OptLeaseTime, lease)
		if router != "" {
			m.Options.SetAddrs(dhcp.OptRouter, netip.MustParseAddr(router))
		}
		return m.Marshal()
	}
	got := FieldDiffs(67, msg(2*time.Minute, "192.0.2.1"), msg(time.Hour, ""))
	assert.Equal(t, []string{"option 3 (router) 192.0.2.1 recorded, absent sent", "option 51 (lease time) 120s recorded, 3600s sent"}, got)
	assert.Equal(t, []string{}, FieldDiffs(68, msg(time.Hour, ""), msg(time.Hour, "")))
}
