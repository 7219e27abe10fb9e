package analyze

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/simnet-go/simnet/proto/ipv4"
	"github.com/simnet-go/simnet/proto/tcp"
)

// countCases are the frame sequences of finding 4 of issue 11, where the
// counts disagreed with tshark; want holds tshark 4.x's counts (tshark -r
// FILE -Y PROTO | wc -l on the same frames, see SIMNET_DUMP below).
func countCases(t *testing.T) []struct {
	name   string
	frames [][]byte
	want   map[string]int
} {
	head := "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
	headResp := "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	getResp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	synReq := "GET / HTTP/1.0\r\n\r\n"
	return []struct {
		name   string
		frames [][]byte
		want   map[string]int
	}{
		{
			// RFC 9112 section 6.3 rule 1: a response to HEAD ends at
			// its header block, whatever its Content-Length says.
			name: "response to HEAD has no body",
			frames: [][]byte{
				segment(t, ipA, ipB, 40000, 80, 1, 1, psh, []byte(head)),
				segment(t, ipB, ipA, 80, 40000, 1, 1+uint32(len(head)), psh, []byte(headResp)),
				segment(t, ipA, ipB, 40000, 80, 1+uint32(len(head)), 1+uint32(len(headResp)), psh, []byte(get)),
				segment(t, ipB, ipA, 80, 40000, 1+uint32(len(headResp)), 1+uint32(len(head)+len(get)), psh, []byte(getResp)),
			},
			want: map[string]int{"tcp": 4, "http": 4},
		},
		{
			// Data on a SYN (RFC 9293 section 3.4: it follows the SYN's
			// sequence number) is stream data like any other.
			name: "data on a SYN",
			frames: [][]byte{
				segment(t, ipA, ipB, 40001, 80, 100, 0, tcp.FlagSYN, []byte(synReq)),
				segment(t, ipB, ipA, 80, 40001, 500, 101+uint32(len(synReq)), tcp.FlagSYN|tcp.FlagACK, nil),
				segment(t, ipB, ipA, 80, 40001, 501, 101+uint32(len(synReq)), psh, []byte(getResp)),
			},
			want: map[string]int{"tcp": 3, "http": 2},
		},
		{
			name: "IP header names UDP, TCP, but no transport bytes",
			frames: [][]byte{
				ipFrame(t, ipA, ipB, ipv4.ProtoUDP, nil, nil),
				ipFrame(t, ipA, ipB, ipv4.ProtoTCP, nil, nil),
			},
			want: map[string]int{"ipv4": 2, "udp": 0, "tcp": 0, "dns": 0},
		},
	}
}

// TestCountsAgreeWithTshark is finding 4 of issue 11.
func TestCountsAgreeWithTshark(t *testing.T) {
	t.Parallel()
	for _, tc := range countCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if dir := os.Getenv("SIMNET_DUMP"); dir != "" {
				// Write the frames out for a check with tshark.
				_ = os.WriteFile(dir+"/"+tc.name+".pcap", pcapOf(t, tc.frames...), 0o644)
			}
			res, _ := analyzeFrames(tc.frames...)
			for name, n := range tc.want {
				assert.Equal(t, n, res.Counts.Get(name), name)
			}
			assert.Zero(t, res.RejectedTotal, "%v", res.Rejected)
		})
	}
}

// TestSYNDataBytes checks that the bytes carried on a SYN are counted and
// reach the stream whole.
func TestSYNDataBytes(t *testing.T) {
	t.Parallel()
	res, _ := analyzeFrames(segment(t, ipA, ipB, 40001, 80, 100, 0, tcp.FlagSYN, []byte("GET / HTTP/1.0\r\n\r\n")))
	assert.Equal(t, 1, res.Counts.HTTP)
	if assert.Len(t, res.Flows.TCP, 1) {
		assert.Equal(t, uint64(18), res.Flows.TCP[0].BytesClientToServer)
		assert.Zero(t, res.Flows.TCP[0].Retransmissions)
	}
}
