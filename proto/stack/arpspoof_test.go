package stack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simnet-go/simnet/link"
	"github.com/simnet-go/simnet/proto/arp"
	"github.com/simnet-go/simnet/proto/ether"
)

// A forged ARP packet does not change the MAC of a static neighbour, nor of
// one confirmed less than arpLockTime ago, unless it is a gratuitous
// announcement for a dynamic entry (Linux's arp_process override rule);
// after the lock time RFC 826's merge rule applies.
func TestARPSpoofRefused(t *testing.T) {
	t.Parallel()
	spoofer := ether.Addr{2, 0, 0, 0, 0, 0x66}
	for _, tc := range []struct {
		name       string
		static     bool
		wait       time.Duration
		gratuitous bool
		poisoned   bool
	}{
		{name: "recently confirmed", wait: 100 * time.Millisecond},
		{name: "confirmed long ago", wait: 2 * time.Second, poisoned: true},
		{name: "gratuitous announcement", wait: 100 * time.Millisecond, gratuitous: true, poisoned: true},
		{name: "static", static: true, wait: 2 * time.Second},
		{name: "static, gratuitous", static: true, wait: 2 * time.Second, gratuitous: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := newTestNet(t, 1500)
			a := tn.addHost("a", 1)
			b := tn.addHost("b", 2)
			tn.run(5 * time.Second)
			ifc := b.Interfaces()[0]
			if tc.static {
				ifc.AddStaticNeighbor(ip(1), a.Interfaces()[0].MAC())
			} else {
				require.NoError(t, b.Ping(ip(1), 1, 1, nil))
				tn.run(10 * time.Millisecond)
			}
			mac, ok := ifc.Neighbor(ip(1))
			require.True(t, ok)
			require.Equal(t, a.Interfaces()[0].MAC(), mac)
			tn.run(tc.wait)

			f := arp.Fields{Op: arp.OpReply, SenderHW: spoofer, SenderIP: ip(1).As4(), TargetHW: ifc.MAC(), TargetIP: ip(2).As4()}
			if tc.gratuitous {
				f.Op, f.TargetHW, f.TargetIP = arp.OpRequest, ether.Addr{}, ip(1).As4()
			}
			frame := make([]byte, ether.HeaderLen+arp.PacketLen)
			e := ether.Frame(frame)
			e.SetDst(ether.Broadcast)
			e.SetSrc(spoofer)
			e.SetEtherType(ether.TypeARP)
			arp.Encode(frame[ether.HeaderLen:], f)
			ifc.Receive(frame, link.Note{})

			mac, ok = ifc.Neighbor(ip(1))
			require.True(t, ok)
			if tc.poisoned {
				assert.Equal(t, spoofer, mac)
				assert.Zero(t, b.Stats().ARPOverridesRefused)
			} else {
				assert.Equal(t, a.Interfaces()[0].MAC(), mac)
				assert.Equal(t, uint64(1), b.Stats().ARPOverridesRefused)
			}
		})
	}
}
