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
