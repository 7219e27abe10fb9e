package dhcpstack

import (
	"net/netip"
	"time"

	"github.com/simnet-go/simnet/proto/dhcp"
)

var (
	serverIP = netip.MustParseAddr("10.0.0.1")
	testCfg  = dhcp.ServerConfig{
		ServerID:  serverIP,
		Subnet:    netip.MustParsePrefix("10.0.0.0/24"),
		PoolStart: netip.MustParseAddr("10.0.0.10"),
		PoolEnd:   netip.MustParseAddr("10.0.0.20"),
		Router:    serverIP,
		DNS:       []netip.Addr{netip.MustParseAddr("10.0.0.53")},
		LeaseTime: time.Hour,
	}
)

// declineWait is the client's pause after a DECLINE (RFC 2131 section 3.1
// step 5), as proto/dhcp implements it.
const declineWait = 10 * time.Second
