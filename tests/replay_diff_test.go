package tests

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/checksum"
	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/dns"
	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/icmp"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/proto/udp"
	"github.com/simnet-go/simnet/replay/input"
)

// diffStats counts the headers compared, so that the test fails if it
// stops comparing anything.
type diffStats struct {
	ether, vlan, arp, ipv4, tcp, udp, icmp int
	dns, dhcp                              int
	ipSum, tcpSum, udpSum, icmpSum         int
}

// disagreement is a frame where only one side accepted a header.
type disagreement struct {
	file   string
	frame  int
	layer  string
	detail string
}

// TestReplayDiffGopacket decodes every frame of every shared capture with
// our parsers and with gopacket's layers and compares the fields both see:
// addresses, ports, lengths, flags, sequence numbers, and whether
// checksums verify.
func TestReplayDiffGopacket(t *testing.T) {
	t.Parallel()
	files := captureFiles(t)
	var st diffStats
	var dis []disagreement
	for _, name := range files {
		r, err := input.Open(filepath.Join(sharedCaptures, name))
		require.NoError(t, err, name)
		var f input.Frame
		for {
			err := r.Next(&f)
			if err == io.EOF {
				break
			}
			var fe *input.FrameError
			if errors.As(err, &fe) {
				continue
			}
			var te *input.TruncatedError
			if errors.As(err, &te) {
				break
			}
			require.NoError(t, err, name)
			where := fmt.Sprintf("%s frame %d", name, f.Index+1)
			diffLink(t, where, &f, &st)
			switch f.Proto {
			case ether.TypeARP:
				if d := diffARP(t, where, f.Network, &st); d != "" {
					dis = append(dis, disagreement{name, f.Index + 1, "arp", d})
				}
			case ether.TypeIPv4:
				for _, d := range diffIPv4(t, where, f.Network, f.CapLen < f.OrigLen, &st) {
					dis = append(dis, disagreement{name, f.Index + 1, "ipv4", d})
				}
			}
		}
		require.NoError(t, r.Close())
	}
	t.Logf("compared: ether %d, vlan %d, arp %d, ipv4 %d (checksum %d), tcp %d (checksum %d), udp %d (checksum %d), icmp %d (checksum %d), dns %d, dhcp %d",
		st.ether, st.vlan, st.arp, st.ipv4, st.ipSum, st.tcp, st.tcpSum, st.udp, st.udpSum, st.icmp, st.icmpSum, st.dns, st.dhcp)
	assert.Greater(t, st.ether, 1000)
	assert.Greater(t, st.vlan, 10)
	assert.Greater(t, st.arp, 500)
	assert.Greater(t, st.ipv4, 2000)
	assert.Greater(t, st.tcp, 1500)
	assert.Greater(t, st.udp, 500)
	assert.Greater(t, st.icmp, 20)
	assert.Greater(t, st.tcpSum, 1000)
	assert.Greater(t, st.dns, 300)
	assert.Greater(t, st.dhcp, 30)
	sort.Slice(dis, func(i, j int) bool {
		if dis[i].file != dis[j].file {
			return dis[i].file < dis[j].file
		}
		return dis[i].frame < dis[j].frame
	})
	// Both sides must accept and refuse the same headers.
	for _, d := range dis {
		assert.Fail(t, "only one decoder accepts a header", "%s frame %d: %s: %s", d.file, d.frame, d.layer, d.detail)
	}
}

// diffLink compares the Ethernet header and VLAN tags.
func diffLink(t *testing.T, where string, f *input.Frame, st *diffStats) {
	if f.LinkType != input.LinkEthernet || f.Ether == nil {
		return
	}
	p := gopacket.NewPacket(f.Data, layers.LayerTypeEthernet, gopacket.DecodeOptions{NoCopy: true})
	el, ok := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if !ok {
		return
	}
	st.ether++
	assert.Equal(t, net.HardwareAddr(el.SrcMAC).String(), f.Ether.Src().String(), where)
	assert.Equal(t, net.HardwareAddr(el.DstMAC).String(), f.Ether.Dst().String(), where)
	if f.Ether.EtherType() >= 0x0600 {
		// Below 0x0600 the field is an 802.3 length (IEEE 802.3 clause
		// 3.2.6), which gopacket reports as EthernetTypeLLC.
		assert.Equal(t, uint16(el.EthernetType), uint16(f.Ether.EtherType()), where)
	}
	var vlans []uint16
	for _, l := range p.Layers() {
		if q, ok := l.(*layers.Dot1Q); ok {
			vlans = append(vlans, q.VLANIdentifier)
		}
	}
	if len(vlans) > 0 && len(vlans) <= ether.MaxTags {
		st.vlan++
		assert.Equal(t, vlans, f.VLANs[:f.NVLAN], where)
	}
}

// diffARP compares an ARP packet; it returns a description when only one
// side accepts it.
func diffARP(t *testing.T, where string, b []byte, st *diffStats) string {
	p := gopacket.NewPacket(b, layers.LayerTypeARP, gopacket.DecodeOptions{NoCopy: true})
	gl, gok := decoded(p, layers.LayerTypeARP).(*layers.ARP)
	ours, err := arp.Parse(b)
	if !gok || err != nil {
		// gopacket accepts any hardware/protocol type and opcode;
		// proto/arp only Ethernet/IPv4 requests and replies.
		if gok && gl.AddrType == layers.LinkTypeEthernet && gl.Protocol == layers.EthernetTypeIPv4 &&
			gl.HwAddressSize == 6 && gl.ProtAddressSize == 4 && (gl.Operation == 1 || gl.Operation == 2) {
			return "arp: ours rejects a plain Ethernet/IPv4 ARP: " + err.Error()
		}
		return ""
	}
	st.arp++
	assert.Equal(t, gl.Operation, uint16(ours.Op()), where)
	assert.Equal(t, net.HardwareAddr(gl.SourceHwAddress).String(), ours.SenderHW().String(), where)
	assert.Equal(t, net.IP(gl.SourceProtAddress).String(), ours.SenderIP().String(), where)
	assert.Equal(t, net.HardwareAddr(gl.DstHwAddress).String(), ours.TargetHW().String(), where)
	assert.Equal(t, net.IP(gl.DstProtAddress).String(), ours.TargetIP().String(), where)
	return ""
}

// diffIPv4 compares an IPv4 header and, for unfragmented datagrams, its
// TCP, UDP or ICMP header. It returns descriptions of headers only one side
// accepted.
func diffIPv4(t *testing.T, where string, b []byte, snapped bool, st *diffStats) []string {
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.DecodeOptions{NoCopy: true})
	gip, gok := decoded(p, layers.LayerTypeIPv4).(*layers.IPv4)
	h, err := ipv4.ParseUnchecked(b)
	fixed := false
	if gok && errors.Is(err, ipv4.ErrTotalLen) && len(b) >= ipv4.MinHeaderLen && len(b) <= ipv4.MaxTotalLen {
		// gopacket takes a total length beyond the captured bytes as
		// truncation (snapping) and 0 as TCP segmentation offload, and
		// decodes what is there; proto/ipv4 refuses both. Compare the rest
		// the way the analysis decodes them: over the captured bytes.
		tl := binary.BigEndian.Uint16(b[2:])
		assert.True(t, tl == 0 || int(tl) > len(b), "%s: total length %d with %d bytes", where, tl, len(b))
		fix := append([]byte(nil), b...)
		binary.BigEndian.PutUint16(fix[2:], uint16(len(b)))
		h, err = ipv4.ParseUnchecked(fix)
		fixed = true
		snapped = true
	}
	switch {
	case gok && err != nil:
		return []string{"ipv4: " + unwrapAll(err).Error()}
	case !gok && err == nil:
		return []string{"ipv4: gopacket"}
	case !gok:
		return nil
	}
	st.ipv4++
	assert.Equal(t, gip.SrcIP.String(), h.Src().String(), where)
	assert.Equal(t, gip.DstIP.String(), h.Dst().String(), where)
	assert.Equal(t, int(gip.IHL)*4, h.HeaderLen(), where)
	if !fixed {
		assert.Equal(t, int(gip.Length), h.TotalLen(), where)
	}
	assert.Equal(t, gip.Id, h.ID(), where)
	assert.Equal(t, gip.TTL, h.TTL(), where)
	assert.Equal(t, uint8(gip.Protocol), h.Protocol(), where)
	assert.Equal(t, gip.Flags&layers.IPv4DontFragment != 0, h.DF(), where)
	assert.Equal(t, gip.Flags&layers.IPv4MoreFragments != 0, h.MF(), where)
	assert.Equal(t, int(gip.FragOffset)*8, h.FragmentOffset(), where)
	assert.Equal(t, gip.Checksum, h.Checksum(), where)
	if !fixed {
		_, gsum := gip.VerifyChecksum()
		st.ipSum++
		assert.Equal(t, gsum.Valid, h.VerifyChecksum(), where)
	}
	if h.IsFragment() {
		return nil
	}
	payload := h.Payload()
	switch h.Protocol() {
	case ipv4.ProtoTCP:
		gt, ok := decoded(p, layers.LayerTypeTCP).(*layers.TCP)
		th, err := tcp.ParseHeader(payload)
		if !ok || err != nil {
			if ok != (err == nil) {
				if err != nil {
					return []string{"tcp: " + unwrapAll(err).Error()}
				}
				return []string{"tcp: gopacket"}
			}
			return nil
		}
		st.tcp++
		assert.Equal(t, uint16(gt.SrcPort), th.SrcPort(), where)
		assert.Equal(t, uint16(gt.DstPort), th.DstPort(), where)
		assert.Equal(t, gt.Seq, th.Seq(), where)
		assert.Equal(t, gt.Ack, th.Ack(), where)
		assert.Equal(t, int(gt.DataOffset)*4, th.DataOffset(), where)
		assert.Equal(t, gt.Window, th.Window(), where)
		fl := th.Flags()
		for _, c := range []struct {
			g   bool
			bit uint8
		}{{gt.FIN, tcp.FlagFIN}, {gt.SYN, tcp.FlagSYN}, {gt.RST, tcp.FlagRST}, {gt.PSH, tcp.FlagPSH},
			{gt.ACK, tcp.FlagACK}, {gt.URG, tcp.FlagURG}, {gt.ECE, tcp.FlagECE}, {gt.CWR, tcp.FlagCWR}} {
			assert.Equal(t, c.g, fl&c.bit != 0, "%s: flag %#x", where, c.bit)
		}
		assert.Equal(t, len(gt.Payload), len(th.Payload()), where)
		if !snapped {
			require.NoError(t, gt.SetNetworkLayerForChecksum(gip))
			_, gs := gt.VerifyChecksum()
			st.tcpSum++
			assert.Equal(t, gs.Valid, checksum.Sum(payload, h.PseudoHeaderSum(len(payload))) == 0xffff, where)
		}
	case ipv4.ProtoUDP:
		gu, ok := decoded(p, layers.LayerTypeUDP).(*layers.UDP)
		uh, err := udp.Parse(payload)
		if !ok || err != nil {
			switch {
			case ok && errors.Is(err, udp.ErrLength) && snapped:
				// gopacket accepts a length field beyond the bytes a
				// snapped capture holds; so does the analysis.
			case ok != (err == nil):
				if err != nil {
					return []string{"udp: " + unwrapAll(err).Error()}
				}
				return []string{"udp: gopacket"}
			}
			return nil
		}
		st.udp++
		assert.Equal(t, uint16(gu.SrcPort), uh.SrcPort(), where)
		assert.Equal(t, uint16(gu.DstPort), uh.DstPort(), where)
		assert.Equal(t, int(gu.Length), uh.Length(), where)
		if !snapped && uh.Checksum() != 0 {
			require.NoError(t, gu.SetNetworkLayerForChecksum(gip))
			_, gs := gu.VerifyChecksum()
			st.udpSum++
			assert.Equal(t, gs.Valid, uh.VerifyChecksum(h.Src(), h.Dst()), where)
		}
		switch {
		case uh.SrcPort() == 53 || uh.DstPort() == 53:
			if d := diffDNS(t, where, p, uh.Payload(), st); d != "" {
				return []string{d}
			}
		case uh.SrcPort() == 67 || uh.DstPort() == 67 || uh.SrcPort() == 68 || uh.DstPort() == 68:
			if d := diffDHCP(t, where, p, uh.Payload(), st); d != "" {
				return []string{d}
			}
		}
	case ipv4.ProtoICMP:
		gi, ok := decoded(p, layers.LayerTypeICMPv4).(*layers.ICMPv4)
		m, err := icmp.ParseUnchecked(payload)
		if !ok || err != nil {
			if ok != (err == nil) {
				if err != nil {
					return []string{"icmp: " + unwrapAll(err).Error()}
				}
				return []string{"icmp: gopacket"}
			}
			return nil
		}
		st.icmp++
		assert.Equal(t, gi.TypeCode.Type(), uint8(m.Type()), where)
		assert.Equal(t, gi.TypeCode.Code(), m.Code(), where)
		assert.Equal(t, gi.Checksum, m.Checksum(), where)
		if !snapped {
			_, gs := gi.VerifyChecksum()
			st.icmpSum++
			assert.Equal(t, gs.Valid, m.VerifyChecksum(), where)
		}
	}
	return nil
}

// decoded returns p's layer of type lt if gopacket decoded it without
// error. gopacket adds a layer before checking its decode error and then
// appends a DecodeFailure, so a layer directly followed by the failure is
// one it refused.
func decoded(p gopacket.Packet, lt gopacket.LayerType) gopacket.Layer {
	ls := p.Layers()
	for i, l := range ls {
		if l.LayerType() != lt {
			continue
		}
		if i+1 < len(ls) && ls[i+1].LayerType() == gopacket.LayerTypeDecodeFailure {
			return nil
		}
		return l
	}
	return nil
}

// diffDNS compares a DNS message decoded by proto/dns and by gopacket.
func diffDNS(t *testing.T, where string, p gopacket.Packet, b []byte, st *diffStats) string {
	gd, gok := decoded(p, layers.LayerTypeDNS).(*layers.DNS)
	var m dns.Msg
	err := m.Unpack(b)
	switch {
	case gok && err != nil:
		return "dns: " + unwrapAll(err).Error()
	case !gok && err == nil:
		return "dns: gopacket"
	case !gok:
		return ""
	}
	st.dns++
	assert.Equal(t, gd.ID, m.ID, where)
	assert.Equal(t, gd.QR, m.Response, where)
	assert.Equal(t, uint8(gd.OpCode), uint8(m.Opcode), where)
	assert.Equal(t, gd.AA, m.Authoritative, where)
	assert.Equal(t, gd.TC, m.Truncated, where)
	assert.Equal(t, gd.RD, m.RecursionDesired, where)
	assert.Equal(t, gd.RA, m.RecursionAvailable, where)
	assert.Equal(t, uint8(gd.ResponseCode)&0xf, uint8(m.Rcode)&0xf, where)
	assert.Len(t, m.Question, len(gd.Questions), where)
	assert.Len(t, m.Answer, len(gd.Answers), where)
	assert.Len(t, m.Authority, len(gd.Authorities), where)
	assert.Len(t, m.Additional, len(gd.Additionals), where)
	for i := range min(len(m.Question), len(gd.Questions)) {
		q, gq := m.Question[i], gd.Questions[i]
		assert.Equal(t, uint16(gq.Type), uint16(q.Type), where)
		assert.Equal(t, uint16(gq.Class), uint16(q.Class), where)
		if !strings.ContainsAny(string(gq.Name), "\\ ") {
			assert.Equal(t, strings.ToLower(string(gq.Name)), strings.ToLower(strings.TrimSuffix(q.Name, ".")), where)
		}
	}
	for i := range min(len(m.Answer), len(gd.Answers)) {
		assert.Equal(t, uint16(gd.Answers[i].Type), uint16(m.Answer[i].Type), where)
		assert.Equal(t, gd.Answers[i].TTL, m.Answer[i].TTL, where)
	}
	return ""
}

// diffDHCP compares a DHCP message decoded by proto/dhcp and by gopacket.
func diffDHCP(t *testing.T, where string, p gopacket.Packet, b []byte, st *diffStats) string {
	gd, gok := decoded(p, layers.LayerTypeDHCPv4).(*layers.DHCPv4)
	var m dhcp.Message
	err := m.Unmarshal(b)
	switch {
	case gok && err != nil:
		return "dhcp: " + unwrapAll(err).Error()
	case !gok && err == nil:
		return "dhcp: gopacket"
	case !gok:
		return ""
	}
	st.dhcp++
	assert.Equal(t, uint8(gd.Operation), uint8(m.Op), where)
	assert.Equal(t, gd.Xid, m.Xid, where)
	assert.Equal(t, uint8(gd.HardwareType), m.HType, where)
	assert.Equal(t, gd.HardwareLen, m.HLen, where)
	assert.Equal(t, gd.ClientIP.String(), m.CIAddr.String(), where)
	assert.Equal(t, gd.YourClientIP.String(), m.YIAddr.String(), where)
	assert.Equal(t, gd.NextServerIP.String(), m.SIAddr.String(), where)
	assert.Equal(t, gd.RelayAgentIP.String(), m.GIAddr.String(), where)
	assert.Equal(t, []byte(gd.ClientHWAddr), m.HWAddr(), where)
	var gtype uint8
	for _, o := range gd.Options {
		if o.Type == layers.DHCPOptMessageType && len(o.Data) == 1 {
			gtype = o.Data[0]
		}
	}
	assert.Equal(t, gtype, uint8(m.Type()), where)
	return ""
}

// unwrapAll returns the innermost wrapped error (the package sentinel).
func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
