package dhcp

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleMessage() *Message {
	m := &Message{Op: BootReply, HType: 1, HLen: 6, Xid: 0xdeadbeef, Secs: 3, Flags: FlagBroadcast,
		CIAddr: netip.IPv4Unspecified(), YIAddr: netip.MustParseAddr("10.0.0.10"),
		SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified(),
		CHAddr: [16]byte{2, 0, 0, 0, 0, 1}}
	m.Options.Set(OptMessageType, []byte{byte(Offer)})
	m.Options.SetAddrs(OptServerID, netip.MustParseAddr("10.0.0.1"))
	m.Options.SetAddrs(OptSubnetMask, netip.MustParseAddr("255.255.255.0"))
	m.Options.SetAddrs(OptRouter, netip.MustParseAddr("10.0.0.1"))
	m.Options.SetAddrs(OptDNS, netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54"))
	m.Options.SetSeconds(OptLeaseTime, time.Hour)
	m.Options.SetSeconds(OptRenewalTime, 30*time.Minute)
	m.Options.SetSeconds(OptRebindingTime, 52*time.Minute)
	m.Options.Set(OptDomainName, []byte("example.com"))
	m.Options.Set(OptHostName, []byte("h1"))
	m.Options.Set(OptParamRequest, []byte{1, 3, 6})
	m.Options.Set(OptClientID, []byte{1, 2, 0, 0, 0, 0, 1})
	return m
}

func TestMessageRoundTrip(t *testing.T) {
	m := sampleMessage()
	b := m.Marshal()
	assert.GreaterOrEqual(t, len(b), minSendLen)
	var got Message
	require.NoError(t, got.Unmarshal(b))
	assert.Equal(t, m, &got)
	assert.Equal(t, Offer, got.Type())
	lt, ok := got.Options.Seconds(OptLeaseTime)
	assert.True(t, ok)
	assert.Equal(t, time.Hour, lt)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54")}, got.Options.Addrs(OptDNS))
	assert.Equal(t, []byte{2, 0, 0, 0, 0, 1}, got.HWAddr())
}

// TestGopacketDecodes checks our encoding against gopacket's decoder and
// the reverse.
func TestGopacketDecodes(t *testing.T) {
	b := sampleMessage().Marshal()
	p := gopacket.NewPacket(b, layers.LayerTypeDHCPv4, gopacket.Default)
	require.Nil(t, p.ErrorLayer())
	d, ok := p.Layer(layers.LayerTypeDHCPv4).(*layers.DHCPv4)
	require.True(t, ok)
	assert.Equal(t, uint32(0xdeadbeef), d.Xid)
	assert.Equal(t, net.IP{10, 0, 0, 10}, d.YourClientIP.To4())
	assert.Equal(t, net.HardwareAddr{2, 0, 0, 0, 0, 1}, d.ClientHWAddr)
	types := map[layers.DHCPOpt][]byte{}
	for _, o := range d.Options {
		types[o.Type] = o.Data
	}
	assert.Equal(t, []byte{byte(Offer)}, types[layers.DHCPOptMessageType])
	assert.Equal(t, []byte{10, 0, 0, 53, 10, 0, 0, 54}, types[layers.DHCPOptDNS])

	// gopacket-built DISCOVER decodes here.
	g := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		Xid: 77, ClientHWAddr: net.HardwareAddr{2, 0, 0, 0, 0, 9}, Flags: FlagBroadcast,
		ClientIP: net.IPv4zero, YourClientIP: net.IPv4zero, NextServerIP: net.IPv4zero, RelayAgentIP: net.IPv4zero,
		Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeDiscover)}),
			layers.NewDHCPOption(layers.DHCPOptRequestIP, []byte{10, 0, 0, 7}),
		}}
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, g.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}))
	var m Message
	require.NoError(t, m.Unmarshal(buf.Bytes()))
	assert.Equal(t, Discover, m.Type())
	assert.Equal(t, uint32(77), m.Xid)
	a, ok := m.Options.Addr(OptRequestedIP)
	assert.True(t, ok)
	assert.Equal(t, netip.MustParseAddr("10.0.0.7"), a)
}

// rawMessage builds a message with the given options field bytes, and
// sname/file contents.
func rawMessage(opts, sname, file []byte) []byte {
	b := make([]byte, MinLen, MinLen+len(opts))
	b[0], b[1], b[2] = 2, 1, 6
	copy(b[snameOff:], sname)
	copy(b[fileOff:], file)
	copy(b[fixedLen:], magicCookie[:])
	return append(b, opts...)
}

func TestOverloadAndConcatenation(t *testing.T) {
	// Options field: type ACK, overload both, part of the DNS list.
	opts := []byte{53, 1, 5, 52, 1, 3, 6, 4, 10, 0, 0, 53, 255}
	file := []byte{6, 4, 10, 0, 0, 54, 0, 0, 255, 99} // pad, end, junk after end
	sname := []byte{15, 3, 'f', 'o', 'o', 255}
	var m Message
	require.NoError(t, m.Unmarshal(rawMessage(opts, sname, file)))
	assert.Equal(t, Ack, m.Type())
	// RFC 3396: the DNS option continues in file, in order.
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54")}, m.Options.Addrs(OptDNS))
	d, ok := m.Options.Get(OptDomainName)
	assert.True(t, ok)
	assert.Equal(t, "foo", string(d))
	_, ok = m.Options.Get(OptOverload)
	assert.False(t, ok, "overload is consumed")
	assert.Equal(t, [128]byte{}, m.File)
	assert.Equal(t, [64]byte{}, m.SName)

	// Without overload, file/sname are not parsed.
	require.NoError(t, m.Unmarshal(rawMessage([]byte{53, 1, 5, 255}, sname, file)))
	_, ok = m.Options.Get(OptDomainName)
	assert.False(t, ok)
	assert.Equal(t, byte(15), m.SName[0])

	// Long options are split on encode and joined on decode.
	long := make([]byte, 600)
	for i := range long {
		long[i] = byte(i)
	}
	m = Message{Op: BootRequest, HLen: 6, CIAddr: netip.IPv4Unspecified(), YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.IPv4Unspecified(), GIAddr: netip.IPv4Unspecified()}
	m.Options.Set(OptionCode(224), long)
	var got Message
	require.NoError(t, got.Unmarshal(m.Marshal()))
	d, _ = got.Options.Get(OptionCode(224))
	assert.Equal(t, long, d)
}

func TestUnmarshalRejects(t *testing.T) {
	ok := rawMessage([]byte{53, 1, 1, 255}, nil, nil)
	badCookie := append([]byte(nil), ok...)
	badCookie[fixedLen] = 0
	badHLen := append([]byte(nil), ok...)
	badHLen[2] = 17
	tests := []struct {
		name string
		msg  []byte
		err  error
	}{
		{"empty", nil, ErrShort},
		{"no cookie", ok[:fixedLen], ErrShort},
		{"bad cookie", badCookie, ErrCookie},
		{"hlen", badHLen, ErrHLen},
		{"option length missing", rawMessage([]byte{53}, nil, nil), ErrShort},
		{"option past end", rawMessage([]byte{53, 5, 1}, nil, nil), ErrShort},
		{"message type length", rawMessage([]byte{53, 2, 1, 1, 255}, nil, nil), ErrOption},
		{"mask length", rawMessage([]byte{1, 3, 255, 255, 255, 255}, nil, nil), ErrOption},
		{"router length", rawMessage([]byte{3, 6, 1, 2, 3, 4, 5, 6, 255}, nil, nil), ErrOption},
		{"empty DNS", rawMessage([]byte{6, 0, 255}, nil, nil), ErrOption},
		{"lease time length", rawMessage([]byte{51, 2, 0, 1, 255}, nil, nil), ErrOption},
		{"client id too short", rawMessage([]byte{61, 1, 1, 255}, nil, nil), ErrOption},
		{"overload value", rawMessage([]byte{52, 1, 4, 255}, nil, nil), ErrOption},
		{"overloaded file truncated option", rawMessage([]byte{52, 1, 1, 255}, nil, append(make([]byte, 126), 12, 5)), ErrShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			err := m.Unmarshal(tc.msg)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.err)
		})
	}
	_, err := ParseOptions([]byte{50, 3, 1, 2, 3})
	assert.ErrorIs(t, err, ErrOption)
	o, err := ParseOptions([]byte{0, 0, 12, 2, 'h', 'i', 12, 1, '!', 255, 1})
	require.NoError(t, err)
	assert.Equal(t, Options{{OptHostName, []byte("hi!")}}, o)
}

func TestMaskBits(t *testing.T) {
	for _, tc := range []struct {
		mask []byte
		bits int
		ok   bool
	}{{[]byte{255, 255, 255, 0}, 24, true}, {[]byte{0, 0, 0, 0}, 0, true}, {[]byte{255, 255, 255, 255}, 32, true},
		{[]byte{255, 0, 255, 0}, 8, false}} {
		b, ok := maskBits(tc.mask)
		assert.Equal(t, tc.ok, ok, "%v", tc.mask)
		if ok {
			assert.Equal(t, tc.bits, b)
		}
	}
	assert.Equal(t, netip.MustParseAddr("255.255.240.0"), maskAddr(20))
	assert.Equal(t, netip.MustParseAddr("0.0.0.0"), maskAddr(0))
}

func FuzzOptions(f *testing.F) {
	f.Add([]byte{53, 1, 1, 255})
	f.Add([]byte{0, 0, 12, 2, 'h', 'i', 12, 1, '!', 255})
	f.Add([]byte{6, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{53, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOptions(b)
		if err != nil {
			return
		}
		m := Message{Options: o}
		var got Message
		if err := got.Unmarshal(m.Marshal()); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !assert.Equal(t, len(o), len(got.Options)) {
			t.FailNow()
		}
	})
}

func FuzzMessage(f *testing.F) {
	f.Add(sampleMessage().Marshal())
	f.Add(rawMessage([]byte{53, 1, 5, 52, 1, 3, 6, 4, 10, 0, 0, 53, 255}, []byte{15, 3, 'f', 'o', 'o', 255}, []byte{6, 4, 10, 0, 0, 54}))
	f.Add(rawMessage([]byte{52, 1, 1, 255}, nil, append(make([]byte, 126), 12, 5)))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.Unmarshal(b); err != nil {
			return
		}
		var m2 Message
		if err := m2.Unmarshal(m.Marshal()); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !assert.Equal(t, &m, &m2) {
			t.FailNow()
		}
	})
}
