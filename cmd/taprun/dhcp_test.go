package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/dhcp"
	"github.com/simnet-go/simnet/proto/ether"
)

func TestLeaseFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "lease")
	mac := ether.Addr{2, 0, 0x5e, 0, 0x53, 1}
	l := dhcp.Lease{Addr: netip.MustParsePrefix("192.0.2.60/24"), ServerID: netip.MustParseAddr("192.0.2.1"), LeaseTime: time.Hour}
	require.NoError(t, writeLeaseFile(path, mac, l))
	got, err := readLeaseFile(path)
	require.NoError(t, err)
	assert.Equal(t, mac.String(), got.MAC)
	assert.Equal(t, l.Addr, got.Address)
	assert.Equal(t, l.ServerID, got.Server)
	assert.WithinDuration(t, time.Now().Add(time.Hour), got.Expires, 5*time.Second)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")

	for name, text := range map[string]string{
		"not JSON":   "lease 192.0.2.60",
		"no address": `{"mac":"02:00:5e:00:53:01"}`,
		"IPv6":       `{"mac":"02:00:5e:00:53:01","address":"2001:db8::1/64"}`,
	} {
		p := filepath.Join(dir, "bad")
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		_, err := readLeaseFile(p)
		assert.Error(t, err, name)
	}
	_, err = readLeaseFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
