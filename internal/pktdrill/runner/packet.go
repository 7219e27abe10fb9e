package runner

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/simnet-go/simnet/internal/pktdrill"
	"github.com/simnet-go/simnet/proto/tcp"
)

// flagBits maps packetdrill's flag letters to TCP header bits.
func flagBits(s string) uint8 {
	var f uint8
	for _, c := range s {
		switch c {
		case 'F':
			f |= tcp.FlagFIN
		case 'S':
			f |= tcp.FlagSYN
		case 'R':
			f |= tcp.FlagRST
		case 'P':
			f |= tcp.FlagPSH
		case '.':
			f |= tcp.FlagACK
		case 'U':
			f |= tcp.FlagURG
		case 'E':
			f |= tcp.FlagECE
		case 'W':
			f |= tcp.FlagCWR
		}
	}
	return f
}

// flagString writes header bits in packetdrill's notation ("S.", "P.", ".").
func flagString(f uint8) string {
	var b strings.Builder
	for _, x := range []struct {
		bit uint8
		c   byte
	}{{tcp.FlagFIN, 'F'}, {tcp.FlagSYN, 'S'}, {tcp.FlagRST, 'R'}, {tcp.FlagPSH, 'P'}, {tcp.FlagURG, 'U'}, {tcp.FlagECE, 'E'}, {tcp.FlagCWR, 'W'}} {
		if f&x.bit != 0 {
			b.WriteByte(x.c)
		}
	}
	if f&tcp.FlagACK != 0 {
		b.WriteByte('.')
	}
	if b.Len() == 0 {
		return "-"
	}
	return b.String()
}

// rawOptions encodes the script's options in their written order and
// layout, mapping sequence numbers and timestamp echoes through the maps.
func rawOptions(opts []pktdrill.TCPOption, sackOff uint32, ecr func(uint32) uint32) ([]byte, error) {
	var b []byte
	for _, o := range opts {
		switch o.Kind {
		case pktdrill.OptNOP:
			b = append(b, tcp.OptNOP)
		case pktdrill.OptEOL:
			b = append(b, tcp.OptEnd)
		case pktdrill.OptMSS:
			b = append(b, tcp.OptMSS, 4, byte(o.Value>>8), byte(o.Value))
		case pktdrill.OptWScale:
			b = append(b, tcp.OptWindowScale, 3, byte(o.Value))
		case pktdrill.OptSACKOK:
			b = append(b, tcp.OptSACKPermitted, 2)
		case pktdrill.OptSACK:
			b = append(b, tcp.OptSACK, byte(2+8*len(o.SACK)))
			for _, s := range o.SACK {
				b = binary.BigEndian.AppendUint32(b, s[0]+sackOff)
				b = binary.BigEndian.AppendUint32(b, s[1]+sackOff)
			}
		case pktdrill.OptTimestamp:
			b = append(b, tcp.OptTimestamps, 10)
			b = binary.BigEndian.AppendUint32(b, o.TSVal)
			b = binary.BigEndian.AppendUint32(b, ecr(o.TSEcr))
		default:
			return nil, fmt.Errorf("TCP option %q", o.Raw)
		}
	}
	if len(b) > tcp.MaxOptionsLen {
		return nil, fmt.Errorf("%d bytes of TCP options (at most %d)", len(b), tcp.MaxOptionsLen)
	}
	return b, nil
}

// actualOptions lists a segment's options as written on the wire, with
// SACK blocks made relative to sackOff, in packetdrill notation order.
func actualOptions(b []byte, sackOff uint32) ([]pktdrill.TCPOption, error) {
	var out []pktdrill.TCPOption
	for i := 0; i < len(b); {
		k := b[i]
		switch k {
		case tcp.OptEnd:
			// EOL ends the list; the rest is padding.
			return out, nil
		case tcp.OptNOP:
			out = append(out, pktdrill.TCPOption{Kind: pktdrill.OptNOP})
			i++
			continue
		}
		if i+1 >= len(b) || b[i+1] < 2 || i+int(b[i+1]) > len(b) {
			return out, fmt.Errorf("malformed option %d at offset %d", k, i)
		}
		v := b[i+2 : i+int(b[i+1])]
		switch {
		case k == tcp.OptMSS && len(v) == 2:
			out = append(out, pktdrill.TCPOption{Kind: pktdrill.OptMSS, Value: uint32(binary.BigEndian.Uint16(v))})
		case k == tcp.OptWindowScale && len(v) == 1:
			out = append(out, pktdrill.TCPOption{Kind: pktdrill.OptWScale, Value: uint32(v[0])})
		case k == tcp.OptSACKPermitted && len(v) == 0:
			out = append(out, pktdrill.TCPOption{Kind: pktdrill.OptSACKOK})
		case k == tcp.OptSACK && len(v)%8 == 0 && len(v) > 0:
			o := pktdrill.TCPOption{Kind: pktdrill.OptSACK}
			for j := 0; j < len(v); j += 8 {
				o.SACK = append(o.SACK, [2]uint32{binary.BigEndian.Uint32(v[j:]) - sackOff, binary.BigEndian.Uint32(v[j+4:]) - sackOff})
			}
			out = append(out, o)
		case k == tcp.OptTimestamps && len(v) == 8:
			out = append(out, pktdrill.TCPOption{Kind: pktdrill.OptTimestamp, TSVal: binary.BigEndian.Uint32(v), TSEcr: binary.BigEndian.Uint32(v[4:])})
		default:
			out = append(out, pktdrill.TCPOption{Kind: pktdrill.OptMD5, Raw: fmt.Sprintf("opt%d", k)})
		}
		i += int(b[i+1])
	}
	return out, nil
}

// significant drops NOP and EOL: the runner compares which options a
// segment carries and their values, not their padding or order (a
// deliberate deviation from packetdrill, which compares bytes; see
// docs/scripts.md).
func significant(opts []pktdrill.TCPOption) []pktdrill.TCPOption {
	var out []pktdrill.TCPOption
	for _, o := range opts {
		if o.Kind != pktdrill.OptNOP && o.Kind != pktdrill.OptEOL {
			out = append(out, o)
		}
	}
	return out
}

// optionsDiffer compares expected and actual significant options; TS val
// is not compared (packetdrill checks it only with --tcp_ts_tick_usecs).
func optionsDiffer(want, got []pktdrill.TCPOption) string {
	w, g := significant(want), significant(got)
	find := func(list []pktdrill.TCPOption, k pktdrill.OptionKind) (pktdrill.TCPOption, bool) {
		for _, o := range list {
			if o.Kind == k {
				return o, true
			}
		}
		return pktdrill.TCPOption{}, false
	}
	for _, o := range w {
		a, ok := find(g, o.Kind)
		if !ok {
			return "missing option " + o.String()
		}
		switch o.Kind {
		case pktdrill.OptMSS, pktdrill.OptWScale:
			if a.Value != o.Value {
				return fmt.Sprintf("%s instead of %s", a, o)
			}
		case pktdrill.OptTimestamp:
			if a.TSEcr != o.TSEcr {
				return fmt.Sprintf("TS ecr %d instead of %d", a.TSEcr, o.TSEcr)
			}
		case pktdrill.OptSACK:
			if a.String() != o.String() {
				return fmt.Sprintf("%s instead of %s", a, o)
			}
		}
	}
	for _, o := range g {
		if _, ok := find(w, o.Kind); !ok {
			return "unexpected option " + o.String()
		}
	}
	return ""
}

// describe writes a segment the host sent in packetdrill notation, with
// sequence numbers relative to the ISNs.
func describe(seg []byte, localISN, remoteISN uint32) string {
	h, err := tcp.ParseHeader(seg)
	if err != nil {
		return fmt.Sprintf("> malformed segment (%v)", err)
	}
	p := pktdrill.Packet{Dir: pktdrill.Outbound, Flags: flagString(h.Flags())}
	p.Seq = h.Seq() - localISN
	p.Len = len(h.Payload())
	p.End = p.Seq + uint32(p.Len)
	if h.Flags()&tcp.FlagACK != 0 {
		p.HasAck, p.Ack = true, h.Ack()-remoteISN
	}
	p.HasWin, p.Win = true, h.Window()
	if h.Flags()&tcp.FlagURG != 0 {
		p.HasUrg, p.Urg = true, h.Urgent()
	}
	if opts, _ := actualOptions(h.Options(), remoteISN); len(opts) > 0 {
		p.Options = opts
	}
	return p.String()
}
