// Package capturetest gives tests read-only access to the shared corpus of
// real captures, ../shared/captures beside the repository (see its README,
// MANIFEST.tsv and COUNTS.tsv). The captures are never copied into the
// repository; a test that needs them is skipped, saying why, where the
// corpus is absent.
package capturetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Locate returns the shared captures directory, found beside the
// repository root (the nearest directory above the working directory that
// holds go.mod).
func Locate() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("capturetest: working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir := filepath.Join(filepath.Dir(d), "shared", "captures")
			if _, err := os.Stat(dir); err != nil {
				return "", fmt.Errorf("capturetest: shared captures: %w", err)
			}
			return dir, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("capturetest: no go.mod above %s", wd)
		}
	}
}

// Dir returns the shared captures directory or skips tb.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := Locate()
	if err != nil {
		tb.Skipf("shared captures not available: %v", err)
	}
	return dir
}

// Frames returns every frame of the named Ethernet captures (pcap or
// pcapng), in file order, or skips tb when the corpus is absent. A missing
// file or a capture of another link type fails tb.
func Frames(tb testing.TB, names ...string) [][]byte {
	tb.Helper()
	dir := Dir(tb)
	var frames [][]byte
	for _, name := range names {
		fs, err := ReadEthernet(filepath.Join(dir, name))
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, fs...)
	}
	if len(frames) == 0 {
		tb.Fatalf("capturetest: no frames in %v", names)
	}
	return frames
}

// ReadEthernet returns the frames of one Ethernet pcap or pcapng file.
func ReadEthernet(path string) ([][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("capturetest: %w", err)
	}
	var src gopacket.PacketDataSource
	var lt layers.LinkType
	if r, err := pcapgo.NewReader(bytes.NewReader(raw)); err == nil {
		src, lt = r, r.LinkType()
	} else {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("capturetest: %s is neither pcap nor pcapng: %w", path, err)
		}
		src, lt = r, r.LinkType()
	}
	if lt != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("capturetest: %s has link type %v, not Ethernet", path, lt)
	}
	var frames [][]byte
	for {
		data, _, err := src.ReadPacketData()
		if err != nil {
			break
		}
		frames = append(frames, data)
	}
	return frames, nil
}

// Payloads returns the payloads of the Ethernet frames whose EtherType,
// after up to two 802.1Q/802.1ad tags, is etherType. It parses on its own,
// without proto/ether, so that package's tests can use it too; frames too
// short for their headers are skipped.
func Payloads(frames [][]byte, etherType uint16) [][]byte {
	var out [][]byte
	for _, b := range frames {
		if len(b) < 14 {
			continue
		}
		typ, rest := uint16(b[12])<<8|uint16(b[13]), b[14:]
		for tags := 0; tags < 2 && (typ == 0x8100 || typ == 0x88a8) && len(rest) >= 4; tags++ {
			typ, rest = uint16(rest[2])<<8|uint16(rest[3]), rest[4:]
		}
		if typ == etherType {
			out = append(out, rest)
		}
	}
	return out
}
