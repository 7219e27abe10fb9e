package hostrole

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/tcp"
)

var (
	hostAP = netip.MustParseAddrPort("192.0.2.1:80")
	peerAP = netip.MustParseAddrPort("192.0.2.9:40000")
	flowK  = FlowKey{Host: hostAP, Peer: peerAP}
)

// seg builds a checksummed segment from src to dst.
func seg(t *testing.T, src, dst netip.AddrPort, f tcp.Fields, o *tcp.Options, payload string) tcp.Header {
	t.Helper()
	f.SrcPort, f.DstPort = src.Port(), dst.Port()
	b := make([]byte, tcp.HeaderLen+tcp.MaxOptionsLen+len(payload))
	n, err := tcp.Encode(b, f, o, []byte(payload), src.Addr(), dst.Addr())
	require.NoError(t, err)
	h, err := tcp.ParseHeader(b[:n])
	require.NoError(t, err)
	return h
}

func fromPeer(t *testing.T, f tcp.Fields, o *tcp.Options, payload string) tcp.Header {
	return seg(t, peerAP, hostAP, f, o, payload)
}

func fromHost(t *testing.T, f tcp.Fields, o *tcp.Options, payload string) tcp.Header {
	return seg(t, hostAP, peerAP, f, o, payload)
}

// checksumOK reports whether a segment from the peer has a valid checksum.
func checksumOK(h tcp.Header) bool { return tcp.Checksum(peerAP.Addr(), hostAP.Addr(), h) == 0 }

const (
	peerISN = 5000
	recISN  = 1000000
	ourISN  = 7000000
)

// handshake has the rewriter see the peer's SYN, the recorded SYN-ACK and
// ours, with timestamps when ts is set.
func handshake(t *testing.T, rw *Rewriter, ts bool) {
	t.Helper()
	var po, ro, oo *tcp.Options
	if ts {
		po = &tcp.Options{HasTS: true, TSVal: 100}
		ro = &tcp.Options{HasTS: true, TSVal: 9000, TSEcr: 100}
		oo = &tcp.Options{HasTS: true, TSVal: 40, TSEcr: 100}
	}
	syn := fromPeer(t, tcp.Fields{Seq: peerISN, Flags: tcp.FlagSYN, Window: 65535}, po, "")
	assert.True(t, rw.Inbound(flowK, syn))
	rw.ObserveRecorded(flowK, fromHost(t, tcp.Fields{Seq: recISN, Ack: peerISN + 1, Flags: tcp.FlagSYN | tcp.FlagACK}, ro, ""))
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN, Ack: peerISN + 1, Flags: tcp.FlagSYN | tcp.FlagACK}, oo, ""))
}

func TestRewriterMapsAcknowledgements(t *testing.T) {
	rw := NewRewriter()
	handshake(t, rw, false)
	ack := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 1, Flags: tcp.FlagACK, Window: 502}, nil, "GET /")
	require.True(t, rw.Inbound(flowK, ack), "the SYN-ACK is acknowledged")
	assert.Equal(t, uint32(ourISN+1), ack.Ack())
	assert.Equal(t, uint32(peerISN+1), ack.Seq(), "the peer's own numbers are kept")
	assert.Equal(t, "GET /", string(ack.Payload()))
	assert.True(t, checksumOK(ack), "checksum updated incrementally")

	rec, ours, peer, haveRec, haveOurs, havePeer := rw.ISNs(flowK)
	assert.Equal(t, []uint32{recISN, ourISN, peerISN}, []uint32{rec, ours, peer})
	assert.True(t, haveRec && haveOurs && havePeer)
}

func TestRewriterHoldsAndClipsUnsentAcknowledgements(t *testing.T) {
	rw := NewRewriter()
	handshake(t, rw, false)
	// Our stack has sent 100 bytes; the recorded host had sent 300.
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN + 1, Ack: peerISN + 1, Flags: tcp.FlagACK}, nil, string(make([]byte, 100))))
	ahead := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 301, Flags: tcp.FlagACK}, nil, "")
	assert.False(t, rw.Inbound(flowK, ahead), "acknowledges beyond what we sent")
	assert.Equal(t, uint32(ourISN+301), ahead.Ack())
	assert.False(t, rw.Covered(flowK, ahead))

	// Our stack catches up: the held segment is covered as it stands.
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN + 101, Ack: peerISN + 1, Flags: tcp.FlagACK}, nil, string(make([]byte, 200))))
	assert.True(t, rw.Covered(flowK, ahead))
	assert.False(t, rw.Clip(flowK, ahead), "nothing to clip")

	further := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 501, Flags: tcp.FlagACK}, nil, "")
	assert.False(t, rw.Inbound(flowK, further))
	assert.True(t, rw.Clip(flowK, further))
	assert.Equal(t, uint32(ourISN+301), further.Ack(), "clipped to what we sent")
	assert.True(t, checksumOK(further))

	// A FIN of ours counts as sent sequence space; a RST does not.
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN + 301, Ack: peerISN + 1, Flags: tcp.FlagACK | tcp.FlagFIN}, nil, ""))
	finAck := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 302, Flags: tcp.FlagACK}, nil, "")
	assert.True(t, rw.Inbound(flowK, finAck))
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN + 900, Flags: tcp.FlagRST}, nil, ""))
	beyond := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 303, Flags: tcp.FlagACK}, nil, "")
	assert.False(t, rw.Inbound(flowK, beyond))
}

func TestRewriterSACKAndTimestamps(t *testing.T) {
	rw := NewRewriter()
	handshake(t, rw, true)
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN + 1, Ack: peerISN + 1, Flags: tcp.FlagACK}, &tcp.Options{HasTS: true, TSVal: 41, TSEcr: 100}, string(make([]byte, 3000))))
	o := &tcp.Options{HasTS: true, TSVal: 101, TSEcr: 9005, NumSACK: 2}
	o.SACK[0] = tcp.SACKBlock{Start: recISN + 1001, End: recISN + 2001}
	o.SACK[1] = tcp.SACKBlock{Start: recISN + 2501, End: recISN + 3001}
	h := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 1, Flags: tcp.FlagACK}, o, "")
	require.True(t, rw.Inbound(flowK, h))
	var got tcp.Options
	require.NoError(t, tcp.ParseOptions(h.Options(), &got))
	require.Equal(t, 2, got.NumSACK)
	assert.Equal(t, tcp.SACKBlock{Start: ourISN + 1001, End: ourISN + 2001}, got.SACK[0])
	assert.Equal(t, tcp.SACKBlock{Start: ourISN + 2501, End: ourISN + 3001}, got.SACK[1])
	assert.Equal(t, uint32(101), got.TSVal, "the peer's own timestamp is kept")
	assert.Equal(t, uint32(9005-9000+40), got.TSEcr, "echo moved onto our timestamp clock")
	assert.True(t, checksumOK(h))
}

func TestRewriterOddOffsetOption(t *testing.T) {
	rw := NewRewriter()
	handshake(t, rw, true)
	// Timestamps after a single NOP: the TSecr field starts at an odd
	// offset (20 + 1 + 6 = 27), so the checksum update has to straddle
	// 16-bit words.
	b := make([]byte, tcp.HeaderLen+12)
	binary.BigEndian.PutUint16(b[0:], peerAP.Port())
	binary.BigEndian.PutUint16(b[2:], hostAP.Port())
	binary.BigEndian.PutUint32(b[4:], peerISN+1)
	binary.BigEndian.PutUint32(b[8:], recISN+1)
	b[12] = byte(len(b)/4) << 4
	b[13] = tcp.FlagACK
	opt := b[tcp.HeaderLen:]
	opt[0], opt[1], opt[2] = tcp.OptNOP, tcp.OptTimestamps, 10
	binary.BigEndian.PutUint32(opt[3:], 777)
	binary.BigEndian.PutUint32(opt[7:], 9010)
	opt[11] = tcp.OptEnd
	binary.BigEndian.PutUint16(b[16:], tcp.Checksum(peerAP.Addr(), hostAP.Addr(), b))
	h, err := tcp.ParseHeader(b)
	require.NoError(t, err)
	require.True(t, rw.Inbound(flowK, h))
	assert.Equal(t, uint32(9010-9000+40), binary.BigEndian.Uint32(opt[7:]))
	assert.Equal(t, uint32(ourISN+1), h.Ack())
	assert.True(t, checksumOK(h))
}

func TestRewriterPassesThroughUnansweredFlows(t *testing.T) {
	rw := NewRewriter()
	syn := fromPeer(t, tcp.Fields{Seq: peerISN, Flags: tcp.FlagSYN}, nil, "")
	assert.True(t, rw.Inbound(flowK, syn))
	// Our stack answered nothing (no listener): segments pass unchanged.
	ack := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 1, Flags: tcp.FlagACK}, nil, "")
	before := append([]byte(nil), ack...)
	assert.True(t, rw.Inbound(flowK, ack))
	assert.Equal(t, before, []byte(ack))
}

func TestRewriterInfersRecordedISN(t *testing.T) {
	// The capture lacks the recorded SYN-ACK: the peer's first
	// acknowledgement stands for it.
	rw := NewRewriter()
	syn := fromPeer(t, tcp.Fields{Seq: peerISN, Flags: tcp.FlagSYN}, nil, "")
	rw.Inbound(flowK, syn)
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: ourISN, Ack: peerISN + 1, Flags: tcp.FlagSYN | tcp.FlagACK}, nil, ""))
	ack := fromPeer(t, tcp.Fields{Seq: peerISN + 1, Ack: recISN + 1, Flags: tcp.FlagACK}, nil, "")
	assert.True(t, rw.Inbound(flowK, ack))
	assert.Equal(t, uint32(ourISN+1), ack.Ack())
	rec, _, _, haveRec, _, _ := rw.ISNs(flowK)
	assert.True(t, haveRec)
	assert.Equal(t, uint32(recISN), rec)
}

func TestRewriterWrapsSequenceSpace(t *testing.T) {
	rw := NewRewriter()
	rw.Inbound(flowK, fromPeer(t, tcp.Fields{Seq: 1, Flags: tcp.FlagSYN}, nil, ""))
	rw.ObserveRecorded(flowK, fromHost(t, tcp.Fields{Seq: 0xfffffff0, Ack: 2, Flags: tcp.FlagSYN | tcp.FlagACK}, nil, ""))
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: 0xffffff00, Ack: 2, Flags: tcp.FlagSYN | tcp.FlagACK}, nil, ""))
	rw.ObserveOurs(flowK, fromHost(t, tcp.Fields{Seq: 0xffffff01, Ack: 2, Flags: tcp.FlagACK}, nil, string(make([]byte, 0x200))))
	// Recorded 0xfffffff1 + 0x100 wraps past zero; ours does too.
	recAck, ourAck := uint32(0xfffffff1), uint32(0xffffff01)
	recAck += 0x100
	ourAck += 0x100
	h := fromPeer(t, tcp.Fields{Seq: 2, Ack: recAck, Flags: tcp.FlagACK}, nil, "")
	assert.True(t, rw.Inbound(flowK, h))
	assert.Equal(t, ourAck, h.Ack())
	assert.True(t, checksumOK(h))
}

// FuzzRewriterInbound feeds arbitrary segments (after a handshake) to the
// rewriter: it must not panic, and a segment with a valid checksum keeps a
// valid checksum.
func FuzzRewriterInbound(f *testing.F) {
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0x13, 0x89, 0, 0x0f, 0x42, 0x41, 0x50, 0x10, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0x13, 0x89, 0, 0x0f, 0x42, 0x41, 0x80, 0x10, 0, 0, 0, 0, 0, 0,
		1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0x23, 0x28, 1, 1, 5, 10, 0, 0x0f, 0x42, 0x41, 0, 0x0f, 0x46, 0x29})
	f.Add([]byte{0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x10, 0, 0, 0, 0, 0, 0, 5, 40, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		rw := NewRewriter()
		handshake(t, rw, true)
		h, err := tcp.ParseHeader(b)
		if err != nil {
			return
		}
		binary.BigEndian.PutUint16(h[16:], 0)
		binary.BigEndian.PutUint16(h[16:], tcp.Checksum(peerAP.Addr(), hostAP.Addr(), h))
		rw.Inbound(flowK, h)
		rw.Clip(flowK, h)
		if !checksumOK(h) {
			t.Fatalf("checksum broken by the rewrite of % x", b)
		}
	})
}
