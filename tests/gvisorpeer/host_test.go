package gvisorpeer_test

import (
	"encoding/binary"
	"net/netip"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/tcp"
)

// tcpHost is a minimal Ethernet/IPv4 host for simnet's TCP in the interop
// tests: static neighbour, no fragmentation, no options.
type tcpHost struct {
	mac, peerMAC [6]byte
	addr         netip.Addr
	ep           link.Endpoint
	tcp          *tcp.Stack
	buf          []byte
	ipID         uint16
	badFrames    int
}

func (h *tcpHost) SendIP(proto uint8, src, dst netip.Addr, payload []byte) error {
	n := 14 + 20 + len(payload)
	if cap(h.buf) < n {
		h.buf = make([]byte, n+1024)
	}
	f := h.buf[:n]
	copy(f[0:6], h.peerMAC[:])
	copy(f[6:12], h.mac[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0], ip[1] = 0x45, 0
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	h.ipID++
	binary.BigEndian.PutUint16(ip[4:], h.ipID)
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	ip[8], ip[9] = 64, proto
	ip[10], ip[11] = 0, 0
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], tcpIPChecksum(ip))
	copy(f[34:], payload)
	h.ep.Send(f)
	return nil
}

func (h *tcpHost) SourceFor(netip.Addr) (netip.Addr, bool) { return h.addr, true }
func (h *tcpHost) PathMTU(netip.Addr) int                  { return h.ep.MTU() }

func (h *tcpHost) Receive(frame []byte, _ link.Note) {
	if len(frame) < 34 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
		h.badFrames++
		return
	}
	ip := frame[14:]
	ihl := int(ip[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ihl < 20 || tot < ihl || tot > len(ip) || tcpIPChecksum(ip[:ihl]) != 0 {
		h.badFrames++
		return
	}
	if ip[9] != tcp.ProtocolNumber {
		return
	}
	src := netip.AddrFrom4([4]byte(ip[12:16]))
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	h.tcp.HandleIP(src, dst, ip[ihl:tot])
}

func tcpIPChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// tcpPattern is the deterministic byte pattern the transfers carry.
func tcpPattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + i>>16)
	}
	return b
}
