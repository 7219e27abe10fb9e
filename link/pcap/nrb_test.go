package pcap

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
)

// nrbRecords parses every Name Resolution Block of a pcapng file into
// "addr name" strings, and returns the block types in file order.
func nrbRecords(t *testing.T, b []byte) (recs []string, blocks []uint32) {
	t.Helper()
	le := binary.LittleEndian
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 12)
		typ, n := le.Uint32(b[0:4]), int(le.Uint32(b[4:8]))
		require.Zero(t, n%4, "block length multiple of 4")
		require.Equal(t, uint32(n), le.Uint32(b[n-4:n]), "trailing length")
		blocks = append(blocks, typ)
		if typ == blockNRB {
			body := b[8 : n-4]
			for {
				rt, rl := le.Uint16(body[0:2]), int(le.Uint16(body[2:4]))
				if rt == nrbRecordEnd {
					require.Zero(t, rl)
					break
				}
				v := body[4 : 4+rl]
				alen := 4
				if rt == nrbRecordIPv6 {
					alen = 16
				}
				a, _ := netip.AddrFromSlice(v[:alen])
				require.Equal(t, byte(0), v[rl-1], "names end with NUL")
				recs = append(recs, a.String()+" "+string(v[alen:rl-1]))
				body = body[4+rl+pad4(rl):]
			}
		}
		b = b[n:]
	}
	return recs, blocks
}

func TestWriteNames(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, PcapNG)
	require.NoError(t, err)
	// Before the section header exists: written right after it.
	require.NoError(t, w.WriteNames([]Name{{netip.MustParseAddr("10.0.0.1"), "alice"}}))
	_, err = w.AddInterface("alice:eth0")
	require.NoError(t, err)
	require.NoError(t, w.WritePacket(0, epoch, Outbound, udpFrame(10, 1), link.Note{}))
	require.NoError(t, w.WriteNames([]Name{{netip.MustParseAddr("10.0.0.2"), "bob"}, {netip.MustParseAddr("2001:db8::1"), "v6host"}}))
	require.NoError(t, w.WritePacket(0, epoch, Inbound, udpFrame(10, 2), link.Note{}))
	require.NoError(t, w.Close())

	recs, blocks := nrbRecords(t, buf.Bytes())
	assert.Equal(t, []string{"10.0.0.1 alice", "10.0.0.2 bob", "2001:db8::1 v6host"}, recs)
	assert.Equal(t, []uint32{0x0A0D0D0A, 1, blockNRB, blockEPB, blockNRB, blockEPB}, blocks)

	// gopacket's reader reads the blocks and both packets.
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
	require.NoError(t, err)
	for range 2 {
		_, _, err := r.ReadPacketData()
		require.NoError(t, err)
	}
	require.Equal(t, 3, r.NNames())
	nr, err := r.Name(1)
	require.NoError(t, err)
	assert.Equal(t, []string{"bob"}, nr.Names)

	// Plain pcap has no names: nothing is written, nothing fails.
	var plain bytes.Buffer
	pw, err := NewWriter(&plain, Pcap)
	require.NoError(t, err)
	require.NoError(t, pw.Flush())
	n := plain.Len()
	require.NoError(t, pw.WriteNames([]Name{{netip.MustParseAddr("10.0.0.1"), "alice"}}))
	require.NoError(t, pw.Flush())
	assert.Equal(t, n, plain.Len())

	for _, bad := range []Name{{netip.Addr{}, "x"}, {netip.MustParseAddr("10.0.0.1"), ""}, {netip.MustParseAddr("10.0.0.1"), "a\x00b"}} {
		w, err := NewWriter(&bytes.Buffer{}, PcapNG)
		require.NoError(t, err)
		assert.Error(t, w.WriteNames([]Name{bad}), "%+v", bad)
	}
}

// TestTsharkShowsNames checks that tshark resolves addresses with the
// names of the block.
func TestTsharkShowsNames(t *testing.T) {
	t.Parallel()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("SIMNET_REQUIRE") == "all" {
			t.Fatal("tshark is required (SIMNET_REQUIRE=all)")
		}
		t.Skip("tshark not installed")
	}
	p := filepath.Join(t.TempDir(), "n.pcapng")
	w, err := Create(p, PcapNG)
	require.NoError(t, err)
	_, err = w.AddInterface("alice:eth0")
	require.NoError(t, err)
	require.NoError(t, w.WriteNames([]Name{{netip.MustParseAddr("10.0.0.1"), "alice"}, {netip.MustParseAddr("10.0.0.2"), "bob"}}))
	require.NoError(t, w.WritePacket(0, epoch, Outbound, udpFrame(10, 1), link.Note{}))
	require.NoError(t, w.Close())
	out, err := exec.Command(tshark, "-N", "n", "-r", p, "-T", "fields", "-e", "ip.src_host", "-e", "ip.dst_host").Output()
	require.NoError(t, err)
	assert.Equal(t, "alice\tbob", strings.TrimSpace(string(out)))
}

func TestSnapLenOption(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{PcapNG, Pcap} {
		var buf bytes.Buffer
		w, err := NewWriterWith(&buf, f, Options{SnapLen: 64})
		require.NoError(t, err)
		_, err = w.AddInterface("a:eth0")
		require.NoError(t, err)
		require.NoError(t, w.WritePacket(0, epoch, Outbound, udpFrame(100, 1), link.Note{}))
		require.NoError(t, w.Close())
		var data []byte
		var length int
		if f == PcapNG {
			r, err := pcapgo.NewNgReader(&buf, pcapgo.DefaultNgReaderOptions)
			require.NoError(t, err)
			d, ci, err := r.ReadPacketData()
			require.NoError(t, err)
			data, length = d, ci.Length
			ifc, err := r.Interface(0)
			require.NoError(t, err)
			assert.Equal(t, uint32(64), ifc.SnapLength)
		} else {
			r, err := pcapgo.NewReader(&buf)
			require.NoError(t, err)
			d, ci, err := r.ReadPacketData()
			require.NoError(t, err)
			data, length = d, ci.Length
			assert.Equal(t, uint32(64), r.Snaplen())
		}
		assert.Len(t, data, 64, f)
		assert.Equal(t, 142, length, f)
	}
	_, err := NewWriterWith(&bytes.Buffer{}, PcapNG, Options{SnapLen: 10})
	assert.Error(t, err)
}

// TestSetNamer: a capture with a namer names each address just before the
// first frame that carries it, once, and asks again about addresses it did
// not know.
func TestSetNamer(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, PcapNG)
	require.NoError(t, err)
	_, err = w.AddInterface("alice:eth0")
	require.NoError(t, err)
	known := map[[4]byte]string{{10, 0, 0, 1}: "alice"}
	w.SetNamer(func(a [4]byte) (string, bool) { n, ok := known[a]; return n, ok })
	require.NoError(t, w.WritePacket(0, epoch, Outbound, udpFrame(10, 1), link.Note{})) // 10.0.0.1 -> 10.0.0.2
	require.NoError(t, w.WritePacket(0, epoch, Outbound, udpFrame(10, 2), link.Note{}))
	known[[4]byte{10, 0, 0, 2}] = "bob" // learned later, as by a DHCP lease
	require.NoError(t, w.WritePacket(0, epoch, Outbound, udpFrame(10, 3), link.Note{}))
	require.NoError(t, w.WritePacket(0, epoch, Outbound, []byte{1, 2, 3}, link.Note{})) // runt: nothing to name
	require.NoError(t, w.Close())
	recs, blocks := nrbRecords(t, buf.Bytes())
	assert.Equal(t, []string{"10.0.0.1 alice", "10.0.0.2 bob"}, recs)
	assert.Equal(t, []uint32{0x0A0D0D0A, 1, blockNRB, blockEPB, blockEPB, blockNRB, blockEPB, blockEPB}, blocks)
}
