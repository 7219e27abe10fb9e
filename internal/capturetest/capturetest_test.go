package capturetest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFramesReadsPcapAndPcapng(t *testing.T) {
	tests := []struct {
		file   string
		frames int
	}{
		{"arkime__cloudshark-arp.pcap", 6},
		{"chrissanders__tcp_handshake.pcapng", 3},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			assert.Len(t, Frames(t, tc.file), tc.frames)
		})
	}
}

func TestReadEthernetErrors(t *testing.T) {
	dir := Dir(t)
	_, err := ReadEthernet(filepath.Join(dir, "does-not-exist.pcap"))
	require.Error(t, err)
	_, err = ReadEthernet(filepath.Join(dir, "README.md"))
	assert.ErrorContains(t, err, "neither pcap nor pcapng")
}

func TestPayloads(t *testing.T) {
	hdr := func(typ ...byte) []byte {
		return append(append(make([]byte, 12), typ...), 0xaa, 0xbb)
	}
	frames := [][]byte{
		hdr(0x08, 0x06),                                     // ARP
		hdr(0x81, 0x00, 0, 5, 0x08, 0x06),                   // ARP behind one tag
		hdr(0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x06), // two tags
		hdr(0x08, 0x00),                                     // IPv4
		make([]byte, 10),                                    // runt
	}
	assert.Equal(t, [][]byte{{0xaa, 0xbb}, {0xaa, 0xbb}, {0xaa, 0xbb}}, Payloads(frames, 0x0806))
	assert.Equal(t, [][]byte{{0xaa, 0xbb}}, Payloads(frames, 0x0800))
}
