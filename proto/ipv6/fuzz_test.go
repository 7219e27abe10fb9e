package ipv6

import (
	"testing"

	"github.com/simnet-go/simnet/proto/clock"
)

// FuzzParseWalk checks that Parse and Walk never panic and that a chain
// they accept lies within the packet.
func FuzzParseWalk(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte(packetForFuzz(ProtoUDP, udp(8))))
	f.Add([]byte(packetForFuzz(ProtoHopByHop, cat(opts(ProtoDestOpts), opts(ProtoRouting), routing(ProtoFragment, 0), frag(ProtoUDP, 0, true, 1), udp(8)))))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if err != nil {
			return
		}
		c, err := Walk(h)
		if err != nil {
			return
		}
		if c.Offset > len(h) || c.UnfragLen > c.Offset || c.NextOff >= c.Offset || h[c.NextOff] != c.Proto {
			t.Fatalf("chain %+v outside packet of %d bytes", c, len(h))
		}
		if c.Proto == ProtoFragment && c.Offset+FragmentHeaderLen > len(h) {
			t.Fatalf("fragment header past the end: %+v", c)
		}
	})
}

func packetForFuzz(next uint8, payload []byte) Header {
	b := make([]byte, HeaderLen+len(payload))
	copy(b[HeaderLen:], payload)
	h, err := Encode(b, &Fields{NextHeader: next, HopLimit: 64, Src: srcA, Dst: dstA}, len(payload))
	if err != nil {
		panic(err)
	}
	return h
}

// FuzzReassemble feeds fragments cut from the input to a Reassembler with a
// small memory limit: it must never panic, never exceed the limit, and
// return only packets that parse and are no longer than 65575 bytes.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte{0, 0, 1, 16, 8, 1, 0, 8, 2, 0, 24, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		const limit = 8 << 10
		clk := clock.NewScheduler(0)
		r := NewReassembler(clk, ReassemblyConfig{MaxMemory: limit, OnTimeout: func(h Header) {
			if len(h) < HeaderLen {
				t.Fatalf("timeout hook got %d bytes", len(h))
			}
		}})
		// Each record: id (1), offset/8 (2), flags (1: bit 0 more, bit 1
		// advance the clock 30 s), data length/4 (1).
		for len(b) >= 5 {
			id, off, fl, n := uint32(b[0]%4), (int(b[1])<<8|int(b[2]))*8%65536, b[3], int(b[4])*4
			b = b[5:]
			if fl&2 != 0 {
				clk.RunUntil(clk.Now().Add(ReassemblyTimeout / 2))
			}
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i)
			}
			if off == 0 && n >= 8 {
				copy(data, udp(0))
			}
			pkt := packetForFuzz(ProtoFragment, cat(frag(ProtoUDP, off, fl&1 != 0, id), data))
			c, err := Walk(pkt)
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Add(pkt, c)
			if r.Memory() > limit {
				t.Fatalf("memory %d over %d", r.Memory(), limit)
			}
			if err == nil && out != nil {
				if _, perr := Parse(out); perr != nil {
					t.Fatalf("reassembled packet does not parse: %v", perr)
				}
			}
		}
	})
}
