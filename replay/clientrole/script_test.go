package clientrole

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/input"
)

var (
	cliMAC = ether.Addr{0x02, 0, 0, 0, 0, 2}
	srvMAC = ether.Addr{0x02, 0, 0, 0, 0, 1}
	cli    = netip.MustParseAddrPort("192.0.2.2:40000")
	srv    = netip.MustParseAddrPort("192.0.2.1:80")
)

type capture struct {
	t   *testing.T
	buf bytes.Buffer
	w   *pcapgo.Writer
	at  time.Time
}

func newCapture(t *testing.T) *capture {
	c := &capture{t: t, at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c.w = pcapgo.NewWriterNanos(&c.buf)
	require.NoError(t, c.w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	return c
}

// seg writes a TCP segment from src to dst.
func (c *capture) seg(fromClient bool, f tcp.Fields, payload string) {
	src, dst, smac, dmac := cli, srv, cliMAC, srvMAC
	if !fromClient {
		src, dst, smac, dmac = srv, cli, srvMAC, cliMAC
	}
	f.SrcPort, f.DstPort = src.Port(), dst.Port()
	b := make([]byte, 1600)
	n, err := tcp.Encode(b[34:], f, nil, []byte(payload), src.Addr(), dst.Addr())
	require.NoError(c.t, err)
	_, err = ipv4.Encode(b[14:], &ipv4.Fields{TTL: 64, Protocol: tcp.ProtocolNumber, Src: src.Addr(), Dst: dst.Addr()}, n)
	require.NoError(c.t, err)
	ether.Encode(b, dmac, smac, ether.TypeIPv4)
	c.at = c.at.Add(time.Millisecond)
	require.NoError(c.t, c.w.WritePacket(gopacket.CaptureInfo{Timestamp: c.at, CaptureLength: 34 + n, Length: 34 + n}, b[:34+n]))
}

// exchange records a request in two writes (the second sent once the
// server's first 5 bytes arrived, and retransmitted), a response in two
// segments, and the client's FIN after the whole response.
func exchange(t *testing.T) []byte {
	c := newCapture(t)
	const a = tcp.FlagACK
	c.seg(true, tcp.Fields{Seq: 100, Flags: tcp.FlagSYN, Window: 65535}, "")
	c.seg(false, tcp.Fields{Seq: 5000, Ack: 101, Flags: tcp.FlagSYN | a, Window: 65535}, "")
	c.seg(true, tcp.Fields{Seq: 101, Ack: 5001, Flags: a | tcp.FlagPSH, Window: 65535}, "hello ")
	c.seg(false, tcp.Fields{Seq: 5001, Ack: 107, Flags: a, Window: 1000}, "12345")
	c.seg(true, tcp.Fields{Seq: 107, Ack: 5006, Flags: a | tcp.FlagPSH, Window: 65535}, "world")
	c.seg(true, tcp.Fields{Seq: 104, Ack: 5006, Flags: a | tcp.FlagPSH, Window: 65535}, "lo world!") // overlaps, 1 new byte
	c.seg(false, tcp.Fields{Seq: 5006, Ack: 113, Flags: a | tcp.FlagFIN, Window: 1000}, "678")
	c.seg(true, tcp.Fields{Seq: 113, Ack: 5010, Flags: a | tcp.FlagFIN, Window: 65535}, "")
	return c.buf.Bytes()
}

func TestExtract(t *testing.T) {
	t.Parallel()
	r, err := input.NewReader(bytes.NewReader(exchange(t)))
	require.NoError(t, err)
	s, err := Extract(r, cli.Addr(), 80)
	require.NoError(t, err)
	assert.Equal(t, cli, s.Client)
	assert.Equal(t, srv, s.Server)
	assert.Equal(t, cliMAC, s.ClientMAC)
	require.Len(t, s.Steps, 3)
	assert.Equal(t, Step{After: 0, Data: []byte("hello "), Frame: 3}, s.Steps[0])
	assert.Equal(t, Step{After: 5, Data: []byte("world"), Frame: 5}, s.Steps[1])
	assert.Equal(t, Step{After: 5, Data: []byte("!"), Frame: 6}, s.Steps[2], "only the byte the retransmission added")
	assert.Equal(t, 12, s.ClientBytes())
	assert.True(t, s.FIN)
	assert.Equal(t, 9, s.FINAfter, "5 data bytes, 3 more and the server's FIN")
	assert.Equal(t, "12345678", string(s.ServerStream))
	require.Len(t, s.ServerSegments, 3)
	assert.Equal(t, diff.Segment{Frame: 4, Time: s.ServerSegments[1].Time, Seq: 1, Ack: 7, Flags: diff.FlagACK, Len: 5,
		Sum: diff.PayloadSum([]byte("12345")), Window: 1000}, s.ServerSegments[1])
	assert.Equal(t, uint32(6), s.ServerSegments[2].Seq)
	assert.Equal(t, uint32(13), s.ServerSegments[2].Ack)

	r, err = input.NewReader(bytes.NewReader(exchange(t)))
	require.NoError(t, err)
	_, err = Extract(r, srv.Addr(), 0)
	assert.ErrorContains(t, err, "no TCP connection opened by 192.0.2.1")
}
