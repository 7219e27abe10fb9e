package input

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/simnet-go/simnet/proto/ether"
)

// fuzzSeeds returns a pcap, a pcapng with two interfaces, a gzip-compressed
// pcap and cut-off versions of them.
func fuzzSeeds(f *testing.F) [][]byte {
	pcap := pcapBytes(f, layers.LinkTypeEthernet, ethFrame(ether.TypeIPv4, 20), ethFrame(ether.TypeVLAN, 8))
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&ng, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeNull, SnapLength: 65535}); err != nil {
		f.Fatal(err)
	}
	for i, d := range [][]byte{ethFrame(ether.TypeARP, 28), {2, 0, 0, 0, 0x45}} {
		ci := gopacket.CaptureInfo{Timestamp: t0, CaptureLength: len(d), Length: len(d), InterfaceIndex: i}
		if err := w.WritePacket(ci, d); err != nil {
			f.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(pcap)
	_ = zw.Close()
	return [][]byte{pcap, ng.Bytes(), z.Bytes(), pcap[:len(pcap)-5], ng.Bytes()[:len(ng.Bytes())-9], pcap[:24], {0x1f, 0x8b}}
}

// FuzzReader feeds arbitrary bytes to the reader: it must return frames
// and then io.EOF or an error, never panic, and never deliver more frames
// than the input could hold.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Gzip can expand the input, but not beyond ~1032:1.
		limit := 1 + 1100*len(data)/8
		var fr Frame
		for n := 0; ; n++ {
			if n > limit {
				t.Fatalf("%d frames from %d bytes", n, len(data))
			}
			err := r.Next(&fr)
			if err == io.EOF {
				return
			}
			var fe *FrameError
			if err != nil && !errors.As(err, &fe) {
				var te *TruncatedError
				if !errors.As(err, &te) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				return
			}
			if len(fr.Network) > len(fr.Data) {
				t.Fatalf("network layer of %d bytes in a frame of %d", len(fr.Network), len(fr.Data))
			}
		}
	})
}
