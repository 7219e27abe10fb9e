package analyze

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/proto/ether"
	"github.com/simnet-go/simnet/proto/ipv4"
)

// TestConversations: A is the first sender; each direction is counted with
// frame lengths; IPv4 fragments each count in conv,ip and the datagram
// once in conv,udp, in the frame that completes it.
func TestConversations(t *testing.T) {
	t.Parallel()
	q := udpFrame(t, ipB, ipA, 40000, 53, dnsMsg(t, 1, false, "a.example.", 1))
	r := udpFrame(t, ipA, ipB, 53, 40000, dnsMsg(t, 1, true, "a.example.", 1))
	whole := udpFrame(t, ipA, ipB, 33333, 53, dnsMsg(t, 2, false, "a-rather-long-name-to-need-fragments.example.", 0))
	frags := fragments(t, 99, whole[ether.HeaderLen+ipv4.MinHeaderLen:], 24)
	res, _ := analyzeFrames(append([][]byte{q, r}, frags...)...)
	ip := res.Conversations.IP
	require.Len(t, ip, 1)
	fragBytes := 0
	for _, f := range frags {
		fragBytes += len(f)
	}
	assert.Equal(t, Conversation{A: "10.0.0.2", B: "10.0.0.1", FramesAtoB: 1, BytesAtoB: len(q),
		FramesBtoA: 1 + len(frags), BytesBtoA: len(r) + fragBytes, Frames: 2 + len(frags), Bytes: len(q) + len(r) + fragBytes,
		first: ip[0].first, last: ip[0].last, a: ip[0].a}, *ip[0])
	udp := res.Conversations.UDP
	require.Len(t, udp, 2)
	assert.Equal(t, "10.0.0.2:40000", udp[0].A)
	assert.Equal(t, [4]int{1, 1, 2, len(q) + len(r)}, [4]int{udp[0].FramesAtoB, udp[0].FramesBtoA, udp[0].Frames, udp[0].Bytes})
	assert.Equal(t, "10.0.0.1:33333", udp[1].A)
	assert.Equal(t, 1, udp[1].Frames, "the reassembled datagram counts once")
	assert.Equal(t, len(frags[len(frags)-1]), udp[1].Bytes, "with the length of the frame that completed it")
}
