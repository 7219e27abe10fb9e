package scenario

import (
	"github.com/simnet-go/simnet/proto/clock"
	"github.com/simnet-go/simnet/sim"
)

// Driver runs a scenario's built world in place of the virtual clock, for
// emulation (package emulate: the world on the wall clock, tap devices
// bridged into its switches). The world's event code is the same either
// way; only the clock source and the bridged ports differ.
type Driver interface {
	// Start returns the instant the world's clock starts at (for
	// emulation, the wall clock's now).
	Start() clock.Time
	// Drive runs the built world w, whose switches are given by name,
	// until end or until stop is closed, and reports whether stop ended
	// it. It returns only once nothing else touches w: the report is
	// then read from the calling goroutine.
	Drive(w *sim.World, switches map[string]*sim.Switch, end clock.Time, stop <-chan struct{}) (interrupted bool, err error)
	// Captures returns the file names of the captures the driver wrote
	// (after Drive), listed in the report with the switch captures.
	Captures() []string
}
