// Package clientrole replays the recorded client of a TCP flow against a
// live server, as tcpliveplay promises: simnet's stack, on a tap device,
// takes the client's address, connects to the live server and sends the
// recorded client's bytes in order, each write when the live server has
// sent as many bytes as the recorded client had received when it sent
// them; the live server's answers are compared with the recorded server's
// (replay/diff: the same differences and causes as host-role replay).
//
// Sequence and acknowledgement numbers are the live server's: our stack
// opens its own connection, so every segment it sends acknowledges what the
// live server really sent (the rewriting tcpliveplay does by hand, and gets
// wrong when the server answers with other lengths). Both sides of the
// comparison are relative to their own initial sequence numbers.
package clientrole

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
	"github.com/simnet-go/simnet/replay/diff"
	"github.com/simnet-go/simnet/replay/input"
	"github.com/simnet-go/simnet/replay/jsontime"
)

// MaxStream bounds the bytes kept of each side's stream.
const MaxStream = 16 << 20

// Step is one write of the recorded client.
type Step struct {
	// After is how many bytes of the server's stream the recorded client
	// had acknowledged when it sent Data: the replay waits for as many.
	After int
	// Data is the bytes written.
	Data []byte
	// Frame is the frame of the capture that carried them.
	Frame int
}

// Script is the recorded client of one TCP flow.
type Script struct {
	// Client and Server are the recorded endpoints.
	Client, Server netip.AddrPort
	// ClientMAC is the hardware address of the client's frames (zero when
	// the capture has no Ethernet headers).
	ClientMAC ether.Addr
	// Steps are the client's writes, in stream order, without
	// retransmissions.
	Steps []Step
	// FIN is set when the client closed its side; FINAfter is how many
	// server bytes it had acknowledged then.
	FIN      bool
	FINAfter int
	// ServerSegments are the segments the recorded server sent, relative
	// to its initial sequence number (acknowledgements to the client's);
	// ServerStream the bytes it sent.
	ServerSegments []diff.Segment
	ServerStream   []byte
}

// ClientBytes returns the client's stream.
func (s *Script) ClientBytes() int {
	n := 0
	for _, st := range s.Steps {
		n += len(st.Data)
	}
	return n
}

// Extract reads the capture and returns the script of the first TCP flow
// that client opened (it sent the SYN) to port serverPort, or, when
// serverPort is 0 or no flow goes to it, to any port.
func Extract(r *input.Reader, client netip.Addr, serverPort uint16) (*Script, error) {
	type flow struct {
		s          *Script
		cISN, sISN uint32
		haveS      bool
		cNext      int
		cWS, sWS   int
		raw        []rawSeg
		gap        bool
		synFrame   int
	}
	var flows []*flow
	byKey := map[[2]netip.AddrPort]*flow{}
	var f input.Frame
	var opts tcp.Options
	wscale := func(h tcp.Header) int {
		if tcp.ParseOptions(h.Options(), &opts) == nil && opts.HasWScale {
			return int(opts.WScale)
		}
		return -1
	}
	for {
		err := r.Next(&f)
		if err == io.EOF {
			break
		}
		var fe *input.FrameError
		if errors.As(err, &fe) {
			continue
		}
		if err != nil {
			var te *input.TruncatedError
			if errors.As(err, &te) {
				break
			}
			return nil, fmt.Errorf("client-role replay: %w", err)
		}
		if f.Proto != ether.TypeIPv4 {
			continue
		}
		h, err := ipv4.ParseUnchecked(f.Network)
		if err != nil || h.Protocol() != tcp.ProtocolNumber || h.IsFragment() {
			continue
		}
		seg, err := tcp.ParseHeader(h.Payload())
		if err != nil {
			continue
		}
		src, dst := netip.AddrPortFrom(h.Src(), seg.SrcPort()), netip.AddrPortFrom(h.Dst(), seg.DstPort())
		fromClient := h.Src() == client
		key := [2]netip.AddrPort{src, dst}
		if !fromClient {
			key = [2]netip.AddrPort{dst, src}
		}
		fl := byKey[key]
		if fl == nil {
			if !fromClient || seg.Flags()&(tcp.FlagSYN|tcp.FlagACK) != tcp.FlagSYN {
				continue
			}
			fl = &flow{s: &Script{Client: src, Server: dst}, cISN: seg.Seq(), cWS: wscale(seg), sWS: -1, synFrame: f.Index + 1}
			if f.Ether != nil {
				fl.s.ClientMAC = f.Ether.Src()
			}
			byKey[key] = fl
			flows = append(flows, fl)
			continue
		}
		pl := seg.Payload()
		if fromClient {
			if !fl.haveS || seg.Flags()&tcp.FlagRST != 0 {
				continue
			}
			after := 0
			if seg.Flags()&tcp.FlagACK != 0 {
				after = max(0, int(int32(seg.Ack()-fl.sISN-1)))
			}
			off := int(int32(seg.Seq() - fl.cISN - 1))
			if len(pl) > 0 && off+len(pl) > fl.cNext {
				if off > fl.cNext {
					fl.gap = true // the capture lost client bytes
				}
				start := max(0, fl.cNext-off)
				if fl.cNext+len(pl)-start <= MaxStream {
					fl.s.Steps = append(fl.s.Steps, Step{After: after, Data: append([]byte(nil), pl[start:]...), Frame: f.Index + 1})
					fl.cNext = off + len(pl)
				}
			}
			if seg.Flags()&tcp.FlagFIN != 0 && !fl.s.FIN {
				fl.s.FIN, fl.s.FINAfter = true, after
			}
			continue
		}
		// From the server.
		if seg.Flags()&tcp.FlagSYN != 0 {
			if !fl.haveS {
				fl.sISN, fl.haveS, fl.sWS = seg.Seq(), true, wscale(seg)
			}
		}
		if !fl.haveS {
			continue
		}
		fl.raw = append(fl.raw, rawSeg{seq: seg.Seq(), ack: seg.Ack(), win: seg.Window()})
		o := ""
		if tcp.ParseOptions(seg.Options(), &opts) == nil {
			o = diff.OptionString(&opts)
		}
		fl.s.ServerSegments = append(fl.s.ServerSegments, diff.Segment{Frame: f.Index + 1, Time: jsontime.Of(f.Time),
			Flags: seg.Flags(), Len: len(pl), Sum: diff.PayloadSum(pl), Options: o})
		if seg.Flags()&tcp.FlagSYN == 0 && len(pl) > 0 {
			placeStream(&fl.s.ServerStream, int(int32(seg.Seq()-fl.sISN-1)), pl)
		}
	}
	var pick *flow
	for _, fl := range flows {
		if fl.haveS && (serverPort == 0 || fl.s.Server.Port() == serverPort) {
			pick = fl
			break
		}
	}
	if pick == nil {
		for _, fl := range flows {
			if fl.haveS {
				pick = fl
				break
			}
		}
	}
	if pick == nil {
		return nil, fmt.Errorf("client-role replay: no TCP connection opened by %s (SYN and SYN-ACK) in the capture", client)
	}
	if pick.gap {
		return nil, fmt.Errorf("client-role replay: the capture lost bytes %s sent on %s -> %s", client, pick.s.Client, pick.s.Server)
	}
	shift := uint(0)
	if pick.cWS >= 0 && pick.sWS >= 0 {
		shift = uint(pick.sWS)
	}
	relativise(pick.s.ServerSegments, pick.raw, pick.sISN, pick.cISN, shift)
	return pick.s, nil
}

// rawSeg keeps a segment's raw numbers until they are made relative.
type rawSeg struct {
	seq, ack uint32
	win      uint16
}

// relativise makes sequence numbers relative to isn, acknowledgements to
// peerISN, and windows bytes (scaled by shift except in a SYN, RFC 7323
// section 2.2).
func relativise(segs []diff.Segment, raw []rawSeg, isn, peerISN uint32, shift uint) {
	for i := range segs {
		s := &segs[i]
		s.Seq = raw[i].seq - isn
		if s.Flags&diff.FlagACK != 0 {
			s.Ack = raw[i].ack - peerISN
		}
		s.Window = uint32(raw[i].win)
		if s.Flags&diff.FlagSYN == 0 {
			s.Window <<= shift
		}
	}
}

// placeStream copies payload into *st at offset off, growing it up to
// MaxStream bytes.
func placeStream(st *[]byte, off int, payload []byte) {
	if off < 0 || off+len(payload) > MaxStream {
		return
	}
	if grow := off + len(payload) - len(*st); grow > 0 {
		*st = append(*st, make([]byte, grow)...)
	}
	copy((*st)[off:], payload)
}
