package scenario

import (
	"net/netip"

	"github.com/simnet-go/simnet/app"
)

// NewApp makes the built-in app that a describes, to run in env (on env's
// host); dnsServers returns the DNS servers the host learned by DHCP (nil
// when it has none). Drivers other than Run (package simtest) use it to
// start a scenario's apps in a world they build themselves.
func NewApp(a App, env *app.Env, dnsServers func() []netip.Addr) (app.App, error) {
	return newApp(a, env, dnsServers)
}

// ScheduleOrder returns the indices of events in the order a run applies
// them: by time, file order at the same instant.
func ScheduleOrder(events []Event) []int { return scheduleOrder(events) }
