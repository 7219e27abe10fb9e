package dns

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/rng"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sent struct {
	at     clock.Time
	server netip.AddrPort
	msg    []byte
}

type fakeUDP struct {
	sch  *clock.Scheduler
	sent []sent
}

func (f *fakeUDP) SendUDP(server netip.AddrPort, msg []byte) error {
	f.sent = append(f.sent, sent{f.sch.Now(), server, append([]byte(nil), msg...)})
	return nil
}

type fakeTCP struct {
	srv   *Server
	calls int
	fail  error
}

func (f *fakeTCP) QueryTCP(_ netip.AddrPort, msg []byte, done func([]byte, error)) {
	f.calls++
	if f.fail != nil {
		done(nil, f.fail)
		return
	}
	// Frame and unframe, as a real TCP transport would.
	framed, err := AppendTCPFrame(nil, msg)
	if err != nil {
		done(nil, err)
		return
	}
	q, _, _, _ := SplitTCPFrame(framed)
	done(append([]byte(nil), f.srv.Answer(q, TCP)...), nil)
}

var (
	srv1 = netip.MustParseAddrPort("192.0.2.53:53")
	srv2 = netip.MustParseAddrPort("192.0.2.54:53")
)

func newTestResolver(t *testing.T) (*Resolver, *fakeUDP, *clock.Scheduler) {
	sch := clock.NewScheduler(0)
	udp := &fakeUDP{sch: sch}
	r := NewResolver(sch, rng.New(1, "dns-test"), udp, nil, srv1, srv2)
	return r, udp, sch
}

func TestResolverAnswer(t *testing.T) {
	r, udp, _ := newTestResolver(t)
	s := testServer(t)
	var got []Result
	require.NoError(t, r.Lookup("WWW.example.com", TypeA, func(res Result) { got = append(got, res) }))
	require.Len(t, udp.sent, 1)
	assert.Equal(t, srv1, udp.sent[0].server)
	var q Msg
	require.NoError(t, q.Unpack(udp.sent[0].msg))
	assert.True(t, q.RecursionDesired)
	assert.Equal(t, []Question{{"www.example.com.", TypeA, ClassINET}}, q.Question)
	require.NotNil(t, q.OPT())

	resp := append([]byte(nil), s.Answer(udp.sent[0].msg, UDP)...)
	// Wrong source, wrong ID and a query (not response) are ignored.
	r.HandleUDP(srv2, resp)
	bad := append([]byte(nil), resp...)
	bad[1] ^= 1
	r.HandleUDP(srv1, bad)
	r.HandleUDP(srv1, udp.sent[0].msg)
	r.HandleUDP(srv1, resp[:5])
	assert.Empty(t, got)
	assert.Equal(t, uint64(3), r.Stats.Mismatched)
	assert.Equal(t, uint64(1), r.Stats.Malformed)

	r.HandleUDP(srv1, resp)
	require.Len(t, got, 1)
	require.NoError(t, got[0].Err)
	assert.Equal(t, srv1, got[0].Server)
	assert.Len(t, got[0].Msg.Answer, 2)
	assert.Zero(t, r.Pending())
	// A duplicate after completion is ignored.
	r.HandleUDP(srv1, resp)
	assert.Len(t, got, 1)
}

func TestResolverQuestionMismatch(t *testing.T) {
	r, udp, _ := newTestResolver(t)
	s := testServer(t)
	done := 0
	require.NoError(t, r.Lookup("web.example.com.", TypeA, func(Result) { done++ }))
	// Answer a different question with the same ID (RFC 5452 section 9.1).
	var q Msg
	require.NoError(t, q.Unpack(udp.sent[0].msg))
	q.Question[0].Type = TypeAAAA
	b, err := q.Pack()
	require.NoError(t, err)
	r.HandleUDP(srv1, s.Answer(b, UDP))
	assert.Zero(t, done)
	assert.Equal(t, uint64(1), r.Stats.Mismatched)
}

func TestResolverRetriesAndTimeout(t *testing.T) {
	r, udp, sch := newTestResolver(t)
	var got []Result
	require.NoError(t, r.Lookup("web.example.com.", TypeA, func(res Result) { got = append(got, res) }))
	for sch.Step() {
	}
	require.Len(t, got, 1)
	assert.ErrorIs(t, got[0].Err, ErrTimeout)
	require.Len(t, udp.sent, 3)
	ids := map[uint16]bool{}
	for i, s := range udp.sent {
		assert.Equal(t, clock.Time(i)*clock.Time(2*time.Second), s.at, "attempt %d", i)
		var m Msg
		require.NoError(t, m.Unpack(s.msg))
		ids[m.ID] = true
	}
	assert.Equal(t, []netip.AddrPort{srv1, srv2, srv1}, []netip.AddrPort{udp.sent[0].server, udp.sent[1].server, udp.sent[2].server})
	assert.Len(t, ids, 3, "each attempt has a fresh random ID")
	assert.Equal(t, clock.Time(6*time.Second), sch.Now())
	assert.Zero(t, r.Pending())
}

func TestResolverLateAnswerToRetry(t *testing.T) {
	r, udp, sch := newTestResolver(t)
	s := testServer(t)
	var got []Result
	require.NoError(t, r.Lookup("web.example.com.", TypeA, func(res Result) { got = append(got, res) }))
	sch.Step() // first timeout: second attempt to srv2
	require.Len(t, udp.sent, 2)
	// The answer to the first attempt arrives late: its ID is retired.
	r.HandleUDP(srv1, s.Answer(udp.sent[0].msg, UDP))
	assert.Empty(t, got)
	r.HandleUDP(srv2, s.Answer(udp.sent[1].msg, UDP))
	require.Len(t, got, 1)
	assert.NoError(t, got[0].Err)
	assert.Equal(t, srv2, got[0].Server)
	assert.Zero(t, sch.Len(), "timer cancelled")
}

func TestResolverTruncation(t *testing.T) {
	s := testServer(t)
	cases := []struct {
		name    string
		tcp     *fakeTCP
		wantErr error
		wantTCP bool
	}{
		{"no TCP transport", nil, ErrTruncated, false},
		{"TCP fallback", &fakeTCP{srv: s}, nil, true},
		{"TCP fails", &fakeTCP{srv: s, fail: errors.New("reset")}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, udp, sch := newTestResolver(t)
			r.UDPSize = 0 // no EDNS0: the 600-octet TXT is truncated
			if tc.tcp != nil {
				r.SetTCP(tc.tcp)
			}
			var got []Result
			require.NoError(t, r.Lookup("big.example.com.", TypeTXT, func(res Result) { got = append(got, res) }))
			resp := s.Answer(udp.sent[0].msg, UDP)
			require.NotZero(t, resp[2]&0x02, "server set TC")
			r.HandleUDP(srv1, resp)
			require.Len(t, got, 1)
			assert.Equal(t, tc.wantTCP, got[0].TCP)
			switch {
			case tc.wantErr != nil:
				assert.ErrorIs(t, got[0].Err, tc.wantErr)
				require.NotNil(t, got[0].Msg)
				assert.True(t, got[0].Msg.Truncated)
			case tc.tcp.fail != nil:
				assert.ErrorIs(t, got[0].Err, tc.tcp.fail)
			default:
				require.NoError(t, got[0].Err)
				require.Len(t, got[0].Msg.Answer, 1)
				assert.Len(t, got[0].Msg.Answer[0].Data.(*TXT).Txt, 3)
				assert.Equal(t, 1, tc.tcp.calls)
			}
			assert.Zero(t, sch.Len())
			assert.Zero(t, r.Pending())
		})
	}
}

func TestResolverErrors(t *testing.T) {
	sch := clock.NewScheduler(0)
	r := NewResolver(sch, rng.New(1, "x"), &fakeUDP{sch: sch}, nil)
	assert.ErrorIs(t, r.Lookup("a.", TypeA, func(Result) {}), ErrNoServers)
	r.Servers = []netip.AddrPort{srv1}
	assert.Error(t, r.Lookup(strings.Repeat("a", 64)+".", TypeA, func(Result) {}))
}

func TestTCPFraming(t *testing.T) {
	m1 := []byte{1, 2, 3}
	m2 := []byte{4, 5, 6, 7, 8}
	stream, err := AppendTCPFrame(nil, m1)
	require.NoError(t, err)
	stream, err = AppendTCPFrame(stream, m2)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 3, 1, 2, 3, 0, 5, 4, 5, 6, 7, 8}, stream)
	_, err = AppendTCPFrame(nil, make([]byte, 65536))
	assert.ErrorIs(t, err, ErrTooLarge)

	// Fed one octet at a time, the reader yields both messages once.
	var r TCPReader
	var got [][]byte
	for i := range stream {
		require.NoError(t, r.Write(stream[i:i+1], func(m []byte) { got = append(got, append([]byte(nil), m...)) }))
	}
	assert.Equal(t, [][]byte{m1, m2}, got)
	// Fed all at once, too.
	got = nil
	require.NoError(t, r.Write(stream, func(m []byte) { got = append(got, append([]byte(nil), m...)) }))
	assert.Equal(t, [][]byte{m1, m2}, got)

	msg, rest, ok, err := SplitTCPFrame([]byte{0, 4, 1, 2})
	assert.NoError(t, err)
	assert.False(t, ok)
	assert.Nil(t, msg)
	assert.Len(t, rest, 4)
	_, _, _, err = SplitTCPFrame([]byte{0, 0, 1})
	assert.ErrorIs(t, err, ErrTCPFrame)
	assert.ErrorIs(t, r.Write([]byte{0, 0}, func([]byte) {}), ErrTCPFrame)
}
