package icmp

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/simnet-go/simnet/internal/capturetest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// echoRequest is a Linux ping: id 0x1234, seq 1, 8 data bytes.
var echoRequest = []byte{0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}

func validEcho() []byte {
	b := append([]byte{}, echoRequest...)
	Message(b).SetChecksum()
	return b
}

func TestParse(t *testing.T) {
	bad := validEcho()
	bad[3] ^= 0x40
	odd := append(validEcho(), 'i')
	Message(odd).SetChecksum()
	tests := []struct {
		name    string
		in      []byte
		wantErr error
	}{
		{"echo", validEcho(), nil},
		{"odd length", odd, nil},
		{"header only", func() []byte { b := make([]byte, 8); b[0] = 8; Message(b).SetChecksum(); return b }(), nil},
		{"truncated", validEcho()[:7], ErrTruncated},
		{"bad checksum", bad, ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.in)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, TypeEcho, m.Type())
			assert.Equal(t, len(tc.in)-HeaderLen, len(m.Payload()))
		})
	}
}

func TestEchoAndReplyInPlace(t *testing.T) {
	b := make([]byte, 64)
	m, err := Echo(b, TypeEcho, 0x1234, 1, []byte("abcdefgh"))
	require.NoError(t, err)
	// Known checksum: sum of 0800 0000 1234 0001 6162 6364 6566 6768.
	assert.Equal(t, validEcho(), []byte(m))
	assert.Equal(t, uint16(0x1234), m.ID())
	assert.Equal(t, uint16(1), m.Seq())
	assert.Equal(t, "echo request", m.Type().String())

	m.SetType(TypeEchoReply)
	r, err := Parse(m)
	require.NoError(t, err)
	assert.Equal(t, TypeEchoReply, r.Type())
	assert.Equal(t, []byte("abcdefgh"), r.Payload())

	_, err = Echo(make([]byte, 10), TypeEcho, 1, 1, []byte("abc"))
	assert.ErrorIs(t, err, ErrShortBuffer)
}

func TestErrorQuotesHeaderPlus8(t *testing.T) {
	orig := make([]byte, 100)
	f := ipv4.Fields{TTL: 64, Protocol: ipv4.ProtoUDP}
	f.Src, f.Dst = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	f.Options = []byte{1, 1, 1, 0}
	_, err := ipv4.Encode(orig, &f, 76)
	require.NoError(t, err)
	b := make([]byte, 200)
	m, err := Error(b, TypeDestUnreach, CodePortUnreachable, 0, orig)
	require.NoError(t, err)
	assert.Len(t, m.Payload(), 24+8)
	assert.Equal(t, orig[:32], m.Payload())
	assert.True(t, m.Type().IsError())
	assert.False(t, TypeEcho.IsError())
	_, err = Parse(m)
	require.NoError(t, err)

	assert.Equal(t, 0, QuoteLen(nil))
	assert.Equal(t, 3, QuoteLen([]byte{0x45, 0, 0}))
}

func TestFragNeededMTU(t *testing.T) {
	m, err := Encode(make([]byte, 8), TypeDestUnreach, CodeFragNeeded, 1400, nil)
	require.NoError(t, err)
	assert.Equal(t, uint16(1400), m.NextHopMTU())
	assert.Equal(t, uint32(1400), m.Rest())
}

var captureNames = []string{"dpkt__dns_icmp.pcap", "arkime__cloudshark-arp.pcap", "arkime__bigendian.pcap", "dpkt__nb6-http.pcap"}

// icmpMessages returns the ICMP messages of unfragmented IPv4 packets.
func icmpMessages(frames [][]byte) [][]byte {
	var out [][]byte
	for _, pay := range capturetest.Payloads(frames, uint16(ether.TypeIPv4)) {
		h, err := ipv4.ParseUnchecked(pay)
		if err != nil || h.IsFragment() || h.Protocol() != ipv4.ProtoICMP {
			continue
		}
		out = append(out, h.Payload())
	}
	return out
}

func TestDifferentialGopacket(t *testing.T) {
	msgs := icmpMessages(capturetest.Frames(t, captureNames...))
	require.GreaterOrEqual(t, len(msgs), 20)
	e, err := Error(make([]byte, 100), TypeTimeExceeded, CodeReassemblyExceeded, 0, make([]byte, 40))
	require.NoError(t, err)
	msgs = append(msgs, validEcho(), e)
	for i, b := range msgs {
		m, err := ParseUnchecked(b)
		if err != nil {
			continue
		}
		var g layers.ICMPv4
		require.NoError(t, g.DecodeFromBytes(b, gopacket.NilDecodeFeedback), "message %d", i)
		assert.Equal(t, uint8(m.Type()), g.TypeCode.Type())
		assert.Equal(t, m.Code(), g.TypeCode.Code())
		assert.Equal(t, g.Checksum, m.Checksum())
		assert.Equal(t, g.Id, m.ID())
		assert.Equal(t, g.Seq, m.Seq())
		assert.Equal(t, g.Payload, m.Payload())
		verr, res := g.VerifyChecksum()
		require.NoError(t, verr)
		assert.Equal(t, res.Valid, m.VerifyChecksum(), "message %d", i)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(validEcho())
	f.Add([]byte{3, 3, 0, 0, 0, 0, 0, 0, 0x45})
	f.Add([]byte{11})
	if _, err := os.Stat(filepath.Join("..", "..", "..", "shared", "captures")); err == nil {
		for _, m := range icmpMessages(capturetest.Frames(f, captureNames...)) {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseUnchecked(in)
		if err != nil {
			return
		}
		_ = QuoteLen(m.Payload())
		out, err := Encode(make([]byte, len(m)), m.Type(), m.Code(), m.Rest(), m.Payload())
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !out.VerifyChecksum() {
			t.Fatalf("re-encoded message does not verify")
		}
		want := append([]byte{}, in...)
		want[2], want[3] = out[2], out[3]
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoded %x, parsed %x", []byte(out), in)
		}
		if m.VerifyChecksum() != checksumVerifies(m, out.Checksum()) {
			t.Fatalf("checksum %#x verifies=%v but computed %#x", m.Checksum(), m.VerifyChecksum(), out.Checksum())
		}
	})
}

// checksumVerifies reports whether m's checksum field should verify, given
// the checksum computed for it. 0x0000 and 0xffff are both zero in ones'
// complement arithmetic (RFC 1624 section 3), so either field value
// verifies, except in a message whose other bytes are all zero: their sum
// is +0 (0x0000), and only a field of 0xffff brings the total to -0
// (0xffff). (Found by fuzzing an all-zero message.)
func checksumVerifies(m Message, computed uint16) bool {
	field := m.Checksum()
	if field == computed {
		return true
	}
	if (field == 0 || field == 0xffff) && (computed == 0 || computed == 0xffff) {
		for i, c := range m {
			if c != 0 && i != 2 && i != 3 {
				return true
			}
		}
	}
	return false
}
