package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Name maps an address to a host name, for a capture's name resolution.
type Name struct {
	Addr netip.Addr
	Name string
}

// pcapng Name Resolution Block codes (draft-ietf-opsawg-pcapng section
// 4.5).
const (
	blockNRB      = 0x00000004
	nrbRecordEnd  = 0x0000
	nrbRecordIPv4 = 0x0001
	nrbRecordIPv6 = 0x0002
	// maxNRBLen bounds one block; longer lists are split.
	maxNRBLen = 1 << 20
)

// WriteNames records names in a pcapng Name Resolution Block
// (draft-ietf-opsawg-pcapng section 4.5), so that Wireshark and tshark
// show each address as its host's name. A plain pcap file has no such
// block: WriteNames does nothing there. Names given before the first
// interface are written right after the section header. An empty name or
// one with a NUL byte, or an invalid address, is an error.
func (w *Writer) WriteNames(names []Name) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("pcap: write names: writer closed")
	}
	for _, n := range names {
		if !n.Addr.IsValid() || n.Name == "" || strings.ContainsRune(n.Name, 0) || len(n.Name) > 0xffff-17 {
			return fmt.Errorf("pcap: write names: invalid entry %v %q", n.Addr, n.Name)
		}
	}
	if w.format != PcapNG || len(names) == 0 {
		return nil
	}
	if w.ng == nil {
		w.pendingNames = append(w.pendingNames, names...)
		return nil
	}
	if err := w.writeNRB(names); err != nil {
		w.err = fmt.Errorf("pcap: write names: %w", err)
	}
	return w.err
}

// SetNamer makes the writer name addresses as it meets them: before the
// first frame that carries an IPv4 address (an IPv4 source or destination,
// an ARP sender or target) that namer knows and this capture has not
// named yet, it writes a Name Resolution Block for it. A run with many
// hosts uses it instead of giving every capture every name. A nil namer
// turns it off.
func (w *Writer) SetNamer(namer func(a [4]byte) (string, bool)) {
	w.namer = namer
	if namer != nil && w.named == nil {
		w.named = make(map[[4]byte]bool)
	}
}

// nameFrame names the addresses of frame that the capture has not named
// yet; it runs before the frame's packet block.
func (w *Writer) nameFrame(frame []byte) error {
	if len(frame) < 14 {
		return nil
	}
	var addrs [2][4]byte
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		if len(frame) < 34 {
			return nil
		}
		addrs = [2][4]byte{[4]byte(frame[26:30]), [4]byte(frame[30:34])}
	case 0x0806:
		if len(frame) < 42 {
			return nil
		}
		addrs = [2][4]byte{[4]byte(frame[28:32]), [4]byte(frame[38:42])}
	default:
		return nil
	}
	var fresh [2]Name
	n := 0
	for _, a := range addrs {
		if w.named[a] || (n == 1 && fresh[0].Addr.As4() == a) {
			continue
		}
		// An address the namer does not know yet (one a DHCP lease will
		// bind) is asked about again in later frames.
		if name, ok := w.namer(a); ok && name != "" {
			w.named[a] = true
			fresh[n] = Name{Addr: netip.AddrFrom4(a), Name: name}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return w.writeNRB(fresh[:n])
}

// writeNRB writes names as one or more Name Resolution Blocks.
func (w *Writer) writeNRB(names []Name) error {
	le := binary.LittleEndian
	var b []byte
	flush := func() error {
		if len(b) == 0 {
			return nil
		}
		b = le.AppendUint16(b, nrbRecordEnd)
		b = le.AppendUint16(b, 0)
		total := 8 + len(b) + 4
		var h [8]byte
		le.PutUint32(h[0:4], blockNRB)
		le.PutUint32(h[4:8], uint32(total))
		if _, err := w.bw.Write(h[:]); err != nil {
			return err
		}
		if _, err := w.bw.Write(b); err != nil {
			return err
		}
		le.PutUint32(h[0:4], uint32(total))
		_, err := w.bw.Write(h[:4])
		b = b[:0]
		return err
	}
	for _, n := range names {
		a := n.Addr.Unmap()
		typ, raw := uint16(nrbRecordIPv4), a.AsSlice()
		if a.Is6() {
			typ = nrbRecordIPv6
		}
		vlen := len(raw) + len(n.Name) + 1
		b = le.AppendUint16(b, typ)
		b = le.AppendUint16(b, uint16(vlen))
		b = append(b, raw...)
		b = append(b, n.Name...)
		b = append(b, 0)
		b = append(b, w.zero[:pad4(vlen)]...)
		if len(b) > maxNRBLen {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}
