package ipv6

import (
	"errors"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// opts returns a Hop-by-Hop or Destination Options header with next
// header next holding the given options, padded with PadN to a multiple
// of 8 bytes.
func opts(next uint8, options ...byte) []byte {
	b := append([]byte{next, 0}, options...)
	switch pad := (8 - len(b)%8) % 8; pad {
	case 0:
	case 1:
		b = append(b, OptPad1)
	default:
		b = append(b, OptPadN, byte(pad-2))
		b = append(b, make([]byte, pad-2)...)
	}
	b[1] = byte(len(b)/8 - 1)
	return b
}

// routing returns a Routing header of type 4 (segment routing) with
// segmentsLeft and one address.
func routing(next uint8, segmentsLeft uint8) []byte {
	b := make([]byte, 24)
	b[0], b[1], b[2], b[3] = next, 2, 4, segmentsLeft
	return b
}

func frag(next uint8, off int, more bool, id uint32) []byte {
	b := make([]byte, 8)
	PutFragmentHeader(b, next, off, more, id)
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestWalk(t *testing.T) {
	t.Parallel()
	u := udp(16)
	tests := []struct {
		name      string
		next      uint8
		payload   []byte
		proto     uint8
		offset    int
		unfrag    int
		ordered   bool
		problem   *ProblemError // Code, Pointer, Silent, MulticastOK compared
		wantError error
	}{
		{"no extension", ProtoUDP, u, ProtoUDP, 40, 40, true, nil, nil},
		{"hop-by-hop then udp", ProtoHopByHop, cat(opts(ProtoUDP, OptRouterAlert, 2, 0, 0), u), ProtoUDP, 48, 48, true, nil, nil},
		{"full order", ProtoHopByHop, cat(opts(ProtoDestOpts), opts(ProtoRouting), routing(ProtoFragment, 0), frag(ProtoDestOpts, 0, true, 7), opts(ProtoUDP), u),
			ProtoFragment, 40 + 8 + 8 + 24, 80, true, nil, nil},
		{"dest opts then udp", ProtoDestOpts, cat(opts(ProtoUDP, OptTunnelLimit, 1, 4), u), ProtoUDP, 48, 40, true, nil, nil},
		{"routing done", ProtoRouting, cat(routing(ProtoUDP, 0), u), ProtoUDP, 64, 64, true, nil, nil},
		{"routing after dest opts twice", ProtoDestOpts, cat(opts(ProtoDestOpts), opts(ProtoUDP), u), ProtoUDP, 56, 40, false, nil, nil},
		{"dest opts before fragment, no routing", ProtoDestOpts, cat(opts(ProtoFragment), frag(ProtoUDP, 0, true, 1)), ProtoFragment, 48, 40, false, nil, nil},
		{"no next header", ProtoNoNext, nil, ProtoNoNext, 40, 40, true, nil, nil},
		{"unknown option, skip", ProtoDestOpts, cat(opts(ProtoUDP, 0x1e, 1, 0), u), ProtoUDP, 48, 40, true, nil, nil},
		{"hop-by-hop not first", ProtoDestOpts, cat(opts(ProtoHopByHop), opts(ProtoUDP), u), 0, 0, 0, false,
			&ProblemError{Code: ProblemNextHeader, Pointer: 40}, ErrHopByHopPlace},
		{"routing with segments left", ProtoRouting, cat(routing(ProtoUDP, 1), u), 0, 0, 0, false,
			&ProblemError{Code: ProblemHeaderField, Pointer: 42}, ErrRoutingType},
		{"unknown option, discard", ProtoDestOpts, cat(opts(ProtoUDP, 0x5e, 0), u), 0, 0, 0, false,
			&ProblemError{Code: ProblemOption, Pointer: 42, Silent: true}, ErrOption},
		{"unknown option, always report", ProtoHopByHop, cat(opts(ProtoUDP, OptPad1, 0x9e, 0), u), 0, 0, 0, false,
			&ProblemError{Code: ProblemOption, Pointer: 43, MulticastOK: true}, ErrOption},
		{"unknown option, report unicast", ProtoHopByHop, cat(opts(ProtoUDP, 0xde, 0), u), 0, 0, 0, false,
			&ProblemError{Code: ProblemOption, Pointer: 42}, ErrOption},
		{"option overruns", ProtoDestOpts, cat([]byte{ProtoUDP, 0, OptPadN, 5, 0, 0, 0, 0}, u), 0, 0, 0, false,
			&ProblemError{Code: ProblemHeaderField, Pointer: 42, Silent: true}, ErrOptionLen},
		{"truncated extension", ProtoDestOpts, []byte{ProtoUDP, 1, 1, 4, 0, 0, 0, 0}, 0, 0, 0, false,
			&ProblemError{Code: ProblemHeaderField, Pointer: 4, Silent: true}, ErrExtTruncated},
		{"truncated fragment", ProtoFragment, []byte{ProtoUDP, 0, 0}, 0, 0, 0, false,
			&ProblemError{Code: ProblemHeaderField, Pointer: 4, Silent: true}, ErrExtTruncated},
		{"too many headers", ProtoDestOpts, cat(func() []byte {
			var b []byte
			for range MaxExtHeaders + 1 {
				b = append(b, opts(ProtoDestOpts)...)
			}
			return b
		}(), u), 0, 0, 0, false, &ProblemError{Code: ProblemHeaderField, Pointer: 40 + 8*(MaxExtHeaders-1), Silent: true}, ErrTooManyHeaders},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := packet(t, tc.next, tc.payload)
			c, err := Walk(h)
			if tc.problem != nil {
				var pe *ProblemError
				require.ErrorAs(t, err, &pe)
				assert.ErrorIs(t, err, tc.wantError)
				assert.Equal(t, tc.problem.Code, pe.Code, "code")
				assert.Equal(t, tc.problem.Pointer, pe.Pointer, "pointer")
				assert.Equal(t, tc.problem.Silent, pe.Silent, "silent")
				assert.Equal(t, tc.problem.MulticastOK, pe.MulticastOK, "multicast")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.proto, c.Proto)
			assert.Equal(t, tc.offset, c.Offset)
			assert.Equal(t, tc.proto, h[c.NextOff], "NextOff names Proto")
			assert.Equal(t, tc.unfrag, c.UnfragLen)
			assert.Equal(t, tc.ordered, c.Ordered)
			// gopacket walks the same chain to the same place.
			p := gopacket.NewPacket(h, layers.LayerTypeIPv6, gopacket.Default)
			if tc.proto == ProtoUDP {
				l := p.Layer(layers.LayerTypeUDP)
				require.NotNil(t, l, "gopacket finds UDP")
				assert.Equal(t, []byte(h[tc.offset:]), append(l.LayerContents(), l.LayerPayload()...), "gopacket's UDP starts at Offset")
			}
		})
	}
}

// TestWalkOrder checks Chain.Ordered against RFC 8200 section 4.1's
// recommended order.
func TestWalkOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		next    uint8
		payload []byte
		ordered bool
	}{
		{"dest, routing, fragment", ProtoDestOpts, cat(opts(ProtoRouting), routing(ProtoFragment, 0), frag(ProtoUDP, 0, true, 1)), true},
		{"routing, dest, dest", ProtoRouting, cat(routing(ProtoDestOpts, 0), opts(ProtoDestOpts), opts(ProtoUDP), udp(0)), false},
		{"routing twice", ProtoRouting, cat(routing(ProtoRouting, 0), routing(ProtoUDP, 0), udp(0)), false},
		{"dest, routing, dest", ProtoDestOpts, cat(opts(ProtoRouting), routing(ProtoDestOpts, 0), opts(ProtoUDP), udp(0)), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Walk(packet(t, tc.next, tc.payload))
			require.NoError(t, err)
			assert.Equal(t, tc.ordered, c.Ordered)
		})
	}
}

func TestFragmentHeader(t *testing.T) {
	t.Parallel()
	f := FragmentHeader(frag(ProtoTCP, 1232, true, 0xdeadbeef))
	assert.Equal(t, ProtoTCP, f.NextHeader())
	assert.Equal(t, 1232, f.Offset())
	assert.True(t, f.More())
	assert.Equal(t, uint32(0xdeadbeef), f.ID())
	assert.False(t, f.IsAtomic())
	assert.True(t, FragmentHeader(frag(ProtoTCP, 0, false, 1)).IsAtomic())
	assert.False(t, FragmentHeader(frag(ProtoTCP, 8, false, 1)).IsAtomic())
	assert.True(t, errors.Is(&ProblemError{Err: ErrOption}, ErrOption))
}
