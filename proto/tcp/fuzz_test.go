package tcp

import (
	"net/netip"
	"testing"
)

func seedSegment(f Fields, o *Options, payload []byte) []byte {
	b := make([]byte, HeaderLen+MaxOptionsLen+len(payload))
	n, err := Encode(b, f, o, payload, netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"))
	if err != nil {
		panic(err)
	}
	return b[:n]
}

// FuzzParseSegment checks that header and option parsing never panic and
// that what parses re-encodes to an equivalent segment.
func FuzzParseSegment(f *testing.F) {
	f.Add(seedSegment(Fields{SrcPort: 1, DstPort: 2, Seq: 3, Flags: FlagSYN, Window: 100},
		&Options{HasMSS: true, MSS: 1460, HasWScale: true, WScale: 7, SACKPermitted: true, HasTS: true, TSVal: 1, TSEcr: 2}, nil))
	f.Add(seedSegment(Fields{Flags: FlagACK}, &Options{NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}, []byte("data")))
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x02, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x02, 0, 0, 0, 0, 0, 0, 2, 0, 1, 1})
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x02, 0, 0, 0, 0, 0, 0, 5, 10, 0, 0})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		var o Options
		if err := ParseOptions(h.Options(), &o); err != nil {
			return
		}
		if o.NumSACK > MaxSACKBlocks {
			t.Fatalf("NumSACK %d", o.NumSACK)
		}
		_ = h.Payload()
		if OptionsLen(&o) > MaxOptionsLen {
			return
		}
		out := make([]byte, HeaderLen+MaxOptionsLen+len(h.Payload()))
		n, err := Encode(out, Fields{SrcPort: h.SrcPort(), DstPort: h.DstPort(), Seq: h.Seq(), Ack: h.Ack(), Flags: h.Flags(), Window: h.Window()}, &o, h.Payload(), netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2"))
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		h2, err := ParseHeader(out[:n])
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		var o2 Options
		if err := ParseOptions(h2.Options(), &o2); err != nil {
			t.Fatalf("re-parse options: %v", err)
		}
		if o2 != o {
			t.Fatalf("options changed: %+v vs %+v", o, o2)
		}
		if Checksum(netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2.2.2.2"), out[:n]) != 0 {
			t.Fatal("checksum")
		}
	})
}

// FuzzHandleIP feeds arbitrary segments (checksummed so they get past
// the checksum) to a listener and an established connection, in the
// default or (odd window) the linux profile: the stack must never panic.
func FuzzHandleIP(f *testing.F) {
	f.Add(uint32(1001), uint32(0), uint8(FlagACK), uint16(100), []byte("hello"), []byte{})
	f.Add(uint32(1001), uint32(0), uint8(FlagRST), uint16(0), []byte{}, []byte{})
	f.Add(uint32(5), uint32(7), uint8(FlagSYN), uint16(100), []byte{}, []byte{2, 4, 5, 0xb4})
	f.Add(uint32(1001), uint32(0), uint8(FlagACK|FlagFIN), uint16(0), []byte("x"), []byte{1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9})
	tsOpt := []byte{OptNOP, OptNOP, OptTimestamps, 10, 0, 0, 0, 9, 0, 0, 0, 0}
	f.Add(uint32(1001), uint32(0), uint8(FlagACK|FlagPSH), uint16(100), []byte("data with ts"), tsOpt)
	f.Add(uint32(1501), uint32(0), uint8(FlagACK), uint16(100), []byte("ooo"), append(append([]byte{}, tsOpt...), OptNOP, OptNOP, OptSACK, 10, 0, 0, 0, 1, 0, 0, 0, 2))
	f.Fuzz(func(t *testing.T, seq, ackOff uint32, flags uint8, wnd uint16, payload, opts []byte) {
		cfg := Config{MaxOOORanges: 4, RecvBuffer: 8192, SendBuffer: 8192}
		if wnd&1 == 1 {
			// Odd windows run the linux profile (PRR, RACK-TLP).
			cfg = LinuxProfile()
			cfg.MaxOOORanges, cfg.RecvBuffer, cfg.SendBuffer = 4, 8192, 8192
		}
		r := newRig(t, cfg)
		nxt := r.established(&Options{HasMSS: true, MSS: 1460, SACKPermitted: true, HasTS: true, TSVal: 1})
		_, _ = r.conn.Write(make([]byte, 3000))
		if len(opts) > MaxOptionsLen {
			opts = opts[:MaxOptionsLen]
		}
		olen := (len(opts) + 3) &^ 3
		b := make([]byte, HeaderLen+olen+len(payload))
		putHeader(b, Fields{SrcPort: r.pport, DstPort: r.lport, Seq: seq, Ack: uint32(nxt) + ackOff, Flags: flags, Window: wnd}, olen)
		copy(b[HeaderLen:], opts)
		copy(b[HeaderLen+olen:], payload)
		cs := Checksum(r.peer, r.local, b)
		b[16], b[17] = byte(cs>>8), byte(cs)
		r.s.HandleIP(r.peer, r.local, b)
		r.advance(3 * 1e9)
		r.s.HandleIP(r.peer, r.local, b)
		r.advance(120 * 1e9)
	})
}
