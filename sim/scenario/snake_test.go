package scenario

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/proto/stack"
)

func TestSnakeCase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"FramesIn": "frames_in", "ARPRequestsIn": "arp_requests_in", "IPBadChecksum": "ip_bad_checksum",
		"DropNotOurMAC": "drop_not_our_mac", "TTLExceeded": "ttl_exceeded", "ICMPv6In": "icmpv6_in",
		"ReassemblyBytesInUse": "reassembly_bytes_in_use", "IPIn": "ip_in", "Forwarded": "forwarded",
	} {
		assert.Equal(t, want, snakeCase(in), in)
	}
}

// TestHostReportSnakeCase is part of finding 11 of issue 11: hosts[].ip
// used Go field names.
func TestHostReportSnakeCase(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(HostReport{Name: "a", IP: stack.Stats{FramesIn: 3, ARPRequestsOut: 2}})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	ip, ok := m["ip"].(map[string]any)
	require.True(t, ok, "%s", b)
	assert.Equal(t, 3.0, ip["frames_in"])
	assert.Equal(t, 2.0, ip["arp_requests_out"])
	assert.NotContains(t, ip, "FramesIn")
	assert.Equal(t, "a", m["name"])
	assert.Contains(t, m, "tcp")
}

// TestRebaseInstants checks that app results' instants count from the
// start of the run in report.json (finding 11 of issue 11), without
// touching the app's own state.
func TestRebaseInstants(t *testing.T) {
	t.Parallel()
	type inner struct {
		At  clock.Time
		Dur time.Duration
	}
	type result struct {
		Start, End clock.Time
		Unset      clock.Time
		Steps      []inner
		Last       *inner
		N          int
	}
	t0 := clock.Time(1_000_000_000)
	orig := result{Start: t0 + 5, End: t0 + 9, Steps: []inner{{At: t0 + 7, Dur: 3}}, Last: &inner{At: t0 + 8}, N: 4}
	got, ok := rebaseInstants(orig, t0).(result)
	require.True(t, ok)
	assert.Equal(t, clock.Time(5), got.Start)
	assert.Equal(t, clock.Time(9), got.End)
	assert.Zero(t, got.Unset, "an instant never reached stays zero")
	assert.Equal(t, []inner{{At: 7, Dur: 3}}, got.Steps)
	assert.Equal(t, clock.Time(8), got.Last.At)
	assert.Equal(t, 4, got.N)
	assert.Equal(t, t0+7, orig.Steps[0].At, "the app's slice is not modified")
	assert.Equal(t, t0+8, orig.Last.At, "nor what its pointers point to")
}
